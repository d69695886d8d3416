// Package testsuite is the conformance suite of the engine's container
// lifecycle: create, start, attach, wait, stop, kill, restart, pause,
// exec, logs, remove, restart policies, filters and the error classes the
// API servers map to status codes. engine/container runs it without
// privilege on an engine built on runtime/fake, and as root on one built
// on the daemon's runtime (runc under wharf's shim) and overlayfs: the
// containers run the same shell scripts on both.
package testsuite

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Env is one engine under test.
type Env struct {
	Engine *container.Engine
	// Image references an image with a shell and the applets cat and
	// sleep (busybox, or runtime/fake's RootfsTar).
	Image string
	// Restart closes Engine as a daemon going away does (its containers
	// keep running) and returns the restored engine of a new daemon over
	// the same root.
	Restart func(t *testing.T) *container.Engine
}

// Run runs the suite; newEnv returns a new engine for each test.
func Run(t *testing.T, newEnv func(t *testing.T) *Env) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"RunAndWait", testRunAndWait},
		{"AttachBeforeStart", testAttachBeforeStart},
		{"AttachLogsStream", testAttachLogsStream},
		{"AttachLogsAtStart", testAttachLogsAtStart},
		{"AttachLogsBeforeStart", testAttachLogsBeforeStart},
		{"StdinOnce", testStdinOnce},
		{"WaitConditions", testWaitConditions},
		{"StopTimeoutAndSignal", testStop},
		{"Kill", testKill},
		{"Restart", testRestart},
		{"PauseUnpause", testPause},
		{"Exec", testExec},
		{"Logs", testLogs},
		{"Remove", testRemove},
		{"AutoRemove", testAutoRemove},
		{"Names", testNames},
		{"RestartPolicyOnFailure", testOnFailure},
		{"RestartPolicyAlwaysAndStop", testAlwaysStop},
		{"Filters", testFilters},
		{"ErrorClasses", testErrorClasses},
		{"DaemonRestart", testDaemonRestart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			t.Cleanup(cancel)
			s := &suite{Env: env, ctx: ctx}
			t.Cleanup(func() { s.removeAll() })
			tc.fn(t, s)
		})
	}
}

// A container runs, exits with its code, and its record says so.
func testRunAndWait(t *testing.T, s *suite) {
	id := s.run(t, "sh", "-c", "echo out; echo err >&2; exit 3")
	if code := s.wait(t, id); code != 3 {
		t.Errorf("wait: %d, want 3", code)
	}
	c := s.get(t, id)
	// (FinishedAt is the supervisor's time of the exit, StartedAt the
	// engine's once the start returned: a process that exits at once
	// may have finished "before" it started, as under dockerd.)
	if c.State.Status != container.StatusExited || c.State.ExitCode != 3 || c.State.Pid != 0 ||
		c.State.FinishedAt.IsZero() || c.State.StartedAt.IsZero() {
		t.Errorf("state after exit: %+v", c.State)
	}
	if out, errs := s.logs(t, id); out != "out\n" || errs != "err\n" {
		t.Errorf("logs: stdout %q stderr %q", out, errs)
	}
	// Start again: a second run with the same record.
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	if code, err := s.Engine.Wait(s.ctx, id, container.WaitNotRunning, nil); code != 3 || err != nil {
		t.Errorf("second run: %d, %v", code, err)
	}
	if out, _ := s.logs(t, id); out != "out\nout\n" {
		t.Errorf("logs of two runs: %q", out)
	}
}

// A stream attached before the start gets all the output (docker run).
func testAttachBeforeStart(t *testing.T, s *suite) {
	id := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"sh", "-c", "echo one; echo two >&2"}}})
	c := &conn{}
	registered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Engine.Attach(s.ctx, id, container.AttachOptions{Stdout: true, Stderr: true, Stream: c, Registered: func() { close(registered) }})
	}()
	<-registered
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("attach: %v", err)
	}
	if out, errs := c.demux(t); out != "one\n" || errs != "two\n" {
		t.Errorf("attached stdout %q stderr %q", out, errs)
	}
}

// docker run -i: the client's input reaches the process, and its end
// ends the process's stdin.
func testStdinOnce(t *testing.T, s *suite) {
	id := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"cat"}, OpenStdin: true, StdinOnce: true}})
	c := &conn{in: strings.NewReader("piped\n")}
	registered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Engine.Attach(s.ctx, id, container.AttachOptions{Stdin: true, Stdout: true, Stream: c, Registered: func() { close(registered) }})
	}()
	<-registered
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(t, id); code != 0 {
		t.Errorf("exit %d", code)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out, _ := c.demux(t); out != "piped\n" {
		t.Errorf("output %q", out)
	}
}

// not-running, next-exit and removed.
func testWaitConditions(t *testing.T, s *suite) {
	id := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"sh", "-c", "sleep 0.3; exit 4"}}})
	// A created container is not running.
	if code, err := s.Engine.Wait(s.ctx, id, container.WaitNotRunning, nil); code != 0 || err != nil {
		t.Errorf("not-running of a created container: %d, %v", code, err)
	}
	type result struct {
		code int
		err  error
	}
	next := make(chan result, 1)
	registered := make(chan struct{})
	go func() {
		code, err := s.Engine.Wait(s.ctx, id, container.WaitNextExit, func() { close(registered) })
		next <- result{code, err}
	}()
	<-registered
	select {
	case r := <-next:
		t.Fatalf("next-exit answered before any start: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	if r := <-next; r.code != 4 || r.err != nil {
		t.Errorf("next-exit: %+v, want 4", r)
	}
	removed := make(chan result, 1)
	registered = make(chan struct{})
	go func() {
		code, err := s.Engine.Wait(s.ctx, id, container.WaitRemoved, func() { close(registered) })
		removed <- result{code, err}
	}()
	<-registered
	select {
	case r := <-removed:
		t.Fatalf("removed answered before the removal: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	if err := s.Engine.Remove(s.ctx, id, container.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := <-removed; r.err != nil || r.code != 4 {
		t.Errorf("removed: %+v", r)
	}
	if _, err := s.Engine.Wait(s.ctx, s.run(t, "true"), "sideways", nil); !isClass(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad condition: %v", err)
	}
}

// Stop sends the stop signal, waits the timeout, then kills; an init
// without a handler ignores the signal.
func testStop(t *testing.T, s *suite) {
	id := s.run(t, "sleep", "100")
	one := 1
	start := time.Now()
	if err := s.Engine.Stop(s.ctx, id, &one, ""); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("stop took %v: the timeout was not waited for", d)
	}
	c := s.get(t, id)
	if c.State.Status != container.StatusExited || c.State.ExitCode != 137 || !c.State.ManuallyStopped {
		t.Errorf("state after stop: %+v", c.State)
	}
	if err := s.Engine.Stop(s.ctx, id, &one, ""); !isClass(err, errdefs.ErrNotModified) {
		t.Errorf("stop of a stopped container: %v", err)
	}
	// A process that handles the signal ends at once with its own code.
	id = s.run(t, "sh", "-c", "trap 'exit 0' TERM; echo ready; sleep 100 & wait")
	s.waitLog(t, id, "ready\n")
	ten := 10
	start = time.Now()
	if err := s.Engine.Stop(s.ctx, id, &ten, ""); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop of a handling process took %v", d)
	}
	if c := s.get(t, id); c.State.ExitCode != 0 {
		t.Errorf("exit %d, want the handler's 0", c.State.ExitCode)
	}
	// --stop-signal.
	id = s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"sh", "-c", "trap 'exit 5' USR1; echo ready; sleep 100 & wait"}, StopSignal: "SIGUSR1"}})
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, id, "ready\n")
	if err := s.Engine.Stop(s.ctx, id, &ten, ""); err != nil {
		t.Fatal(err)
	}
	if c := s.get(t, id); c.State.ExitCode != 5 {
		t.Errorf("exit %d after the stop signal, want 5", c.State.ExitCode)
	}
}

// Kill delivers a signal; it needs a running container and a valid
// signal.
func testKill(t *testing.T, s *suite) {
	id := s.run(t, "sh", "-c", "trap 'exit 9' HUP; echo ready; sleep 100 & wait")
	s.waitLog(t, id, "ready\n")
	if err := s.Engine.Kill(s.ctx, id, "HUP"); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(t, id); code != 9 {
		t.Errorf("exit %d, want the handler's 9", code)
	}
	if c := s.get(t, id); c.State.ManuallyStopped {
		t.Error("a HUP marks the container stopped by the user")
	}
	if err := s.Engine.Kill(s.ctx, id, "KILL"); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("kill of a stopped container: %v", err)
	}
	id = s.run(t, "sleep", "100")
	if err := s.Engine.Kill(s.ctx, id, "SIGNOPE"); !isClass(err, errdefs.ErrInvalidArgument) {
		t.Errorf("kill with a bad signal: %v", err)
	}
	if err := s.Engine.Kill(s.ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	// A SIGKILL answers once the exit is recorded, as dockerd's.
	if c := s.get(t, id); c.State.Status != container.StatusExited || c.State.ExitCode != 137 {
		t.Errorf("right after kill: %s, exit %d", c.State.Status, c.State.ExitCode)
	}
	if code := s.wait(t, id); code != 137 {
		t.Errorf("exit %d after the default SIGKILL", code)
	}
	if c := s.get(t, id); !c.State.ManuallyStopped {
		t.Error("a SIGKILL does not mark the container stopped by the user")
	}
}

// Restart stops and starts: a new run, not counted as a policy restart.
func testRestart(t *testing.T, s *suite) {
	id := s.run(t, "sleep", "100")
	before := s.get(t, id)
	zero := 0
	if err := s.Engine.Restart(s.ctx, id, &zero); err != nil {
		t.Fatal(err)
	}
	after := s.get(t, id)
	if after.State.Status != container.StatusRunning || !after.State.StartedAt.After(before.State.StartedAt) ||
		after.State.Pid == before.State.Pid || after.RestartCount != 0 || after.State.ManuallyStopped {
		t.Errorf("after restart: %+v (count %d), before %+v", after.State, after.RestartCount, before.State)
	}
	// A stopped container is started.
	if err := s.Engine.Stop(s.ctx, id, &zero, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Engine.Restart(s.ctx, id, &zero); err != nil {
		t.Fatal(err)
	}
	if c := s.get(t, id); c.State.Status != container.StatusRunning {
		t.Errorf("restart of a stopped container: %+v", c.State)
	}
}

// A paused container is frozen: no exec, no second pause; stop still
// works.
func testPause(t *testing.T, s *suite) {
	id := s.run(t, "sleep", "100")
	if err := s.Engine.Pause(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	if c := s.get(t, id); c.State.Status != container.StatusPaused || !c.State.Running() {
		t.Errorf("state: %+v", c.State)
	}
	if err := s.Engine.Pause(s.ctx, id); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("second pause: %v", err)
	}
	if _, err := s.Engine.ExecCreate(s.ctx, id, container.ExecConfig{Cmd: []string{"true"}}); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("exec in a paused container: %v", err)
	}
	if err := s.Engine.Unpause(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Engine.Unpause(s.ctx, id); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("second unpause: %v", err)
	}
	if err := s.Engine.Pause(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	zero := 0
	if err := s.Engine.Stop(s.ctx, id, &zero, ""); err != nil {
		t.Fatalf("stop of a paused container: %v", err)
	}
	if c := s.get(t, id); c.State.Status != container.StatusExited || c.State.ExitCode != 137 {
		t.Errorf("after stopping a paused container: %+v", c.State)
	}
	if err := s.Engine.Pause(s.ctx, id); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("pause of a stopped container: %v", err)
	}
}

// Execs run in a running container with their own output and exit code.
func testExec(t *testing.T, s *suite) {
	id := s.run(t, "sleep", "100")
	x, err := s.Engine.ExecCreate(s.ctx, id, container.ExecConfig{Cmd: []string{"sh", "-c", "echo hi; echo oops >&2; exit 6"}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{}
	if err := s.Engine.ExecStart(s.ctx, x, container.ExecStartOptions{Stream: c}); err != nil {
		t.Fatal(err)
	}
	if out, errs := c.demux(t); out != "hi\n" || errs != "oops\n" {
		t.Errorf("exec stdout %q stderr %q", out, errs)
	}
	in, err := s.Engine.ExecInspect(s.ctx, x)
	if err != nil || in.Running || in.ExitCode == nil || *in.ExitCode != 6 || in.ContainerID != id {
		t.Errorf("exec inspect: %+v, %v", in, err)
	}
	if err := s.Engine.ExecStart(s.ctx, x, container.ExecStartOptions{Detach: true}); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("exec started twice: %v", err)
	}
	// Stdin.
	x, _ = s.Engine.ExecCreate(s.ctx, id, container.ExecConfig{Cmd: []string{"cat"}, AttachStdin: true, AttachStdout: true})
	c = &conn{in: strings.NewReader("in\n")}
	if err := s.Engine.ExecStart(s.ctx, x, container.ExecStartOptions{Stream: c}); err != nil {
		t.Fatal(err)
	}
	if out, _ := c.demux(t); out != "in\n" {
		t.Errorf("exec with stdin: %q", out)
	}
	// A missing command is 127; a detached exec finishes on its own.
	x, _ = s.Engine.ExecCreate(s.ctx, id, container.ExecConfig{Cmd: []string{"no-such-command"}})
	if err := s.Engine.ExecStart(s.ctx, x, container.ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		in, err := s.Engine.ExecInspect(s.ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if !in.Running && in.ExitCode != nil {
			if *in.ExitCode != 127 {
				t.Errorf("exit of a missing command: %d", *in.ExitCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("detached exec never finished")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.Engine.ExecInspect(s.ctx, "nope"); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("unknown exec: %v", err)
	}
	if _, err := s.Engine.ExecCreate(s.ctx, id, container.ExecConfig{}); !isClass(err, errdefs.ErrInvalidArgument) {
		t.Errorf("exec without a command: %v", err)
	}
	stopped := s.run(t, "true")
	s.wait(t, stopped)
	if _, err := s.Engine.ExecCreate(s.ctx, stopped, container.ExecConfig{Cmd: []string{"true"}}); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("exec in a stopped container: %v", err)
	}
}

// Logs select streams and tail; a container without a log has none to
// read.
func testLogs(t *testing.T, s *suite) {
	id := s.run(t, "sh", "-c", "echo 1; echo 2; echo 3 >&2; echo 4")
	s.wait(t, id)
	var lines []string
	err := s.Engine.Logs(s.ctx, id, container.LogsOptions{Stdout: true, Tail: 2}, func(e logfile.Entry) error {
		lines = append(lines, e.Stream+":"+e.Log)
		return nil
	})
	if err != nil || strings.Join(lines, "") != "stdout:2\nstdout:4\n" {
		t.Errorf("tail 2 of stdout: %q, %v", lines, err)
	}
	quiet := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"echo", "x"}},
		HostConfig: container.HostConfig{LogConfig: container.LogConfig{Type: container.LogDriverNone}}})
	if err := s.Engine.Logs(s.ctx, quiet, container.LogsOptions{Stdout: true}, func(logfile.Entry) error { return nil }); !isClass(err, errdefs.ErrNotImplemented) {
		t.Errorf("logs of a container without a log: %v", err)
	}
	// Follow ends with the container.
	id = s.run(t, "sh", "-c", "echo a; sleep 0.3; echo b")
	var got strings.Builder
	err = s.Engine.Logs(s.ctx, id, container.LogsOptions{Stdout: true, Follow: true, Tail: -1}, func(e logfile.Entry) error {
		got.WriteString(e.Log)
		return nil
	})
	if err != nil || got.String() != "a\nb\n" {
		t.Errorf("followed logs: %q, %v", got.String(), err)
	}
}

// Remove needs force for a running container, and frees its name.
func testRemove(t *testing.T, s *suite) {
	id := s.create(t, container.CreateOptions{Name: "gone", Config: container.Config{Cmd: []string{"sleep", "100"}}})
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Engine.Remove(s.ctx, id, container.RemoveOptions{}); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("remove of a running container: %v", err)
	}
	if err := s.Engine.Remove(s.ctx, "gone", container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Engine.Get(s.ctx, id); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("get of a removed container: %v", err)
	}
	if err := s.Engine.Remove(s.ctx, id, container.RemoveOptions{}); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	s.create(t, container.CreateOptions{Name: "gone", Config: container.Config{Cmd: []string{"true"}}})
	// Prune removes the stopped ones only.
	running := s.run(t, "sleep", "100")
	stopped := s.run(t, "true")
	s.wait(t, stopped)
	pruned, _, err := s.Engine.Prune(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(pruned, stopped) || contains(pruned, running) {
		t.Errorf("pruned %v: want %s and not %s", pruned, stopped, running)
	}
}

// --rm containers go when they exit.
func testAutoRemove(t *testing.T, s *suite) {
	id := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"sh", "-c", "exit 2"}}, HostConfig: container.HostConfig{AutoRemove: true}})
	registered := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		code, _ := s.Engine.Wait(s.ctx, id, container.WaitRemoved, func() { close(registered) })
		done <- code
	}()
	<-registered
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 2 {
		t.Errorf("exit %d of a removed container", code)
	}
	if _, err := s.Engine.Get(s.ctx, id); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("an --rm container outlived its exit: %v", err)
	}
	// One whose start fails is gone when the start answers, whichever
	// client asked, with the start's exit code in the error.
	id = s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"no-such-command"}}, HostConfig: container.HostConfig{AutoRemove: true}})
	err := s.Engine.Start(s.ctx, id)
	var se *container.StartError
	if !errors.As(err, &se) || se.Code != 127 || !isClass(err, errdefs.ErrInvalidArgument) {
		t.Errorf("start of a missing command: %v", err)
	}
	if _, err := s.Engine.Get(s.ctx, id); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("an --rm container outlived its failed start: %v", err)
	}
}

// Names are unique, valid, and resolve; so do ID prefixes.
func testNames(t *testing.T, s *suite) {
	id := s.create(t, container.CreateOptions{Name: "/web", Config: container.Config{Cmd: []string{"true"}}})
	if _, err := s.Engine.Create(s.ctx, container.CreateOptions{Name: "web", Config: container.Config{Image: s.Image, Cmd: []string{"true"}}}); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("second container named web: %v", err)
	}
	if _, err := s.Engine.Create(s.ctx, container.CreateOptions{Name: "bad name!", Config: container.Config{Image: s.Image, Cmd: []string{"true"}}}); !isClass(err, errdefs.ErrInvalidArgument) {
		t.Errorf("invalid name: %v", err)
	}
	for _, ref := range []string{"web", "/web", id, id[:12]} {
		if c, err := s.Engine.Get(s.ctx, ref); err != nil || c.ID != id || c.Name != "web" {
			t.Errorf("get %q: %+v, %v", ref, c, err)
		}
	}
	other := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"true"}}})
	if c := s.get(t, other); c.Name == "" || c.Config.Hostname != other[:12] {
		t.Errorf("generated name %q, hostname %q", c.Name, c.Config.Hostname)
	}
	if err := s.Engine.Rename(s.ctx, other, "web"); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("rename to a taken name: %v", err)
	}
	if err := s.Engine.Rename(s.ctx, id, "web"); !isClass(err, errdefs.ErrInvalidArgument) {
		t.Errorf("rename to the same name: %v", err)
	}
	if err := s.Engine.Rename(s.ctx, id, "api"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Engine.Get(s.ctx, "web"); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("old name after rename: %v", err)
	}
	if c, err := s.Engine.Get(s.ctx, "api"); err != nil || c.ID != id {
		t.Errorf("new name: %v", err)
	}
}

// on-failure restarts a failing container up to its count, with a
// growing delay.
func testOnFailure(t *testing.T, s *suite) {
	id := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"sh", "-c", "exit 1"}},
		HostConfig: container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}}})
	start := time.Now()
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	c := s.until(t, id, "restarted 3 times and stopped", func(c *container.Container) bool {
		return c.RestartCount == 3 && c.State.Status == container.StatusExited
	})
	// 100ms, 200ms and 400ms of back-off between the four runs.
	if d := time.Since(start); d < 650*time.Millisecond {
		t.Errorf("three policy restarts took %v, less than their back-off", d)
	}
	if c.State.ExitCode != 1 {
		t.Errorf("final state %+v", c.State)
	}
	// Success is not restarted.
	ok := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"true"}},
		HostConfig: container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure"}}})
	if err := s.Engine.Start(s.ctx, ok); err != nil {
		t.Fatal(err)
	}
	s.wait(t, ok)
	time.Sleep(300 * time.Millisecond)
	if c := s.get(t, ok); c.RestartCount != 0 || c.State.Status != container.StatusExited {
		t.Errorf("a successful run was restarted: %+v, count %d", c.State, c.RestartCount)
	}
}

// always restarts until a user stops the container.
func testAlwaysStop(t *testing.T, s *suite) {
	id := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"sh", "-c", "sleep 0.1"}},
		HostConfig: container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always"}}})
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	s.until(t, id, "restarted twice", func(c *container.Container) bool { return c.RestartCount >= 2 })
	// Between runs it is restarting, which a plain remove refuses as
	// dockerd refuses it (the back-off is long enough by then).
	s.until(t, id, "restarting after its third run", func(c *container.Container) bool {
		return c.RestartCount >= 3 && c.State.Status == container.StatusRestarting
	})
	if err := s.Engine.Remove(s.ctx, id, container.RemoveOptions{}); !isClass(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "You cannot remove a restarting container") {
		t.Errorf("remove of a restarting container: %v", err)
	}
	zero := 0
	if err := s.Engine.Stop(s.ctx, id, &zero, ""); err != nil {
		t.Fatal(err)
	}
	c := s.until(t, id, "stopped", func(c *container.Container) bool {
		return !c.State.Running() && c.State.Status != container.StatusRestarting
	})
	count := c.RestartCount
	time.Sleep(700 * time.Millisecond)
	if c := s.get(t, id); c.State.Status != container.StatusExited || c.RestartCount != count || !c.State.ManuallyStopped {
		t.Errorf("a stopped always-container came back: %+v, count %d (was %d)", c.State, c.RestartCount, count)
	}
}

// docker ps filters over the engine's records.
func testFilters(t *testing.T, s *suite) {
	running := s.create(t, container.CreateOptions{Name: "runner", Config: container.Config{Cmd: []string{"sleep", "100"}, Labels: map[string]string{"app": "a", "tier": "web"}}})
	if err := s.Engine.Start(s.ctx, running); err != nil {
		t.Fatal(err)
	}
	exited := s.create(t, container.CreateOptions{Name: "quitter", Config: container.Config{Cmd: []string{"sh", "-c", "exit 3"}, Labels: map[string]string{"app": "b"}}})
	if err := s.Engine.Start(s.ctx, exited); err != nil {
		t.Fatal(err)
	}
	s.wait(t, exited)
	created := s.create(t, container.CreateOptions{Name: "idle", Config: container.Config{Cmd: []string{"true"}}})
	list := s.Engine.List(s.ctx)
	byRef := func(ref string) *container.Container {
		c, err := s.Engine.Get(s.ctx, ref)
		if err != nil {
			return nil
		}
		return c
	}
	match := func(f map[string][]string) []string {
		var out []string
		for _, c := range list {
			ok, err := container.MatchFilters(c, f, byRef)
			if err != nil {
				t.Fatalf("filter %v: %v", f, err)
			}
			if ok {
				out = append(out, c.Name)
			}
		}
		return out
	}
	for _, tc := range []struct {
		f    map[string][]string
		want []string
	}{
		{map[string][]string{"status": {"running"}}, []string{"runner"}},
		{map[string][]string{"status": {"exited", "created"}}, []string{"idle", "quitter"}},
		{map[string][]string{"exited": {"3"}}, []string{"quitter"}},
		{map[string][]string{"label": {"app"}}, []string{"quitter", "runner"}},
		{map[string][]string{"label": {"app=a", "tier=web"}}, []string{"runner"}},
		{map[string][]string{"label": {"app=a", "tier=db"}}, nil},
		{map[string][]string{"name": {"quit"}}, []string{"quitter"}},
		{map[string][]string{"id": {running[:10]}}, []string{"runner"}},
		{map[string][]string{"ancestor": {s.Image}}, []string{"idle", "quitter", "runner"}},
		{map[string][]string{"since": {"runner"}}, []string{"idle", "quitter"}},
		{map[string][]string{"before": {"idle"}}, []string{"quitter", "runner"}},
	} {
		got := match(tc.f)
		sortStrings(got)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("filter %v: %v, want %v", tc.f, got, tc.want)
		}
	}
	if _, err := container.MatchFilters(list[0], map[string][]string{"bogus": {"x"}}, byRef); !isClass(err, errdefs.ErrInvalidArgument) {
		t.Errorf("unknown filter: %v", err)
	}
	if _, err := container.MatchFilters(list[0], map[string][]string{"before": {"nope"}}, byRef); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("before an unknown container: %v", err)
	}
	_ = created
}

// The errors the API servers map to status codes.
func testErrorClasses(t *testing.T, s *suite) {
	const unknown = "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef"
	for name, err := range map[string]error{
		"start":   s.Engine.Start(s.ctx, unknown),
		"stop":    s.Engine.Stop(s.ctx, unknown, nil, ""),
		"kill":    s.Engine.Kill(s.ctx, unknown, ""),
		"pause":   s.Engine.Pause(s.ctx, unknown),
		"restart": s.Engine.Restart(s.ctx, unknown, nil),
		"remove":  s.Engine.Remove(s.ctx, unknown, container.RemoveOptions{}),
	} {
		if !isClass(err, errdefs.ErrNotFound) {
			t.Errorf("%s of an unknown container: %v", name, err)
		}
	}
	if _, err := s.Engine.Create(s.ctx, container.CreateOptions{Config: container.Config{Image: "no/such:image", Cmd: []string{"true"}}}); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("create from a missing image: %v", err)
	}
	for name, hc := range map[string]container.HostConfig{
		"bad policy":        {RestartPolicy: container.RestartPolicy{Name: "sometimes"}},
		"rm and restart":    {AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: "always"}},
		"retries on always": {RestartPolicy: container.RestartPolicy{Name: "always", MaximumRetryCount: 2}},
		"tiny memory":       {Memory: 1024},
		"unknown runtime":   {Runtime: "no-such-runtime"},
		"bad log driver":    {LogConfig: container.LogConfig{Type: "syslog-ng"}},
	} {
		if _, err := s.Engine.Create(s.ctx, container.CreateOptions{Config: container.Config{Image: s.Image, Cmd: []string{"true"}}, HostConfig: hc}); !isClass(err, errdefs.ErrInvalidArgument) {
			t.Errorf("create with %s: %v", name, err)
		}
	}
	id := s.run(t, "sleep", "100")
	if err := s.Engine.Start(s.ctx, id); !isClass(err, errdefs.ErrNotModified) {
		t.Errorf("start of a running container: %v", err)
	}
	stopped := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"true"}}})
	if err := s.Engine.Resize(s.ctx, stopped, 10, 10); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("resize of a container that is not running: %v", err)
	}
	if _, _, err := s.Engine.Top(s.ctx, stopped, ""); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("top of a container that is not running: %v", err)
	}
	// A command that does not exist fails the start with docker's code;
	// the container, which never ran, stays created, as on dockerd.
	missing := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"no-such-command"}}})
	if err := s.Engine.Start(s.ctx, missing); !isClass(err, errdefs.ErrInvalidArgument) {
		t.Errorf("start of a missing command: %v", err)
	}
	if c := s.get(t, missing); c.State.Status != container.StatusCreated || c.State.ExitCode != 127 || c.State.Error == "" {
		t.Errorf("state after a failed start: %+v", c.State)
	}
}

// A new daemon re-adopts the containers that kept running and records the
// exits that happened while it was down.
func testDaemonRestart(t *testing.T, s *suite) {
	if s.Restart == nil {
		t.Skip("no daemon restart")
	}
	running := s.run(t, "sleep", "100")
	quitting := s.run(t, "sh", "-c", "sleep 0.5; exit 6")
	before := s.get(t, running)
	s.Engine = s.Restart(t)
	time.Sleep(time.Second)
	c := s.get(t, running)
	if c.State.Status != container.StatusRunning || c.State.Pid != before.State.Pid {
		t.Errorf("re-adopted container: %+v, was %+v", c.State, before.State)
	}
	if code := s.wait(t, quitting); code != 6 {
		t.Errorf("exit while the daemon was down: %d, want 6", code)
	}
	// The new daemon drives the re-adopted container.
	zero := 0
	if err := s.Engine.Stop(s.ctx, running, &zero, ""); err != nil {
		t.Fatal(err)
	}
	if c := s.get(t, running); c.State.Status != container.StatusExited || c.State.ExitCode != 137 {
		t.Errorf("stopped after the restart: %+v", c.State)
	}
}
