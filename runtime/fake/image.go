package fake

import (
	"archive/tar"
	"bytes"
	"os"
	"sort"
	"time"
)

// Programs are the programs of RootfsTar's image, every one that the fake
// runs (all links to /bin/busybox, as in a busybox image).
var Programs = func() []string {
	var out []string
	for name := range shells {
		out = append(out, name)
	}
	for name := range applets {
		if name != "busybox" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}()

// RootfsTar returns an uncompressed tar of a root filesystem for fake
// containers: /bin/busybox and a link to it for every program the fake
// runs, /etc/passwd and /etc/group with root, nobody and app (1000), and
// the directories a container expects. Its entries belong to the user
// running the test, so that an unprivileged image store can unpack it.
func RootfsTar() ([]byte, error) {
	uid, gid := os.Geteuid(), os.Getegid()
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(h *tar.Header, body []byte) error {
		h.Uid, h.Gid, h.ModTime, h.Format = uid, gid, mtime, tar.FormatPAX
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	for _, d := range []string{"bin", "dev", "etc", "home", "home/app", "proc", "root", "run", "sbin", "sys", "tmp", "usr", "usr/bin", "var"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := put(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode}, nil); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		body string
	}{
		{"bin/busybox", 0o755, "fake busybox: runtime/fake runs the programs linked to it\n"},
		{"etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", 0o644, "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"},
	}
	for _, f := range files {
		if err := put(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode}, []byte(f.body)); err != nil {
			return nil, err
		}
	}
	for _, p := range Programs {
		if err := put(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + p, Linkname: "busybox", Mode: 0o777}, nil); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
