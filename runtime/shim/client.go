package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// StartError is a container that the runtime could not start; ExitCode is
// what docker would report (125, or 126/127 for a command that cannot be
// executed or does not exist).
type StartError struct {
	Msg      string
	ExitCode int
}

func (e *StartError) Error() string { return e.Msg }

// Spawner starts shims. It keeps one shim process started ahead of need,
// blocked on reading its options, so that a container start does not wait
// for a process to exec and initialise (a zygote): the next start hands
// options to the waiting shim and a fresh one is started behind it. A
// waiting shim whose daemon dies reads EOF and exits.
type Spawner struct {
	self   string
	mu     sync.Mutex
	warm   *warmShim
	closed bool // no more waiting shims
}

type warmShim struct {
	cmd   *exec.Cmd
	opts  *os.File // write end: the options
	ready *os.File // read end: the Ready report
}

// NewSpawner returns a Spawner that runs `self shim`.
func NewSpawner(self string) *Spawner { return &Spawner{self: self} }

func (sp *Spawner) start() (*warmShim, error) {
	optR, optW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		optR.Close()
		optW.Close()
		return nil, err
	}
	cmd := exec.Command(sp.self, "shim", "--from-fd")
	// fd 3: options in, fd 4: ready out.
	cmd.ExtraFiles = []*os.File{optR, readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	// A shim mostly sleeps; one P keeps the Go runtime's per-P caches
	// (and their memory) to one. The shim unsets it before it runs the
	// OCI runtime.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	err = cmd.Start()
	optR.Close()
	readyW.Close()
	if err != nil {
		optW.Close()
		readyR.Close()
		return nil, fmt.Errorf("starting shim: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return &warmShim{cmd: cmd, opts: optW, ready: readyR}, nil
}

// prestartDelay is how long after a spawn the next waiting shim starts.
const prestartDelay = 100 * time.Millisecond

// Prestart starts the waiting shim if there is none.
func (sp *Spawner) Prestart() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.warm == nil && !sp.closed {
		sp.warm, _ = sp.start()
	}
}

// Close stops the waiting shim.
func (sp *Spawner) Close() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.closed = true
	if sp.warm != nil {
		sp.warm.opts.Close()
		sp.warm.ready.Close()
		sp.warm = nil
	}
}

// Spawn starts a shim for o and waits until it reports the container
// started. The shim runs in a session of its own so it outlives the
// daemon; the daemon reaps it if it is still the parent when it exits.
func (sp *Spawner) Spawn(ctx context.Context, o Options) (int, error) {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return 0, err
	}
	// A directory left from an earlier run of the same container.
	for _, f := range []string{SocketFile, ExitFile, InitPidFile, PidFile, "console.sock", "runtime.log"} {
		_ = os.Remove(filepath.Join(o.Dir, f))
	}
	data, err := json.Marshal(o)
	if err != nil {
		return 0, err
	}
	sp.mu.Lock()
	w := sp.warm
	sp.warm = nil
	sp.mu.Unlock()
	// The next shim starts a moment after this one has started its
	// container, not beside it: on a small host the two starts would
	// share the CPUs, and a short container's exit and removal would
	// share them with it. When starts come faster than that (this one
	// found no shim waiting), it starts at once.
	next := prestartDelay
	if w == nil {
		next = 0
		if w, err = sp.start(); err != nil {
			return 0, err
		}
	}
	defer time.AfterFunc(next, sp.Prestart)
	defer w.ready.Close()
	_, err = w.opts.Write(append(data, '\n'))
	w.opts.Close()
	if err != nil {
		_ = w.cmd.Process.Kill()
		return 0, fmt.Errorf("handing options to the shim: %w", err)
	}

	type result struct {
		r   Ready
		err error
	}
	done := make(chan result, 1)
	go func() {
		var rd Ready
		err := json.NewDecoder(w.ready).Decode(&rd)
		done <- result{rd, err}
	}()
	select {
	case <-ctx.Done():
		_ = w.cmd.Process.Kill()
		return 0, ctx.Err()
	case res := <-done:
		if res.err != nil {
			return 0, fmt.Errorf("shim exited without reporting: %w", res.err)
		}
		if res.r.Error != "" {
			return 0, &StartError{Msg: res.r.Error, ExitCode: res.r.ExitCode}
		}
		return res.r.Pid, nil
	}
}

// dial connects to the shim in dir and sends req.
func dial(ctx context.Context, dir string, req Request) (net.Conn, *bufio.Reader, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(dir, SocketFile))
	if err != nil {
		return nil, nil, err
	}
	data, _ := json.Marshal(req)
	if _, err := conn.Write(append(data, '\n')); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReader(conn), nil
}

// Alive reports whether a shim answers in dir.
func Alive(dir string) bool {
	conn, err := net.DialTimeout("unix", filepath.Join(dir, SocketFile), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Wait blocks until the container of the shim in dir has exited and returns
// its status. If the shim is gone, the recorded exit file answers; if there
// is none either, ErrShimGone.
func Wait(ctx context.Context, dir string) (*Exit, error) {
	conn, br, err := dial(ctx, dir, Request{Op: "wait"})
	if err != nil {
		return fromFile(dir)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	line, err := br.ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The shim died between our connect and its answer.
		return fromFile(dir)
	}
	var e Exit
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// ErrShimGone means neither a shim nor a recorded exit status exists: the
// host rebooted, or the shim was killed.
var ErrShimGone = errors.New("shim gone and no exit status recorded")

func fromFile(dir string) (*Exit, error) {
	e, err := ReadExit(dir)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, ErrShimGone
	}
	return e, nil
}

// Attach opens a stream to the container's stdio. The returned connection
// carries output (multiplexed frames unless TTY) and takes input.
func Attach(ctx context.Context, dir string, stdin, stdout, stderr bool) (net.Conn, io.Reader, error) {
	return attach(ctx, dir, Request{Op: "attach", Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// AttachRelease is Attach followed by Release, in one round trip.
func AttachRelease(ctx context.Context, dir string, stdin, stdout, stderr bool) (net.Conn, io.Reader, error) {
	return attach(ctx, dir, Request{Op: "attach", Stdin: stdin, Stdout: stdout, Stderr: stderr, Release: true})
}

// AttachWith is Attach with every option of an attach request (Release,
// Marks, Cut); req's Op is set to "attach". It also returns the shim's
// reply, whose Cut is false from a shim that predates cuts.
func AttachWith(ctx context.Context, dir string, req Request) (net.Conn, io.Reader, *AttachReply, error) {
	req.Op = "attach"
	conn, br, err := dial(ctx, dir, req)
	if err != nil {
		return nil, nil, nil, err
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("attach: container already exited")
	}
	var rep AttachReply
	if err := json.Unmarshal(line, &rep); err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("attach: bad reply from the shim: %w", err)
	}
	return conn, br, &rep, nil
}

// ErrNoFlush is a shim's answer to a flush when it cannot do one: it
// predates flushes (it closed the connection without a word).
var ErrNoFlush = errors.New("the shim does not know flushes")

// Flush asks the shim in dir for a Mark frame with token on the attached
// streams that take marks, after all the output the container wrote
// before the call (see "flush" in proto.go). It returns once the shim has
// sent the mark; the caller then waits for it in its stream.
func Flush(ctx context.Context, dir, token string) error {
	conn, br, err := dial(ctx, dir, Request{Op: "flush", Token: token})
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	line, err := br.ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, io.EOF) {
			return ErrNoFlush
		}
		return err
	}
	var rep FlushReply
	if err := json.Unmarshal(line, &rep); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if rep.Error != "" {
		return fmt.Errorf("flush: %s", rep.Error)
	}
	return nil
}

func attach(ctx context.Context, dir string, req Request) (net.Conn, io.Reader, error) {
	conn, br, err := dial(ctx, dir, req)
	if err != nil {
		return nil, nil, err
	}
	if _, err := br.ReadBytes('\n'); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("attach: container already exited")
	}
	return conn, br, nil
}

func simple(ctx context.Context, dir string, req Request) error {
	conn, br, err := dial(ctx, dir, req)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = br.ReadBytes('\n')
	return err
}

// Release lets a shim started with Hold start copying output.
func Release(ctx context.Context, dir string) error { return simple(ctx, dir, Request{Op: "release"}) }

// Resize sets the container's terminal size.
func Resize(ctx context.Context, dir string, height, width uint16) error {
	return simple(ctx, dir, Request{Op: "resize", Height: height, Width: width})
}

// WaitGone waits up to d for a shim that reported its container's exit to
// finish its cleanup and close its socket, so that the same container can
// be started again.
func WaitGone(dir string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !Alive(dir) {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}
