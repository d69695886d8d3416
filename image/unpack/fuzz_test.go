package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzApply feeds random and mutated tars to Apply. It must never panic and
// never create or change anything outside the target directory. Seeds live
// in testdata/fuzz/FuzzApply and below.
func FuzzApply(f *testing.F) {
	f.Add(buildTar(f, file("a", "x", 0o644)))
	f.Add(buildTar(f, symlink("evil", "/"), file("evil/etc/passwd", "x", 0o644)))
	f.Add(buildTar(f, symlink("up", "../.."), file("up/outside", "x", 0o644)))
	f.Add(buildTar(f, hardlink("h", "../outside")))
	f.Add(buildTar(f, dir("d/", 0o755), file("d/.wh..wh..opq", "", 0o644), file("d/.wh.x", "", 0o644)))
	f.Add(buildTar(f, entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "c", Devmajor: 1, Devminor: 3}}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		layer := filepath.Join(base, "layer")
		outside := filepath.Join(base, "outside")
		os.Mkdir(layer, 0o755)
		os.Mkdir(outside, 0o755)
		_, _, _ = Apply(context.Background(), layer, bytes.NewReader(data))
		ents, _ := os.ReadDir(base)
		if len(ents) != 2 {
			t.Fatalf("entries next to the layer: %v", ents)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Fatalf("wrote outside the layer: %v", ents)
		}
	})
}

// FuzzExtract feeds random and mutated tars to Extract in docker cp's mode,
// into a destination of a tree that, like a hostile container, already
// holds symlinks aimed out of it: an absolute one at a host directory next
// to the tree, one climbing with "..", and one at "/". The low bits of
// flags pick the options and the destination. Nothing outside the tree may
// be created or changed. Seeds live in testdata/fuzz/FuzzExtract.
func FuzzExtract(f *testing.F) {
	f.Add(buildTar(f, file("a", "x", 0o644)), uint8(0))
	f.Add(buildTar(f, file("../../outside/x", "x", 0o644)), uint8(0))
	f.Add(buildTar(f, file("/../outside/x", "x", 0o644)), uint8(1))
	f.Add(buildTar(f, file("host/x", "x", 0o644), file("up/outside/y", "y", 0o644)), uint8(0))
	f.Add(buildTar(f, symlink("s", "/"), file("s/x", "x", 0o644), symlink("u", "../../../.."), file("u/outside/x", "x", 0o644)), uint8(2))
	f.Add(buildTar(f, hardlink("h", "host/keep"), hardlink("h2", "../../outside/keep")), uint8(0))
	f.Add(buildTar(f, dir("d/", 0o755), file("d", "x", 0o644), file("host", "x", 0o644)), uint8(4))
	f.Add([]byte("not a tar"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		outside := filepath.Join(base, "outside")
		for _, d := range []string{filepath.Join(root, "dst"), outside} {
			os.MkdirAll(d, 0o755)
		}
		os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644)
		os.Symlink(outside, filepath.Join(root, "dst", "host"))
		os.Symlink("../../../..", filepath.Join(root, "dst", "up"))
		os.Symlink("/", filepath.Join(root, "dst", "slash"))
		os.Symlink(outside, filepath.Join(root, "hostdir"))
		o := ExtractOptions{KeepOwners: flags&1 != 0, NoOverwriteDirNonDir: flags&4 != 0}
		switch flags >> 1 & 1 {
		case 0:
			o.Dir = "/dst"
		case 1:
			o.Dir = "hostdir" // the destination itself is a symlink out
		}
		h, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		_ = Extract(context.Background(), h, bytes.NewReader(data), o)
		if ents, _ := os.ReadDir(base); len(ents) != 2 {
			t.Fatalf("entries next to the tree: %v", ents)
		}
		ents, _ := os.ReadDir(outside)
		if len(ents) != 1 || ents[0].Name() != "keep" {
			t.Fatalf("wrote outside the tree: %v", ents)
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(outside, "keep"), &st); err != nil || st.Nlink != 1 || st.Size != 4 || st.Mode&0o7777 != 0o644 || st.Uid != 0 {
			t.Fatalf("file outside the tree changed: %+v %v", st, err)
		}
	})
}
