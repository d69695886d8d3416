package integration

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestExecWarm: once execs into a container repeat, the container's next
// exec runs on a runtime started ahead of it. That exec behaves as one on a fresh runtime (output
// kept apart, exit code, stdin, user and workdir, not-found errors); a
// restarted container does not get the old run's runtime; removal, the
// daemon's death and --exec-warm-for 0 leave no runtime process behind.
func TestExecWarm(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, testutil.WithDaemonArgs("--exec-warm-for", "30s", "--log-level", "debug"))
	id := runD(t, d, busybox, "sleep", "1000")
	if pids := d.RuntimePids(); len(pids) != 0 {
		t.Fatalf("runtime processes before any exec: %v", pids)
	}
	// A single exec starts nothing ahead; a second one soon after does.
	d.MustWharf(t, "exec", id, "true")
	time.Sleep(500 * time.Millisecond)
	if pids := d.RuntimePids(); len(pids) != 0 {
		t.Errorf("runtime processes after a single exec: %v", pids)
	}
	d.MustWharf(t, "exec", id, "true")
	warm := waitWarm(t, d, nil)

	stdout, stderr, code := d.Wharf(t, "exec", id, "sh", "-c", "echo out; echo err >&2; exit 3")
	if stdout != "out\n" || stderr != "err\n" || code != 3 {
		t.Errorf("exec on a warm runtime: stdout %q stderr %q code %d, want out, err, 3", stdout, stderr, code)
	}
	// That exec used the waiting runtime, and another one waits now.
	warm = waitWarm(t, d, warm)
	if log, _ := os.ReadFile(d.LogPath); !strings.Contains(string(log), "exec on a warm runtime") {
		t.Errorf("the exec did not run on the warm runtime; daemon log:\n%s", log)
	}

	if out, _, code := d.WharfStdin(t, []byte("piped\n"), "exec", "-i", id, "cat"); out != "piped\n" || code != 0 {
		t.Errorf("exec -i on a warm runtime: %q, code %d", out, code)
	}
	warm = waitWarm(t, d, warm)
	if out := d.MustWharf(t, "exec", "-u", "1000", "-w", "/tmp", "-e", "A=b", id, "sh", "-c", "id -u; pwd; echo $A"); out != "1000\n/tmp\nb\n" {
		t.Errorf("exec -u -w -e on a warm runtime: %q", out)
	}
	warm = waitWarm(t, d, warm)
	if _, stderr, code := d.Wharf(t, "exec", id, "nosuch"); code != 127 || !strings.Contains(stderr, "not found") {
		t.Errorf("exec of a missing command on a warm runtime: code %d, %q", code, stderr)
	}
	warm = waitWarm(t, d, warm)

	// A restart ends the run the waiting runtime loaded; the next exec
	// runs in the new one.
	d.MustWharf(t, "restart", "-t", "0", id)
	pid := inspect(t, d, "{{.State.Pid}}", id)
	if out := strings.TrimSpace(d.MustWharf(t, "exec", id, "sh", "-c", "cat /proc/1/stat | cut -d' ' -f1; echo ok")); !strings.HasSuffix(out, "ok") {
		t.Errorf("exec after a restart: %q", out)
	}
	if got := inspect(t, d, "{{.State.Pid}}", id); got != pid {
		t.Errorf("the container's pid changed under an exec: %s, then %s", pid, got)
	}
	warm = waitWarm(t, d, warm)

	// The daemon's death takes the waiting runtime with it.
	d.Kill9()
	if !waitFor(5*time.Second, func() bool { return len(d.RuntimePids()) == 0 }) {
		t.Errorf("runtime processes outlived a killed daemon: %v", d.RuntimePids())
	}
	d.Restart(t)
	d.MustWharf(t, "exec", id, "true")
	d.MustWharf(t, "exec", id, "true")
	waitWarm(t, d, nil)
	// Removal takes it too (assertNoLeaks checks for runtime processes).
	assertNoLeaks(t, d)

	off := newDaemon(t, testutil.WithDaemonArgs("--exec-warm-for", "0"))
	other := runD(t, off, busybox, "sleep", "1000")
	off.MustWharf(t, "exec", other, "true")
	off.MustWharf(t, "exec", other, "true")
	time.Sleep(500 * time.Millisecond)
	if pids := off.RuntimePids(); len(pids) != 0 {
		t.Errorf("--exec-warm-for 0 left runtime processes: %v", pids)
	}
	assertNoLeaks(t, off)
}

// waitWarm waits for exactly one runtime process of d that is none of
// before, and returns it.
func waitWarm(t *testing.T, d *testutil.Daemon, before []int) []int {
	t.Helper()
	var pids []int
	if !waitFor(10*time.Second, func() bool {
		pids = d.RuntimePids()
		return len(pids) == 1 && !slices.Contains(before, pids[0])
	}) {
		t.Fatalf("want one new warm runtime exec (before %v), have %v", before, pids)
	}
	return pids
}
