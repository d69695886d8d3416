package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
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
