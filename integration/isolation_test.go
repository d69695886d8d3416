package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIsolation checks that a container gets its own pid, UTS, network,
// mount and IPC namespaces.
func TestIsolation(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)

	t.Run("PidOne", func(t *testing.T) {
		out := d.MustWharf(t, "run", "--rm", busybox, "sh", "-c", "echo $$")
		if strings.TrimSpace(out) != "1" {
			t.Fatalf("echo $$ in the container printed %q, want 1", out)
		}
	})
	t.Run("HostnameIsShortID", func(t *testing.T) {
		id := runD(t, d, busybox, "hostname")
		d.MustWharf(t, "wait", id)
		out := d.MustWharf(t, "logs", id)
		if strings.TrimSpace(out) != id[:12] {
			t.Fatalf("hostname printed %q, want the short ID %s", out, id[:12])
		}
		d.MustWharf(t, "rm", id)
	})
	t.Run("HostnameFlag", func(t *testing.T) {
		out := d.MustWharf(t, "run", "--rm", "-h", "isohost", busybox, "hostname")
		if strings.TrimSpace(out) != "isohost" {
			t.Fatalf("run -h isohost hostname printed %q", out)
		}
	})
	t.Run("PsSeesOnlyContainer", func(t *testing.T) {
		comm, err := os.ReadFile("/proc/self/comm")
		if err != nil {
			t.Fatal(err)
		}
		out := d.MustWharf(t, "run", "--rm", busybox, "ps", "-o", "pid,comm")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		// Header and the ps itself (pid 1, it is the container's command).
		if len(lines) != 2 {
			t.Errorf("ps in the container lists %d lines, want a header and ps alone:\n%s", len(lines), out)
		}
		if c := strings.TrimSpace(string(comm)); strings.Contains(out, c) {
			t.Errorf("ps in the container shows the test process %q:\n%s", c, out)
		}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) > 0 && f[0] != "1" {
				t.Errorf("ps in the container shows pid %s besides pid 1:\n%s", f[0], out)
			}
		}
	})
	t.Run("ProcOneCmdline", func(t *testing.T) {
		out := d.MustWharf(t, "run", "--rm", busybox, "cat", "/proc/1/cmdline")
		if want := "cat\x00/proc/1/cmdline\x00"; out != want {
			t.Fatalf("/proc/1/cmdline is %q, want %q", out, want)
		}
	})
	t.Run("NetworkNone", func(t *testing.T) {
		out := d.MustWharf(t, "run", "--rm", "--network", "none", busybox, "ls", "/sys/class/net")
		if strings.Fields(out)[0] != "lo" || len(strings.Fields(out)) != 1 {
			t.Errorf("--network none: /sys/class/net holds %q, want lo alone", out)
		}
		out = d.MustWharf(t, "run", "--rm", "--network", "none", busybox, "ip", "-o", "link")
		if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 1 || !strings.Contains(out, "lo:") {
			t.Errorf("--network none: ip -o link lists %d links, want lo alone:\n%s", n, out)
		}
	})
	t.Run("Namespaces", func(t *testing.T) {
		kinds := []string{"pid", "uts", "net", "mnt", "ipc"}
		var script strings.Builder
		for _, k := range kinds {
			script.WriteString("readlink /proc/1/ns/" + k + "; ")
		}
		out := strings.Fields(d.MustWharf(t, "run", "--rm", busybox, "sh", "-c", script.String()))
		if len(out) != len(kinds) {
			t.Fatalf("readlink of namespaces printed %v", out)
		}
		for i, k := range kinds {
			host, err := os.Readlink("/proc/self/ns/" + k)
			if err != nil {
				t.Fatal(err)
			}
			if out[i] == host {
				t.Errorf("container shares the host's %s namespace (%s)", k, host)
			}
		}
	})
	t.Run("MountNotOnHost", func(t *testing.T) {
		id := runD(t, d, "--privileged", busybox, "sh", "-c",
			"mkdir -p /m && mount -t tmpfs wharfisomnt /m && touch /m/ready && exec sleep 60")
		if !waitFor(10*time.Second, func() bool {
			_, _, code := d.Wharf(t, "exec", id, "test", "-f", "/m/ready")
			return code == 0
		}) {
			t.Fatalf("tmpfs mount inside the privileged container never appeared; logs:\n%s", d.MustWharf(t, "logs", id))
		}
		pid := inspect(t, d, "{{.State.Pid}}", id)
		inside, err := os.ReadFile(filepath.Join("/proc", pid, "mountinfo"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(inside), "wharfisomnt") {
			t.Fatalf("the container's mountinfo lacks its tmpfs:\n%s", inside)
		}
		host, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(host), "wharfisomnt") {
			t.Errorf("a tmpfs mounted inside the container shows in the host's mountinfo")
		}
		d.MustWharf(t, "rm", "-f", id)
	})
	t.Run("IPCShmNotOnHost", func(t *testing.T) {
		// POSIX shared memory lives in the IPC namespace's /dev/shm.
		name := "wharf-iso-" + strconv.Itoa(os.Getpid())
		out, errOut, code := d.Wharf(t, "run", "--rm", busybox, "sh", "-c", "touch /dev/shm/"+name+" && ls /dev/shm")
		if code != 0 || !strings.Contains(out, name) {
			t.Fatalf("creating /dev/shm/%s in the container: exit %d, stdout %q, stderr %q", name, code, out, errOut)
		}
		if _, err := os.Stat("/dev/shm/" + name); err == nil {
			os.Remove("/dev/shm/" + name)
			t.Errorf("/dev/shm/%s made in the container is visible on the host", name)
		}
		// And the sysvipc tables the container sees are its own (empty).
		out = d.MustWharf(t, "run", "--rm", busybox, "sh", "-c", "tail -n +2 /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | grep -v '^==>' | grep -v '^$' | wc -l")
		if strings.TrimSpace(out) != "0" {
			t.Errorf("the container sees %s System V IPC objects, want 0 in a fresh IPC namespace", strings.TrimSpace(out))
		}
	})
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaks(t, d) })
}
