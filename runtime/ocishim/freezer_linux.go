package ocishim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/wharf-dev/wharf/runtime/task"
)

// A process in a frozen cgroup v1 freezer does not act on a SIGKILL until
// the cgroup is thawed (cgroup v2 kills frozen tasks). runc thaws a paused
// container after it sends SIGKILL (runc 1.1, libcontainer's Signal);
// crun 1.8.1 does not, so its container stayed frozen with the signal
// pending, and its exit was never seen. Function sandboxes freeze their
// cgroup directly between invocations, behind the engine's back: a
// daemon killed with -9 left them frozen, and the next daemon, removing
// the sandboxes it re-adopted, waited on each for ever (SIGKILL, no
// exit). The runtime therefore does what runc does, for every runtime:
// after a SIGKILL, a frozen container is thawed, so that it dies without
// running anything more.
//
// The container's cgroups path is kept in its shim directory (cgroupFile)
// from its start, so that a daemon that re-adopted it finds its freezer
// without asking the OCI runtime.

// cgroupFile, in the shim's directory, holds the container's cgroupsPath.
const cgroupFile = "cgroup"

// freezerRoot is where the cgroup v1 freezer hierarchy is mounted.
const freezerRoot = "/sys/fs/cgroup/freezer"

// recordCgroup keeps the container's cgroupsPath in its shim directory.
func (r *Runtime) recordCgroup(dir, cgroupsPath string) {
	_ = os.Remove(filepath.Join(dir, cgroupFile))
	if cgroupsPath == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, cgroupFile), []byte(cgroupsPath), 0o600); err != nil {
		r.log.Warn("recording the container's cgroup", "dir", dir, "err", err)
	}
}

// thawAfterKill thaws container id's cgroup v1 freezer if it is frozen,
// once a SIGKILL is sent. A container started by a daemon that kept no
// cgroup file is asked about through the runtime's state instead.
func (r *Runtime) thawAfterKill(ctx context.Context, id string) {
	data, err := os.ReadFile(filepath.Join(r.dir(id), cgroupFile))
	if errors.Is(err, os.ErrNotExist) {
		if st, err := r.State(ctx, id); err == nil && st.Status == task.StatusPaused {
			if err := r.rt.Resume(ctx, id); err != nil {
				r.log.Warn("thawing a killed container", "container", id, "err", err)
			}
		}
		return
	}
	if err != nil {
		return
	}
	if err := thawFreezer(freezerRoot, string(data)); err != nil {
		r.log.Warn("thawing a killed container", "container", id, "err", err)
	}
}

// thawFreezer thaws the freezer cgroup at cgroupsPath under root, if it is
// frozen (or freezing). A cgroup that is not there (cgroup v2 alone, a
// systemd path, a container gone) needs nothing.
func thawFreezer(root, cgroupsPath string) error {
	if strings.Contains(cgroupsPath, ":") {
		return nil // systemd's slice:prefix:name, which wharf never sets
	}
	// Below the hierarchy's root whatever it holds: a relative cgroup
	// parent is the root's child, as the function sandboxes' freezer
	// path takes it.
	state := filepath.Join(root, filepath.Clean("/"+cgroupsPath), "freezer.state")
	data, err := os.ReadFile(state)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(data)) == "THAWED" {
		return nil
	}
	return os.WriteFile(state, []byte("THAWED"), 0)
}
