package fake

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/wharf-dev/wharf/runtime/task"
)

// execProc is a process started by Exec.
type execProc struct {
	p        *proc
	mu       sync.Mutex
	termSize [2]uint16
	done     chan struct{}
	code     int
}

// Pid implements task.Process.
func (x *execProc) Pid() int {
	if x.p == nil {
		return 0
	}
	return x.p.pid
}

// Resize implements task.Process.
func (x *execProc) Resize(_ context.Context, height, width uint16) error {
	x.mu.Lock()
	x.termSize = [2]uint16{height, width}
	x.mu.Unlock()
	return nil
}

// Kill implements task.Process.
func (x *execProc) Kill(_ context.Context, sig syscall.Signal) error {
	select {
	case <-x.done:
		return nil
	default:
	}
	if x.p != nil {
		x.p.signal(sig)
	}
	return nil
}

// Wait implements task.Process.
func (x *execProc) Wait(ctx context.Context) (int, error) {
	select {
	case <-x.done:
		return x.code, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// failed is an exec the runtime could not start: it prints its reason
// where the process's output would have gone and exits with code.
func failed(o task.ExecOptions, code int, msg string) *execProc {
	w := o.Stderr
	if o.Process != nil && o.Process.Terminal {
		w = o.Stdout
		msg = "OCI runtime exec failed: " + msg + "\r"
	}
	if w != nil {
		fmt.Fprintln(w, msg)
	}
	x := &execProc{done: make(chan struct{}), code: code}
	close(x.done)
	return x
}

// Exec implements task.Executor.
func (r *Runtime) Exec(_ context.Context, id string, o task.ExecOptions) (task.Process, error) {
	if err := r.alive(); err != nil {
		return nil, err
	}
	if o.Process == nil || len(o.Process.Args) == 0 {
		return nil, fmt.Errorf("exec %s: no process", o.ID)
	}
	c, err := r.running(id)
	if err != nil {
		return failed(o, 126, err.Error()), nil
	}
	c.mu.Lock()
	frozen, exited := c.frozen, c.exit != nil
	c.mu.Unlock()
	switch {
	case exited:
		return failed(o, 126, "cannot exec in a stopped container"), nil
	case frozen:
		return failed(o, 126, "cannot exec in a paused container"), nil
	}
	name, err := c.lookPath(o.Process.Args[0], o.Process.Env)
	if err != nil {
		if se, ok := err.(*task.StartError); ok {
			return failed(o, se.ExitCode, se.Msg), nil
		}
		return nil, err
	}
	if !shells[name] && !applets[name] {
		return failed(o, 126, fmt.Sprintf("exec: %q: exec format error (the fake runtime cannot run it)", o.Process.Args[0])), nil
	}
	x := &execProc{done: make(chan struct{})}
	x.p = newProc(c, c.h.pid(), false)
	c.mu.Lock()
	if c.exit != nil {
		c.mu.Unlock()
		return failed(o, 126, "cannot exec in a stopped container"), nil
	}
	c.execs[x.p] = struct{}{}
	c.mu.Unlock()

	tty := o.Process.Terminal
	stdout, stderr := writerOf(o.Stdout), writerOf(o.Stderr)
	var stdin io.Reader = eofReader{}
	if tty {
		stdout = ttyWriter{stdout}
		stderr = stdout
		if o.Stdin != nil {
			pr, pw := io.Pipe()
			go func() {
				_, _ = io.Copy(&terminalInput{w: pw, echo: func(b []byte) { _, _ = stdout.Write(b) }}, o.Stdin)
				pw.Close()
			}()
			stdin = pr
		}
	} else if o.Stdin != nil {
		stdin = o.Stdin
	}
	term := func() ([2]uint16, bool) {
		x.mu.Lock()
		defer x.mu.Unlock()
		return x.termSize, tty
	}
	go func() {
		code := runProgram(x.p, program{args: o.Process.Args}, o.Process.Env, o.Process.Cwd, stdin, stdout, stderr, term)
		c.mu.Lock()
		delete(c.execs, x.p)
		c.mu.Unlock()
		x.code = code
		close(x.done)
	}()
	return x, nil
}

func writerOf(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// ttyWriter is a terminal's output: "\n" becomes "\r\n".
type ttyWriter struct{ w io.Writer }

func (t ttyWriter) Write(b []byte) (int, error) {
	if _, err := t.w.Write(onlcr(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
