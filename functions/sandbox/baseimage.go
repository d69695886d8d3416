package sandbox

import (
	"archive/tar"
	"bytes"
)

// BaseImageTar returns the root filesystem of BaseImage as a tar: the
// directories a Lambda custom runtime expects and the sandbox user, and
// nothing to execute.
func BaseImageTar() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []struct {
		name     string
		mode     int64
		uid, gid int
	}{{"etc", 0o755, 0, 0}, {"var", 0o755, 0, 0}, {"var/task", 0o755, 0, 0}, {"var/runtime", 0o755, 0, 0}, {"opt", 0o755, 0, 0},
		{"tmp", 0o1777, 0, 0}, {"proc", 0o555, 0, 0}, {"sys", 0o555, 0, 0}, {"dev", 0o755, 0, 0}, {"home", 0o755, 0, 0},
		{"home/sbx_user1051", 0o700, 993, 990}} {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name + "/", Mode: d.mode, Uid: d.uid, Gid: d.gid})
	}
	file := func(name, body string) {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))})
		_, _ = tw.Write([]byte(body))
	}
	file("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\n")
	file("etc/group", "root:x:0:\nsbx_user1051:x:990:\n")
	_ = tw.Close()
	return buf.Bytes()
}
