package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/task"
)

// monitor waits for the container's current run (generation gen) to end.
func (e *Engine) monitor(en *entry, gen int) {
	rt, err := e.runtime(en.c)
	var exit *task.Exit
	if err == nil {
		exit, err = rt.Wait(context.Background(), en.c.ID)
	}
	if err != nil {
		exit = &task.Exit{ExitCode: 255, ExitedAt: time.Now().UTC()}
		e.log.Warn("container shim lost", "container", en.c.ID, "err", err)
	}
	e.handleExit(en, gen, exit, errString(err))
}

// publishExit tells the end of a run, as dockerd: oom if the kernel
// killed it for memory, die with its exit code, then what its start
// connected and mounted is disconnected and unmounted. c is the record
// as it was while it ran.
func (e *Engine) publishExit(c *Container, exit *task.Exit) {
	if exit.OOMKilled {
		e.publish(c, "oom", nil)
	}
	e.publish(c, "die", map[string]string{"exitCode": strconv.Itoa(exit.ExitCode)})
	e.publishNetworks(c, "disconnect", e.attachedNetworks(context.Background(), c))
	e.publishVolumes(c, false)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// handleExit records an exit and applies --rm and the restart policy.
func (e *Engine) handleExit(en *entry, gen int, exit *task.Exit, errMsg string) {
	e.mu.Lock()
	if en.gen != gen || en.removed {
		e.mu.Unlock()
		return
	}
	id := en.c.ID
	e.mu.Unlock()
	// Addresses, veths, the namespace and published ports are held only
	// while the container runs. They go before the exit is recorded: a
	// restart waiting for the exit sets up new ones right after.
	e.teardownNetwork(context.Background(), id)
	// So are the volumes' filesystems: the last run using one unmounts it.
	e.unmountVolumes(context.Background(), id)
	var c Container
	var ran *Container
	var n int
	err := e.writeRecordThen(en, !en.c.HostConfig.AutoRemove, func(ct *Container) bool {
		ran = ct.clone()
		clearRuntimeNetwork(ct)
		en.disarmHealthLocked()
		ct.State.Health = healthStopped(ct.State.Health)
		ct.State.Status = StatusExited
		ct.State.Pid = 0
		ct.State.ExitCode = exit.ExitCode
		ct.State.OOMKilled = exit.OOMKilled
		ct.State.FinishedAt = exit.ExitedAt
		ct.State.Error = errMsg
		en.exits++
		n = en.exits
		c = *ct
		return true
	}, func() {
		e.publishExit(ran, exit)
		e.mu.Lock()
		en.exitsTold = n
		e.mu.Unlock()
	})
	if err != nil {
		e.log.Error("saving container state", "container", id, "err", err)
	}
	e.log.Info("container exited", "container", id, "exitCode", exit.ExitCode, "oomKilled", exit.OOMKilled)
	if c.HostConfig.AutoRemove {
		// Remove unmounts; waiters for the exit need not wait for it.
		go func() {
			if err := e.Remove(context.Background(), id, RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
				e.log.Error("auto-remove", "container", id, "err", err)
			}
		}()
		return
	}
	// The root filesystem stays mounted only while the container runs.
	// A start that races ahead of this remounts anyway (prepare unmounts
	// first), so the op lock guards it.
	en.op.Lock()
	if st, _, _ := e.snapshot(en); !st.Running() {
		_ = e.unmountRootfs(context.Background(), id)
	}
	en.op.Unlock()
	e.mu.Lock()
	prev := en.lastDelay
	e.mu.Unlock()
	ok, delay := restartDecision(c.HostConfig.RestartPolicy, c.State.ExitCode, c.RestartCount, c.State.ManuallyStopped, false, prev, c.State.FinishedAt.Sub(c.State.StartedAt))
	if !ok {
		return
	}
	e.scheduleRestart(en, delay)
}

func (e *Engine) scheduleRestart(en *entry, delay time.Duration) {
	e.update(en, func(c *Container) { c.State.Status = StatusRestarting })
	e.mu.Lock()
	en.lastDelay = delay
	en.restartTimer = time.AfterFunc(delay, func() {
		en.op.Lock()
		defer en.op.Unlock()
		st, _, removed := e.snapshot(en)
		if removed || st.Status != StatusRestarting {
			return
		}
		if err := e.startLocked(context.Background(), en, true); err != nil {
			e.log.Warn("policy restart failed", "container", en.c.ID, "err", err)
			e.mu.Lock()
			c := en.c.clone()
			prev := en.lastDelay
			e.mu.Unlock()
			if ok, d := restartDecision(c.HostConfig.RestartPolicy, c.State.ExitCode, c.RestartCount+1, c.State.ManuallyStopped, false, prev, 0); ok {
				e.update(en, func(c *Container) { c.RestartCount++ })
				e.scheduleRestart(en, d)
			}
		}
	})
	e.mu.Unlock()
}

// cancelRestart stops a pending policy restart; reports whether one was.
func (e *Engine) cancelRestart(en *entry) bool {
	had := false
	_ = e.writeRecord(en, true, func(c *Container) bool {
		if en.restartTimer == nil {
			return false
		}
		had = true
		en.restartTimer.Stop()
		en.restartTimer = nil
		if c.State.Status != StatusRestarting {
			return false
		}
		c.State.Status = StatusExited
		return true
	})
	return had
}

// waitExit waits until the container is no longer running, its exit
// recorded and told (the die event is out), or d passes.
func (e *Engine) waitExit(ctx context.Context, en *entry, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		st, ch, removed, told := en.c.State, en.changed, en.removed, en.exitsTold == en.exits
		e.mu.Unlock()
		if removed || !st.Running() && told {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// ParseSignal accepts "SIGTERM", "TERM", "term" or a number.
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGKILL, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for n := syscall.Signal(1); n < 32; n++ {
		if strings.TrimPrefix(strings.ToUpper(unixSignalName(n)), "SIG") == name {
			return n, nil
		}
	}
	return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
}

// Stop sends the container's stop signal, waits up to timeout (default the
// container's StopTimeout or 10s), then kills it.
func (e *Engine) Stop(ctx context.Context, ref string, timeout *int, signal string) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	en.op.Lock()
	defer en.op.Unlock()
	if err := e.stopLocked(ctx, en, timeout, signal); err != nil {
		return err
	}
	e.publishOf(en, "stop", nil)
	return nil
}

func (e *Engine) stopLocked(ctx context.Context, en *entry, timeout *int, signal string) error {
	cancelled := e.cancelRestart(en)
	st, _, _ := e.snapshot(en)
	e.update(en, func(c *Container) { c.State.ManuallyStopped = true })
	if !st.Running() {
		if cancelled {
			return nil
		}
		return fmt.Errorf("container %s is not running: %w", en.c.ID, errdefs.ErrNotModified)
	}
	e.mu.Lock()
	c := en.c.clone()
	e.mu.Unlock()
	t := 10
	if c.Config.StopTimeout != nil {
		t = *c.Config.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	if signal == "" {
		signal = c.Config.StopSignal
	}
	if signal == "" {
		signal = "SIGTERM"
	}
	sig, err := ParseSignal(signal)
	if err != nil {
		return err
	}
	rt, err := e.runtime(c)
	if err != nil {
		return err
	}
	// The stop signal goes first even with a zero timeout, as dockerd
	// sends it; each kill event is told before its signal, so that it
	// comes before the die the signal causes.
	beforeSignal(c, sig)
	e.publish(c, "kill", signalAttr(sig))
	if err := rt.Kill(ctx, c.ID, sig); err != nil {
		e.log.Warn("stop signal", "container", c.ID, "err", err)
	}
	if st.Status == StatusPaused {
		_ = rt.Resume(ctx, c.ID)
	}
	if t < 0 {
		e.waitExit(ctx, en, 365*24*time.Hour)
		return nil
	}
	if sig == syscall.SIGKILL {
		// rm -f: one kill, as dockerd's Kill.
		if !e.waitExit(ctx, en, 30*time.Second) {
			return fmt.Errorf("container %s did not exit after SIGKILL: %w", c.ID, errdefs.ErrUnavailable)
		}
		return nil
	}
	if e.waitExit(ctx, en, time.Duration(t)*time.Second) {
		return nil
	}
	e.publish(c, "kill", signalAttr(syscall.SIGKILL))
	if err := rt.Kill(ctx, c.ID, syscall.SIGKILL); err != nil {
		e.log.Warn("stop kill", "container", c.ID, "err", err)
	}
	if st.Status == StatusPaused {
		_ = rt.Resume(ctx, c.ID)
	}
	if !e.waitExit(ctx, en, 30*time.Second) {
		return fmt.Errorf("container %s did not exit after SIGKILL: %w", c.ID, errdefs.ErrUnavailable)
	}
	return nil
}

// Kill sends a signal to the container's init process.
func (e *Engine) Kill(ctx context.Context, ref, signal string) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	sig, err := ParseSignal(signal)
	if err != nil {
		return err
	}
	st, _, _ := e.snapshot(en)
	if !st.Running() {
		return fmt.Errorf("Container %s is not running: %w", en.c.ID, errdefs.ErrConflict)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		e.update(en, func(c *Container) { c.State.ManuallyStopped = true })
	}
	e.mu.Lock()
	c := en.c.clone()
	e.mu.Unlock()
	rt, err := e.runtime(c)
	if err != nil {
		return err
	}
	beforeSignal(c, sig)
	// Told before the signal: the die it causes comes after, as on
	// dockerd, whose exit handler waits for the kill to finish.
	e.publish(c, "kill", signalAttr(sig))
	if err := rt.Kill(ctx, c.ID, sig); err != nil {
		return fmt.Errorf("kill %s: %v: %w", c.ID, err, errdefs.ErrConflict)
	}
	if sig != syscall.SIGKILL {
		return nil
	}
	if st.Status == StatusPaused {
		_ = rt.Resume(ctx, c.ID)
	}
	// A SIGKILL answers once the exit is recorded, as dockerd's Kill
	// waits for it: an inspect right after shows the container exited.
	if !e.waitExit(ctx, en, killExitWait) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("tried to kill container, but did not receive an exit event: %w", errdefs.ErrUnavailable)
	}
	return nil
}

// killExitWait is how long a SIGKILL waits for the exit to be recorded
// (dockerd waits as long).
const killExitWait = 10 * time.Second

// Restart stops (if running) and starts a container.
func (e *Engine) Restart(ctx context.Context, ref string, timeout *int) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	en.op.Lock()
	defer en.op.Unlock()
	switch err := e.stopLocked(ctx, en, timeout, ""); {
	case err == nil:
		e.publishOf(en, "stop", nil)
	case !errdefs.IsNotModified(err):
		return err
	}
	e.update(en, func(c *Container) { c.State.ManuallyStopped = false })
	if err := e.startLocked(ctx, en, false); err != nil {
		return err
	}
	e.publishOf(en, "restart", nil)
	return nil
}

// Pause freezes all processes of a running container.
func (e *Engine) Pause(ctx context.Context, ref string) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	en.op.Lock()
	defer en.op.Unlock()
	st, _, _ := e.snapshot(en)
	switch st.Status {
	case StatusRunning:
	case StatusPaused:
		return fmt.Errorf("container %s is already paused: %w", en.c.ID, errdefs.ErrConflict)
	default:
		return fmt.Errorf("container %s is not running: %w", en.c.ID, errdefs.ErrConflict)
	}
	rt, err := e.runtime(en.c)
	if err != nil {
		return err
	}
	if err := rt.Pause(ctx, en.c.ID); err != nil {
		return err
	}
	e.update(en, func(c *Container) {
		if c.State.Status == StatusRunning {
			c.State.Status = StatusPaused
			en.disarmHealthLocked()
			c.State.Health = healthStopped(c.State.Health)
		}
	})
	e.publishOf(en, "pause", nil)
	return nil
}

// Unpause thaws a paused container.
func (e *Engine) Unpause(ctx context.Context, ref string) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	en.op.Lock()
	defer en.op.Unlock()
	st, _, _ := e.snapshot(en)
	if st.Status != StatusPaused {
		return fmt.Errorf("container %s is not paused: %w", en.c.ID, errdefs.ErrConflict)
	}
	rt, err := e.runtime(en.c)
	if err != nil {
		return err
	}
	if err := rt.Resume(ctx, en.c.ID); err != nil {
		return err
	}
	e.update(en, func(c *Container) {
		if c.State.Status == StatusPaused {
			c.State.Status = StatusRunning
		}
	})
	e.publishOf(en, "unpause", nil)
	e.armHealth(en)
	return nil
}

// Wait conditions, as docker's.
const (
	WaitNotRunning = "not-running"
	WaitNextExit   = "next-exit"
	WaitRemoved    = "removed"
)

// WaitRegistered lets a caller know the waiter is in place (so the API can
// answer its headers before a client starts the container).
type WaitRegistered func()

// Wait blocks until the condition holds and returns the exit code.
func (e *Engine) Wait(ctx context.Context, ref, condition string, registered WaitRegistered) (int, error) {
	en, err := e.lookup(ref)
	if err != nil {
		return 0, err
	}
	if condition == "" {
		condition = WaitNotRunning
	}
	switch condition {
	case WaitNotRunning, WaitNextExit, WaitRemoved:
	default:
		return 0, fmt.Errorf("invalid wait condition %q: %w", condition, errdefs.ErrInvalidArgument)
	}
	st, ch, removed := e.waitSnapshot(en)
	startExits := e.exitCount(en)
	if registered != nil {
		registered()
	}
	for {
		switch {
		case removed:
			return st.ExitCode, nil
		case condition == WaitNotRunning && !st.Running() && st.Status != StatusRestarting && e.exitTold(en):
			return st.ExitCode, nil
		case condition == WaitNextExit && e.exitCount(en) > startExits && e.exitTold(en):
			return st.ExitCode, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		st, ch, removed = e.waitSnapshot(en)
	}
}

// waitSnapshot is snapshot for Wait: a container counts as removed once
// its removal is whole (its volumes released, its destroy told).
func (e *Engine) waitSnapshot(en *entry) (State, chan struct{}, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return en.c.State, en.changed, en.destroyed
}

// exitTold reports whether the last recorded exit has been told (its die
// event is out): a waiter that returns sees the die in the event log.
func (e *Engine) exitTold(en *entry) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return en.exitsTold == en.exits
}

func (e *Engine) exitCount(en *entry) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return en.exits
}

// RemoveOptions modify Remove.
type RemoveOptions struct {
	Force bool
	// RemoveVolumes also removes the container's anonymous volumes (rm
	// -v); --rm containers always do.
	RemoveVolumes bool
	// TakeUpper, when set, is where the container's writable layer (its
	// overlay upper directory) is moved instead of being deleted, once
	// the root filesystem is unmounted: a build makes its step's layer
	// from it. It must be a path on the daemon root's filesystem that
	// does not exist yet.
	TakeUpper string
}

// Remove deletes a container and its writable layer. A running container
// needs Force.
func (e *Engine) Remove(ctx context.Context, ref string, o RemoveOptions) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	en.op.Lock()
	defer en.op.Unlock()
	st, _, removed := e.snapshot(en)
	if removed {
		return fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	if (st.Running() || st.Status == StatusRestarting) && !o.Force {
		// dockerd's words: a restarting container counts as running.
		procedure := "Stop the container before attempting removal or force remove"
		if st.Status == StatusPaused {
			procedure = "Unpause and then stop the container before attempting removal or force remove"
		}
		return fmt.Errorf("You cannot remove a %s container %s. %s: %w", st.Status, en.c.ID, procedure, errdefs.ErrConflict)
	}
	e.cancelRestart(en)
	if st.Running() {
		zero := 0
		if err := e.stopLocked(ctx, en, &zero, "SIGKILL"); err != nil && !errdefs.IsNotModified(err) {
			return err
		}
	}
	// Not synced: after a host crash a removal in flight may come back as
	// an exited container, which the user can remove again.
	e.updateVolatile(en, func(c *Container) { c.State.Status = StatusRemoving })
	id := en.c.ID
	// Under the record lock: a record write in flight lands before the
	// directory goes, and none starts after.
	en.rec.Lock()
	e.mu.Lock()
	en.removed = true
	en.disarmHealthLocked()
	gone := en.c.clone()
	delete(e.byID, id)
	delete(e.names, en.c.Name)
	for _, x := range en.c.ExecIDs {
		delete(e.execs, x)
	}
	for _, p := range en.pending {
		p.done <- fmt.Errorf("container %s removed", id)
	}
	en.pending = nil
	e.mu.Unlock()
	en.rec.Unlock()

	unmountErr := e.unmountRootfs(ctx, id)
	e.unmountVolumes(context.WithoutCancel(ctx), id)
	e.teardownNetwork(ctx, id)
	e.releaseVolumes(context.WithoutCancel(ctx), en.c, o.RemoveVolumes || en.c.HostConfig.AutoRemove)
	// Those waiting for the removal wake once it is told and its mounts,
	// network and anonymous volumes are gone, as dockerd's: a `run --rm`
	// that returns has seen its destroy and the removal of its volumes.
	// What is left is the engine's own bookkeeping (the runtime's state,
	// which dockerd's containerd drops at the exit, and the directory),
	// done before Remove answers but not waited for by a `run --rm`.
	e.publish(gone, "destroy", nil)
	e.mu.Lock()
	en.destroyed = true
	close(en.changed)
	en.changed = make(chan struct{})
	e.mu.Unlock()
	var firstErr error
	if o.TakeUpper != "" {
		// The layer is read once nothing is mounted on it any more.
		if unmountErr != nil {
			firstErr = fmt.Errorf("writable layer of %s: %w", id, unmountErr)
		} else if err := os.Rename(filepath.Join(e.dir(id), "upper"), o.TakeUpper); err != nil {
			firstErr = fmt.Errorf("writable layer of %s: %w", id, err)
		}
	}
	if rt := e.runtimes[en.c.Runtime]; rt != nil {
		if err := rt.Delete(context.WithoutCancel(ctx), id); errdefs.IsConflict(err) {
			// Its process outlived the exit the engine recorded (a
			// supervisor that stopped answering): the record is gone
			// all the same.
			e.log.Warn("removed a container whose process still runs", "container", id, "err", err)
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if err := os.RemoveAll(e.dir(id)); err != nil && firstErr == nil {
		firstErr = err
	}
	e.log.Info("container removed", "container", id)
	return firstErr
}

// Prune removes every stopped container and returns their IDs and the
// space reclaimed: the size of their writable layers, as dockerd counts
// it (SizeRw; logs and the bundle are not counted).
func (e *Engine) Prune(ctx context.Context) ([]string, uint64, error) {
	var removed []string
	var reclaimed uint64
	for _, c := range e.List(ctx) {
		if c.State.Running() || c.State.Status == StatusRestarting {
			continue
		}
		size := e.SizeRw(c.ID)
		if err := e.Remove(ctx, c.ID, RemoveOptions{}); err != nil {
			if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
				continue
			}
			return removed, reclaimed, err
		}
		removed = append(removed, c.ID)
		reclaimed += uint64(size)
	}
	e.events.Publish(events.Event{Type: events.TypeContainer, Action: "prune", Actor: events.Actor{Attributes: map[string]string{"reclaimed": strconv.FormatUint(reclaimed, 10)}}})
	return removed, reclaimed, nil
}

func unixSignalName(s syscall.Signal) string { return unix.SignalName(s) }
