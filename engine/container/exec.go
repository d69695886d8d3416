package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/spec"
	"github.com/wharf-dev/wharf/runtime/task"
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
	// DetachKeys end a terminal client's attachment, leaving the process
	// running ("" is ctrl-p ctrl-q; ParseDetachKeys).
	DetachKeys string
}

// ExecStartOptions attach a client to an exec's stdio.
type ExecStartOptions struct {
	// Stream carries the process's stdio: its output written (in the
	// multiplexed format unless raw), its stdin read. nil attaches
	// nothing.
	Stream io.ReadWriter
	// Detach starts the process and returns at once.
	Detach bool
	// Tty, when set, decides the framing of Stream instead of the exec's
	// own Tty, as the start request's Tty does on dockerd: raw for true,
	// multiplexed for false, whatever the process has.
	Tty *bool
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
	// proc is the runtime's process while it runs.
	proc task.Process
	// ctr is the container as the exec started in it, for its exec_die.
	ctr *Container
}

// loadPid fills in the pid once the runtime reports it. Called with x.mu
// held.
func (x *execEntry) loadPid() {
	if x.x.Pid == 0 && x.proc != nil {
		x.x.Pid = x.proc.Pid()
	}
}

// ExecCreate registers an exec process; ExecStart runs it.
func (e *Engine) ExecCreate(ctx context.Context, ref string, cfg ExecConfig) (string, error) {
	if len(cfg.Cmd) == 0 {
		return "", fmt.Errorf("no exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	if _, err := ParseDetachKeys(cfg.DetachKeys); err != nil {
		return "", fmt.Errorf("Invalid escape keys (%s) provided: %w", cfg.DetachKeys, errdefs.ErrInvalidArgument)
	}
	en, err := e.lookup(ref)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	switch en.c.State.Status {
	case StatusRunning:
	case StatusPaused:
		e.mu.Unlock()
		return "", fmt.Errorf("Container %s is paused, unpause the container before exec: %w", en.c.ID, errdefs.ErrConflict)
	default:
		e.mu.Unlock()
		return "", fmt.Errorf("container %s is not running: %w", en.c.ID, errdefs.ErrConflict)
	}
	id := newID()
	e.execs[id] = &execEntry{x: Exec{ID: id, ContainerID: en.c.ID, Config: cfg}}
	en.c.ExecIDs = append(en.c.ExecIDs, id)
	c := en.c.clone()
	e.mu.Unlock()
	e.publish(c, execAction("exec_create", cfg.Cmd), map[string]string{"execID": id})
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
	p := x.proc
	x.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Resize(ctx, h, w)
}

// ExecStart runs the exec process through the runtime and attaches
// o.Stream to its stdio. It blocks until the process exits, unless
// o.Detach, and records the exit code. A client on the process's terminal
// that types the detach keys is let go (exec_detach) while the process
// runs on, as dockerd lets it go.
func (e *Engine) ExecStart(ctx context.Context, id string, o ExecStartOptions) error {
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
	var to task.ExecOptions
	var detached chan struct{}
	if stream := o.Stream; stream != nil && !o.Detach {
		raw := cfg.Tty
		if o.Tty != nil {
			raw = *o.Tty
		}
		var out io.Writer = stream
		if cfg.Tty && cfg.AttachStdin {
			keys, _ := ParseDetachKeys(cfg.DetachKeys) // checked at create
			dw := &detachWriter{w: stream}
			out, detached = dw, make(chan struct{})
			to.Stdin = newDetachReader(stream, keys, func() {
				dw.detach()
				close(detached)
			})
		} else if cfg.AttachStdin {
			to.Stdin = stream
		}
		switch {
		case raw:
			if cfg.AttachStdout || cfg.Tty {
				to.Stdout = out
			}
			if cfg.AttachStderr {
				to.Stderr = out
			}
		default:
			outw, errw := wstream.NewMuxWriters(out)
			if cfg.AttachStdout || cfg.Tty {
				to.Stdout = outw
			}
			if cfg.AttachStderr {
				to.Stderr = errw
			}
		}
	}
	p, err := e.startExec(ctx, en, x, to)
	if err != nil {
		return e.execDone(x, 126, err)
	}
	// The caller answers once the exit is recorded.
	wait := func() error {
		code, err := p.Wait(context.Background())
		x.mu.Lock()
		x.loadPid()
		x.mu.Unlock()
		if err != nil {
			return e.execDone(x, 126, err)
		}
		return e.execDone(x, code, nil)
	}
	if o.Detach {
		go func() { _ = wait() }()
		return nil
	}
	if detached == nil {
		return wait()
	}
	exited := make(chan error, 1)
	go func() { exited <- wait() }()
	select {
	case err := <-exited:
		return err
	case <-detached:
		x.mu.Lock()
		c := x.ctr
		x.mu.Unlock()
		e.publish(c, "exec_detach", map[string]string{"execID": id})
		return nil
	}
}

// startExec starts the process of exec x in the running container of en
// through the runtime, and tells its exec_start; o carries its stdio. An
// error means nothing runs: the caller records x's end (execDone).
func (e *Engine) startExec(ctx context.Context, en *entry, x *execEntry, o task.ExecOptions) (task.Process, error) {
	e.mu.Lock()
	c := en.c.clone()
	base := specs.Spec{Process: en.proc}
	e.mu.Unlock()
	x.mu.Lock()
	cfg, id := x.x.Config, x.x.ID
	// From here on, the end of the exec is told too.
	x.ctr = c
	x.mu.Unlock()
	e.publish(c, execAction("exec_start", cfg.Cmd), map[string]string{"execID": id})
	rt, err := e.runtime(c)
	if err != nil {
		return nil, err
	}
	// The run's process comes from memory; after a daemon restart, from
	// the bundle.
	if base.Process == nil {
		data, err := os.ReadFile(filepath.Join(e.dir(c.ID), "config.json"))
		if err == nil {
			err = json.Unmarshal(data, &base)
		}
		if err != nil {
			return nil, fmt.Errorf("reading container spec: %w", err)
		}
	}
	proc, err := spec.ExecProcess(&base, e.RootfsPath(c.ID), spec.ExecOptions{
		Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir, Tty: cfg.Tty, Privileged: cfg.Privileged,
	})
	if err != nil {
		return nil, err
	}
	o.ID, o.Process = id, proc
	p, err := rt.Exec(context.WithoutCancel(ctx), c.ID, o)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	x.proc = p
	x.mu.Unlock()
	return p, nil
}

func (e *Engine) execDone(x *execEntry, code int, err error) error {
	x.mu.Lock()
	x.x.Running = false
	x.x.ExitCode = &code
	x.proc = nil
	c, id := x.ctr, x.x.ID
	x.mu.Unlock()
	if c != nil {
		e.publish(c, "exec_die", map[string]string{"execID": id, "exitCode": strconv.Itoa(code)})
	}
	return err
}
