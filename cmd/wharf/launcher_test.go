package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestInstallDaemon(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	data := []byte("#!daemon v1\n" + strings.Repeat("x", 1<<16))
	digest := digestOf(data)
	path, err := installDaemon(root, digest, data)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "bin", "wharfd-"+digest); path != want {
		t.Fatalf("path %s, want %s", path, want)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content differs (%v)", err)
	}
	for p, mode := range map[string]os.FileMode{filepath.Join(root, "bin"): os.ModeDir | 0o700, path: 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != mode {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode(), err, mode)
		}
	}

	// A second start reuses the file: same inode, not written again.
	ino := inode(t, path)
	if _, err := installDaemon(root, digest, data); err != nil {
		t.Fatal(err)
	}
	if inode(t, path) != ino {
		t.Error("the daemon binary was written again for the same digest")
	}

	// A file of the right name but the wrong size (not a whole daemon) is
	// replaced.
	if err := os.WriteFile(path, []byte("torn"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := installDaemon(root, digest, data); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Error("a file of the wrong size was kept")
	}

	// A new build removes the binaries of others and old temporary files,
	// and keeps a temporary file another launcher may be writing.
	bin := filepath.Join(root, "bin")
	oldTmp, youngTmp := filepath.Join(bin, ".wharfd-x.tmp-1"), filepath.Join(bin, ".wharfd-x.tmp-2")
	for _, p := range []string{oldTmp, youngTmp} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-time.Hour)
	if err := os.Chtimes(oldTmp, long, long); err != nil {
		t.Fatal(err)
	}
	data2 := []byte("#!daemon v2\n")
	path2, err := installDaemon(root, digestOf(data2), data2)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(bin)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 || names[0] != ".wharfd-x.tmp-2" || names[1] != filepath.Base(path2) {
		t.Errorf("bin holds %v, want [.wharfd-x.tmp-2 %s]", names, filepath.Base(path2))
	}
}

func TestInstallDaemonTightensTheDirectory(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := installDaemon(root, digestOf([]byte("d")), []byte("d")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(root, "bin")); fi.Mode().Perm() != 0o700 {
		t.Fatalf("bin has mode %v, want 0700", fi.Mode().Perm())
	}
}

// A binary built without the daemon (go build ./cmd/wharf, as this test
// is) and no wharfd beside it says how to build one.
func TestDaemonWithoutEmbeddedOrSibling(t *testing.T) {
	if _, _, ok := embeddedDaemon(); ok {
		t.Skip("built with the daemon embedded")
	}
	self, _ := os.Executable()
	if _, err := os.Stat(filepath.Join(filepath.Dir(self), "wharfd")); err == nil {
		t.Skip("a wharfd lies beside the test binary")
	}
	err := execDaemon([]string{"--help"})
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("got %v, want not found, saying how to build", err)
	}
}

func TestInstallDaemonRefusesABadDigest(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"", "abc", strings.Repeat("G", 64), "../../" + strings.Repeat("a", 58)} {
		if _, err := installDaemon(root, d, []byte("data")); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("digest %q: %v, want invalid argument", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "bin")); err == nil {
		t.Error("a refused digest made the bin directory")
	}
}

func TestInstallDaemonRefusesANonDirectory(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink(t.TempDir(), filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	if _, err := installDaemon(root, digestOf([]byte("d")), []byte("d")); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("bin a symlink: %v, want conflict", err)
	}
}

func TestFlagValue(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "/def"},
		{[]string{"--root", "/a"}, "/a"},
		{[]string{"--root=/b", "--log-level", "debug"}, "/b"},
		{[]string{"--root", "/a", "--root=/c"}, "/c"},
		{[]string{"--rootx", "/a"}, "/def"},
		{[]string{"--", "--root", "/a"}, "/def"},
		{[]string{"--root"}, "/def"},
	} {
		if got := flagValue(tc.args, "root", "/def"); got != tc.want {
			t.Errorf("flagValue(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestWantsHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--root", "/x", "--help"}, true},
		{[]string{"-h"}, true},
		{[]string{"--", "-h"}, false},
		{[]string{"--http", ""}, false},
	} {
		if got := wantsHelp(tc.args); got != tc.want {
			t.Errorf("wantsHelp(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
