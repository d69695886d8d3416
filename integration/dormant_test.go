package integration

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestDormantShim: a quiet container's shim goes dormant, costs a few pages
// (with the assembly entry the test binary is built with on amd64), and
// wakes for output, requests and the exit; dormant shims survive a daemon
// kill -9 and are re-adopted.
func TestDormantShim(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, testutil.WithDaemonArgs("--shim-dormant-after", "200ms"))

	talker := runD(t, d, busybox, "sh", "-c", "echo first; sleep 2; echo second; sleep 1000")
	quiet := runD(t, d, busybox, "sleep", "1000")
	tty := runD(t, d, "-t", busybox, "sh", "-c", "printf prompt; sleep 1000")

	for _, id := range []string{quiet, tty, talker} {
		pid := shimPid(t, d, id)
		if !waitFor(5*time.Second, func() bool { return isDormant(pid) }) {
			t.Fatalf("the shim of %s did not go dormant: %q", id[:12], cmdline(pid))
		}
		if runtime.GOARCH == "amd64" {
			if pss := pssKB(t, pid); pss > 256 {
				t.Errorf("dormant shim %d costs %d kB PSS, want a few pages", pid, pss)
			}
		}
	}
	// Output wakes the shim, and is logged; it goes back to sleep after.
	if !waitFor(10*time.Second, func() bool { return strings.Contains(d.MustWharf(t, "logs", talker), "second") }) {
		t.Errorf("output of a dormant container was not logged: %q", d.MustWharf(t, "logs", talker))
	}
	if out := d.MustWharf(t, "logs", talker); out != "first\nsecond\n" {
		t.Errorf("logs across dormancy: %q", out)
	}
	if pid := shimPid(t, d, talker); !waitFor(5*time.Second, func() bool { return isDormant(pid) }) {
		t.Errorf("the shim did not go dormant again after output: %q", cmdline(pid))
	}
	// A request wakes it.
	if out := strings.TrimSpace(d.MustWharf(t, "exec", quiet, "echo", "exec-ok")); out != "exec-ok" {
		t.Errorf("exec into a container with a dormant shim: %q", out)
	}

	// Dormant shims outlive the daemon.
	d.Kill9()
	d.Restart(t)
	if got := inspect(t, d, "{{.State.Running}}", quiet); got != "true" {
		t.Fatalf("after the daemon's restart the container is not running: %s", got)
	}
	// The exits wake the shims, which record them.
	d.MustWharf(t, "stop", "-t", "1", quiet, tty)
	for _, id := range []string{quiet, tty} {
		if code := inspect(t, d, "{{.State.ExitCode}}", id); code != "137" {
			t.Errorf("exit code of stopped container %s: %s, want 137", id[:12], code)
		}
	}
	if out := d.MustWharf(t, "logs", tty); !strings.Contains(out, "prompt") {
		t.Errorf("the partial line held while dormant was lost: %q", out)
	}
	assertNoLeaks(t, d)
}

func shimPid(t *testing.T, d *testutil.Daemon, id string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(shimDirOf(t, d, id), "shim.pid"))
	if err != nil {
		t.Fatal(err)
	}
	return atoi(t, strings.TrimSpace(string(raw)))
}

func cmdline(pid int) string {
	raw, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.ReplaceAll(string(raw), "\x00", " ")
}

func isDormant(pid int) bool { return strings.HasPrefix(cmdline(pid), "wharf-shim-dormant ") }

func pssKB(t *testing.T, pid int) int {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			return atoi(t, f[1])
		}
	}
	t.Fatalf("no Pss in smaps_rollup of %d", pid)
	return 0
}
