package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestPutVerifyRead(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello blob")
	d, n, err := s.Put(context.Background(), digest(data), bytes.NewReader(data))
	if err != nil || d != digest(data) || n != int64(len(data)) {
		t.Fatalf("Put = %s %d %v", d, n, err)
	}
	// Unknown digest: computed.
	d2, _, err := s.Put(context.Background(), "", bytes.NewReader([]byte("other")))
	if err != nil || d2 != digest([]byte("other")) {
		t.Fatalf("Put without digest = %s %v", d2, err)
	}
	got, err := s.ReadAll(d)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %q %v", got, err)
	}
	if !s.Has(d) {
		t.Fatal("Has = false")
	}
	list, _ := s.List()
	if len(list) != 2 {
		t.Fatalf("List = %v", list)
	}
	// Writing the same blob twice is fine.
	if _, _, err := s.Put(context.Background(), d, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(d); err != nil || s.Has(d) {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Open(d); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Open deleted = %v", err)
	}
}

func TestPutRejectsCorrupt(t *testing.T) {
	root := t.TempDir()
	s, _ := New(root)
	want := digest([]byte("the real content"))
	_, _, err := s.Put(context.Background(), want, bytes.NewReader([]byte("tampered content")))
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("corrupt Put = %v, want ErrInvalidArgument", err)
	}
	if s.Has(want) || len(entries(t, filepath.Join(root, "blobs", "sha256"))) != 0 || len(entries(t, filepath.Join(root, "ingest"))) != 0 {
		t.Fatal("corrupt blob left files behind")
	}
	for _, bad := range []string{"", "sha256:", "sha256:../../etc/passwd", "md5:abcd", "sha256:" + string(bytes.Repeat([]byte("A"), 64))} {
		if _, err := s.Path(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Path(%q) = %v", bad, err)
		}
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	for i := range p {
		p[i] = 'x'
	}
	f.n -= len(p)
	return len(p), nil
}

func TestInterruptedWriteLeavesNothing(t *testing.T) {
	root := t.TempDir()
	s, _ := New(root)
	_, _, err := s.Put(context.Background(), digest(bytes.Repeat([]byte("x"), 1<<20)), &failingReader{n: 1000})
	if err == nil {
		t.Fatal("short write succeeded")
	}
	if n := entries(t, filepath.Join(root, "blobs", "sha256")); len(n) != 0 {
		t.Fatalf("blobs after failure: %v", n)
	}
	if n := entries(t, filepath.Join(root, "ingest")); len(n) != 0 {
		t.Fatalf("ingest after failure: %v", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Put(ctx, "", bytes.NewReader([]byte("x"))); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put = %v", err)
	}
	// A crash leaves an ingest file; New removes it.
	os.WriteFile(filepath.Join(root, "ingest", "blob-stale"), []byte("x"), 0o600)
	if _, err := New(root); err != nil {
		t.Fatal(err)
	}
	if n := entries(t, filepath.Join(root, "ingest")); len(n) != 0 {
		t.Fatalf("stale ingest kept: %v", n)
	}
}

func TestAdopt(t *testing.T) {
	dir := t.TempDir()
	s, err := New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "elsewhere")
	data := []byte("a layer another store keeps")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	dg := "sha256:" + hex.EncodeToString(sum[:])

	// A wrong digest: refused, nothing stored.
	wrong := "sha256:" + strings.Repeat("0", 64)
	if _, err := s.Adopt(context.Background(), wrong, src); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("adopt with a wrong digest: %v", err)
	}
	if s.Has(wrong) {
		t.Fatal("a mismatched blob was stored")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "store", "ingest")); len(ents) != 0 {
		t.Fatalf("ingest left %v", ents)
	}
	n, err := s.Adopt(context.Background(), dg, src)
	if err != nil || n != int64(len(data)) {
		t.Fatal(n, err)
	}
	p, _ := s.Path(dg)
	a, _ := os.Stat(src)
	b, err := os.Stat(p)
	if err != nil || !os.SameFile(a, b) {
		t.Fatalf("the blob is not the same file: %v", err)
	}
	// The other owner removes its name; the store keeps the bytes.
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadAll(dg); err != nil || string(got) != string(data) {
		t.Fatalf("after the other name is gone: %q %v", got, err)
	}
}
