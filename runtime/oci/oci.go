// Package oci drives an OCI runtime binary (runc, crun) through its command
// line, the contract every OCI runtime implements.
//
// Each daemon gives its runtime a state directory of its own (--root of the
// runtime, under the daemon's exec-root), so that several daemons on one
// host never see each other's containers.
package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"

	"github.com/wharf-dev/wharf/internal/procwait"
)

// SpecVersion is the ociVersion written into bundles. Runtimes check it
// against the versions they know; Debian 12's crun 1.8.1 refuses anything
// but 1.0.x, and every field wharf sets exists in 1.0.2.
const SpecVersion = "1.0.2-dev"

// Runtime is one OCI runtime binary with its own state root.
type Runtime struct {
	// Name is how users select it (--runtime NAME).
	Name string
	// Path is the binary.
	Path string
	// Root is the runtime's state directory (its --root flag).
	Root string
	// Hide lists mount points the runtime must not see: the cgroup2
	// mounts of a hybrid cgroup layout, for a runtime that refuses that
	// layout (mountns_linux.go). Every command of such a runtime is
	// started in a mount namespace of its own where they are detached.
	Hide []string
}

// State is what `runtime state` reports about a container.
type State struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"` // creating, created, running, paused, stopped
	Bundle string `json:"bundle"`
}

// Command returns an exec.Cmd that runs the runtime with its root flag and
// args. Callers set stdio and start it with Start, never with the Cmd's
// own Start or Run (which would skip Hide).
func (r *Runtime) Command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--root", r.Root}, args...)
	return exec.CommandContext(ctx, r.Path, full...)
}

// Start starts cmd, a command of this runtime, in the mount namespace
// the runtime needs: the caller's, or one without the mounts in Hide. A
// command with a parent-death signal is forked from a thread that lives
// as long as it does (startHidden), so that the signal comes when the
// process that started it dies, not when the thread it happened to be
// forked from ends.
func (r *Runtime) Start(cmd *exec.Cmd) error {
	if len(r.Hide) == 0 && (cmd.SysProcAttr == nil || cmd.SysProcAttr.Pdeathsig == 0) {
		return cmd.Start()
	}
	return startHidden(cmd, r.Hide)
}

// Run is Start, then a wait for cmd to finish (procwait.Wait).
func (r *Runtime) Run(cmd *exec.Cmd) error {
	if err := r.Start(cmd); err != nil {
		return err
	}
	return procwait.Wait(cmd)
}

// run runs the runtime to completion and returns a classified error holding
// its stderr on failure.
func (r *Runtime) run(ctx context.Context, args ...string) ([]byte, error) {
	return r.runNice(ctx, 0, args...)
}

// runNice is run at CPU priority nice (0: the caller's).
func (r *Runtime) runNice(ctx context.Context, nice int, args ...string) ([]byte, error) {
	cmd := r.Command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := r.Start(cmd)
	if err == nil {
		if nice != 0 {
			_ = unix.Setpriority(unix.PRIO_PROCESS, cmd.Process.Pid, nice)
		}
		err = procwait.Wait(cmd)
	}
	if err != nil {
		return nil, &Error{Op: args[0], Msg: cleanMessage(stderr.String()), Err: err}
	}
	return stdout.Bytes(), nil
}

// Kill sends sig to the container's init process.
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	_, err := r.run(ctx, "kill", id, strconv.Itoa(int(sig)))
	return err
}

// Delete removes the runtime's record of a stopped container (and its
// cgroup). force also kills a running one.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	_, err := r.run(ctx, append(args, id)...)
	return err
}

// DeleteIdle is Delete at the lowest CPU priority (nice 19), for a
// cleanup nobody waits for: on a small host it then leaves the CPUs to
// the work that is waited for (the daemon recording the exit, the next
// container's start).
func (r *Runtime) DeleteIdle(ctx context.Context, id string) error {
	_, err := r.runNice(ctx, 19, "delete", "--force", id)
	return err
}

// Pause freezes every process of the container (cgroup freezer).
func (r *Runtime) Pause(ctx context.Context, id string) error {
	_, err := r.run(ctx, "pause", id)
	return err
}

// Update changes the resource limits of a running container: r, as JSON,
// is the runtime's --resources.
func (r *Runtime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	if res.Pids != nil && res.Pids.Limit != nil && *res.Pids.Limit <= 0 && strings.Contains(filepath.Base(r.Path), "crun") {
		// runc writes "max" for a limit of 0 or less; crun 1.8.1 writes
		// the number (-1: EINVAL) or nothing (0). The kernel's own
		// ceiling, PID_MAX_LIMIT, is a limit no cgroup can reach.
		cp := *res
		limit := int64(pidMaxLimit)
		cp.Pids = &specs.LinuxPids{Limit: &limit}
		res = &cp
	}
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	cmd := r.Command(ctx, "update", "--resources", "-", id)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := r.Start(cmd); err != nil {
		return &Error{Op: "update", Err: err}
	}
	if err := procwait.Wait(cmd); err != nil {
		return &Error{Op: "update", Msg: cleanMessage(stderr.String()), Err: err}
	}
	return nil
}

// pidMaxLimit is the kernel's PID_MAX_LIMIT (4194304 on 64-bit): no pid
// namespace or cgroup can hold more tasks, and pids.max accepts it.
const pidMaxLimit = 4 << 20

// Resume thaws a paused container.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	_, err := r.run(ctx, "resume", id)
	return err
}

// State returns the runtime's view of a container; ErrNotFound when the
// runtime does not know it.
func (r *Runtime) State(ctx context.Context, id string) (*State, error) {
	// Cheap existence check first: both runc and crun keep a directory per
	// container under their root.
	if _, err := os.Stat(filepath.Join(r.Root, id)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("runtime state of %s: %w", id, errdefs.ErrNotFound)
	}
	out, err := r.run(ctx, "state", id)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("runtime state of %s: %w", id, err)
	}
	return &st, nil
}

// Pids lists the host pids of every process in the container.
func (r *Runtime) Pids(ctx context.Context, id string) ([]int, error) {
	out, err := r.run(ctx, "ps", "--format", "json", id)
	if err != nil {
		return nil, err
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, fmt.Errorf("runtime ps of %s: %w", id, err)
	}
	return pids, nil
}

// Version returns the first line of `runtime --version`.
func (r *Runtime) Version(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, r.Path, "--version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// Error is a failed runtime invocation.
type Error struct {
	Op  string
	Msg string
	Err error
}

func (e *Error) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("runtime %s: %s", e.Op, e.Msg)
	}
	return fmt.Sprintf("runtime %s: %v", e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// cleanMessage turns a runtime's stderr (plain text or JSON log lines) into
// one line for a user.
func cleanMessage(s string) string {
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var entry struct {
			Msg   string `json:"msg"`
			Level string `json:"level"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg != "" {
			if entry.Level != "" && entry.Level != "error" && entry.Level != "fatal" {
				continue
			}
			line = entry.Msg
		}
		msgs = append(msgs, line)
	}
	return strings.Join(msgs, ": ")
}

// CleanMessage is cleanMessage for callers that captured a runtime's
// output themselves (the shim).
func CleanMessage(s string) string { return cleanMessage(s) }

// StartExitCode classifies why a runtime could not start a container's
// process, the way docker does: 127 when the command does not exist, 126
// when it exists but cannot be executed, 125 for anything else. Runtimes
// report this only as text, so the text is what is examined; this is the one
// place in wharf that does.
func StartExitCode(msg string) int {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "executable file not found"),
		strings.Contains(m, "executable file") && strings.Contains(m, "not found"),
		strings.Contains(m, "no such file or directory") && strings.Contains(m, "exec"),
		// runsc (gVisor) loads the binary itself.
		strings.Contains(m, "failed to load") && strings.Contains(m, "no such file or directory"):
		return 127
	case strings.Contains(m, "permission denied") && strings.Contains(m, "exec"),
		strings.Contains(m, "is a directory"),
		strings.Contains(m, "exec format error"):
		return 126
	}
	return 125
}
