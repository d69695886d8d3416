package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

// CgroupLimits are limits shared by every container below one cgroup
// parent (HostConfig.CgroupParent): the hard ceiling of them all, as an
// ECS task's size is of its containers. Zero means no limit.
type CgroupLimits struct {
	// Memory is the memory limit in bytes.
	Memory int64
	// NanoCPUs is a CFS quota in billionths of a CPU over a 100 ms
	// period.
	NanoCPUs int64
}

// cgroupRoot is where the host's cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cfsPeriod is the CFS period of a parent's CPU quota, in microseconds.
const cfsPeriod = 100000

// SetCgroupParent creates the cgroup parent (an absolute path such as
// "/wharf-tasks/<id>") with the limits l, or sets them on one that
// exists. On a cgroup v1 (or hybrid) host it writes the memory and cpu
// controllers' files (memory.limit_in_bytes, cpu.cfs_quota_us); on a
// unified host, memory.max and cpu.max, with the two controllers enabled
// for the parent. The runtime creates the containers' cgroups below it
// and the hierarchies it needs for them.
func (e *Engine) SetCgroupParent(parent string, l CgroupLimits) error {
	if err := checkCgroupParent(parent); err != nil || parent == "" {
		return fmt.Errorf("cgroup parent %q: %w", parent, errdefs.ErrInvalidArgument)
	}
	quota := l.NanoCPUs * cfsPeriod / 1e9
	if l.NanoCPUs > 0 && quota < 1000 {
		// The kernel's smallest quota is 1 ms.
		quota = 1000
	}
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		return setUnifiedParent(parent, l.Memory, quota)
	}
	write := func(ctrl, file, val string) error {
		dir := filepath.Join(cgroupRoot, ctrl, parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cgroup parent %s: %w", parent, err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(val), 0o644); err != nil {
			return fmt.Errorf("cgroup parent %s: %s: %w", parent, file, err)
		}
		return nil
	}
	mem, q := "-1", "-1"
	if l.Memory > 0 {
		mem = strconv.FormatInt(l.Memory, 10)
	}
	if quota > 0 {
		q = strconv.FormatInt(quota, 10)
	}
	if err := write("memory", "memory.limit_in_bytes", mem); err != nil {
		return err
	}
	if err := write("cpu", "cpu.cfs_period_us", strconv.Itoa(cfsPeriod)); err != nil {
		return err
	}
	return write("cpu", "cpu.cfs_quota_us", q)
}

func setUnifiedParent(parent string, memory, quota int64) error {
	// Each level down to the parent passes memory and cpu on.
	dir := cgroupRoot
	var parts []string
	for p := parent[1:]; p != "." && p != ""; p = filepath.Dir(p) {
		parts = append([]string{filepath.Base(p)}, parts...)
	}
	for _, name := range parts {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu"), 0o644)
		dir = filepath.Join(dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cgroup parent %s: %w", parent, err)
		}
	}
	mem, cpu := "max", "max "+strconv.Itoa(cfsPeriod)
	if memory > 0 {
		mem = strconv.FormatInt(memory, 10)
	}
	if quota > 0 {
		cpu = strconv.FormatInt(quota, 10) + " " + strconv.Itoa(cfsPeriod)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(mem), 0o644); err != nil {
		return fmt.Errorf("cgroup parent %s: memory.max: %w", parent, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(cpu), 0o644); err != nil {
		return fmt.Errorf("cgroup parent %s: cpu.max: %w", parent, err)
	}
	return nil
}

// RemoveCgroupParent removes the cgroup parent from every hierarchy
// once its containers' cgroups are gone (the runtime removes those
// when it deletes a container, shortly after its exit): it retries
// until ctx ends. Its own ancestors stay.
func (e *Engine) RemoveCgroupParent(ctx context.Context, parent string) error {
	if err := checkCgroupParent(parent); err != nil || parent == "" {
		return fmt.Errorf("cgroup parent %q: %w", parent, errdefs.ErrInvalidArgument)
	}
	dirs := []string{filepath.Join(cgroupRoot, parent)}
	if ents, err := os.ReadDir(cgroupRoot); err == nil {
		for _, d := range ents {
			if d.IsDir() {
				dirs = append(dirs, filepath.Join(cgroupRoot, d.Name(), parent))
			}
		}
	}
	for {
		var busy error
		for _, d := range dirs {
			if err := removeCgroupTree(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				busy = err
			}
		}
		if busy == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cgroup parent %s still holds cgroups: %w", parent, busy)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// removeCgroupTree removes a cgroup directory and the empty cgroups
// below it, deepest first (a cgroup's files cannot be unlinked; rmdir
// takes the directory with them).
func removeCgroupTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range ents {
		if d.IsDir() {
			if err := removeCgroupTree(filepath.Join(dir, d.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return unix.Rmdir(dir)
}
