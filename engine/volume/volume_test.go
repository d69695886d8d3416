package volume

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestStore(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(ctx, CreateOptions{Name: "data", Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Mountpoint != filepath.Join(root, "volumes", "data", "_data") {
		t.Fatalf("mountpoint %s", v.Mountpoint)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	anon, err := s.Create(ctx, CreateOptions{Anonymous: true})
	if err != nil || !anon.Anonymous || len(anon.Name) != 64 {
		t.Fatalf("anonymous: %+v %v", anon, err)
	}
	if _, err := s.Create(ctx, CreateOptions{Name: "bad/name"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad name: %v", err)
	}
	if err := s.Acquire("data", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "data", false); !errdefs.IsConflict(err) {
		t.Fatalf("in use: %v", err)
	}
	// A reload keeps the volumes and their content.
	s2, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s2.List(ctx)); got != 2 {
		t.Fatalf("after reload: %d volumes", got)
	}
	names, _, err := s2.Prune(ctx, false, nil)
	if err != nil || len(names) != 1 || names[0] != anon.Name {
		t.Fatalf("prune: %v %v", names, err)
	}
	s.Release("c1")
	if err := s2.Remove(ctx, "data", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(ctx, "data"); !errdefs.IsNotFound(err) {
		t.Fatalf("after remove: %v", err)
	}
}

func TestCopyUp(t *testing.T) {
	ctx := context.Background()
	s, _ := New(t.TempDir())
	src := t.TempDir()
	_ = os.MkdirAll(filepath.Join(src, "sub"), 0o750)
	_ = os.WriteFile(filepath.Join(src, "sub", "f"), []byte("image"), 0o640)
	v, _ := s.Create(ctx, CreateOptions{Name: "v1"})
	if err := s.CopyUp(ctx, "v1", src); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(v.Mountpoint, "sub", "f"))
	if err != nil || string(data) != "image" {
		t.Fatalf("copied %q %v", data, err)
	}
	// Not empty any more: a second copy-up changes nothing.
	_ = os.WriteFile(filepath.Join(src, "new"), nil, 0o644)
	_ = s.CopyUp(ctx, "v1", src)
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "new")); !os.IsNotExist(err) {
		t.Fatalf("copy-up into a volume with content: %v", err)
	}
}
