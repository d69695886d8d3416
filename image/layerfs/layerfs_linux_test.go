package layerfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// layers builds three snapshot-form layers: a base with a merged-/usr
// style symlink, a layer deleting a file, and one replacing a directory.
func layers(t *testing.T) []string {
	testutil.RequiresRoot(t) // whiteouts are device nodes
	base := t.TempDir()
	l0, l1, l2 := filepath.Join(base, "0"), filepath.Join(base, "1"), filepath.Join(base, "2")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"0/etc", "0/usr/lib", "0/d", "0/o", "1/d", "2/o"} {
		must(os.MkdirAll(filepath.Join(base, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(l0, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644))
	must(os.Symlink("usr/lib", filepath.Join(l0, "lib")))
	must(os.Symlink("/etc/passwd", filepath.Join(l0, "pw")))
	must(os.Symlink("../../../../etc", filepath.Join(l0, "usr/lib/up")))
	must(os.WriteFile(filepath.Join(l0, "usr/lib/x"), nil, 0o644))
	must(os.WriteFile(filepath.Join(l0, "d/a"), nil, 0o644))
	must(os.WriteFile(filepath.Join(l0, "o/old"), nil, 0o644))
	must(unix.Mknod(filepath.Join(l1, "d/a"), unix.S_IFCHR, 0))
	must(os.WriteFile(filepath.Join(l1, "d/b"), nil, 0o644))
	must(unix.Setxattr(filepath.Join(l2, "o"), "trusted.overlay.opaque", []byte("y"), 0))
	must(os.WriteFile(filepath.Join(l2, "o/new"), nil, 0o644))
	return []string{l0, l1, l2}
}

func TestLookupMergesLayers(t *testing.T) {
	f, err := Open(layers(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	list := func(p string) []string {
		t.Helper()
		n, err := f.Lookup(p, true)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		names, err := f.ReadDir(n)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := list("/d"); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("/d = %v, want the whiteout to hide a", got)
	}
	if got := list("/o"); !reflect.DeepEqual(got, []string{"new"}) {
		t.Errorf("/o = %v, want the opaque directory to hide old", got)
	}
	if got := list("/lib"); !reflect.DeepEqual(got, []string{"up", "x"}) {
		t.Errorf("/lib = %v", got)
	}
	if _, err := f.Lookup("/d/a", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleted file: %v", err)
	}
	b, err := f.ReadFile("/pw", 1<<20)
	if err != nil || string(b) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("ReadFile through a symlink: %q %v", b, err)
	}
}

func TestResolveStaysInImage(t *testing.T) {
	f, err := Open(layers(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for in, want := range map[string]string{
		"/lib/new/file":       "/usr/lib/new/file",
		"/lib":                "/usr/lib",
		"/lib/up/passwd":      "/etc/passwd", // ".." above the root stays at the root
		"/../../lib/x":        "/usr/lib/x",
		"/missing/dir/../x":   "/missing/x",
		"/usr/lib/up/../etc/": "/etc",
	} {
		got, err := f.Resolve(in, true)
		if err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, _ := f.Resolve("/lib", false); got != "/lib" {
		t.Errorf("Resolve(/lib, nofollow) = %q", got)
	}
}
