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
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
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
	e.mu.Unlock()
	rt := e.runtimes[c.Runtime]

	var base specs.Spec
	data, err := os.ReadFile(filepath.Join(e.dir(c.ID), "config.json"))
	if err == nil {
		err = json.Unmarshal(data, &base)
	}
	if err != nil {
		return e.execDone(x, 126, fmt.Errorf("reading container spec: %w", err))
	}
	proc, err := spec.ExecProcess(&base, e.RootfsPath(c.ID), spec.ExecOptions{
		Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir, Tty: cfg.Tty, Privileged: cfg.Privileged,
	})
	if err != nil {
		return e.execDone(x, 126, err)
	}
	dir := filepath.Join(e.shimDir(c.ID), "exec-"+id[:12])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return e.execDone(x, 126, err)
	}
	defer os.RemoveAll(dir)
	pdata, _ := json.Marshal(proc)
	procFile := filepath.Join(dir, "process.json")
	if err := os.WriteFile(procFile, pdata, 0o600); err != nil {
		return e.execDone(x, 126, err)
	}
	logPath := filepath.Join(dir, "runtime.log")
	args := []string{"--log-format", "json"}
	if strings.Contains(filepath.Base(rt.Path), "crun") {
		args = append(args, "--log=file:"+logPath)
	} else {
		args = append(args, "--log", logPath)
	}
	args = append(args, "exec", "--process", procFile, "--pid-file", filepath.Join(dir, "pid"))
	var console *oci.ConsoleSocket
	if cfg.Tty {
		console, err = oci.NewConsoleSocket(filepath.Join(dir, "console.sock"))
		if err != nil {
			return e.execDone(x, 126, err)
		}
		defer console.Close()
		args = append(args, "--tty", "--console-socket", console.Path())
	}
	cmd := rt.Command(context.WithoutCancel(ctx), append(args, c.ID)...)
	var outw, errw io.Writer = io.Discard, io.Discard
	if stream != nil && !detach && !cfg.Tty {
		mo, me := wstream.NewMuxWriters(stream)
		if cfg.AttachStdout {
			outw = mo
		}
		if cfg.AttachStderr {
			errw = me
		}
		cmd.Stdout, cmd.Stderr = outw, errw
		if cfg.AttachStdin {
			pr, pw := io.Pipe()
			go func() {
				_, _ = io.Copy(pw, stream)
				pw.Close()
			}()
			cmd.Stdin = pr
		}
	}
	if err := cmd.Start(); err != nil {
		return e.execDone(x, 126, err)
	}
	if console != nil {
		master, err := console.ReceiveMaster(10 * time.Second)
		if err == nil {
			x.mu.Lock()
			x.master = master
			x.mu.Unlock()
			defer master.Close()
			if stream != nil && !detach {
				if cfg.AttachStdin {
					go func() { _, _ = io.Copy(master, stream) }()
				}
				go func() { _, _ = io.Copy(stream, master) }()
			}
		}
	}
	go func() {
		if pid, err := readPid(filepath.Join(dir, "pid")); err == nil {
			x.mu.Lock()
			x.x.Pid = pid
			x.mu.Unlock()
		}
	}()
	wait := func() error {
		werr := cmd.Wait()
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
			if logData, _ := os.ReadFile(logPath); len(bytes.TrimSpace(logData)) > 0 {
				if msg := oci.CleanMessage(string(logData)); msg != "" {
					code = oci.StartExitCode(msg)
					if code == 125 {
						code = 126
					}
					fmt.Fprintf(errw, "OCI runtime exec failed: %s\n", msg)
				}
			}
		}
		return e.execDone(x, code, nil)
	}
	if detach {
		go func() { _ = wait() }()
		return nil
	}
	return wait()
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
