package volume

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestVolumeTreeClosedToHostUsers: the volumes directory and each
// volume's directory admit root only, _data keeps the mode a container
// expects, and a tree an older daemon left open is closed when the store
// opens.
func TestVolumeTreeClosedToHostUsers(t *testing.T) {
	root := t.TempDir()
	// A tree as the old store left it: volumes 0701, the volume's
	// directory 0755.
	old := filepath.Join(root, "volumes", "old")
	if err := os.MkdirAll(filepath.Join(old, "_data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "volume.json"), []byte(`{"Name":"old","Driver":"local"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{filepath.Join(root, "volumes"): 0o701, old: 0o755} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(context.Background(), CreateOptions{Name: "fresh"})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(root, "volumes"):    0o700,
		filepath.Dir(v.Mountpoint):        0o700,
		v.Mountpoint:                      0o755,
		old:                               0o700,
		filepath.Join(old, "_data"):       0o755,
		filepath.Join(old, "volume.json"): 0o600,
	} {
		if got := perm(t, path); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}
