// Package testsuite is the conformance suite of task.Runtime: what the
// engine relies on of a container runtime, checked the same way against
// every implementation. runtime/fake runs it in its unit tests;
// runtime/ocishim runs it as root against runc with a busybox root
// filesystem. The containers run the same shell scripts in both, so the
// suite also keeps the fake honest.
package testsuite

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/spec"
	"github.com/wharf-dev/wharf/runtime/task"
	"github.com/wharf-dev/wharf/stream"
)

// Config is what the suite needs of an implementation.
type Config struct {
	// New returns a runtime; the suite closes it.
	New func(t *testing.T) task.Runtime
	// Restart closes old, as a daemon going away does, and returns the
	// runtime of a new daemon over the same containers.
	Restart func(t *testing.T, old task.Runtime) task.Runtime
	// Rootfs returns a new directory holding a root filesystem with a
	// shell and the applets cat, sleep, stty (busybox's, or the fake's).
	Rootfs func(t *testing.T) string
	// InitPath is the host path of wharf's init (--init); empty skips
	// the test of a forwarding init.
	InitPath string
}

// Run runs the suite.
func Run(t *testing.T, cfg Config) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"ExitCode", testExitCode},
		{"OutputAndLog", testOutputAndLog},
		{"HoldKeepsOutput", testHoldKeepsOutput},
		{"StartFailure", testStartFailure},
		{"InitIgnoresUnhandledSignals", testInitIgnoresSignals},
		{"TrapHandlesSignal", testTrap},
		{"ForwardingInit", testForwardingInit},
		{"PauseFreezes", testPause},
		{"KillWhilePaused", testKillWhilePaused},
		{"KillFrozenAfterRestart", testKillFrozenAfterRestart},
		{"StdinOnce", testStdinOnce},
		{"FlushMarks", testFlushMarks},
		{"AttachCut", testAttachCut},
		{"Terminal", testTerminal},
		{"Exec", testExec},
		{"ExecStdinAndTerminal", testExecTerminal},
		{"ExecKill", testExecKill},
		{"Update", testUpdate},
		{"ExecDiesWithContainer", testExecDies},
		{"ExecRefused", testExecRefused},
		{"StateAndPids", testStateAndPids},
		{"DeleteAndStartAgain", testDeleteAndStartAgain},
		{"RestartReadopts", testRestartReadopts},
		{"ExitWhileDaemonDown", testExitWhileDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, cfg))
		})
	}
}

type env struct {
	cfg Config
	rt  task.Runtime
	ctx context.Context
}

func newEnv(t *testing.T, cfg Config) *env {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &env{cfg: cfg, rt: cfg.New(t), ctx: ctx}
	t.Cleanup(func() { e.rt.Close() })
	return e
}

// container is one bundle the suite made.
type container struct {
	id     string
	bundle string
	log    string
	rootfs string
}

// options of a bundle.
type options struct {
	tty, stdin, once, hold, init bool
	log                          bool
}

// bundle writes the bundle of a container that runs args.
func (e *env) bundle(t *testing.T, args []string, o options) *container {
	t.Helper()
	var b [32]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	dir := t.TempDir()
	rootfs := e.cfg.Rootfs(t)
	s, err := spec.Generate(e.ctx, &spec.Options{
		ID: id, Rootfs: rootfs, Cmd: args, Tty: o.tty, OpenStdin: o.stdin,
		Init: o.init, InitPath: e.cfg.InitPath, CgroupsPath: "/wharf/" + id,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Version = oci.SpecVersion
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &container{id: id, bundle: dir, rootfs: rootfs}
	if o.log {
		c.log = filepath.Join(dir, "log.json")
	}
	return c
}

// start starts a container running args and makes sure it is gone at
// the end of the test.
func (e *env) start(t *testing.T, args []string, o options) (*container, int) {
	t.Helper()
	c := e.bundle(t, args, o)
	pid, err := e.rt.Start(e.ctx, task.StartOptions{
		ID: c.id, Bundle: c.bundle, CgroupsPath: "/wharf/" + c.id, LogPath: c.log,
		Tty: o.tty, Stdin: o.stdin, StdinOnce: o.once, Hold: o.hold,
	})
	if err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	if pid <= 0 {
		t.Fatalf("start %v: pid %d", args, pid)
	}
	rt := &e.rt
	t.Cleanup(func() { e.cleanup(*rt, c.id) })
	return c, pid
}

// cleanup kills and forgets a container the test left.
func (e *env) cleanup(rt task.Runtime, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if rt.Alive(ctx, id) {
		_ = rt.Resume(ctx, id)
		_ = rt.Kill(ctx, id, syscall.SIGKILL)
		_, _ = rt.Wait(ctx, id)
	}
	for i := 0; i < 100; i++ {
		if err := rt.Delete(ctx, id); !errdefs.IsConflict(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) wait(t *testing.T, id string) *task.Exit {
	t.Helper()
	x, err := e.rt.Wait(e.ctx, id)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return x
}

// exited reports whether the container's run ends within d.
func (e *env) exited(id string, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(e.ctx, d)
	defer cancel()
	_, err := e.rt.Wait(ctx, id)
	return err == nil
}

func (e *env) attach(t *testing.T, id string, o task.AttachOptions) task.Stream {
	t.Helper()
	st, err := e.rt.Attach(e.ctx, id, o)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// demux collects a multiplexed stream until it ends.
type demux struct {
	mu       sync.Mutex
	out, err bytes.Buffer
	done     chan struct{}
}

func collect(st io.Reader) *demux {
	d := &demux{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		_ = stream.Demux(lockedWriter{d, &d.out}, lockedWriter{d, &d.err}, st)
	}()
	return d
}

type lockedWriter struct {
	d *demux
	b *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.b.Write(p)
}

func (d *demux) stdout() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// raw collects an unframed (terminal) stream.
func raw(st io.Reader) *demux {
	d := &demux{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		_, _ = io.Copy(lockedWriter{d, &d.out}, st)
	}()
	return d
}

// waitFor waits until the collected stdout holds want.
func waitFor(t *testing.T, d *demux, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.stdout(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q never held %q", d.stdout(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *demux) end(t *testing.T) {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the attached stream did not end with the container")
	}
}

// A process's own exit code is the run's, recorded for ReadExit; the
// supervisor is gone once it is reported.
func testExitCode(t *testing.T, e *env) {
	c, pid := e.start(t, []string{"sh", "-c", "exit 3"}, options{})
	x := e.wait(t, c.id)
	if x.ExitCode != 3 || x.Pid != pid || x.ExitedAt.IsZero() {
		t.Errorf("exit %+v, want code 3 of pid %d with a time", x, pid)
	}
	// Wait answers again, at once, after the fact.
	if again := e.wait(t, c.id); again.ExitCode != 3 {
		t.Errorf("second wait: %+v", again)
	}
	rx, err := e.rt.ReadExit(e.ctx, c.id)
	if err != nil || rx == nil || rx.ExitCode != 3 {
		t.Errorf("recorded exit %+v, %v", rx, err)
	}
	for i := 0; e.rt.Alive(e.ctx, c.id); i++ {
		if i > 200 {
			t.Fatal("the supervisor is alive after the exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, err := e.rt.State(e.ctx, c.id); err == nil && st.Status != task.StatusStopped {
		t.Errorf("state after the exit: %+v", st)
	}
}

// Output reaches an attached stream on its own stream and the log.
func testOutputAndLog(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sh", "-c", "echo out; echo err >&2; exit 0"}, options{hold: true, log: true})
	d := collect(e.attach(t, c.id, task.AttachOptions{Stdout: true, Stderr: true, Release: true}))
	if x := e.wait(t, c.id); x.ExitCode != 0 {
		t.Fatalf("exit %d", x.ExitCode)
	}
	d.end(t)
	if d.out.String() != "out\n" || d.err.String() != "err\n" {
		t.Errorf("stdout %q stderr %q", d.out.String(), d.err.String())
	}
	got := map[string]string{}
	err := logfile.Read(e.ctx, c.log, logfile.ReadOptions{Stdout: true, Stderr: true, Tail: -1}, func(en logfile.Entry) error {
		got[en.Stream] += en.Log
		return nil
	})
	if err != nil || got["stdout"] != "out\n" || got["stderr"] != "err\n" {
		t.Errorf("log %v, %v", got, err)
	}
}

// Held output waits for the stream that releases it.
func testHoldKeepsOutput(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sh", "-c", "echo early; sleep 100"}, options{hold: true})
	time.Sleep(300 * time.Millisecond)
	d := collect(e.attach(t, c.id, task.AttachOptions{Stdout: true, Release: true}))
	waitFor(t, d, "early\n")
}

// A command that does not exist is 127, one that cannot run 126.
func testStartFailure(t *testing.T, e *env) {
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"no-such-command"}, 127}, {[]string{"/etc/passwd"}, 126}} {
		c := e.bundle(t, tc.args, options{})
		_, err := e.rt.Start(e.ctx, task.StartOptions{ID: c.id, Bundle: c.bundle, CgroupsPath: "/wharf/" + c.id})
		var se *task.StartError
		if !errors.As(err, &se) || se.ExitCode != tc.code {
			t.Errorf("start %v: %v, want a start error with code %d", tc.args, err, tc.code)
		}
		e.cleanup(e.rt, c.id)
	}
}

// The container's init ignores signals it has no handler for, SIGKILL
// excepted.
func testInitIgnoresSignals(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sleep", "100"}, options{})
	if err := e.rt.Kill(e.ctx, c.id, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if e.exited(c.id, 500*time.Millisecond) {
		t.Fatal("an init without a handler died of SIGTERM")
	}
	if err := e.rt.Kill(e.ctx, c.id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if x := e.wait(t, c.id); x.ExitCode != 137 {
		t.Errorf("exit %d after SIGKILL, want 137", x.ExitCode)
	}
}

// A trap runs when the shell waits, and its exit is the run's.
func testTrap(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sh", "-c", "trap 'echo caught; exit 7' TERM; echo ready; sleep 100 & wait"}, options{hold: true})
	d := collect(e.attach(t, c.id, task.AttachOptions{Stdout: true, Release: true}))
	waitFor(t, d, "ready\n")
	if err := e.rt.Kill(e.ctx, c.id, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if x := e.wait(t, c.id); x.ExitCode != 7 {
		t.Errorf("exit %d, want the trap's 7", x.ExitCode)
	}
	d.end(t)
	if !strings.Contains(d.stdout(), "caught\n") {
		t.Errorf("output %q lacks the handler's", d.stdout())
	}
}

// Behind the forwarding init (--init), the command dies of a signal as
// any process does, and the run ends with 128+n.
func testForwardingInit(t *testing.T, e *env) {
	if e.cfg.InitPath == "" {
		t.Skip("no init binary")
	}
	// The command says when it runs: the init has subscribed to signals
	// by then (one that comes earlier is lost on it, as on any init).
	c, _ := e.start(t, []string{"sh", "-c", "echo ready; sleep 100"}, options{init: true, hold: true})
	d := collect(e.attach(t, c.id, task.AttachOptions{Stdout: true, Release: true}))
	waitFor(t, d, "ready\n")
	if err := e.rt.Kill(e.ctx, c.id, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if x := e.wait(t, c.id); x.ExitCode != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %d, want 143", x.ExitCode)
	}
}

// A paused container makes no progress until resumed.
func testPause(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sh", "-c", "echo a; sleep 0.3; echo b; sleep 0.3; echo c"}, options{hold: true})
	d := collect(e.attach(t, c.id, task.AttachOptions{Stdout: true, Release: true}))
	waitFor(t, d, "a\n")
	if err := e.rt.Pause(e.ctx, c.id); err != nil {
		t.Fatal(err)
	}
	if st, err := e.rt.State(e.ctx, c.id); err != nil || st.Status != task.StatusPaused {
		t.Errorf("state of a paused container: %+v, %v", st, err)
	}
	if err := e.rt.Pause(e.ctx, c.id); err == nil {
		t.Error("a paused container paused again")
	}
	frozen := d.stdout()
	if e.exited(c.id, 1200*time.Millisecond) || d.stdout() != frozen {
		t.Fatalf("a paused container went on: %q after %q", d.stdout(), frozen)
	}
	if err := e.rt.Resume(e.ctx, c.id); err != nil {
		t.Fatal(err)
	}
	if x := e.wait(t, c.id); x.ExitCode != 0 {
		t.Errorf("exit %d", x.ExitCode)
	}
	d.end(t)
	if d.stdout() != "a\nb\nc\n" {
		t.Errorf("output %q", d.stdout())
	}
	if err := e.rt.Resume(e.ctx, c.id); err == nil {
		t.Error("an exited container resumed")
	}
}

// SIGKILL sent to a paused container ends it once resumed, as the engine
// does when it stops one.
func testKillWhilePaused(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sleep", "100"}, options{})
	if err := e.rt.Pause(e.ctx, c.id); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Kill(e.ctx, c.id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The runtime may have thawed it to kill it already.
	_ = e.rt.Resume(e.ctx, c.id)
	if x := e.wait(t, c.id); x.ExitCode != 137 {
		t.Errorf("exit %d, want 137", x.ExitCode)
	}
}

// SIGKILL alone ends a frozen container, with no resume after it, also
// for a daemon that re-adopted the container frozen: a function sandbox is
// frozen between invocations, and a daemon restarted after a crash
// removes the sandboxes it finds with a SIGKILL. Docker's kill of a paused
// container on cgroup v1 does the same through runc, which thaws a frozen
// container it sends SIGKILL to.
func testKillFrozenAfterRestart(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sleep", "100"}, options{})
	if err := e.rt.Pause(e.ctx, c.id); err != nil {
		t.Fatal(err)
	}
	e.rt = e.cfg.Restart(t, e.rt)
	if err := e.rt.Kill(e.ctx, c.id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !e.exited(c.id, 20*time.Second) {
		t.Fatal("a frozen container did not exit after SIGKILL")
	}
	if x := e.wait(t, c.id); x.ExitCode != 137 {
		t.Errorf("exit %d, want 137", x.ExitCode)
	}
}

// With StdinOnce, the end of the attached stream's input is the end of
// the process's stdin.
// testFlushMarks checks Flush's order: everything the process wrote to
// stdout and stderr before the call is ahead of the mark in a stream
// that takes marks. The process writes each round's lines, then a file
// the test watches, so the test knows the writes returned before it
// flushes; a stream without marks makes Flush an error.
func testFlushMarks(t *testing.T, e *env) {
	const rounds = 5
	var script strings.Builder
	for i := 0; i < rounds; i++ {
		script.WriteString("read l; echo out-$l; echo err-$l >&2; echo $l >/flushed; ")
	}
	script.WriteString("read l")
	c, _ := e.start(t, []string{"sh", "-c", script.String()}, options{stdin: true})
	plain := e.attach(t, c.id, task.AttachOptions{Stdout: true, Stderr: true})
	go func() { _, _ = io.Copy(io.Discard, plain) }()
	if err := e.rt.Flush(e.ctx, c.id, "none"); err == nil {
		t.Fatal("Flush without a stream taking marks succeeded")
	}
	st := e.attach(t, c.id, task.AttachOptions{Stdin: true, Stdout: true, Stderr: true, Marks: true})
	type mark struct{ token, out, err string }
	marks := make(chan mark, rounds)
	var out, errOut bytes.Buffer
	go func() {
		_ = stream.DemuxMarks(&out, &errOut, st, func(tok []byte) {
			marks <- mark{string(tok), out.String(), errOut.String()}
		})
	}()
	for i := 0; i < rounds; i++ {
		n := string(rune('a' + i))
		if _, err := io.WriteString(st, n+"\n"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			data, _ := os.ReadFile(filepath.Join(c.rootfs, "flushed"))
			if strings.TrimSpace(string(data)) == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %s: the process never wrote its file (%q)", n, data)
			}
			time.Sleep(2 * time.Millisecond)
		}
		if err := e.rt.Flush(e.ctx, c.id, "t-"+n); err != nil {
			t.Fatalf("round %s: Flush: %v", n, err)
		}
		select {
		case m := <-marks:
			if m.token != "t-"+n || !strings.Contains(m.out, "out-"+n+"\n") || !strings.Contains(m.err, "err-"+n+"\n") {
				t.Fatalf("round %s: mark %q came after stdout %q and stderr %q", n, m.token, m.out, m.err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("round %s: no mark", n)
		}
	}
}

func testStdinOnce(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"cat"}, options{stdin: true, once: true, hold: true})
	st := e.attach(t, c.id, task.AttachOptions{Stdin: true, Stdout: true, Release: true})
	d := collect(st)
	if _, err := io.WriteString(st, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if x := e.wait(t, c.id); x.ExitCode != 0 {
		t.Errorf("exit %d", x.ExitCode)
	}
	d.end(t)
	if d.stdout() != "hello\n" {
		t.Errorf("output %q", d.stdout())
	}
}

// A terminal echoes input, ends lines with CRLF and has the size Resize
// gives it; its stream carries raw bytes.
func testTerminal(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sh", "-c", "read x; stty size; echo got $x"}, options{tty: true, stdin: true, hold: true})
	st := e.attach(t, c.id, task.AttachOptions{Stdin: true, Stdout: true, Release: true})
	d := raw(st)
	if err := e.rt.Resize(e.ctx, c.id, 30, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(st, "abc\r"); err != nil {
		t.Fatal(err)
	}
	if x := e.wait(t, c.id); x.ExitCode != 0 {
		t.Errorf("exit %d", x.ExitCode)
	}
	d.end(t)
	for _, want := range []string{"abc\r\n", "30 100\r\n", "got abc\r\n"} {
		if !strings.Contains(d.stdout(), want) {
			t.Errorf("terminal output %q lacks %q", d.stdout(), want)
		}
	}
}

// An exec runs beside the init with its own output and exit code.
func testExec(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sleep", "100"}, options{})
	var out, errb bytes.Buffer
	p, err := e.rt.Exec(e.ctx, c.id, task.ExecOptions{ID: "x1", Process: e.execProcess(t, c, []string{"sh", "-c", "echo hi; echo there >&2; exit 5"}, false), Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait(e.ctx)
	if err != nil || code != 5 {
		t.Errorf("exec exit %d, %v, want 5", code, err)
	}
	if out.String() != "hi\n" || errb.String() != "there\n" {
		t.Errorf("exec stdout %q stderr %q", out.String(), errb.String())
	}
	if p.Pid() <= 0 {
		t.Errorf("exec pid %d", p.Pid())
	}
	p, err = e.rt.Exec(e.ctx, c.id, task.ExecOptions{ID: "x2", Process: e.execProcess(t, c, []string{"no-such-command"}, false)})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(e.ctx); code != 127 || err != nil {
		t.Errorf("exec of a missing command: %d, %v, want 127", code, err)
	}
	if !e.rt.Alive(e.ctx, c.id) {
		t.Error("the container died of its execs")
	}
}

// Kill ends a running exec (a healthcheck probe past its timeout); the
// container goes on, and a Kill after the exit does nothing.
func testExecKill(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sleep", "100"}, options{})
	var out syncBuffer
	p, err := e.rt.Exec(e.ctx, c.id, task.ExecOptions{ID: "k1", Process: e.execProcess(t, c, []string{"sh", "-c", "echo up; sleep 100"}, false), Stdout: &out, Background: true})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != "up\n" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.Kill(e.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if code, err := p.Wait(ctx); code != 137 || err != nil {
		t.Errorf("killed exec: %d, %v, want 137", code, err)
	}
	if err := p.Kill(e.ctx, syscall.SIGKILL); err != nil {
		t.Errorf("kill after the exit: %v", err)
	}
	if !e.rt.Alive(e.ctx, c.id) {
		t.Error("the container died with its exec")
	}
}

// Update changes a running or paused container's limits; a container
// the runtime does not run is an error.
func testUpdate(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sleep", "100"}, options{})
	pids, mem := int64(64), int64(32<<20)
	if err := e.rt.Update(e.ctx, c.id, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}, Memory: &specs.LinuxMemory{Reservation: &mem}}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := e.rt.Pause(e.ctx, c.id); err != nil {
		t.Fatal(err)
	}
	pids = -1
	if err := e.rt.Update(e.ctx, c.id, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}); err != nil {
		t.Errorf("update of a paused container: %v", err)
	}
	_ = e.rt.Resume(e.ctx, c.id)
	if err := e.rt.Update(e.ctx, "no-such-container", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}); err == nil {
		t.Error("update of an unknown container succeeded")
	}
	if !e.rt.Alive(e.ctx, c.id) {
		t.Error("the container died of its updates")
	}
}

// An exec's stdin, and its terminal.
func testExecTerminal(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sleep", "100"}, options{})
	var out bytes.Buffer
	p, err := e.rt.Exec(e.ctx, c.id, task.ExecOptions{ID: "x1", Process: e.execProcess(t, c, []string{"cat"}, false), Stdin: strings.NewReader("data\n"), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(e.ctx); code != 0 || err != nil || out.String() != "data\n" {
		t.Errorf("cat exec: %d, %v, %q", code, err, out.String())
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	var tout syncBuffer
	p, err = e.rt.Exec(e.ctx, c.id, task.ExecOptions{ID: "x2", Process: e.execProcess(t, c, []string{"sh", "-c", "read x; stty size"}, true), Stdin: pr, Stdout: &tout})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Pid() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Resize(e.ctx, 24, 81); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(pw, "\r"); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(e.ctx); code != 0 || err != nil || !strings.Contains(tout.String(), "24 81\r\n") {
		t.Errorf("terminal exec: %d, %v, %q", code, err, tout.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An exec dies with its container.
func testExecDies(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sleep", "100"}, options{})
	p, err := e.rt.Exec(e.ctx, c.id, task.ExecOptions{ID: "x1", Process: e.execProcess(t, c, []string{"sleep", "100"}, false)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Pid() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pids, err := e.rt.Pids(e.ctx, c.id); err != nil || len(pids) < 2 {
		t.Errorf("pids with an exec: %v, %v", pids, err)
	}
	if err := e.rt.Kill(e.ctx, c.id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.wait(t, c.id)
	if code, err := p.Wait(e.ctx); code != 137 || err != nil {
		t.Errorf("exec of a killed container: %d, %v, want 137", code, err)
	}
}

// No exec runs in a paused or an exited container.
func testExecRefused(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sleep", "100"}, options{})
	if err := e.rt.Pause(e.ctx, c.id); err != nil {
		t.Fatal(err)
	}
	p, err := e.rt.Exec(e.ctx, c.id, task.ExecOptions{ID: "x1", Process: e.execProcess(t, c, []string{"true"}, false)})
	if err == nil {
		var code int
		code, err = p.Wait(e.ctx)
		if err == nil && code == 0 {
			t.Error("an exec ran in a paused container")
		}
	}
	if err := e.rt.Resume(e.ctx, c.id); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Kill(e.ctx, c.id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.wait(t, c.id)
	p, err = e.rt.Exec(e.ctx, c.id, task.ExecOptions{ID: "x2", Process: e.execProcess(t, c, []string{"true"}, false)})
	if err == nil {
		var code int
		code, err = p.Wait(e.ctx)
		if err == nil && code == 0 {
			t.Error("an exec ran in an exited container")
		}
	}
}

// The runtime's view of a running container.
func testStateAndPids(t *testing.T, e *env) {
	c, pid := e.start(t, []string{"sleep", "100"}, options{})
	st, err := e.rt.State(e.ctx, c.id)
	if err != nil || st.Pid != pid || st.Status != task.StatusRunning {
		t.Errorf("state %+v, %v, want running with pid %d", st, err, pid)
	}
	pids, err := e.rt.Pids(e.ctx, c.id)
	if err != nil || len(pids) != 1 || pids[0] != pid {
		t.Errorf("pids %v, %v, want [%d]", pids, err, pid)
	}
	if _, err := e.rt.State(e.ctx, "0000000000000000000000000000000000000000000000000000000000000000"); !errdefs.IsNotFound(err) {
		t.Errorf("state of an unknown container: %v", err)
	}
}

// The same ID starts again after an exit; Delete forgets an exited
// container and refuses a running one.
func testDeleteAndStartAgain(t *testing.T, e *env) {
	c, first := e.start(t, []string{"sh", "-c", "sleep 0.2; exit 2"}, options{})
	if err := e.rt.Delete(e.ctx, c.id); !errdefs.IsConflict(err) {
		t.Errorf("delete of a running container: %v, want a conflict", err)
	}
	e.wait(t, c.id)
	pid, err := e.rt.Start(e.ctx, task.StartOptions{ID: c.id, Bundle: c.bundle, CgroupsPath: "/wharf/" + c.id})
	if err != nil || pid <= 0 || pid == first {
		t.Fatalf("start again: %d (first run %d), %v", pid, first, err)
	}
	if x := e.wait(t, c.id); x.ExitCode != 2 || x.Pid != pid {
		t.Errorf("second run's exit %+v, want 2 of pid %d", x, pid)
	}
	if err := e.rt.Delete(e.ctx, c.id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if x, err := e.rt.ReadExit(e.ctx, c.id); x != nil || err != nil {
		t.Errorf("recorded exit after delete: %+v, %v", x, err)
	}
	if err := e.rt.Delete(e.ctx, c.id); err != nil {
		t.Errorf("second delete: %v", err)
	}
}

// A new daemon's runtime finds the containers that kept running.
func testRestartReadopts(t *testing.T, e *env) {
	c, pid := e.start(t, []string{"sh", "-c", "echo ready; sleep 100"}, options{hold: true})
	collect(e.attach(t, c.id, task.AttachOptions{Stdout: true, Release: true}))
	e.rt = e.cfg.Restart(t, e.rt)
	if !e.rt.Alive(e.ctx, c.id) {
		t.Fatal("a running container is not alive for the new daemon")
	}
	if st, err := e.rt.State(e.ctx, c.id); err != nil || st.Pid != pid {
		t.Errorf("state for the new daemon: %+v, %v", st, err)
	}
	d := collect(e.attach(t, c.id, task.AttachOptions{Stdout: true}))
	if err := e.rt.Kill(e.ctx, c.id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if x := e.wait(t, c.id); x.ExitCode != 137 || x.Pid != pid {
		t.Errorf("exit %+v for the new daemon", x)
	}
	d.end(t)
}

// The exit of a container that ends while no daemon runs is recorded.
func testExitWhileDown(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"sh", "-c", "sleep 0.3; exit 4"}, options{})
	old := e.rt
	old.Close()
	time.Sleep(time.Second)
	e.rt = e.cfg.Restart(t, old)
	for i := 0; e.rt.Alive(e.ctx, c.id); i++ {
		if i > 2000 {
			t.Fatal("an exited container is alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	x, err := e.rt.ReadExit(e.ctx, c.id)
	if err != nil || x == nil || x.ExitCode != 4 {
		t.Fatalf("recorded exit %+v, %v", x, err)
	}
	if w := e.wait(t, c.id); w.ExitCode != 4 {
		t.Errorf("wait after the fact: %+v", w)
	}
}

// execProcess builds an exec's process from the container's spec, as the
// engine does.
func (e *env) execProcess(t *testing.T, c *container, args []string, tty bool) *specs.Process {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	p, err := spec.ExecProcess(&s, s.Root.Path, spec.ExecOptions{Cmd: args, Tty: tty})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// RootfsFromTar extracts an uncompressed tar of regular files,
// directories and symlinks into a new directory.
func RootfsFromTar(t *testing.T, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode).Perm()|os.FileMode(h.Mode)&os.ModeSticky)
			if err == nil && h.Mode&0o1000 != 0 {
				err = os.Chmod(p, os.FileMode(h.Mode).Perm()|os.ModeSticky)
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(h.Mode).Perm()); err == nil {
				_, err = io.Copy(f, tr)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
