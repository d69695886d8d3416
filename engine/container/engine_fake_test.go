package container_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Unit tests of the engine that need its runtime and root filesystem to
// behave, on the fake: no privilege needed.

func mustCreate(t *testing.T, e *container.Engine, o container.CreateOptions) string {
	t.Helper()
	o.Config.Image = fakeImage
	o.HostConfig.NetworkMode = "none"
	c, err := e.Create(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func mustRun(t *testing.T, e *container.Engine, o container.CreateOptions) string {
	t.Helper()
	id := mustCreate(t, e, o)
	if err := e.Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

func cmd(args ...string) container.CreateOptions {
	return container.CreateOptions{Config: container.Config{Cmd: args}}
}

func state(t *testing.T, e *container.Engine, id string) container.State {
	t.Helper()
	c, err := e.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.State
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The delay before each policy restart doubles from 100ms, as docker's.
func TestRestartBackoffDoubles(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	// Each run lasts 300 ms, so a poller slowed by a loaded host still sees
	// every run while it runs.
	o := cmd("sh", "-c", "sleep 0.3; exit 1")
	o.HostConfig.RestartPolicy = container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 4}
	id := mustRun(t, e, o)
	// started[n] is when run n began; finished[n] when it ended, read
	// either from an exited run n or, while run n+1 runs, from the
	// FinishedAt the record keeps until that run ends.
	started, finished := map[int]time.Time{}, map[int]time.Time{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := e.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		n, st := c.RestartCount, c.State
		started[n] = st.StartedAt
		switch {
		case !st.FinishedAt.Before(st.StartedAt):
			finished[n] = st.FinishedAt
		case !st.FinishedAt.IsZero() && n > 0:
			finished[n-1] = st.FinishedAt
		}
		if n == 4 && st.Status == container.StatusExited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never restarted 4 times: %+v, count %d", st, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	want := 100 * time.Millisecond
	for n := 1; n <= 4; n++ {
		if started[n].IsZero() || finished[n-1].IsZero() {
			t.Fatalf("run %d's end or run %d's start not seen: %v %v", n-1, n, finished, started)
		}
		gap := started[n].Sub(finished[n-1])
		if gap < want || gap > want+time.Second {
			t.Errorf("delay before restart %d: %v, want about %v", n, gap, want)
		}
		want *= 2
	}
}

// The root filesystem is mounted while the container runs, and only then.
func TestRootfsMountedWhileRunning(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	id := mustCreate(t, e, cmd("sleep", "100"))
	rootfs := e.RootfsPath(id)
	if f.Host.RootFS().Mounted(rootfs) {
		t.Fatal("a created container's root filesystem is mounted")
	}
	if err := e.Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if !f.Host.RootFS().Mounted(rootfs) {
		t.Fatal("a running container's root filesystem is not mounted")
	}
	if err := e.Kill(context.Background(), id, "KILL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unmounted after the exit", func() bool { return !f.Host.RootFS().Mounted(rootfs) })

	// A start that fails leaves nothing mounted.
	bad := mustCreate(t, e, cmd("no-such-command"))
	if err := e.Start(context.Background(), bad); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("start of a missing command: %v", err)
	}
	if f.Host.RootFS().Mounted(e.RootfsPath(bad)) {
		t.Error("a failed start left the root filesystem mounted")
	}
}

// What a container writes in its root filesystem is kept in its writable
// layer from one run to the next, and is its own.
func TestWritableLayerKept(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	ctx := context.Background()
	o := cmd("sh", "-c", "cat /tmp/note; echo run >> /tmp/note")
	id := mustRun(t, e, o)
	if code, err := e.Wait(ctx, id, "", nil); code != 0 || err != nil {
		t.Fatalf("first run: %d, %v", code, err)
	}
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if code, err := e.Wait(ctx, id, "", nil); code != 0 || err != nil {
		t.Fatalf("second run: %d, %v", code, err)
	}
	if out := stdout(t, e, id); out != "run\n" {
		t.Errorf("the second run read %q from the first one's file, want \"run\\n\"", out)
	}
	other := mustRun(t, e, o)
	if code, _ := e.Wait(ctx, other, "", nil); code != 0 {
		t.Fatalf("other container: %d", code)
	}
	if out := stdout(t, e, other); out != "" {
		t.Errorf("another container of the image sees %q", out)
	}
}

func stdout(t *testing.T, e *container.Engine, id string) string {
	t.Helper()
	var b strings.Builder
	err := e.Logs(context.Background(), id, container.LogsOptions{Stdout: true, Tail: -1}, func(en logfile.Entry) error {
		b.WriteString(en.Log)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// An exec's pid shows while it runs, and the terminal of a TTY exec takes
// the size given to ExecResize.
func TestExecPidAndResize(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	ctx := context.Background()
	id := mustRun(t, e, cmd("sleep", "100"))
	x, err := e.ExecCreate(ctx, id, container.ExecConfig{Cmd: []string{"sh", "-c", "read x; stty size"}, Tty: true, AttachStdin: true, AttachStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	c := &rwConn{r: pr}
	done := make(chan error, 1)
	go func() { done <- e.ExecStart(ctx, x, container.ExecStartOptions{Stream: c}) }()
	waitFor(t, "given a pid", func() bool {
		in, err := e.ExecInspect(ctx, x)
		return err == nil && in.Running && in.Pid > 0
	})
	if err := e.ExecResize(ctx, x, 33, 99); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(pw, "\r"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.String(), "33 99\r\n") {
		t.Errorf("terminal output %q lacks the size", c.String())
	}
	if in, _ := e.ExecInspect(ctx, x); in.Running || in.ExitCode == nil || *in.ExitCode != 0 || in.Pid == 0 {
		t.Errorf("exec after its end: %+v", in)
	}
	if err := e.ExecResize(ctx, x, 1, 1); err != nil {
		t.Errorf("resize of an ended exec: %v", err)
	}
}

// A TTY container's terminal takes the size given to Resize.
func TestContainerResize(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	ctx := context.Background()
	o := cmd("sh", "-c", "read x; stty size")
	o.Config.Tty, o.Config.OpenStdin = true, true
	id := mustCreate(t, e, o)
	pr, pw := io.Pipe()
	c := &rwConn{r: pr}
	registered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.Attach(ctx, id, container.AttachOptions{Stdin: true, Stdout: true, Stream: c, Registered: func() { close(registered) }})
	}()
	<-registered
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.Resize(ctx, id, 40, 120); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(pw, "\r"); err != nil {
		t.Fatal(err)
	}
	if code, err := e.Wait(ctx, id, "", nil); code != 0 || err != nil {
		t.Fatalf("exit %d, %v", code, err)
	}
	<-done
	if !strings.Contains(c.String(), "40 120\r\n") {
		t.Errorf("terminal output %q lacks the size", c.String())
	}
}

// rwConn is a client stream: input from r, output collected.
type rwConn struct {
	r  io.Reader
	mu sync.Mutex
	b  strings.Builder
}

func (c *rwConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *rwConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.Write(p)
}
func (c *rwConn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// Remove forgets the container in its runtime too: nothing of it is left
// there.
func TestRemoveForgetsInRuntime(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	ctx := context.Background()
	id := mustRun(t, e, cmd("sh", "-c", "exit 5"))
	if code, _ := e.Wait(ctx, id, "", nil); code != 5 {
		t.Fatalf("exit %d", code)
	}
	rt := f.Host.Runtime()
	if x, _ := rt.ReadExit(ctx, id); x == nil || x.ExitCode != 5 {
		t.Fatalf("the runtime did not record the exit: %+v", x)
	}
	if err := e.Remove(ctx, id, container.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if x, _ := rt.ReadExit(ctx, id); x != nil {
		t.Errorf("the runtime still has the removed container's exit: %+v", x)
	}
}

// After a host reboot, a container that was running is exited with 255
// and says why; one with a restart policy is started again.
func TestRestoreAfterReboot(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Start(t)
	ctx := context.Background()
	plain := mustRun(t, e, cmd("sleep", "100"))
	o := cmd("sleep", "100")
	o.HostConfig.RestartPolicy = container.RestartPolicy{Name: "always"}
	always := mustRun(t, e, o)
	o = cmd("sleep", "100")
	o.HostConfig.AutoRemove = true
	rm := mustRun(t, e, o)
	e.Close()
	f.Host.Reboot()

	e = f.Engine(t)
	st := state(t, e, plain)
	if st.Status != container.StatusExited || st.ExitCode != 255 || st.Error == "" {
		t.Errorf("a container running at the reboot: %+v", st)
	}
	if st := state(t, e, always); st.Status != container.StatusRunning {
		t.Errorf("an always-container after the reboot: %+v", st)
	}
	if c, _ := e.Get(ctx, always); c.RestartCount != 1 {
		t.Errorf("restart count %d of a container started again at daemon start", c.RestartCount)
	}
	waitFor(t, "removed the --rm container", func() bool {
		_, err := e.Get(ctx, rm)
		_, serr := os.Stat(filepath.Join(f.Root, "containers", rm))
		return errdefs.IsNotFound(err) && os.IsNotExist(serr)
	})
	for _, id := range []string{plain, always} {
		_ = e.Remove(ctx, id, container.RemoveOptions{Force: true})
	}
}

// At daemon start, restart policies apply to what stopped while the
// daemon was down, unless a user stopped it.
func TestRestoreAppliesPolicies(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Start(t)
	ctx := context.Background()
	o := cmd("sleep", "100")
	o.HostConfig.RestartPolicy = container.RestartPolicy{Name: "unless-stopped"}
	stopped := mustRun(t, e, o)
	zero := 0
	if err := e.Stop(ctx, stopped, &zero, ""); err != nil {
		t.Fatal(err)
	}
	o = cmd("sh", "-c", "sleep 0.3; exit 3")
	o.HostConfig.RestartPolicy = container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 1}
	failing := mustRun(t, e, o)
	e.Close()
	// The daemon is down while it fails.
	rt := f.Host.Runtime()
	waitFor(t, "exited while the daemon was down", func() bool { return !rt.Alive(ctx, failing) })
	rt.Close()

	e = f.Engine(t)
	if st := state(t, e, stopped); st.Status != container.StatusExited {
		t.Errorf("a container the user stopped came back: %+v", st)
	}
	c, err := e.Get(ctx, failing)
	if err != nil {
		t.Fatal(err)
	}
	if c.State.Status != container.StatusRunning || c.RestartCount != 1 {
		t.Errorf("an on-failure container that failed while the daemon was down: %+v, count %d", c.State, c.RestartCount)
	}
	for _, id := range []string{stopped, failing} {
		_ = e.Remove(ctx, id, container.RemoveOptions{Force: true})
	}
}

// An attach waiting for a start goes away with its context.
func TestAttachWaitCancelled(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	id := mustCreate(t, e, cmd("sh", "-c", "echo late"))
	ctx, cancel := context.WithCancel(context.Background())
	registered := make(chan struct{})
	done := make(chan error, 1)
	c := &rwConn{r: strings.NewReader("")}
	go func() {
		done <- e.Attach(ctx, id, container.AttachOptions{Stdout: true, Stream: c, Registered: func() { close(registered) }})
	}()
	<-registered
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("cancelled attach: %v", err)
	}
	// The start does not wait for the cancelled stream to release output.
	if err := e.Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if code, err := e.Wait(context.Background(), id, "", nil); code != 0 || err != nil {
		t.Fatalf("exit %d, %v", code, err)
	}
	if c.String() != "" {
		t.Errorf("a cancelled stream got output: %q", c.String())
	}
}

// A client that ends its input on a container's terminal (the docker CLI
// detaching) leaves the container and its stdin running, as on dockerd;
// the detach keys let the client go the same way.
func TestAttachTTYInputEndKeepsStdin(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	ctx := context.Background()
	o := cmd("sh", "-c", "echo ready; cat")
	o.Config.Tty, o.Config.OpenStdin = true, true
	id := mustRun(t, e, o)
	for _, keys := range []string{"", "\x10\x11"} {
		pr, pw := io.Pipe()
		c := &rwConn{r: pr}
		done := make(chan error, 1)
		go func() { done <- e.Attach(ctx, id, container.AttachOptions{Stdin: true, Stdout: true, Stream: c}) }()
		if _, err := io.WriteString(pw, "hello\r"+keys); err != nil {
			t.Fatal(err)
		}
		if keys == "" {
			pw.Close()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("attach (keys %q): %v", keys, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("attach (keys %q) did not end", keys)
		}
		time.Sleep(300 * time.Millisecond)
		if st := state(t, e, id); st.Status != container.StatusRunning {
			t.Fatalf("after the client left (keys %q): %s, exit %d", keys, st.Status, st.ExitCode)
		}
		pw.Close()
	}
}
