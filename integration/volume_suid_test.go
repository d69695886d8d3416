package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestVolumeSetuidClosedToHostUsers: a container writes a setuid-root
// copy of busybox into a named volume. Inside containers it stays a
// working setuid program (volumes are not nosuid, as under dockerd), but
// no non-root user of the host can reach it, let alone run it as root.
func TestVolumeSetuidClosedToHostUsers(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	// The test daemon's root lies in a private temporary directory; open
	// that directory as /var/lib is, so that only the modes the daemon
	// sets under its root decide.
	if err := os.Chmod(filepath.Dir(d.Root), 0o711); err != nil {
		t.Fatal(err)
	}
	d.MustWharf(t, "volume", "create", "suidvol")
	d.MustWharf(t, "run", "--rm", "-v", "suidvol:/data", busybox, "sh", "-c",
		"cp /bin/busybox /data/busybox && chown 0:0 /data/busybox && chmod 4755 /data/busybox")
	mp := strings.TrimSpace(d.MustWharf(t, "volume", "inspect", "--format", "{{.Mountpoint}}", "suidvol"))
	sbb := filepath.Join(mp, "busybox")
	fi, err := os.Stat(sbb)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSetuid == 0 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("the container's copy is not setuid root: %v", fi.Mode())
	}

	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	run := exec.Command(sbb, "id", "-u")
	run.SysProcAttr = nobody
	if out, err := run.CombinedOutput(); err == nil {
		// busybox drops setuid for id and prints 65534; a program of the
		// container's choosing would keep root.
		t.Fatalf("uid 65534 on the host executed the volume's setuid-root file (id -u printed %q)", strings.TrimSpace(string(out)))
	} else if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("running it as uid 65534: %v, want permission denied", err)
	}
	// Not even the name is reachable.
	look := exec.Command("test", "-e", sbb)
	look.SysProcAttr = nobody
	if err := look.Run(); err == nil {
		t.Fatal("uid 65534 on the host can reach the volume's content")
	}

	// Inside a container the volume is mounted without nosuid, as
	// dockerd mounts local volumes: a setuid program a user keeps there
	// works. (busybox itself drops setuid for most applets, so the mount's
	// options are what the test reads.)
	opts := strings.TrimSpace(d.MustWharf(t, "run", "--rm", "-v", "suidvol:/data", busybox, "awk", `$5 == "/data" { print $6 }`, "/proc/self/mountinfo"))
	if opts == "" || strings.Contains(opts, "nosuid") {
		t.Errorf("the volume's mount options inside the container: %q, want it mounted without nosuid", opts)
	}
}
