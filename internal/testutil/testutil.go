// Package testutil holds helpers shared by wharf's tests: root gating and
// locally built image fixtures (no test may need the internet).
package testutil

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequiresRoot skips the test with a reason unless it runs as root. CI runs
// as root, so tests gated by it always run there.
func RequiresRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: test needs root (namespaces, cgroups, mounts); CI runs it as root")
	}
}

// BusyboxPath returns the path of a static busybox binary or skips the test.
// Debian's busybox-static package installs it at /bin/busybox.
func BusyboxPath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	t.Skip("skipping: no static busybox (apt-get install busybox-static)")
	return ""
}

// BusyboxRootfsTar returns an uncompressed tar of a minimal root filesystem:
// a static busybox at /bin/busybox with a symlink for every applet, /etc with
// passwd and group, and the empty directories a container expects.
func BusyboxRootfsTar(t testing.TB) []byte {
	t.Helper()
	bb := BusyboxPath(t)
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string, mode int64, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc", "dev", "proc", "sys", "tmp", "root", "home", "var", "run", "usr", "usr/bin", "sbin"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		dir(d, mode)
	}
	file("bin/busybox", 0o755, data)
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: filepath.Join("bin", applet), Linkname: "busybox", Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
	}
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home:/bin/sh\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
