package ocishim

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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/procwait"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/task"
)

// process is one exec: the runtime's `exec` run for it (or a warm exec
// that took it), and, with a terminal, the daemon's child that the
// detached runtime left.
type process struct {
	mu      sync.Mutex
	pid     int
	pidFile string   // where the runtime writes the pid, read when asked
	master  *os.File // the terminal's master, while the process runs
	wait    func() (int, error)
	// inContainer tells whether a pid is one of the container's
	// processes (Kill).
	inContainer func(ctx context.Context, pid int) bool
	once        sync.Once
	code        int
	err         error
	done        chan struct{}
}

func newProcess() *process { return &process{done: make(chan struct{})} }

// exited is a process the runtime could not start: it has exited with code.
func exited(code int) *process {
	p := newProcess()
	p.wait = func() (int, error) { return code, nil }
	return p
}

// Pid implements task.Process: it reads the runtime's pid file once it
// exists.
func (p *process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loadPid()
	return p.pid
}

// loadPid fills in the pid from the runtime's pid file once it exists.
// Called with p.mu held.
func (p *process) loadPid() {
	if p.pid != 0 || p.pidFile == "" {
		return
	}
	data, err := os.ReadFile(p.pidFile)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
		p.pid = pid
	}
}

// Resize implements task.Process.
func (p *process) Resize(_ context.Context, height, width uint16) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.master == nil {
		return nil
	}
	return oci.SetWinsize(p.master, height, width)
}

// Kill implements task.Process. It signals the process through a pidfd
// opened on its host pid, once it has checked that the pid still names a
// process of the container: between the process's exit and the wait that
// closes done, the pid could name another process.
func (p *process) Kill(ctx context.Context, sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pid, err := p.awaitPid(ctx)
	if err != nil {
		return err
	}
	if pid == 0 {
		return nil // it exited before the runtime told its pid
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if p.inContainer != nil && !p.inContainer(ctx, pid) {
		return nil
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// pidWait bounds how long Kill waits for the runtime's pid file: the
// runtime writes it after the process starts, so a process may already
// run (and print) before its pid is known.
const pidWait = 5 * time.Second

// awaitPid returns the process's pid once the runtime has told it, or 0
// when the process ends first.
func (p *process) awaitPid(ctx context.Context) (int, error) {
	deadline := time.Now().Add(pidWait)
	for {
		if pid := p.Pid(); pid > 0 {
			return pid, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the exec's process has no pid after %v: %w", pidWait, errdefs.ErrUnavailable)
		}
		select {
		case <-p.done:
			return 0, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Wait implements task.Process. The exit is waited for once, whoever asks
// first; ctx ends only this caller's wait.
func (p *process) Wait(ctx context.Context) (int, error) {
	go p.once.Do(func() {
		p.code, p.err = p.wait()
		close(p.done)
	})
	select {
	case <-p.done:
		return p.code, p.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Exec implements task.Executor with `runtime exec`: the process's stdio
// are the runtime's, or, with a terminal, the runtime runs detached and
// hands the terminal's master over a console socket, and the daemon (a
// child subreaper) waits for the process itself. A container whose
// non-terminal execs repeat gets its next exec from a warm runtime.
func (r *Runtime) Exec(ctx context.Context, id string, o task.ExecOptions) (task.Process, error) {
	tp, err := r.exec(ctx, id, o)
	if p, ok := tp.(*process); ok && err == nil {
		p.inContainer = func(ctx context.Context, pid int) bool {
			pids, err := r.rt.Pids(ctx, id)
			return err == nil && slices.Contains(pids, pid)
		}
	}
	return tp, err
}

func (r *Runtime) exec(ctx context.Context, id string, o task.ExecOptions) (task.Process, error) {
	if o.Process == nil {
		return nil, fmt.Errorf("exec %s: no process", o.ID)
	}
	pdata, err := json.Marshal(o.Process)
	if err != nil {
		return nil, err
	}
	tty := o.Process.Terminal
	// A container whose execs come within WithExecWarmFor of each other
	// finds a runtime waiting for the next one, started once this exec
	// is over (after, below).
	var after func()
	if !tty && !o.Background {
		if r.execRepeats(id) {
			after = func() { go r.rewarm(id) }
		}
		if w := r.takeWarm(id); w != nil {
			err := w.deliver(pdata)
			if err == nil {
				r.log.Debug("exec on a warm runtime", "exec", o.ID, "container", id)
				return r.runWarm(w, o, after), nil
			}
			r.log.Debug("warm runtime not usable", "exec", o.ID, "container", id, "err", err)
			w.kill()
		}
	}
	dir := filepath.Join(r.dir(id), "x"+o.ID[:min(8, len(o.ID))])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		if after != nil {
			after()
		}
		return nil, err
	}
	procFile := filepath.Join(dir, "process.json")
	if err := os.WriteFile(procFile, pdata, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		if after != nil {
			after()
		}
		return nil, err
	}
	logPath := filepath.Join(dir, "runtime.log")
	args := append(runtimeLogArgs(r.rt, logPath), "exec", "--process", procFile, "--pid-file", filepath.Join(dir, "pid"))
	if tty {
		return r.execTTY(ctx, id, dir, logPath, args, o)
	}
	cmd := r.rt.Command(context.WithoutCancel(ctx), append(args, id)...)
	cmd.Stdout, cmd.Stderr = orDiscard(o.Stdout), orDiscard(o.Stderr)
	if o.Stdin != nil {
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.Copy(pw, o.Stdin)
			pw.Close()
		}()
		cmd.Stdin = pr
	}
	if err := r.rt.Start(cmd); err != nil {
		_ = os.RemoveAll(dir)
		if after != nil {
			after()
		}
		return nil, err
	}
	// The pid is read when someone asks and at the end, not polled for:
	// the runtime writes it once the process has started. The directory
	// goes when the exec is over: the runtime reads process.json and
	// writes the pid file after it has started.
	p := newProcess()
	p.pidFile = filepath.Join(dir, "pid")
	p.wait = r.awaitExec(p, dir, logPath, func() error { return procwait.Wait(cmd) }, after)
	return p, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// awaitExec returns the wait of an exec's runtime: it waits with wait,
// then records the process's pid and exit, removes the exec's directory
// (after the answer: the caller answers first) and calls after, if set.
func (r *Runtime) awaitExec(p *process, dir, logPath string, wait func() error, after func()) func() (int, error) {
	return func() (int, error) {
		werr := wait()
		p.mu.Lock()
		p.loadPid()
		p.pidFile = ""
		p.mu.Unlock()
		code, err := execResult(werr, logPath)
		go os.RemoveAll(dir)
		if after != nil {
			after()
		}
		return code, err
	}
}

// execResult is the exit of an exec's runtime: the process's own code, or
// docker's code for a process the runtime could not start.
func execResult(werr error, logPath string) (int, error) {
	if werr == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) {
		return 126, werr
	}
	code := ee.ExitCode()
	if ee.ProcessState != nil && code < 0 {
		code = 137
	}
	// The runtime printed its error on the stderr it shares with the
	// process; only the exit code is ours to set.
	if msg := runtimeError(logPath); msg != "" {
		code = execFailCode(msg)
	}
	return code, nil
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
	// A working directory that is missing or no directory is no missing
	// command: dockerd answers 126 ("chdir to cwd ... failed").
	if strings.Contains(msg, "chdir to cwd") {
		return 126
	}
	if code := oci.StartExitCode(msg); code == 127 {
		return code
	}
	return 126
}

// execTTY runs an exec process on a terminal. Runtimes hand the terminal's
// master over a console socket only when they detach, so the runtime runs
// detached and the daemon, a child subreaper, inherits the process and
// waits for it itself.
func (r *Runtime) execTTY(ctx context.Context, id, dir, logPath string, args []string, o task.ExecOptions) (task.Process, error) {
	console, err := oci.NewConsoleSocket(filepath.Join(dir, "console.sock"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
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
	// The directory goes once the runtime is done with it.
	defer func() { go os.RemoveAll(dir) }()
	// The process is adopted as the runtime exits: a reaper of orphans
	// must leave it to the wait below.
	claim, adopted := r.expectAdoption()
	if err := r.rt.Run(r.rt.Command(context.WithoutCancel(ctx), args...)); err != nil {
		adopted()
		msg := runtimeError(logPath)
		if msg == "" {
			msg = err.Error()
		}
		if o.Stdout != nil {
			fmt.Fprintf(o.Stdout, "OCI runtime exec failed: %s\r\n", msg)
		}
		return exited(execFailCode(msg)), nil
	}
	pid, err := readPid(filepath.Join(dir, "pid"))
	if err != nil {
		adopted()
		return nil, err
	}
	claim(pid)
	rcv := <-got
	if rcv.err != nil {
		// Nobody will wait for it: it is the reaper's.
		adopted()
		return nil, rcv.err
	}
	master := rcv.f
	p := newProcess()
	p.pid, p.master = pid, master
	if o.Stdin != nil {
		go func() { _, _ = io.Copy(master, o.Stdin) }()
	}
	outDone := make(chan struct{})
	if o.Stdout != nil {
		go func() {
			// Ends with EIO once every holder of the terminal is gone.
			_, _ = io.Copy(o.Stdout, master)
			close(outDone)
		}()
	} else {
		go func() { _, _ = io.Copy(io.Discard, master); close(outDone) }()
	}
	p.wait = func() (int, error) {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			break
		}
		adopted()
		select {
		case <-outDone:
		case <-time.After(2 * time.Second):
		}
		p.mu.Lock()
		master.Close()
		p.master = nil
		p.mu.Unlock()
		code := 0
		switch {
		case ws.Exited():
			code = ws.ExitStatus()
		case ws.Signaled():
			code = 128 + int(ws.Signal())
		}
		return code, nil
	}
	return p, nil
}
