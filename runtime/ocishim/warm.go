package ocishim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"github.com/wharf-dev/wharf/runtime/task"
)

// A warm exec is the runtime's `exec` started ahead of the request that
// will use it. A Go runtime such as runc spends a good part of an exec
// starting itself and loading the container's state before it reads the
// process to run; a warm exec has done that and waits, blocked opening
// the FIFO it was given as --process, until an exec is started. The
// container's next non-terminal exec writes its process there instead of
// starting the runtime.
//
// One is started for a container whose execs repeat (one came within
// WithExecWarmFor of the one before) and kept for that long after the
// last exec, so a container exec'd into once in a while costs nothing.
// A warm exec belongs to one run of its container: it is used only while
// that run goes on (run.gen, which Start bumps and Wait's answer ends),
// and is killed when it expires, when the run ends, when the container is
// deleted and when the runtime closes; the kernel kills it if the daemon
// dies (parent-death signal).
type warmExec struct {
	cmd        *exec.Cmd
	dir        string
	fifo       string
	logPath    string
	pidFile    string
	stdin      *os.File // write end of the process's stdin
	stdout     *os.File // read end of its stdout
	stderr     *os.File // read end of its stderr
	gen        int      // the run of the container it was started for
	timer      *time.Timer
	done       chan struct{} // closed once the runtime has exited
	err        error         // its exit, once done
	killOnce   sync.Once
	delivered  bool
	stdioClose sync.Once
}

// runtimeLogArgs are the global flags that send the runtime's log, as
// JSON, to path.
func runtimeLogArgs(rt *oci.Runtime, path string) []string {
	if strings.Contains(filepath.Base(rt.Path), "crun") {
		return []string{"--log-format", "json", "--log=file:" + path}
	}
	return []string{"--log-format", "json", "--log", path}
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// startWarmExec starts a warm exec for run gen of container id.
func (r *Runtime) startWarmExec(id string, gen int) (*warmExec, error) {
	dir := filepath.Join(r.dir(id), "w"+randomHex(8))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &warmExec{
		dir:     dir,
		fifo:    filepath.Join(dir, "process.json"),
		logPath: filepath.Join(dir, "runtime.log"),
		pidFile: filepath.Join(dir, "pid"),
		gen:     gen,
		done:    make(chan struct{}),
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
	args := append(runtimeLogArgs(r.rt, w.logPath), "exec", "--process", w.fifo, "--pid-file", w.pidFile, id)
	cmd := r.rt.Command(context.Background(), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = child[0], child[1], child[2]
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.rt.Start(cmd); err != nil {
		return fail(err)
	}
	w.cmd = cmd
	go func() {
		w.err = procwait.Wait(cmd)
		close(w.done)
	}()
	return w, nil
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

// takeWarm returns the container's warm exec if it belongs to the
// container's current run, and forgets it either way.
func (r *Runtime) takeWarm(id string) *warmExec {
	r.mu.Lock()
	rn := r.runs[id]
	if rn == nil || rn.warm == nil {
		r.mu.Unlock()
		return nil
	}
	w := rn.warm
	rn.warm = nil
	fits := w.gen == rn.gen && !rn.exited
	r.mu.Unlock()
	w.timer.Stop()
	if !fits || w.exited() {
		w.kill()
		return nil
	}
	return w
}

// execRepeats records an exec into the container and reports whether the
// one before it came within the warm period: only then is a runtime
// started ahead for the next, so a container exec'd into once in a while
// costs nothing more than its execs.
func (r *Runtime) execRepeats(id string) bool {
	if r.warmFor <= 0 {
		return false
	}
	now := time.Now()
	r.mu.Lock()
	rn := r.runOf(id)
	prev := rn.lastExec
	rn.lastExec = now
	r.mu.Unlock()
	return !prev.IsZero() && now.Sub(prev) <= r.warmFor
}

// rewarm starts a warm exec for the container's next exec, unless it has
// one or its run is not going on (execRepeats decides whether to call it).
func (r *Runtime) rewarm(id string) {
	r.mu.Lock()
	rn := r.runs[id]
	if rn == nil || rn.warm != nil || rn.exited || rn.paused || r.closed {
		r.mu.Unlock()
		return
	}
	gen := rn.gen
	r.mu.Unlock()
	w, err := r.startWarmExec(id, gen)
	if err != nil {
		r.log.Debug("warm exec not started", "container", id, "err", err)
		return
	}
	r.mu.Lock()
	// The run may have ended or the container gone meanwhile.
	if r.runs[id] != rn || rn.warm != nil || rn.gen != gen || rn.exited || r.closed {
		r.mu.Unlock()
		w.kill()
		return
	}
	rn.warm = w
	w.timer = time.AfterFunc(r.warmFor, func() {
		// An exec may have taken it a moment before: then it is the
		// exec's, not the timer's, to end.
		r.mu.Lock()
		expired := rn.warm == w
		if expired {
			rn.warm = nil
		}
		r.mu.Unlock()
		if expired {
			w.kill()
		}
	})
	r.mu.Unlock()
}

// runWarm runs an exec on a warm exec that has its process: it pumps the
// process's stdio and records the exit, as Exec does with a runtime it
// starts, and calls after, if set, once it is over.
func (r *Runtime) runWarm(w *warmExec, o task.ExecOptions, after func()) task.Process {
	p := newProcess()
	p.pidFile = w.pidFile
	if o.Stdin != nil {
		go func() {
			_, _ = io.Copy(w.stdin, o.Stdin)
			w.stdin.Close()
		}()
	} else {
		w.stdin.Close()
	}
	var copies sync.WaitGroup
	for _, c := range []struct {
		dst io.Writer
		src *os.File
	}{{orDiscard(o.Stdout), w.stdout}, {orDiscard(o.Stderr), w.stderr}} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(c.dst, c.src)
		}()
	}
	p.wait = r.awaitExec(p, w.dir, w.logPath, func() error {
		<-w.done
		copies.Wait()
		w.closeStdio()
		return w.err
	}, after)
	return p
}
