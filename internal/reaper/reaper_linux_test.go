package reaper

import (
	"errors"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// subreaper makes the test process a child subreaper, as the daemon is,
// so that the orphans of its children come to it.
func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a child subreaper: %v", err)
	}
}

// orphan starts a shell that leaves a short sleep behind and exits: the
// sleep comes to this process, and is a zombie once it has slept. It
// returns the sleep's pid once it is a zombie child of this process.
func orphan(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("sh", "-c", "sleep 0.05 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("pid %q: %v", out, err)
	}
	waitState(t, pid, 'Z')
	return pid
}

// waitState polls until pid is a child of this process in state st.
func waitState(t *testing.T, pid int, st byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ppid, s := statFields(pid); ppid == unix.Getpid() && s == st {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	ppid, s := statFields(pid)
	t.Fatalf("pid %d: parent %d state %q, want a child in state %q", pid, ppid, s, st)
}

// newReaper is a reaper whose scans the test runs itself (no loop).
func newReaper(t *testing.T) *Reaper {
	t.Helper()
	if err := checkPidfd(); err != nil {
		t.Skipf("no pidfds: %v", err)
	}
	return &Reaper{claimed: map[int]struct{}{}, kick: make(chan struct{}, 1), log: testLogger(t)}
}

func TestReapsOrphans(t *testing.T) {
	subreaper(t)
	r := newReaper(t)
	a, b := orphan(t), orphan(t)
	if again := r.scan(); again {
		t.Fatal("scan asks to be run again with no adoption expected")
	}
	for _, pid := range []int{a, b} {
		if ppid, st := statFields(pid); ppid != 0 {
			t.Errorf("orphan %d still there after a scan: parent %d state %q", pid, ppid, st)
		}
	}
	if r.Reaped() != 2 {
		t.Errorf("reaped %d orphans, want 2", r.Reaped())
	}
}

// The children that os/exec waits for keep their exit status: the reaper
// leaves a zombie alone while the Go runtime holds a pidfd for it.
func TestLeavesWaitedChildren(t *testing.T) {
	subreaper(t)
	r := newReaper(t)
	var cmds []*exec.Cmd
	for i := 0; i < 5; i++ {
		cmd := exec.Command("sh", "-c", "exit "+strconv.Itoa(10+i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	o := orphan(t)
	for _, cmd := range cmds {
		waitState(t, cmd.Process.Pid, 'Z')
		if _, ok := heldPidfds(nil)[cmd.Process.Pid]; !ok {
			t.Fatalf("no pidfd held for the child %d that os/exec started: the reaper could not tell it from an orphan", cmd.Process.Pid)
		}
	}
	r.scan()
	r.scan()
	for i, cmd := range cmds {
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 10+i {
			t.Errorf("child %d: Wait = %v, want exit status %d", i, err, 10+i)
		}
	}
	if ppid, _ := statFields(o); ppid != 0 {
		t.Errorf("the orphan %d was left", o)
	}
	if r.Reaped() != 1 {
		t.Errorf("reaped %d, want the orphan alone", r.Reaped())
	}
}

// A process the caller adopts on purpose is left to the caller's wait:
// nothing is reaped while the adoption is expected, and the claimed pid
// not until Done.
func TestAdoption(t *testing.T) {
	subreaper(t)
	r := newReaper(t)
	a := r.Expect()
	pid := orphan(t)
	if again := r.scan(); !again {
		t.Error("scan does not ask to run again while an adoption is expected")
	}
	if _, st := statFields(pid); st != 'Z' {
		t.Fatalf("the expected adoption %d was reaped before its claim", pid)
	}
	a.Claim(pid)
	other := orphan(t)
	if again := r.scan(); again {
		t.Error("scan asks to run again with the adoption claimed")
	}
	if _, st := statFields(pid); st != 'Z' {
		t.Fatalf("the claimed pid %d was reaped", pid)
	}
	if ppid, _ := statFields(other); ppid != 0 {
		t.Errorf("an orphan beside the claimed one was left")
	}
	var ws unix.WaitStatus
	if got, err := unix.Wait4(pid, &ws, 0, nil); err != nil || got != pid || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("the claimant's wait: pid %d err %v status %v", got, err, ws)
	}
	a.Done()
	a.Done() // twice is harmless
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.expecting != 0 || len(r.claimed) != 0 {
		t.Errorf("after Done: expecting %d, claimed %v", r.expecting, r.claimed)
	}
}

// Without a claim, Done alone ends the wait for an adoption.
func TestAdoptionDoneWithoutClaim(t *testing.T) {
	subreaper(t)
	r := newReaper(t)
	a := r.Expect()
	pid := orphan(t)
	if !r.scan() {
		t.Fatal("scan reaped while an adoption was expected")
	}
	a.Done()
	r.scan()
	if ppid, _ := statFields(pid); ppid != 0 {
		t.Errorf("orphan %d left after the adoption ended", pid)
	}
}

// The loop reaps on SIGCHLD without being asked.
func TestStartReapsOnSignal(t *testing.T) {
	subreaper(t)
	r, err := Start(WithLogger(testLogger(t)))
	if errors.Is(err, ErrNoPidfd) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := exec.Command("sh", "-c", "sleep 0.05 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ppid, _ := statFields(pid); ppid == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ppid, st := statFields(pid)
	t.Fatalf("orphan %d not reaped: parent %d state %q", pid, ppid, st)
}

// A nil reaper does nothing, so that callers need no check.
func TestNilReaper(t *testing.T) {
	var r *Reaper
	a := r.Expect()
	a.Claim(1)
	a.Done()
	r.Kick()
	r.Close()
	if r.Reaped() != 0 {
		t.Fatal("a nil reaper reaped")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
