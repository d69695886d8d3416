package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// entry is one hand-built tar entry; body is the content of regular files.
type entry struct {
	hdr  tar.Header
	body string
}

func buildTar(t testing.TB, ents ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 0)
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func dir(name string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}}
}
func file(name, body string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode}, body: body}
}
func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

// sandbox returns a layer dir and a sentinel dir next to it that hostile
// layers try to reach; the test fails if the sentinel changes.
func sandbox(t *testing.T) (layer, sentinel string) {
	base := t.TempDir()
	layer = filepath.Join(base, "a", "b", "layer")
	sentinel = filepath.Join(base, "a", "sentinel")
	for _, d := range []string{layer, sentinel} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(sentinel, "keep"), []byte("keep"), 0o644)
	t.Cleanup(func() {
		ents, _ := os.ReadDir(sentinel)
		if len(ents) != 1 || ents[0].Name() != "keep" {
			t.Errorf("sentinel dir changed: %v", ents)
		}
		if b, _ := os.ReadFile(filepath.Join(sentinel, "keep")); string(b) != "keep" {
			t.Errorf("sentinel file changed: %q", b)
		}
		// Nothing may appear next to the layer either.
		for _, d := range []string{filepath.Join(base, "a"), filepath.Join(base, "a", "b")} {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				if e.Name() != "b" && e.Name() != "sentinel" && e.Name() != "layer" {
					t.Errorf("unexpected %s in %s", e.Name(), d)
				}
			}
		}
	})
	return layer, sentinel
}

func apply(t *testing.T, dir string, tarball []byte) (string, int64, error) {
	t.Helper()
	return Apply(context.Background(), dir, bytes.NewReader(tarball))
}

func TestApplyRegular(t *testing.T) {
	testutil.RequiresRoot(t)
	d, _ := sandbox(t)
	xattrFile := file("etc/cap", "c", 0o755)
	xattrFile.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.test": "v1", "SCHILY.xattr.trusted.overlay.redirect": "/etc", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}
	fifo := entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o600}}
	dev := entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}}
	owned := file("home/u/f", "owned", 0o4755)
	owned.hdr.Uid, owned.hdr.Gid = 1000, 1001
	tb := buildTar(t,
		dir("./", 0o755),
		dir("etc/", 0o755),
		file("etc/passwd", "root:x:0:0\n", 0o644),
		dir("tmp/", 0o1777),
		owned,
		symlink("bin/sh", "busybox"),
		file("bin/busybox", "BB", 0o755),
		hardlink("bin/ls", "bin/busybox"),
		xattrFile, fifo, dev,
		file("deep/er/file", "x", 0o600), // parents not in the tar
	)
	diffID, size, err := apply(t, d, tb)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tb)
	if diffID != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("diffID = %s", diffID)
	}
	if want := int64(len("root:x:0:0\n") + len("owned") + 2 + 1 + 1); size != want {
		t.Errorf("size = %d, want %d", size, want)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "etc/passwd")); string(b) != "root:x:0:0\n" {
		t.Errorf("passwd = %q", b)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(d, "tmp"), &st)
	if st.Mode&0o7777 != 0o1777 {
		t.Errorf("tmp mode %o", st.Mode&0o7777)
	}
	unix.Lstat(filepath.Join(d, "home/u/f"), &st)
	if st.Uid != 1000 || st.Gid != 1001 || st.Mode&0o7777 != 0o4755 {
		t.Errorf("owned: uid %d gid %d mode %o", st.Uid, st.Gid, st.Mode&0o7777)
	}
	if st.Mtim.Sec != 1700000000 {
		t.Errorf("mtime %d", st.Mtim.Sec)
	}
	unix.Lstat(filepath.Join(d, "etc"), &st)
	if st.Mtim.Sec != 1700000000 {
		t.Errorf("dir mtime %d (children changed it after the fact?)", st.Mtim.Sec)
	}
	if l, _ := os.Readlink(filepath.Join(d, "bin/sh")); l != "busybox" {
		t.Errorf("symlink = %q", l)
	}
	var a, b unix.Stat_t
	unix.Stat(filepath.Join(d, "bin/busybox"), &a)
	unix.Stat(filepath.Join(d, "bin/ls"), &b)
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hardlink: inodes %d %d nlink %d", a.Ino, b.Ino, a.Nlink)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(filepath.Join(d, "etc/cap"), "user.test", buf); err != nil || string(buf[:n]) != "v1" {
		t.Errorf("user xattr = %q %v", buf[:n], err)
	}
	if _, err := unix.Getxattr(filepath.Join(d, "etc/cap"), "security.capability", buf); err != nil {
		t.Errorf("security.capability lost: %v", err)
	}
	if _, err := unix.Getxattr(filepath.Join(d, "etc/cap"), "trusted.overlay.redirect", buf); err == nil {
		t.Error("trusted.overlay xattr from the tar was applied")
	}
	unix.Lstat(filepath.Join(d, "run/fifo"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo mode %o", st.Mode)
	}
	unix.Lstat(filepath.Join(d, "dev/null"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev mode %o rdev %d", st.Mode, st.Rdev)
	}
	if _, err := os.Stat(filepath.Join(d, "deep/er/file")); err != nil {
		t.Error(err)
	}
}

func TestApplyReplaces(t *testing.T) {
	testutil.RequiresRoot(t)
	d, _ := sandbox(t)
	tb := buildTar(t,
		file("a", "1", 0o644), file("a", "2", 0o644), // later entry wins
		dir("d/", 0o755), file("d/x", "x", 0o644), file("d", "now a file", 0o644),
		symlink("l", "/etc/passwd"), file("l", "replaced symlink", 0o644),
	)
	if _, _, err := apply(t, d, tb); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "2", "d": "now a file", "l": "replaced symlink"} {
		if b, err := os.ReadFile(filepath.Join(d, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q %v", name, b, err)
		}
	}
}

func TestApplyWhiteouts(t *testing.T) {
	testutil.RequiresRoot(t)
	d, _ := sandbox(t)
	tb := buildTar(t, dir("etc/", 0o755), file("etc/.wh.passwd", "", 0o644), dir("opt/", 0o755), file("opt/.wh..wh..opq", "", 0o644), file(".wh..wh.plnk", "", 0o644))
	if _, _, err := apply(t, d, tb); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(d, "etc/passwd"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout: mode %o rdev %d err %v", st.Mode, st.Rdev, err)
	}
	buf := make([]byte, 4)
	if n, err := unix.Getxattr(filepath.Join(d, "opt"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr = %q %v", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(d, ".wh..wh.plnk")); err == nil {
		t.Error("aufs metadata file was extracted")
	}
}

func TestApplyHostile(t *testing.T) {
	testutil.RequiresRoot(t)
	cases := []struct {
		name string
		tar  []entry
		// mustFail: the layer must be refused; otherwise it may be
		// contained, and check verifies where the write landed.
		mustFail bool
		check    func(t *testing.T, layer string)
	}{
		{name: "dotdot", tar: []entry{file("../../sentinel/x", "evil", 0o644)}, mustFail: true},
		{name: "dotdot-inner", tar: []entry{file("a/../../../sentinel/x", "evil", 0o644)}, mustFail: true},
		{name: "absolute", tar: []entry{file("/abs/path", "evil", 0o644)}, mustFail: true},
		{name: "symlink-root-then-write", tar: []entry{symlink("evil", "/"), dir("etc/", 0o755), file("evil/etc/passwd", "evil", 0o644)},
			check: func(t *testing.T, layer string) {
				if b, _ := os.ReadFile(filepath.Join(layer, "etc/passwd")); string(b) != "evil" {
					t.Errorf("write through symlink not contained in layer: %q", b)
				}
			}},
		{name: "symlink-dotdot-then-write", tar: []entry{symlink("up", "../../.."), file("up/sentinel/x", "evil", 0o644)},
			check: func(t *testing.T, layer string) {
				if _, err := os.Stat(filepath.Join(layer, "sentinel/x")); err != nil {
					t.Errorf("write through ../ symlink not contained: %v", err)
				}
			}},
		{name: "symlink-to-sentinel-abs", tar: []entry{symlink("s", "SENTINEL"), file("s/x", "evil", 0o644)}},
		{name: "hardlink-outside", tar: []entry{hardlink("h", "../../outside")}, mustFail: true},
		{name: "hardlink-absolute", tar: []entry{hardlink("h", "/etc/passwd")}, mustFail: true},
		{name: "hardlink-through-symlink", tar: []entry{symlink("l", "/"), hardlink("h", "l/etc/passwd")}, mustFail: true},
		{name: "hardlink-through-dotdot-symlink", tar: []entry{symlink("l", "../../sentinel"), hardlink("h", "l/keep")}, mustFail: true},
		{name: "hardlink-to-symlink-outside", tar: []entry{symlink("l", "../../sentinel/keep"), hardlink("h", "l"), file("h", "evil", 0o644)},
			check: func(t *testing.T, layer string) {
				if b, _ := os.ReadFile(filepath.Join(layer, "h")); string(b) != "evil" {
					t.Errorf("h = %q", b)
				}
			}},
		{name: "symlink-then-file-over-it", tar: []entry{symlink("f", "../../sentinel/keep"), file("f", "evil", 0o644)}},
		{name: "whiteout-dotdot", tar: []entry{file("../.wh.sentinel", "", 0o644)}, mustFail: true},
		{name: "opaque-through-symlink", tar: []entry{symlink("s", "../../sentinel"), file("s/.wh..wh..opq", "", 0o644)}},
		{name: "device-bad-numbers", tar: []entry{{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "b", Devmajor: 1 << 20, Devminor: 1}}}, mustFail: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			layer, sentinel := sandbox(t)
			for i := range c.tar {
				if c.tar[i].hdr.Linkname == "SENTINEL" {
					c.tar[i].hdr.Linkname = sentinel
				}
			}
			_, _, err := apply(t, layer, buildTar(t, c.tar...))
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
				c.check(t, layer)
			}
		})
	}
}

func TestApplyCorrupt(t *testing.T) {
	d := t.TempDir()
	tb := buildTar(t, file("a", "0123456789", 0o644))
	if _, _, err := Apply(context.Background(), d, bytes.NewReader(tb[:515])); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("truncated tar: %v", err)
	}
	if _, _, err := Apply(context.Background(), d, bytes.NewReader(bytes.Repeat([]byte{'x'}, 1024))); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("garbage: %v", err)
	}
}
