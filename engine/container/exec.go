package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/procwait"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/spec"
	wstream "github.com/wharf-dev/wharf/stream"
)

// ExecConfig describes a process to run in a running container.
type ExecConfig struct {
	Cmd          []string
	Env          []string
	User         string
	WorkingDir   string
	Tty          bool
	Privileged   bool
	AttachStdin  bool
	AttachStdout bool
	AttachStderr bool
}

// Exec is the state of one exec process.
type Exec struct {
	ID          string
	ContainerID string
	Config      ExecConfig
	Running     bool
	ExitCode    *int
	Pid         int
}

type execEntry struct {
	mu      sync.Mutex
	x       Exec
	started bool
	master  *os.File
	pidFile string // where the runtime writes the pid, read when asked
}

// loadPid fills in the pid from the runtime's pid file once it exists.
// Called with x.mu held.
func (x *execEntry) loadPid() {
	if x.x.Pid != 0 || x.pidFile == "" {
		return
	}
	data, err := os.ReadFile(x.pidFile)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
		x.x.Pid = pid
	}
}

// ExecCreate registers an exec process; ExecStart runs it.
func (e *Engine) ExecCreate(ctx context.Context, ref string, cfg ExecConfig) (string, error) {
	if len(cfg.Cmd) == 0 {
		return "", fmt.Errorf("no exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	en, err := e.lookup(ref)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch en.c.State.Status {
	case StatusRunning:
	case StatusPaused:
		return "", fmt.Errorf("Container %s is paused, unpause the container before exec: %w", en.c.ID, errdefs.ErrConflict)
	default:
		return "", fmt.Errorf("container %s is not running: %w", en.c.ID, errdefs.ErrConflict)
	}
	id := newID()
	e.execs[id] = &execEntry{x: Exec{ID: id, ContainerID: en.c.ID, Config: cfg}}
	en.c.ExecIDs = append(en.c.ExecIDs, id)
	return id, nil
}

// ExecInspect returns an exec's state.
func (e *Engine) ExecInspect(ctx context.Context, id string) (*Exec, error) {
	e.mu.Lock()
	x, ok := e.execs[id]
	e.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.x.Running {
		x.loadPid()
	}
	cp := x.x
	return &cp, nil
}

// ExecResize sets the terminal size of a TTY exec.
func (e *Engine) ExecResize(ctx context.Context, id string, h, w uint16) error {
	e.mu.Lock()
	x, ok := e.execs[id]
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.master == nil {
		return nil
	}
	return oci.SetWinsize(x.master, h, w)
}

// ExecStart runs the exec process through the runtime and streams its stdio
// over stream (multiplexed unless TTY; nil for a detached exec). It blocks
// until the process exits, unless detach, and records the exit code.
func (e *Engine) ExecStart(ctx context.Context, id string, stream io.ReadWriter, detach bool) error {
	e.mu.Lock()
	x, ok := e.execs[id]
	var en *entry
	if ok {
		en = e.byID[x.x.ContainerID]
	}
	e.mu.Unlock()
	if !ok || en == nil {
		return fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
	}
	x.mu.Lock()
	if x.started {
		x.mu.Unlock()
		return fmt.Errorf("exec %s has already been started: %w", id, errdefs.ErrConflict)
	}
	x.started = true
	x.x.Running = true
	cfg := x.x.Config
	x.mu.Unlock()

	st, _, _ := e.snapshot(en)
	if st.Status != StatusRunning {
		return e.execDone(x, 126, fmt.Errorf("container %s is not running: %w", en.c.ID, errdefs.ErrConflict))
	}
	e.mu.Lock()
	c := en.c.clone()
	base := specs.Spec{Process: en.proc}
	e.mu.Unlock()
	rt := e.runtimes[c.Runtime]

	// The run's process comes from memory; after a daemon restart, from
	// the bundle.
	if base.Process == nil {
		data, err := os.ReadFile(filepath.Join(e.dir(c.ID), "config.json"))
		if err == nil {
			err = json.Unmarshal(data, &base)
		}
		if err != nil {
			return e.execDone(x, 126, fmt.Errorf("reading container spec: %w", err))
		}
	}
	proc, err := spec.ExecProcess(&base, e.RootfsPath(c.ID), spec.ExecOptions{
		Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir, Tty: cfg.Tty, Privileged: cfg.Privileged,
	})
	if err != nil {
		return e.execDone(x, 126, err)
	}
	pdata, err := json.Marshal(proc)
	if err != nil {
		return e.execDone(x, 126, err)
	}
	var outw, errw io.Writer = io.Discard, io.Discard
	if stream != nil && !detach && !cfg.Tty {
		outw, errw = wstream.NewMuxWriters(stream)
		if !cfg.AttachStdout {
			outw = io.Discard
		}
		if !cfg.AttachStderr {
			errw = io.Discard
		}
	}
	if !cfg.Tty {
		// A container whose execs come within --exec-warm-for of each
		// other finds a runtime waiting for the next one.
		if e.execRepeats(en) {
			defer func() { go e.rewarm(en) }()
		}
		if w := e.takeWarm(en, c); w != nil {
			err := w.deliver(pdata)
			if err == nil {
				e.log.Debug("exec on a warm runtime", "exec", id, "container", c.ID)
				return e.runWarm(x, w, cfg, stream, detach, outw, errw)
			}
			e.log.Debug("warm runtime not usable", "exec", id, "container", c.ID, "err", err)
			w.kill()
		}
	}
	dir := filepath.Join(e.shimDir(c.ID), "x"+id[:8])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return e.execDone(x, 126, err)
	}
	// The directory goes when the exec is over, which for a detached
	// exec is after this returns: the runtime reads process.json and
	// writes the pid file after it has started.
	removeDir := true
	defer func() {
		if removeDir {
			_ = os.RemoveAll(dir)
		}
	}()
	procFile := filepath.Join(dir, "process.json")
	if err := os.WriteFile(procFile, pdata, 0o600); err != nil {
		return e.execDone(x, 126, err)
	}
	logPath := filepath.Join(dir, "runtime.log")
	args := append(runtimeLogArgs(rt, logPath), "exec", "--process", procFile, "--pid-file", filepath.Join(dir, "pid"))
	if cfg.Tty {
		return e.execTTY(ctx, x, rt, c.ID, dir, logPath, args, stream, detach)
	}
	cmd := rt.Command(context.WithoutCancel(ctx), append(args, c.ID)...)
	cmd.Stdout, cmd.Stderr = outw, errw
	if stream != nil && !detach && cfg.AttachStdin {
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.Copy(pw, stream)
			pw.Close()
		}()
		cmd.Stdin = pr
	}
	if err := cmd.Start(); err != nil {
		return e.execDone(x, 126, err)
	}
	// The pid is read when someone asks (ExecInspect) and at the end, not
	// polled for: the runtime writes it once the process has started.
	x.mu.Lock()
	x.pidFile = filepath.Join(dir, "pid")
	x.mu.Unlock()
	removeDir = false
	return e.awaitExec(x, detach, dir, logPath, func() error { return procwait.Wait(cmd) })
}

// awaitExec waits for an exec's runtime with wait (in the background when
// detached), then records its pid and exit and removes its directory,
// after the exit is recorded: the caller answers first.
func (e *Engine) awaitExec(x *execEntry, detach bool, dir, logPath string, wait func() error) error {
	finish := func() error {
		werr := wait()
		x.mu.Lock()
		x.loadPid()
		x.pidFile = ""
		x.mu.Unlock()
		err := e.execResult(x, werr, logPath)
		go os.RemoveAll(dir)
		return err
	}
	if detach {
		go func() { _ = finish() }()
		return nil
	}
	return finish()
}

// execResult records the exit of an exec's runtime: the process's own
// code, or docker's code for a process the runtime could not start.
func (e *Engine) execResult(x *execEntry, werr error, logPath string) error {
	code := 0
	if werr != nil {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			return e.execDone(x, 126, werr)
		}
		code = ee.ExitCode()
		if ee.ProcessState != nil && code < 0 {
			code = 137
		}
		// The runtime printed its error on the stderr it shares with
		// the process; only the exit code is ours to set.
		if msg := runtimeError(logPath); msg != "" {
			code = execFailCode(msg)
		}
	}
	return e.execDone(x, code, nil)
}

func (e *Engine) execDone(x *execEntry, code int, err error) error {
	x.mu.Lock()
	x.x.Running = false
	x.x.ExitCode = &code
	x.master = nil
	x.mu.Unlock()
	return err
}

func readPid(path string) (int, error) {
	// The pid file appears once the runtime has started the process.
	var data []byte
	var err error
	for i := 0; i < 100; i++ {
		data, err = os.ReadFile(path)
		if err == nil && len(bytes.TrimSpace(data)) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		return 0, err
	}
	var pid int
	_, err = fmt.Sscanf(strings.TrimSpace(string(data)), "%d", &pid)
	return pid, err
}

// runtimeError returns the error the runtime logged, if any.
func runtimeError(logPath string) string {
	data, _ := os.ReadFile(logPath)
	if len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	return oci.CleanMessage(string(data))
}

// execFailCode is docker's exit code for an exec the runtime could not
// start: 127 not found, 126 otherwise.
func execFailCode(msg string) int {
	if code := oci.StartExitCode(msg); code == 127 {
		return code
	}
	return 126
}

// execTTY runs an exec process on a terminal. Runtimes hand the terminal's
// master over a console socket only when they detach, so the runtime runs
// detached and the daemon, a child subreaper, inherits the process and
// waits for it itself.
func (e *Engine) execTTY(ctx context.Context, x *execEntry, rt *oci.Runtime, id, dir, logPath string, args []string, stream io.ReadWriter, detach bool) error {
	console, err := oci.NewConsoleSocket(filepath.Join(dir, "console.sock"))
	if err != nil {
		return e.execDone(x, 126, err)
	}
	defer console.Close()
	args = append(args, "--detach", "--tty", "--console-socket", console.Path(), id)
	type recv struct {
		f   *os.File
		err error
	}
	got := make(chan recv, 1)
	go func() {
		f, err := console.ReceiveMaster(10 * time.Second)
		got <- recv{f, err}
	}()
	if err := procwait.Run(rt.Command(context.WithoutCancel(ctx), args...)); err != nil {
		msg := runtimeError(logPath)
		if msg == "" {
			msg = err.Error()
		}
		if stream != nil {
			fmt.Fprintf(stream, "OCI runtime exec failed: %s\r\n", msg)
		}
		return e.execDone(x, execFailCode(msg), nil)
	}
	pid, err := readPid(filepath.Join(dir, "pid"))
	if err != nil {
		return e.execDone(x, 126, err)
	}
	r := <-got
	if r.err != nil {
		return e.execDone(x, 126, r.err)
	}
	master := r.f
	x.mu.Lock()
	x.x.Pid = pid
	x.master = master
	x.mu.Unlock()
	outDone := make(chan struct{})
	if stream != nil && !detach {
		if x.x.Config.AttachStdin {
			go func() { _, _ = io.Copy(master, stream) }()
		}
		go func() {
			// Ends with EIO once every holder of the terminal is gone.
			_, _ = io.Copy(stream, master)
			close(outDone)
		}()
	} else {
		go func() { _, _ = io.Copy(io.Discard, master); close(outDone) }()
	}
	wait := func() error {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			break
		}
		select {
		case <-outDone:
		case <-time.After(2 * time.Second):
		}
		master.Close()
		code := 0
		switch {
		case ws.Exited():
			code = ws.ExitStatus()
		case ws.Signaled():
			code = 128 + int(ws.Signal())
		}
		return e.execDone(x, code, nil)
	}
	if detach {
		go func() { _ = wait() }()
		return nil
	}
	return wait()
}
