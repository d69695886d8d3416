package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

func newKey(t *testing.T) *Key {
	t.Helper()
	raw, err := NewRawKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := newKey(t)
	for _, v := range [][]byte{[]byte("x"), []byte("s3cr3t-password\n"), bytes.Repeat([]byte{0, 1, 2}, MaxValue/3)} {
		sealed, err := k.Seal("db", v)
		if err != nil {
			t.Fatal(err)
		}
		// A short value may turn up in random bytes; a long one may not.
		if len(v) >= 8 && bytes.Contains(sealed, v) {
			t.Fatal("the sealed value holds the clear text")
		}
		got, err := k.Open("db", sealed)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("open: %v (%d bytes, want %d)", err, len(got), len(v))
		}
	}
	a, _ := k.Seal("db", []byte("same"))
	b, _ := k.Seal("db", []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are equal: the nonce is not fresh")
	}
}

func TestOpenFails(t *testing.T) {
	k, other := newKey(t), newKey(t)
	sealed, err := k.Seal("db", []byte("password"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open("db", sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := k.Open("api", sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("another name: %v", err)
	}
	bad := append([]byte(nil), sealed...)
	bad[len(bad)-1] ^= 1
	if _, err := k.Open("db", bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("altered: %v", err)
	}
	if _, err := k.Open("db", sealed[:5]); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("short: %v", err)
	}
	if k.ID() == other.ID() {
		t.Fatal("two keys share an id")
	}
}

func TestKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	if _, err := LoadKey(dir); !errdefs.IsNotFound(err) {
		t.Fatalf("no key: %v", err)
	}
	raw, _ := NewRawKey()
	if err := SaveKey(dir, raw); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(KeyPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	k, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := NewKey(raw)
	if k.ID() != k2.ID() {
		t.Fatal("the key read back is another")
	}
	if _, err := NewKey(raw[:16]); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("short key: %v", err)
	}
}

func TestRef(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"db", "db", true},
		{"arn:aws:secretsmanager:us-east-1:000000000000:secret:db_pass", "db_pass", true},
		{"arn:aws:ssm:us-east-1:000000000000:parameter/api.key", "api.key", true},
		{"arn:aws:secretsmanager:us-east-1:000000000000:secret:db:password::", "", false},
		{"arn:aws:s3:::bucket/x", "", false},
		{"arn:aws:ssm:us-east-1:0:param/x", "", false},
		{"../etc/passwd", "", false},
		{"", "", false},
		{"a b", "", false},
	} {
		got, err := Ref(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Ref(%q) = %q, %v", c.in, got, err)
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("Ref(%q): error class %v", c.in, err)
		}
	}
}

func newStore(t *testing.T) (*state.Store, *natsbox.Box) {
	t.Helper()
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return st, b
}

// The store's values are sealed in the KV: the raw entry holds neither
// the value nor its base64; another node's key does not read them.
func TestStore(t *testing.T) {
	st, box := newStore(t)
	ctx := context.Background()
	k := newKey(t)
	s := New(st, k)
	value := []byte("correct horse battery staple")
	if _, err := s.Create(ctx, "db_pass", value); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "db_pass", value); !errdefs.IsConflict(err) {
		t.Fatalf("second create: %v", err)
	}
	for _, bad := range []string{"", ".x", "a/b", strings.Repeat("a", 256)} {
		if _, err := s.Create(ctx, bad, value); !errdefs.IsInvalidArgument(err) {
			t.Fatalf("create %q: %v", bad, err)
		}
	}
	if _, err := s.Create(ctx, "big", make([]byte, MaxValue+1)); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("too big: %v", err)
	}
	got, err := s.Value(ctx, "db_pass")
	if err != nil || !bytes.Equal(got, value) {
		t.Fatalf("value: %q %v", got, err)
	}
	js, err := jetstream.New(box.Conn())
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := kv.Get(ctx, "db_pass")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw.Value(), value) || bytes.Contains(raw.Value(), []byte(base64.StdEncoding.EncodeToString(value))) {
		t.Fatalf("the KV holds the clear value: %s", raw.Value())
	}
	if _, err := New(st, newKey(t)).Value(ctx, "db_pass"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("another key: %v", err)
	}
	if _, err := New(st, nil).Value(ctx, "db_pass"); !errdefs.IsUnavailable(err) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := s.Value(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown: %v", err)
	}
	ls, err := s.List(ctx)
	if err != nil || len(ls) != 1 || ls[0].Name != "db_pass" || ls[0].Size != len(value) {
		t.Fatalf("list: %+v %v", ls, err)
	}
	if err := s.Remove(ctx, "db_pass"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "db_pass"); !errdefs.IsNotFound(err) {
		t.Fatalf("second remove: %v", err)
	}
}
