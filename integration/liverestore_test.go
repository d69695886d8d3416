package integration

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

const counterScript = `i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done`

// TestLiveRestore kills the daemon with SIGKILL under 20 running
// containers, kills one container while the daemon is down, and checks
// that a new daemon re-adopts the 19 survivors and records the death.
func TestLiveRestore(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)

	const n = 20
	ids := make([]string, n)
	pids := make([]int, n)
	for i := range ids {
		ids[i] = runD(t, d, "--name", "counter"+strconv.Itoa(i), busybox, "sh", "-c", counterScript)
	}
	for i, id := range ids {
		pids[i] = atoi(t, inspect(t, d, "{{.State.Pid}}", id))
		if !pidAlive(pids[i]) {
			t.Fatalf("container %d: pid %d from inspect is not alive", i, pids[i])
		}
	}
	shims := len(d.ShimPids())
	if shims != n {
		t.Errorf("%d shim processes for %d containers", shims, n)
	}

	d.Kill9()
	time.Sleep(300 * time.Millisecond)
	for i, pid := range pids {
		if !pidAlive(pid) {
			t.Errorf("container %d (pid %d) died with the daemon", i, pid)
		}
	}
	if got := len(d.ShimPids()); got != n {
		t.Errorf("%d shims alive after the daemon was killed, want %d", got, n)
	}

	// While the daemon is down, container 7's process is killed.
	const victim = 7
	if err := syscall.Kill(pids[victim], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return !pidAlive(pids[victim]) }) {
		t.Fatalf("pid %d survived SIGKILL", pids[victim])
	}
	// Let the shim record the exit before the daemon comes back; the
	// daemon must cope either way, but this is the case under test.
	time.Sleep(300 * time.Millisecond)

	d.Restart(t)

	var want []string
	for i, id := range ids {
		if i != victim {
			want = append(want, id)
		}
	}
	sort.Strings(want)
	got := strings.Fields(d.MustWharf(t, "ps", "-q", "--no-trunc"))
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("after restart ps lists %d running containers, want the %d survivors\ngot:  %v\nwant: %v", len(got), len(want), got, want)
	}
	// A re-adopted container takes execs (the new daemon reads the run's
	// process from the bundle).
	if len(want) > 0 {
		if out, _, code := d.Wharf(t, "exec", want[0], "echo", "ok"); code != 0 || out != "ok\n" {
			t.Errorf("exec into a re-adopted container: exit %d, %q", code, out)
		}
	}
	if s := inspect(t, d, "{{.State.Status}}", ids[victim]); s != "exited" {
		t.Errorf("the container killed while the daemon was down is %s, want exited", s)
	}
	if c := inspect(t, d, "{{.State.ExitCode}}", ids[victim]); c != "137" {
		t.Errorf("the container killed while the daemon was down has exit code %s, want 137", c)
	}
	for i, id := range ids {
		if i == victim {
			continue
		}
		if p := inspect(t, d, "{{.State.Pid}}", id); p != strconv.Itoa(pids[i]) {
			t.Errorf("container %d: pid %s after restart, was %d (not re-adopted?)", i, p, pids[i])
		}
	}

	// A survivor's log keeps growing: the shim still writes it.
	survivor := ids[3]
	// It writes a line every 100 ms; a loaded host may slow it, so the
	// growth is awaited (5 lines within 10 s), not timed.
	n1 := strings.Count(d.MustWharf(t, "logs", survivor), "\n")
	n2 := n1
	for deadline := time.Now().Add(10 * time.Second); n2 < n1+5 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		n2 = strings.Count(d.MustWharf(t, "logs", survivor), "\n")
	}
	if n2 < n1+5 {
		t.Errorf("survivor's log grew from %d to %d lines in 10 s after restart, want 5 more at least", n1, n2)
	}
	// And the new daemon controls the re-adopted containers.
	d.MustWharf(t, "stop", "-t", "1", survivor)
	if r := inspect(t, d, "{{.State.Running}}", survivor); r != "false" {
		t.Errorf("stop of a re-adopted container: Running %s", r)
	}
	if pidAlive(pids[3]) {
		t.Errorf("stop of a re-adopted container left pid %d alive", pids[3])
	}

	assertNoLeaks(t, d)
}

// TestHostRebootRestart mimics a reboot: the daemon, the shim and the
// container all die and the shim's directory in /run is gone. A restarted
// daemon starts the --restart always container again and removes the --rm
// containers, started or only created, as docker does.
func TestHostRebootRestart(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)

	id := runD(t, d, "--restart", "always", busybox, "sleep", "1000")
	oldPid := atoi(t, inspect(t, d, "{{.State.Pid}}", id))
	rmID := runD(t, d, "--rm", busybox, "sleep", "1000")
	rmPid := atoi(t, inspect(t, d, "{{.State.Pid}}", rmID))
	createdID := strings.TrimSpace(d.MustWharf(t, "create", "--rm", busybox, "true"))
	var shimDirs []string
	var pids = []int{oldPid, rmPid}
	for _, c := range []string{id, rmID} {
		shimDir := shimDirOf(t, d, c)
		raw, err := os.ReadFile(filepath.Join(shimDir, "shim.pid"))
		if err != nil {
			t.Fatalf("shim pid file: %v", err)
		}
		shimDirs = append(shimDirs, shimDir)
		pids = append(pids, atoi(t, strings.TrimSpace(string(raw))))
	}

	d.Kill9()
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", pid, err)
		}
	}
	if !waitFor(5*time.Second, func() bool {
		for _, pid := range pids {
			if pidAlive(pid) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("a shim or container of %v survived SIGKILL", pids)
	}
	for _, dir := range shimDirs {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}

	d.Restart(t)
	for _, c := range []string{rmID, createdID} {
		if !waitFor(10*time.Second, func() bool {
			_, _, code := d.Wharf(t, "inspect", c)
			return code != 0
		}) {
			t.Errorf("--rm container %s (%s) is still there after the daemon started", c, inspect(t, d, "{{.State.Status}}", c))
		}
	}
	var running, pid string
	if !waitFor(10*time.Second, func() bool {
		running = inspect(t, d, "{{.State.Running}}", id)
		pid = inspect(t, d, "{{.State.Pid}}", id)
		return running == "true"
	}) {
		t.Fatalf("after the simulated reboot the always-container is not running again: Running %s, status %s, error %q",
			running, inspect(t, d, "{{.State.Status}}", id), inspect(t, d, "{{.State.Error}}", id))
	}
	if pid == strconv.Itoa(oldPid) || !pidAlive(atoi(t, pid)) {
		t.Errorf("restarted container's pid %s (old %d) is not a new live process", pid, oldPid)
	}
	if out, _, code := d.Wharf(t, "exec", id, "echo", "ok"); code != 0 || out != "ok\n" {
		t.Errorf("exec into the restarted container: exit %d, %q", code, out)
	}
	assertNoLeaks(t, d)
}

// shimDirOf returns the shim directory of container id:
// <exec-root>/shims/<id>, or the one named by a prefix of the ID (the
// daemon may shorten the name to keep socket paths under 108 bytes).
func shimDirOf(t *testing.T, d *testutil.Daemon, id string) string {
	t.Helper()
	base := filepath.Join(d.ExecRoot, "shims")
	ents, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range ents {
		if e.IsDir() && len(e.Name()) >= 12 && strings.HasPrefix(id, e.Name()) {
			found = append(found, filepath.Join(base, e.Name()))
		}
	}
	if len(found) != 1 {
		t.Fatalf("shim directory of %s under %s: found %v", id, base, found)
	}
	return found[0]
}
