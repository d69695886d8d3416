package store

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// A damaged function record (empty, garbage, or another function's) does
// not stop the store from opening: it is set aside, logged, and the other
// functions are served.
func TestStoreSetsAsideDamagedRecords(t *testing.T) {
	root := t.TempDir()
	s := open(t, root)
	for _, name := range []string{"good", "garbage", "empty", "renamed"} {
		mustCreate(t, s, name, nil)
	}
	fn := filepath.Join(root, "fn")
	if err := os.WriteFile(filepath.Join(fn, "garbage.json"), []byte(`{"Latest": {"FunctionName": "garb`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fn, "empty.json"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(fn, "good.json"))
	if err := os.WriteFile(filepath.Join(fn, "renamed.json"), good, 0o600); err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	s, err := Open(root, WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatalf("the store did not open with damaged records: %v", err)
	}
	ctx := context.Background()
	if c, err := s.Get(ctx, "good", ""); err != nil || c.State != functions.StateActive {
		t.Fatalf("the intact function: %+v, %v", c, err)
	}
	if got, err := os.ReadFile(filepath.Join(s.CodeDir(mustGet(t, s, "good")), "bootstrap")); err != nil || !strings.Contains(string(got), "good") {
		t.Fatalf("the intact function's code: %q, %v", got, err)
	}
	for _, name := range []string{"garbage", "empty", "renamed"} {
		if _, err := s.Get(ctx, name, ""); !errdefs.IsNotFound(err) {
			t.Errorf("%s: the damaged record is served: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(fn, name+".json")); !os.IsNotExist(err) {
			t.Errorf("%s: the damaged record is still in place: %v", name, err)
		}
		aside, _ := filepath.Glob(filepath.Join(fn, name+".json.corrupt-*"))
		if len(aside) != 1 {
			t.Errorf("%s: set aside as %v", name, aside)
		}
		if !strings.Contains(log.String(), name+".json") {
			t.Errorf("%s: not logged:\n%s", name, log.String())
		}
	}
	// The name of a set-aside function is free again.
	mustCreate(t, s, "garbage", nil)
}

func mustGet(t *testing.T, s *Store, name string) *functions.Config {
	t.Helper()
	c, err := s.Get(context.Background(), name, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A code directory a crash left incomplete (no completion marker, or a
// marker of another digest) is unpacked again, not trusted.
func TestHalfUnpackedCodeIsReplaced(t *testing.T) {
	root := t.TempDir()
	s := open(t, root)
	c := mustCreate(t, s, "hello", nil)
	hexSum := codeHex(c)
	dir := filepath.Join(root, "code", hexSum)
	want, err := os.ReadFile(filepath.Join(dir, "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	tear := func() {
		t.Helper()
		// What a crash after an unsynced rename leaves: the names, not
		// the data.
		// (Replaced, not truncated: a process may run it.)
		_ = os.Remove(filepath.Join(dir, "bootstrap"))
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(dir + markerSuffix)
	}
	check := func(how string) {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(dir, "bootstrap"))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: the torn package was kept (%d bytes of %d, %v)", how, len(got), len(want), err)
		}
	}

	// At the next start, for the functions that use it.
	tear()
	s = open(t, root)
	check("at start")
	if got := mustGet(t, s, "hello"); got.State != functions.StateActive {
		t.Fatalf("after the repair: %+v", got)
	}

	// At the next upload of the same package.
	tear()
	var code functions.Config
	if err := s.PutCode(&code, bootZip(t, "hello")); err != nil {
		t.Fatal(err)
	}
	check("at upload")

	// A marker that names another digest is no completion marker.
	tear()
	if err := os.WriteFile(dir+markerSuffix, []byte(strings.Repeat("0", 64)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, root)
	check("wrong marker")
	if ents, _ := os.ReadDir(filepath.Join(root, "code")); len(ents) != 3 {
		t.Fatalf("code/ holds %d entries, want the zip, the directory and the marker", len(ents))
	}
}

// A package that does not unpack leaves nothing in the store.
func TestBadPackageNotStored(t *testing.T) {
	root := t.TempDir()
	s := open(t, root)
	bad := testutil.ZipOf(t, map[string][]byte{"a": []byte("x"), "a/b": []byte("y")}, nil)
	if _, err := create(t, s, functions.Config{FunctionName: "bad", Runtime: "provided"}, bad, false); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("a package with a file under a file: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "code")); len(ents) != 0 {
		t.Fatalf("a refused package left %d entries in code/", len(ents))
	}
}
