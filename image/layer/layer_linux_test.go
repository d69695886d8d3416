package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/image/snapshot"
	"github.com/wharf-dev/wharf/internal/testutil"
)

type entry struct {
	typ  byte
	body string
	link string
	mode int64
	mod  time.Time
	pax  map[string]string
}

func readTar(t *testing.T, b []byte) (map[string]entry, []string) {
	t.Helper()
	out := map[string]entry{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, order
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[h.Name] = entry{typ: h.Typeflag, body: string(body), link: h.Linkname, mode: h.Mode, mod: h.ModTime, pax: h.PAXRecords}
		order = append(order, h.Name)
	}
}

// TestWriteUpperFromOverlay makes changes through a real overlay mount and
// checks that the upper directory alone gives the OCI layer: deletions as
// whiteouts, a replaced directory as opaque, hardlinks, xattrs, and no
// trace of overlay's own attributes.
func TestWriteUpperFromOverlay(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	lower := filepath.Join(dir, "lower")
	for _, d := range []string{"lower/etc", "lower/gone", "lower/replaced"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"lower/etc/keep", "lower/etc/del", "lower/gone/x", "lower/replaced/old"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("lower"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.MountOverlay(merged, []string{lower}, upper, work, 0); err != nil {
		t.Fatal(err)
	}
	mounted := true
	defer func() {
		if mounted {
			snapshot.Unmount(merged)
		}
	}()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Remove(filepath.Join(merged, "etc/del")))
	must(os.RemoveAll(filepath.Join(merged, "gone")))
	must(os.RemoveAll(filepath.Join(merged, "replaced")))
	must(os.Mkdir(filepath.Join(merged, "replaced"), 0o700))
	must(os.WriteFile(filepath.Join(merged, "replaced/new"), []byte("new"), 0o600))
	must(os.WriteFile(filepath.Join(merged, "etc/added"), []byte("hello"), 0o640))
	must(os.Link(filepath.Join(merged, "etc/added"), filepath.Join(merged, "etc/added2")))
	must(os.Symlink("/etc/added", filepath.Join(merged, "link")))
	must(unix.Setxattr(filepath.Join(merged, "etc/added"), "user.note", []byte("v"), 0))
	must(snapshot.Unmount(merged))
	mounted = false

	var buf bytes.Buffer
	must(WriteUpper(context.Background(), &buf, upper, Options{}))
	got, _ := readTar(t, buf.Bytes())
	want := map[string]byte{
		"etc/":                       tar.TypeDir,
		"etc/.wh.del":                tar.TypeReg,
		"etc/added":                  tar.TypeReg,
		"etc/added2":                 tar.TypeLink,
		".wh.gone":                   tar.TypeReg,
		"replaced/":                  tar.TypeDir,
		"replaced/" + WhiteoutOpaque: tar.TypeReg,
		"replaced/new":               tar.TypeReg,
		"link":                       tar.TypeSymlink,
	}
	for name, typ := range want {
		e, ok := got[name]
		if !ok {
			t.Errorf("missing %s in %v", name, got)
			continue
		}
		if e.typ != typ {
			t.Errorf("%s: type %c, want %c", name, e.typ, typ)
		}
	}
	if len(got) != len(want) {
		t.Errorf("layer has %d entries, want %d: %v", len(got), len(want), got)
	}
	if e := got["etc/added"]; e.body != "hello" || e.mode != 0o640 || e.pax["SCHILY.xattr.user.note"] != "v" {
		t.Errorf("etc/added = %+v", e)
	}
	if e := got["etc/added2"]; e.link != "etc/added" {
		t.Errorf("hardlink points to %q", e.link)
	}
	if e := got["link"]; e.link != "/etc/added" {
		t.Errorf("symlink points to %q", e.link)
	}
	for name, e := range got {
		for k := range e.pax {
			if bytes.Contains([]byte(k), []byte("overlay")) {
				t.Errorf("%s carries overlay's own xattr %s", name, k)
			}
		}
	}
}

// TestWriteUpperEpoch checks that an epoch clamps later times and that two
// walks of the same directory give the same bytes.
func TestWriteUpperEpoch(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a/b/f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1000, 0)
	if err := os.Chtimes(filepath.Join(dir, "a/b/f"), old, old); err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(5000, 0)
	var b1, b2 bytes.Buffer
	if err := WriteUpper(context.Background(), &b1, dir, Options{Epoch: &epoch}); err != nil {
		t.Fatal(err)
	}
	got, order := readTar(t, b1.Bytes())
	if len(order) != 3 || order[0] != "a/" || order[1] != "a/b/" || order[2] != "a/b/f" {
		t.Fatalf("order %v", order)
	}
	if !got["a/"].mod.Equal(epoch) {
		t.Errorf("a/ mtime %v, want the epoch", got["a/"].mod)
	}
	if !got["a/b/f"].mod.Equal(old) {
		t.Errorf("an older mtime moved: %v", got["a/b/f"].mod)
	}
	// Touching the directory changes nothing once clamped.
	now := time.Now()
	if err := os.Chtimes(filepath.Join(dir, "a"), now, now); err != nil {
		t.Fatal(err)
	}
	if err := WriteUpper(context.Background(), &b2, dir, Options{Epoch: &epoch}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Error("same files and epoch gave different layers")
	}
}
