package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// extract runs Extract with root opened as an O_PATH handle, as the engine
// opens a container's root.
func extract(t *testing.T, root string, o ExtractOptions, tarball []byte) error {
	t.Helper()
	f, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Extract(context.Background(), f, bytes.NewReader(tarball), o)
}

func TestExtractCopyMode(t *testing.T) {
	testutil.RequiresRoot(t)
	root, _ := sandbox(t)
	dst := filepath.Join(root, "dst")
	if err := os.Mkdir(dst, 0o710); err != nil {
		t.Fatal(err)
	}
	owned := file("owned", "o", 0o640)
	owned.hdr.Uid, owned.hdr.Gid = 1000, 1001
	tb := buildTar(t,
		dir("./", 0o777), // the destination's own entry: ignored
		file("a", "a", 0o4755),
		file("/abs/b", "b", 0o644), // re-rooted under the destination
		file(".wh.c", "c", 0o644),  // an ordinary name, not a whiteout
		owned,
		hardlink("a2", "a"),
		hardlink("/a3", "/a"),
		entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
		entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o600}},
	)
	if err := extract(t, root, ExtractOptions{Dir: "/dst"}, tb); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "a", "abs/b": "b", ".wh.c": "c", "owned": "o", "a2": "a", "a3": "a"} {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	var st unix.Stat_t
	unix.Lstat(dst, &st)
	if st.Mode&0o7777 != 0o710 {
		t.Errorf("destination mode %o: the archive's root entry was applied", st.Mode&0o7777)
	}
	unix.Lstat(filepath.Join(dst, "owned"), &st)
	if st.Uid != 0 || st.Gid != 0 {
		t.Errorf("owner %d:%d without KeepOwners, want 0:0", st.Uid, st.Gid)
	}
	unix.Lstat(filepath.Join(dst, "a"), &st)
	if st.Mode&0o7777 != 0o4755 || st.Nlink != 3 {
		t.Errorf("a: mode %o nlink %d", st.Mode&0o7777, st.Nlink)
	}
	for _, name := range []string{"null", "fifo"} {
		if _, err := os.Lstat(filepath.Join(dst, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was created (%v): docker cp must not make device nodes or fifos", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "abs")); err == nil {
		t.Error("an absolute name landed at the root instead of under the destination")
	}

	if err := extract(t, root, ExtractOptions{Dir: "dst", KeepOwners: true}, buildTar(t, owned)); err != nil {
		t.Fatal(err)
	}
	unix.Lstat(filepath.Join(dst, "owned"), &st)
	if st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("owner %d:%d with KeepOwners, want 1000:1001", st.Uid, st.Gid)
	}
}

func TestExtractNoOverwriteDirNonDir(t *testing.T) {
	testutil.RequiresRoot(t)
	root, _ := sandbox(t)
	os.MkdirAll(filepath.Join(root, "d"), 0o755)
	os.WriteFile(filepath.Join(root, "f"), []byte("f"), 0o644)
	for _, tb := range [][]byte{buildTar(t, file("d", "x", 0o644)), buildTar(t, dir("f/", 0o755))} {
		if err := extract(t, root, ExtractOptions{NoOverwriteDirNonDir: true}, tb); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("err = %v, want ErrInvalidArgument", err)
		}
	}
	if fi, err := os.Lstat(filepath.Join(root, "d")); err != nil || !fi.IsDir() {
		t.Errorf("directory replaced: %v %v", fi, err)
	}
	// Same kinds replace each other as usual, and without the option a
	// directory gives way to a file.
	if err := extract(t, root, ExtractOptions{NoOverwriteDirNonDir: true}, buildTar(t, dir("d/", 0o700), file("f", "g", 0o644))); err != nil {
		t.Fatal(err)
	}
	if err := extract(t, root, ExtractOptions{}, buildTar(t, file("d", "now a file", 0o644))); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "d")); string(b) != "now a file" {
		t.Errorf("d = %q", b)
	}
}

// TestExtractScopedToRoot: symlinks the tree holds (a container's own, or
// ones the archive makes) resolve inside the root, not on the host.
func TestExtractScopedToRoot(t *testing.T) {
	testutil.RequiresRoot(t)
	cases := []struct {
		name     string
		setup    func(t *testing.T, root, sentinel string)
		tar      []entry
		dir      string
		mustFail bool
		check    func(t *testing.T, root string)
	}{
		{name: "dotdot", tar: []entry{file("../../sentinel/x", "evil", 0o644)}, dir: "dst", mustFail: true},
		{name: "dotdot-past-dir", tar: []entry{file("../x", "evil", 0o644)}, dir: "dst", mustFail: true},
		{name: "hardlink-outside", tar: []entry{hardlink("h", "../../outside")}, dir: "dst", mustFail: true},
		{name: "hardlink-dir-itself", tar: []entry{hardlink("h", "/")}, dir: "dst", mustFail: true},
		{name: "container-abs-symlink", dir: "dst",
			setup: func(t *testing.T, root, sentinel string) { os.Symlink(sentinel, filepath.Join(root, "dst", "s")) },
			tar:   []entry{file("s/x", "evil", 0o644)},
			check: func(t *testing.T, root string) {
				// The host path the symlink names, taken inside the root.
				matches, _ := filepath.Glob(filepath.Join(root, "*", "*", "*", "a", "sentinel", "x"))
				if len(matches) == 0 {
					t.Errorf("write through the container's absolute symlink did not land inside the root")
				}
			}},
		{name: "container-root-symlink", dir: "dst",
			setup: func(t *testing.T, root, _ string) { os.Symlink("/", filepath.Join(root, "dst", "r")) },
			tar:   []entry{file("r/etc/x", "in root", 0o644)},
			check: func(t *testing.T, root string) {
				if b, _ := os.ReadFile(filepath.Join(root, "etc/x")); string(b) != "in root" {
					t.Errorf("root/etc/x = %q", b)
				}
			}},
		{name: "destination-is-abs-symlink", dir: "link",
			setup: func(t *testing.T, root, sentinel string) { os.Symlink(sentinel, filepath.Join(root, "link")) },
			tar:   []entry{file("x", "evil", 0o644)}},
		{name: "archive-symlink-then-write", dir: "dst", tar: []entry{symlink("up", "../../../.."), file("up/sentinel/x", "evil", 0o644)}},
		{name: "archive-abs-symlink-then-hardlink", dir: "dst", tar: []entry{symlink("l", "SENTINEL"), hardlink("h", "l/keep")}, mustFail: true},
		{name: "symlink-then-file-over-it", dir: "dst", tar: []entry{symlink("f", "SENTINEL/keep"), file("f", "evil", 0o644)},
			check: func(t *testing.T, root string) {
				if b, _ := os.ReadFile(filepath.Join(root, "dst", "f")); string(b) != "evil" {
					t.Errorf("f = %q", b)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, sentinel := sandbox(t)
			os.MkdirAll(filepath.Join(root, "dst"), 0o755)
			if c.setup != nil {
				c.setup(t, root, sentinel)
			}
			for i := range c.tar {
				if c.tar[i].hdr.Linkname == "SENTINEL" || c.tar[i].hdr.Linkname == "SENTINEL/keep" {
					c.tar[i].hdr.Linkname = sentinel + c.tar[i].hdr.Linkname[len("SENTINEL"):]
				}
			}
			err := extract(t, root, ExtractOptions{Dir: c.dir}, buildTar(t, c.tar...))
			if c.mustFail {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("err = %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want nil or ErrInvalidArgument", err)
			}
			if err == nil && c.check != nil {
				c.check(t, root)
			}
		})
	}
}
