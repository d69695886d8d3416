// Package testsuite is the conformance suite of snapshot.Mounter: what the
// engine relies on when it mounts a container's root filesystem, checked
// the same way against the kernel's overlayfs (snapshot.Overlay, as root)
// and the fake that needs no privilege (runtime/fake).
package testsuite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/image/snapshot"
)

// Run runs the suite against the mounters newMounter returns.
func Run(t *testing.T, newMounter func(t *testing.T) snapshot.Mounter) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, snapshot.Mounter)
	}{
		{"LayersMerge", testLayersMerge},
		{"ChangesLandInUpper", testChangesLandInUpper},
		{"ReplaceKinds", testReplaceKinds},
		{"RecreatedDirIsOpaque", testRecreatedDir},
		{"Whiteouts", testWhiteouts},
		{"ZeroAndManyLowers", testZeroAndManyLowers},
		{"UnmountIsIdempotent", testUnmount},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newMounter(t)) })
	}
}

// tree is a directory's content: file contents, "->target" for a
// symlink, "/" for a directory.
type tree map[string]string

func write(t *testing.T, dir string, tr tree) {
	t.Helper()
	names := make([]string, 0, len(tr))
	for n := range tr {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		v := tr[n]
		var err error
		switch {
		case v == "/":
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(v, "->"):
			err = os.Symlink(strings.TrimPrefix(v, "->"), p)
		default:
			err = os.WriteFile(p, []byte(v), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// read returns dir's content as a tree.
func read(t *testing.T, dir string) tree {
	t.Helper()
	out := tree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.IsDir():
			out[rel] = "/"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "->" + target
		case !d.Type().IsRegular():
			// A whiteout, in the kernel's form.
			out[rel] = "(special)"
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (tr tree) String() string {
	var b strings.Builder
	names := make([]string, 0, len(tr))
	for n := range tr {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%q ", n, tr[n])
	}
	return b.String()
}

func equal(a, b tree) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// fixture is a target and the layers of one test.
type fixture struct {
	m      snapshot.Mounter
	target string
	layers snapshot.Layers
}

func newFixture(t *testing.T, m snapshot.Mounter, lowers ...tree) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{m: m, target: filepath.Join(base, "merged")}
	if err := os.Mkdir(f.target, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, tr := range lowers {
		d := filepath.Join(base, fmt.Sprintf("lower%d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, d, tr)
		f.layers.Lowers = append(f.layers.Lowers, d)
	}
	f.layers.Upper = filepath.Join(base, "upper")
	f.layers.Work = filepath.Join(base, "work")
	t.Cleanup(func() { _ = m.Unmount(context.Background(), f.target) })
	return f
}

func (f *fixture) mount(t *testing.T) {
	t.Helper()
	if err := f.m.Mount(context.Background(), f.target, f.layers, 0); err != nil {
		t.Fatalf("mount: %v", err)
	}
}

func (f *fixture) unmount(t *testing.T) {
	t.Helper()
	if err := f.m.Unmount(context.Background(), f.target); err != nil {
		t.Fatalf("unmount: %v", err)
	}
}

func (f *fixture) expect(t *testing.T, what string, want tree) {
	t.Helper()
	if got := read(t, f.target); !equal(got, want) {
		t.Errorf("%s: merged view\n got %v\nwant %v", what, got, want)
	}
}

// The upper layers shadow the lower ones, directories merge.
func testLayersMerge(t *testing.T, m snapshot.Mounter) {
	f := newFixture(t, m,
		tree{"a": "1", "dir/x": "x1", "link": "->a"},
		tree{"a": "2", "b": "b2", "dir/y": "y2"},
	)
	f.mount(t)
	f.expect(t, "two lowers", tree{"a": "2", "b": "b2", "dir": "/", "dir/x": "x1", "dir/y": "y2", "link": "->a"})
	f.unmount(t)
}

// Every change made under the target is in the upper layer once it is
// unmounted, the lowers keep theirs, and the next mount shows the changes.
func testChangesLandInUpper(t *testing.T, m snapshot.Mounter) {
	lower := tree{"keep": "k", "edit": "old", "gone": "g", "dir/sub": "s", "chmod": "c"}
	f := newFixture(t, m, lower)
	f.mount(t)
	for _, op := range []func() error{
		func() error { return os.WriteFile(filepath.Join(f.target, "edit"), []byte("new"), 0o644) },
		func() error { return os.Remove(filepath.Join(f.target, "gone")) },
		func() error { return os.WriteFile(filepath.Join(f.target, "added"), []byte("a"), 0o644) },
		func() error { return os.MkdirAll(filepath.Join(f.target, "newdir/deep"), 0o755) },
		func() error { return os.WriteFile(filepath.Join(f.target, "dir/more"), []byte("m"), 0o644) },
		func() error { return os.Symlink("keep", filepath.Join(f.target, "newlink")) },
		func() error { return os.Chmod(filepath.Join(f.target, "chmod"), 0o600) },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	f.unmount(t)
	if got := read(t, f.target); len(got) != 0 {
		t.Errorf("the target is not empty after unmount: %v", got)
	}
	if got := read(t, f.layers.Lowers[0]); !equal(got, tree{"keep": "k", "edit": "old", "gone": "g", "dir": "/", "dir/sub": "s", "chmod": "c"}) {
		t.Errorf("the lower layer changed: %v", got)
	}
	if got := read(t, f.layers.Upper); len(got) == 0 {
		t.Error("the upper layer holds nothing")
	}
	f.mount(t)
	f.expect(t, "remounted", tree{"keep": "k", "edit": "new", "added": "a", "dir": "/", "dir/sub": "s", "dir/more": "m",
		"newdir": "/", "newdir/deep": "/", "newlink": "->keep", "chmod": "c"})
	if fi, err := os.Stat(filepath.Join(f.target, "chmod")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode of a chmod'ed file after remount: %v, %v", fi.Mode(), err)
	}
	f.unmount(t)
}

// A directory replaced by a file, and a file by a directory.
func testReplaceKinds(t *testing.T, m snapshot.Mounter) {
	f := newFixture(t, m, tree{"d/x": "x", "f": "file"})
	f.mount(t)
	if err := os.RemoveAll(filepath.Join(f.target, "d")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.target, "d"), []byte("now a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.target, "f")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.target, "f/inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.unmount(t)
	f.mount(t)
	f.expect(t, "replaced", tree{"d": "now a file", "f": "/", "f/inner": "/"})
	f.unmount(t)
}

// A directory removed and made again does not show the lower layer's
// content again.
func testRecreatedDir(t *testing.T, m snapshot.Mounter) {
	f := newFixture(t, m, tree{"d/old": "o"})
	f.mount(t)
	if err := os.RemoveAll(filepath.Join(f.target, "d")); err != nil {
		t.Fatal(err)
	}
	write(t, f.target, tree{"d/new": "n"})
	f.expect(t, "recreated", tree{"d": "/", "d/new": "n"})
	f.unmount(t)
	f.mount(t)
	f.expect(t, "recreated, remounted", tree{"d": "/", "d/new": "n"})
	f.unmount(t)
}

// Overlay whiteouts in a lower layer (0/0 character devices, as
// image/unpack writes them) hide what lies below.
func testWhiteouts(t *testing.T, m snapshot.Mounter) {
	f := newFixture(t, m, tree{"a": "1", "b": "2"}, tree{})
	if err := unix.Mknod(filepath.Join(f.layers.Lowers[1], "a"), unix.S_IFCHR, 0); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skip("making a whiteout needs privilege")
		}
		t.Fatal(err)
	}
	f.mount(t)
	f.expect(t, "whiteout", tree{"b": "2"})
	f.unmount(t)
}

// No lower layer at all, and more lowers than fit in one mount option
// string.
func testZeroAndManyLowers(t *testing.T, m snapshot.Mounter) {
	f := newFixture(t, m)
	f.mount(t)
	write(t, f.target, tree{"f": "x"})
	f.unmount(t)
	f.mount(t)
	f.expect(t, "zero lowers", tree{"f": "x"})
	f.unmount(t)

	var lowers []tree
	for i := 0; i < 60; i++ {
		lowers = append(lowers, tree{fmt.Sprintf("f%02d", i): "", "top": fmt.Sprint(i)})
	}
	g := newFixture(t, m, lowers...)
	g.mount(t)
	got := read(t, g.target)
	if len(got) != 61 || got["top"] != "59" {
		t.Errorf("60 lowers: %d entries, top %q, want 61 and 59", len(got), got["top"])
	}
	g.unmount(t)
}

// Unmount is not an error when nothing is mounted, and a target is
// mounted again after its unmount.
func testUnmount(t *testing.T, m snapshot.Mounter) {
	f := newFixture(t, m, tree{"a": "1"})
	f.unmount(t)
	f.mount(t)
	f.unmount(t)
	f.unmount(t)
	f.mount(t)
	f.expect(t, "mounted again", tree{"a": "1"})
	f.unmount(t)
}
