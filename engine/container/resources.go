package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/spec"
)

// Resources are a container's cgroup limits, as Docker's HostConfig has
// them (HostConfig holds them as fields of its own).
type Resources struct {
	Memory, MemorySwap, MemoryReservation    int64
	NanoCPUs, CPUShares, CPUPeriod, CPUQuota int64
	CpusetCpus, CpusetMems                   string
	BlkioWeight                              uint16
}

func (h *HostConfig) resources() Resources {
	return Resources{
		Memory: h.Memory, MemorySwap: h.MemorySwap, MemoryReservation: h.MemoryReservation,
		NanoCPUs: h.NanoCPUs, CPUShares: h.CPUShares, CPUPeriod: h.CPUPeriod, CPUQuota: h.CPUQuota,
		CpusetCpus: h.CpusetCpus, CpusetMems: h.CpusetMems, BlkioWeight: h.BlkioWeight,
	}
}

func (r Resources) spec(pids int64) spec.Resources {
	return spec.Resources{
		Memory: r.Memory, MemorySwap: r.MemorySwap, MemoryReservation: r.MemoryReservation,
		NanoCPUs: r.NanoCPUs, CPUShares: r.CPUShares, CPUPeriod: r.CPUPeriod, CPUQuota: r.CPUQuota,
		CpusetCpus: r.CpusetCpus, CpusetMems: r.CpusetMems, PidsLimit: pids, BlkioWeight: r.BlkioWeight,
	}
}

// sysInfo is what the host's cgroups can do, for dockerd's checks and
// warnings.
type sysInfo struct {
	ncpu        int
	cpus, mems  string // the cpusets available
	swap        bool   // memory+swap limits
	blkioWeight bool
}

var (
	hostInfoOnce sync.Once
	hostInfo     sysInfo
)

// hostSysInfo probes the host once.
func hostSysInfo() sysInfo {
	hostInfoOnce.Do(func() {
		hostInfo = sysInfo{ncpu: runtime.NumCPU(), cpus: "0-" + strconv.Itoa(runtime.NumCPU()-1), mems: "0"}
		read := func(p string) (string, bool) {
			data, err := os.ReadFile(p)
			return strings.TrimSpace(string(data)), err == nil
		}
		exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
		if isCgroup2() {
			if v, ok := read("/sys/fs/cgroup/cpuset.cpus.effective"); ok && v != "" {
				hostInfo.cpus = v
			}
			if v, ok := read("/sys/fs/cgroup/cpuset.mems.effective"); ok && v != "" {
				hostInfo.mems = v
			}
			hostInfo.swap = exists("/sys/fs/cgroup/init.scope/memory.swap.max") || exists("/sys/fs/cgroup/user.slice/memory.swap.max")
			hostInfo.blkioWeight = exists("/sys/fs/cgroup/init.scope/io.weight") || exists("/sys/fs/cgroup/user.slice/io.bfq.weight")
			return
		}
		if v, ok := read("/sys/fs/cgroup/cpuset/cpuset.cpus"); ok && v != "" {
			hostInfo.cpus = v
		}
		if v, ok := read("/sys/fs/cgroup/cpuset/cpuset.mems"); ok && v != "" {
			hostInfo.mems = v
		}
		hostInfo.swap = exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
		hostInfo.blkioWeight = exists("/sys/fs/cgroup/blkio/blkio.weight") || exists("/sys/fs/cgroup/blkio/blkio.bfq.weight")
	})
	return hostInfo
}

// parseCPUSet reads a cpuset list ("0-2,4") into its members.
func parseCPUSet(s string) (map[int]bool, bool) {
	out := map[int]bool{}
	if s == "" {
		return out, true
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, false
			}
		}
		if b-a > 1<<16 {
			return nil, false
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, true
}

// cpusetAvailable reports whether every member of want is in have.
func cpusetAvailable(want, have string) (bool, error) {
	w, ok := parseCPUSet(want)
	if !ok {
		return false, fmt.Errorf("invalid cpuset %q", want)
	}
	h, _ := parseCPUSet(have)
	for i := range w {
		if !h[i] {
			return false, nil
		}
	}
	return true, nil
}

// validateResources checks limits with dockerd's rules and messages
// (verifyPlatformContainerResources); what the host cannot do is dropped
// with dockerd's warning. update checks the limits of an update, which
// may set a swap limit alone.
func validateResources(r *Resources, si sysInfo, update bool) ([]string, error) {
	var warnings []string
	bad := func(format string, a ...any) ([]string, error) {
		return warnings, fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
	}
	if r.Memory != 0 && r.Memory < minMemory {
		return bad("Minimum memory limit allowed is 6MB")
	}
	if r.Memory > 0 && r.MemorySwap != -1 && !si.swap {
		warnings = append(warnings, "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		r.MemorySwap = -1
	}
	if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return bad("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if r.Memory == 0 && r.MemorySwap > 0 && !update {
		return bad("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if r.MemorySwap < -1 || r.Memory < 0 {
		return bad("invalid memory limits")
	}
	if r.MemoryReservation > 0 && r.MemoryReservation < minMemory {
		return bad("Minimum memory reservation allowed is 6MB")
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation {
		return bad("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.NanoCPUs > 0 && r.CPUPeriod > 0 {
		return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs > 0 && r.CPUQuota > 0 {
		return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if r.NanoCPUs < 0 || r.NanoCPUs > int64(si.ncpu)*1e9 {
		return bad("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", si.ncpu, si.ncpu)
	}
	if r.CPUShares < 0 {
		return bad("invalid CPU shares %d", r.CPUShares)
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.CpusetCpus != "" {
		ok, err := cpusetAvailable(r.CpusetCpus, si.cpus)
		if err != nil {
			return bad("Invalid value %s for cpuset cpus", r.CpusetCpus)
		}
		if !ok {
			return bad("Requested CPUs are not available - requested %s, available: %s", r.CpusetCpus, si.cpus)
		}
	}
	if r.CpusetMems != "" {
		ok, err := cpusetAvailable(r.CpusetMems, si.mems)
		if err != nil {
			return bad("Invalid value %s for cpuset mems", r.CpusetMems)
		}
		if !ok {
			return bad("Requested memory nodes are not available - requested %s, available: %s", r.CpusetMems, si.mems)
		}
	}
	if r.BlkioWeight > 0 && !si.blkioWeight {
		warnings = append(warnings, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		r.BlkioWeight = 0
	}
	if r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return bad("Range of blkio weight is from 10 to 1000")
	}
	return warnings, nil
}

// minMemory is dockerd's smallest memory limit.
const minMemory = 6 * 1024 * 1024

// UpdateOptions are what `docker update` changes: the limits Resources
// sets (a zero value keeps the current one), the pids limit when
// PidsLimit is set (0 or -1: unlimited), the restart policy when its Name
// is set.
type UpdateOptions struct {
	Resources     Resources
	PidsLimit     *int64
	RestartPolicy RestartPolicy
}

// mergeUpdate applies an update to a container's host configuration as
// dockerd's UpdateContainer does, refusing the combinations it refuses.
func mergeUpdate(h *HostConfig, o UpdateOptions) error {
	conflict := func(msg string) error { return fmt.Errorf("%s: %w", msg, errdefs.ErrConflict) }
	r := o.Resources
	switch {
	case r.NanoCPUs > 0 && h.CPUPeriod > 0:
		return conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
	case r.NanoCPUs > 0 && h.CPUQuota > 0:
		return conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
	case r.CPUPeriod > 0 && h.NanoCPUs > 0:
		return conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case r.CPUQuota > 0 && h.NanoCPUs > 0:
		return conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	}
	if r.BlkioWeight != 0 {
		h.BlkioWeight = r.BlkioWeight
	}
	if r.CPUShares != 0 {
		h.CPUShares = r.CPUShares
	}
	if r.NanoCPUs != 0 {
		h.NanoCPUs = r.NanoCPUs
	}
	if r.CPUPeriod != 0 {
		h.CPUPeriod = r.CPUPeriod
	}
	if r.CPUQuota != 0 {
		h.CPUQuota = r.CPUQuota
	}
	if r.CpusetCpus != "" {
		h.CpusetCpus = r.CpusetCpus
	}
	if r.CpusetMems != "" {
		h.CpusetMems = r.CpusetMems
	}
	if r.Memory != 0 {
		// The swap limit a container got at create (twice its memory
		// when none was given) bounds a new memory limit.
		swap := h.MemorySwap
		if swap == 0 && h.Memory > 0 {
			swap = 2 * h.Memory
		}
		if r.Memory > swap && r.MemorySwap == 0 {
			return conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
		}
		h.Memory = r.Memory
	}
	if r.MemorySwap != 0 {
		h.MemorySwap = r.MemorySwap
	}
	if h.MemorySwap > 0 && h.Memory > 0 && h.MemorySwap < h.Memory {
		// dockerd lets the kernel refuse it; the same words as at create
		// say why.
		return fmt.Errorf("Minimum memoryswap limit should be larger than memory limit, see usage: %w", errdefs.ErrInvalidArgument)
	}
	if r.MemoryReservation != 0 {
		h.MemoryReservation = r.MemoryReservation
	}
	if o.PidsLimit != nil {
		h.PidsLimit = *o.PidsLimit
	}
	if o.RestartPolicy.Name != "" {
		if h.AutoRemove && o.RestartPolicy.Name != "no" {
			return conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		h.RestartPolicy = o.RestartPolicy
	}
	return nil
}

// Update changes a container's limits and restart policy (docker
// update): in its record, and for a running or paused container in its
// cgroup at once. It returns dockerd's warnings.
func (e *Engine) Update(ctx context.Context, ref string, o UpdateOptions) ([]string, error) {
	en, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	warnings, err := validateResources(&o.Resources, hostSysInfo(), true)
	if err != nil {
		return warnings, err
	}
	if o.RestartPolicy.Name != "" {
		if err := validateRestartPolicy(o.RestartPolicy); err != nil {
			return warnings, err
		}
	}
	en.op.Lock()
	defer en.op.Unlock()
	e.mu.Lock()
	c := en.c.clone()
	removed := en.removed
	e.mu.Unlock()
	cannot := func(err error) error { return fmt.Errorf("Cannot update container %s: %w", c.ID, err) }
	if removed || c.State.Status == StatusRemoving {
		return warnings, cannot(fmt.Errorf("container is marked for removal and cannot be \"update\": %w", errdefs.ErrConflict))
	}
	h := c.HostConfig
	if err := mergeUpdate(&h, o); err != nil {
		return warnings, cannot(err)
	}
	if c.State.Running() {
		rt, err := e.runtime(c)
		if err != nil {
			return warnings, cannot(err)
		}
		// Only what the update sets goes to the cgroup, as dockerd sends
		// it; the merge checked it against the rest.
		if err := rt.Update(ctx, c.ID, spec.UpdateResources(o.Resources.spec(0), o.PidsLimit)); err != nil {
			// The runtime's own words say what the kernel refused
			// ("unable to set memory limit to ... (current usage: ...)").
			var oe *oci.Error
			if errors.As(err, &oe) && oe.Msg != "" {
				return warnings, cannot(errors.New(oe.Msg))
			}
			return warnings, cannot(err)
		}
	}
	var updated *Container
	e.update(en, func(ct *Container) {
		ct.HostConfig.Memory, ct.HostConfig.MemorySwap, ct.HostConfig.MemoryReservation = h.Memory, h.MemorySwap, h.MemoryReservation
		ct.HostConfig.NanoCPUs, ct.HostConfig.CPUShares, ct.HostConfig.CPUPeriod, ct.HostConfig.CPUQuota = h.NanoCPUs, h.CPUShares, h.CPUPeriod, h.CPUQuota
		ct.HostConfig.CpusetCpus, ct.HostConfig.CpusetMems, ct.HostConfig.BlkioWeight = h.CpusetCpus, h.CpusetMems, h.BlkioWeight
		ct.HostConfig.PidsLimit, ct.HostConfig.RestartPolicy = h.PidsLimit, h.RestartPolicy
		updated = ct.clone()
	})
	e.publish(updated, "update", nil)
	return warnings, nil
}
