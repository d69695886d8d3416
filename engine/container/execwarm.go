package container

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/internal/procwait"
	"github.com/wharf-dev/wharf/runtime/oci"
)

// A warm exec is the runtime's `exec` started ahead of the request that
// will use it. A Go runtime such as runc spends a good part of an exec
// starting itself and loading the container's state before it reads the
// process to run; a warm exec has done that and waits, blocked opening
// the FIFO it was given as --process, until an exec is started. The
// container's next non-TTY exec writes its process there instead of
// starting the runtime.
//
// One is started for a container whose execs repeat (one came within
// WithExecWarmFor of the one before) and kept for that long after the
// last exec, so a container exec'd into once in a while costs nothing.
// A warm exec belongs to one run of its container: it is used only while the
// container runs with the pid and start time it was started for, and is
// killed when it expires, when the container is removed and when the
// engine closes; the kernel kills it if the daemon dies (parent-death
// signal).
type warmExec struct {
	cmd        *exec.Cmd
	dir        string
	fifo       string
	logPath    string
	pidFile    string
	stdin      *os.File // write end of the process's stdin
	stdout     *os.File // read end of its stdout
	stderr     *os.File // read end of its stderr
	pid        int      // the container's init pid it was started for
	startedAt  time.Time
	timer      *time.Timer
	done       chan struct{} // closed once the runtime has exited
	err        error         // its exit, once done
	killOnce   sync.Once
	delivered  bool
	stdioClose sync.Once
}

// WithExecWarmFor keeps a runtime exec started ahead for d after a
// container's last exec (0: never); see warmExec.
func WithExecWarmFor(d time.Duration) Option { return func(e *Engine) { e.warmFor = d } }

// runtimeLogArgs are the global flags that send the runtime's log, as
// JSON, to path.
func runtimeLogArgs(rt *oci.Runtime, path string) []string {
	if strings.Contains(filepath.Base(rt.Path), "crun") {
		return []string{"--log-format", "json", "--log=file:" + path}
	}
	return []string{"--log-format", "json", "--log", path}
}

// startWarmExec starts a warm exec for the container's current run.
func (e *Engine) startWarmExec(rt *oci.Runtime, c *Container) (*warmExec, error) {
	dir := filepath.Join(e.shimDir(c.ID), "w"+newID()[:8])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &warmExec{
		dir:       dir,
		fifo:      filepath.Join(dir, "process.json"),
		logPath:   filepath.Join(dir, "runtime.log"),
		pidFile:   filepath.Join(dir, "pid"),
		pid:       c.State.Pid,
		startedAt: c.State.StartedAt,
		done:      make(chan struct{}),
	}
	fail := func(err error) (*warmExec, error) {
		w.closeStdio()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := unix.Mkfifo(w.fifo, 0o600); err != nil {
		return fail(err)
	}
	// The runtime's stdio: the ends it gets are closed here once it has
	// started; the daemon keeps the others.
	var child [3]*os.File
	defer func() {
		for _, f := range child {
			if f != nil {
				f.Close()
			}
		}
	}()
	var err error
	if child[0], w.stdin, err = os.Pipe(); err != nil {
		return fail(err)
	}
	if w.stdout, child[1], err = os.Pipe(); err != nil {
		return fail(err)
	}
	if w.stderr, child[2], err = os.Pipe(); err != nil {
		return fail(err)
	}
	args := append(runtimeLogArgs(rt, w.logPath), "exec", "--process", w.fifo, "--pid-file", w.pidFile, c.ID)
	cmd := rt.Command(context.Background(), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = child[0], child[1], child[2]
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	w.cmd = cmd
	go func() {
		w.err = procwait.Wait(cmd)
		close(w.done)
	}()
	return w, nil
}

// fits reports whether w was started for the container's current run.
func (w *warmExec) fits(c *Container) bool {
	return w.pid == c.State.Pid && w.startedAt.Equal(c.State.StartedAt)
}

func (w *warmExec) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

var errWarmGone = errors.New("warm exec is gone")

// deliver hands the process to the waiting runtime: it opens the FIFO
// without blocking, which succeeds once the runtime has opened it to read
// (it may still be starting), writes the process and closes it.
func (w *warmExec) deliver(process []byte) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		fd, err := unix.Open(w.fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			defer unix.Close(fd)
			if err := unix.SetNonblock(fd, false); err != nil {
				return err
			}
			for len(process) > 0 {
				n, err := unix.Write(fd, process)
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					return err
				}
				process = process[n:]
			}
			w.delivered = true
			return nil
		}
		if err != unix.ENXIO {
			return err
		}
		if w.exited() || time.Now().After(deadline) {
			return errWarmGone
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func (w *warmExec) closeStdio() {
	w.stdioClose.Do(func() {
		for _, f := range []*os.File{w.stdin, w.stdout, w.stderr} {
			if f != nil {
				f.Close()
			}
		}
	})
}

// kill ends an unused warm exec and removes its directory.
func (w *warmExec) kill() {
	w.killOnce.Do(func() {
		if w.timer != nil {
			w.timer.Stop()
		}
		if !w.delivered && w.cmd != nil {
			_ = w.cmd.Process.Kill()
		}
		go func() {
			<-w.done
			w.closeStdio()
			_ = os.RemoveAll(w.dir)
		}()
	})
}

// takeWarm returns the container's warm exec if it fits the container's
// current run, and forgets it either way.
func (e *Engine) takeWarm(en *entry, c *Container) *warmExec {
	w := e.detachWarm(en)
	if w == nil {
		return nil
	}
	w.timer.Stop()
	if !w.fits(c) || w.exited() {
		w.kill()
		return nil
	}
	return w
}

// dropWarm kills the container's warm exec, if any.
func (e *Engine) dropWarm(en *entry) {
	if w := e.detachWarm(en); w != nil {
		w.kill()
	}
}

// detachWarm takes the container's warm exec, if any, from the container.
func (e *Engine) detachWarm(en *entry) *warmExec {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := en.warm
	en.warm = nil
	return w
}

// execRepeats records an exec into the container and reports whether the
// one before it came within the warm period: only then is a runtime
// started ahead for the next, so a container exec'd into once in a while
// costs nothing more than its execs.
func (e *Engine) execRepeats(en *entry) bool {
	if e.warmFor <= 0 {
		return false
	}
	now := time.Now()
	e.mu.Lock()
	prev := en.lastExec
	en.lastExec = now
	e.mu.Unlock()
	return !prev.IsZero() && now.Sub(prev) <= e.warmFor
}

// rewarm starts a warm exec for the container's next exec, unless it has
// one or is not running (execRepeats decides whether to call it).
func (e *Engine) rewarm(en *entry) {
	e.mu.Lock()
	if en.warm != nil || en.removed || en.c.State.Status != StatusRunning || e.closed {
		e.mu.Unlock()
		return
	}
	c := en.c.clone()
	e.mu.Unlock()
	rt := e.runtimes[c.Runtime]
	if rt == nil {
		return
	}
	w, err := e.startWarmExec(rt, c)
	if err != nil {
		e.log.Debug("warm exec not started", "container", c.ID, "err", err)
		return
	}
	e.mu.Lock()
	if en.warm != nil || en.removed || e.closed {
		e.mu.Unlock()
		w.kill()
		return
	}
	en.warm = w
	w.timer = time.AfterFunc(e.warmFor, func() {
		// An exec may have taken it a moment before: then it is the
		// exec's, not the timer's, to end.
		e.mu.Lock()
		expired := en.warm == w
		if expired {
			en.warm = nil
		}
		e.mu.Unlock()
		if expired {
			w.kill()
		}
	})
	e.mu.Unlock()
}

// runWarm runs an exec on a warm exec that has its process: it pumps the
// process's stdio to stream and records the exit, as ExecStart does with a
// runtime it starts.
func (e *Engine) runWarm(x *execEntry, w *warmExec, cfg ExecConfig, stream io.ReadWriter, detach bool, out, errw io.Writer) error {
	x.mu.Lock()
	x.pidFile = w.pidFile
	x.mu.Unlock()
	if stream != nil && !detach && cfg.AttachStdin {
		go func() {
			_, _ = io.Copy(w.stdin, stream)
			w.stdin.Close()
		}()
	} else {
		w.stdin.Close()
	}
	var copies sync.WaitGroup
	for _, p := range []struct {
		dst io.Writer
		src *os.File
	}{{out, w.stdout}, {errw, w.stderr}} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(p.dst, p.src)
		}()
	}
	return e.awaitExec(x, detach, w.dir, w.logPath, func() error {
		<-w.done
		copies.Wait()
		w.closeStdio()
		return w.err
	})
}

// closeWarm kills every warm exec; the engine starts no more.
func (e *Engine) closeWarm() {
	e.mu.Lock()
	e.closed = true
	var ws []*warmExec
	for _, en := range e.byID {
		if en.warm != nil {
			ws = append(ws, en.warm)
			en.warm = nil
		}
	}
	e.mu.Unlock()
	for _, w := range ws {
		w.kill()
	}
}
