package container

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wharf-dev/wharf/runtime/task"
)

// Restore loads every container record from disk when the daemon starts.
// Containers whose shim still answers are re-adopted (their processes never
// stopped); containers whose shim exited while the daemon was down get the
// exit status it recorded; containers whose shim is gone without a record
// (host reboot) are marked exited with 255. Restart policies then apply as
// they do at docker's daemon start.
func (e *Engine) Restore(ctx context.Context) error {
	e.cleanupViews()
	ents, err := os.ReadDir(e.root)
	if err != nil {
		return err
	}
	var toStart []*entry
	for _, d := range ents {
		if !d.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(e.root, d.Name(), "container.json"))
		if err != nil {
			// A container whose create never finished: nothing to keep.
			e.log.Warn("dropping incomplete container dir", "container", d.Name(), "err", err)
			_ = os.RemoveAll(filepath.Join(e.root, d.Name()))
			continue
		}
		var c Container
		if err := json.Unmarshal(data, &c); err != nil || c.ID != d.Name() {
			e.log.Error("unreadable container record; left in place", "container", d.Name(), "err", err)
			continue
		}
		en := &entry{c: &c, changed: make(chan struct{})}
		e.mu.Lock()
		e.byID[c.ID] = en
		e.names[c.Name] = c.ID
		e.mu.Unlock()
		if err := e.acquireVolumes(&c); err != nil {
			e.log.Warn("a volume of the container is missing", "container", c.ID, "err", err)
		}

		switch c.State.Status {
		case StatusRunning, StatusPaused:
			rt := e.runtimes[c.Runtime]
			if rt != nil && rt.Alive(ctx, c.ID) {
				e.thawAfterCrash(ctx, &c)
				e.remountVolumes(ctx, &c)
				en.gen = 1
				e.log.Info("re-adopted running container", "container", c.ID, "pid", c.State.Pid)
				go e.monitor(en, 1)
				// Its healthcheck goes on where it was.
				e.armHealth(en)
				continue
			}
			var exit *task.Exit
			if rt != nil {
				exit, err = rt.ReadExit(ctx, c.ID)
			}
			msg := ""
			if err != nil || exit == nil {
				exit = &task.Exit{ExitCode: 255, ExitedAt: time.Now().UTC()}
				msg = "container was running when its shim disappeared (host reboot?)"
				if rt != nil {
					_ = rt.Delete(ctx, c.ID)
				}
			}
			_ = e.unmountRootfs(ctx, c.ID)
			e.update(en, func(ct *Container) {
				ct.State.Status = StatusExited
				ct.State.Pid = 0
				ct.State.ExitCode = exit.ExitCode
				ct.State.OOMKilled = exit.OOMKilled
				ct.State.FinishedAt = exit.ExitedAt
				ct.State.Error = msg
			})
			if c.HostConfig.AutoRemove {
				go func() { _ = e.Remove(context.Background(), c.ID, RemoveOptions{Force: true}) }()
				continue
			}
			if restartOnDaemonStart(c.HostConfig.RestartPolicy, en.c.State, c.RestartCount) {
				toStart = append(toStart, en)
			}
		case StatusRestarting:
			toStart = append(toStart, en)
		case StatusRemoving:
			go func() { _ = e.Remove(context.Background(), c.ID, RemoveOptions{Force: true}) }()
		default:
			if rt := e.runtimes[c.Runtime]; rt != nil && rt.Alive(ctx, c.ID) {
				// Its process runs though the record says it does not:
				// the daemon died inside the start, after the runtime
				// started it and before the record said so. Its set-up
				// (network, record) is incomplete, and starting it again
				// would run a second process in it: stop it, as a start
				// that failed.
				e.stopCutStart(ctx, en, rt)
			}
			if c.HostConfig.AutoRemove {
				// Created or exited with --rm (its removal lost in a
				// crash): docker removes these at start too.
				go func() { _ = e.Remove(context.Background(), c.ID, RemoveOptions{Force: true}) }()
				continue
			}
			if restartOnDaemonStart(c.HostConfig.RestartPolicy, c.State, c.RestartCount) && c.State.Status == StatusExited {
				toStart = append(toStart, en)
			}
		}
	}
	// The volumes' filesystems that no re-adopted container claimed were
	// left by runs that ended while the daemon was down.
	if e.vols != nil {
		e.vols.UnmountIdle(ctx)
	}
	// The network driver keeps the sandboxes of re-adopted containers and
	// frees everything else a previous daemon left. A sandbox that is no
	// container's (a cluster task's namespace, which its containers join
	// by path) is kept while a running container joins it.
	if e.net != nil {
		joined := map[string]bool{}
		for _, c := range e.List(ctx) {
			if c.State.Running() && e.kindOf(c.HostConfig.NetworkMode) == netPath {
				joined[strings.TrimPrefix(c.HostConfig.NetworkMode, "ns:")] = true
			}
		}
		nsPath, _ := e.net.(interface{ NetNSPath(id string) string })
		if err := e.net.Restore(ctx, func(id string) bool {
			e.mu.Lock()
			en, ok := e.byID[id]
			running := ok && en.c.State.Running()
			e.mu.Unlock()
			return running || !ok && nsPath != nil && len(id) >= 16 && joined[nsPath.NetNSPath(id)]
		}); err != nil {
			e.log.Warn("restoring networks", "err", err)
		}
		for _, c := range e.List(ctx) {
			if !c.State.Running() && c.NetworkSettings.SandboxKey != "" {
				if en, err := e.lookup(c.ID); err == nil {
					e.update(en, func(c *Container) { clearRuntimeNetwork(c) })
				}
			}
		}
	}
	for _, en := range toStart {
		en.op.Lock()
		err := e.startLocked(ctx, en, true)
		en.op.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			e.log.Warn("restart on daemon start failed", "container", en.c.ID, "err", err)
		}
	}
	return nil
}

// cutStartWait bounds how long the restore waits for the process of a
// start that a daemon crash cut short to die of SIGKILL.
const cutStartWait = 10 * time.Second

// stopCutStart kills the process of a container whose start the last
// daemon did not finish and records it as exited with that start's error.
func (e *Engine) stopCutStart(ctx context.Context, en *entry, rt task.Runtime) {
	id := en.c.ID
	e.log.Warn("stopping a container whose start a daemon crash cut short", "container", id)
	_ = rt.Resume(ctx, id)
	_ = rt.Kill(ctx, id, syscall.SIGKILL)
	wctx, cancel := context.WithTimeout(ctx, cutStartWait)
	exit, err := rt.Wait(wctx, id)
	cancel()
	if err != nil || exit == nil {
		exit = &task.Exit{ExitCode: 255, ExitedAt: time.Now().UTC()}
	}
	if err := rt.Delete(ctx, id); err != nil {
		e.log.Warn("forgetting the runtime's state of a cut start", "container", id, "err", err)
	}
	_ = e.unmountRootfs(ctx, id)
	e.update(en, func(ct *Container) {
		ct.State.Status = StatusExited
		ct.State.Pid = 0
		ct.State.ExitCode = exit.ExitCode
		ct.State.FinishedAt = exit.ExitedAt
		ct.State.Error = "the daemon stopped during the container's start; its process was killed when the daemon started again"
	})
}
