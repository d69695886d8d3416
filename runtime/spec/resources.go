package spec

import (
	"fmt"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
)

const (
	// minMemory is Docker's smallest memory limit: below it the runtime and
	// the container's first process cannot start reliably.
	minMemory = 6 << 20
	// cfsPeriod is the CFS period --cpus is expressed over (100ms), as in
	// Docker.
	cfsPeriod = 100000
	// Bounds of the kernel's cpu.shares, to which Docker clamps.
	minShares = 2
	maxShares = 262144
)

// Resources are a container's cgroup limits, with Docker's meanings (see
// the fields of Options).
type Resources struct {
	Memory, MemorySwap, MemoryReservation    int64
	NanoCPUs, CPUShares, CPUPeriod, CPUQuota int64
	CpusetCpus, CpusetMems                   string
	PidsLimit                                int64
	BlkioWeight                              uint16
}

// resources maps the limits to the spec, validating them with Docker's rules
// and messages.
func resources(o *Options) (*specs.LinuxResources, error) {
	return LinuxResources(Resources{
		Memory: o.Memory, MemorySwap: o.MemorySwap, MemoryReservation: o.MemoryReservation,
		NanoCPUs: o.NanoCPUs, CPUShares: o.CPUShares, CPUPeriod: o.CPUPeriod, CPUQuota: o.CPUQuota,
		CpusetCpus: o.CpusetCpus, CpusetMems: o.CpusetMems, PidsLimit: o.PidsLimit, BlkioWeight: o.BlkioWeight,
	})
}

// LinuxResources maps a container's limits to the spec's, validating them
// with Docker's rules and messages.
func LinuxResources(o Resources) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	switch {
	case o.Memory < 0:
		return nil, fmt.Errorf("%w: memory limit must not be negative", errdefs.ErrInvalidArgument)
	case o.Memory > 0 && o.Memory < minMemory:
		return nil, fmt.Errorf("%w: minimum memory limit allowed is 6MB", errdefs.ErrInvalidArgument)
	case o.Memory == 0 && o.MemorySwap > 0:
		return nil, fmt.Errorf("%w: you should always set the memory limit when using memoryswap limit", errdefs.ErrInvalidArgument)
	case o.MemorySwap < -1:
		return nil, fmt.Errorf("%w: invalid memoryswap limit %d", errdefs.ErrInvalidArgument, o.MemorySwap)
	case o.Memory > 0 && o.MemorySwap > 0 && o.MemorySwap < o.Memory:
		return nil, fmt.Errorf("%w: minimum memoryswap limit should be larger than memory limit", errdefs.ErrInvalidArgument)
	}
	if o.Memory > 0 {
		limit := o.Memory
		swap := o.MemorySwap
		if swap == 0 {
			// Docker's default: as much swap as memory.
			swap = 2 * limit
		}
		// The spec's swap is memory+swap (cgroup v1's memsw), which is also
		// what runc converts for cgroup v2; -1 is unlimited.
		r.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap}
	}

	if o.NanoCPUs < 0 || o.NanoCPUs > int64(runtime.NumCPU())*1e9 {
		return nil, fmt.Errorf("%w: range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available",
			errdefs.ErrInvalidArgument, runtime.NumCPU(), runtime.NumCPU())
	}
	if o.MemoryReservation > 0 {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		res := o.MemoryReservation
		r.Memory.Reservation = &res
	}
	if o.NanoCPUs > 0 || o.CPUShares != 0 || o.CPUPeriod > 0 || o.CPUQuota > 0 || o.CpusetCpus != "" || o.CpusetMems != "" {
		r.CPU = &specs.LinuxCPU{Cpus: o.CpusetCpus, Mems: o.CpusetMems}
	}
	if o.CPUPeriod > 0 {
		period := uint64(o.CPUPeriod)
		r.CPU.Period = &period
	}
	if o.CPUQuota > 0 {
		quota := o.CPUQuota
		r.CPU.Quota = &quota
	}
	if o.BlkioWeight > 0 {
		w := o.BlkioWeight
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	if o.NanoCPUs > 0 {
		quota := o.NanoCPUs * cfsPeriod / 1e9
		if quota < 1000 {
			// The kernel refuses quotas under 1ms; Docker's minimum --cpus
			// (0.01) maps to exactly that.
			return nil, fmt.Errorf("%w: range of CPUs is from 0.01 to %d.00", errdefs.ErrInvalidArgument, runtime.NumCPU())
		}
		period := uint64(cfsPeriod)
		r.CPU.Quota = &quota
		r.CPU.Period = &period
	}
	if o.CPUShares < 0 {
		return nil, fmt.Errorf("%w: cpu shares must not be negative", errdefs.ErrInvalidArgument)
	}
	if o.CPUShares > 0 {
		shares := uint64(min(max(o.CPUShares, minShares), maxShares))
		r.CPU.Shares = &shares
	}

	if o.PidsLimit > 0 {
		limit := o.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return r, nil
}

// UpdateResources is what a live update changes: the limits set in o (a
// zero value keeps the current one), and the pids limit when pids is set
// (0 or less: unlimited). Memory without MemorySwap changes the limit
// alone; the caller has checked it against the current swap limit.
func UpdateResources(o Resources, pids *int64) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	if o.Memory != 0 {
		v := o.Memory
		mem().Limit = &v
	}
	if o.MemorySwap != 0 {
		v := o.MemorySwap
		mem().Swap = &v
	}
	if o.MemoryReservation != 0 {
		v := o.MemoryReservation
		mem().Reservation = &v
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	if o.CPUShares != 0 {
		v := uint64(min(max(o.CPUShares, minShares), maxShares))
		cpu().Shares = &v
	}
	if o.NanoCPUs != 0 {
		quota, period := o.NanoCPUs*cfsPeriod/1e9, uint64(cfsPeriod)
		cpu().Quota, cpu().Period = &quota, &period
	}
	if o.CPUPeriod != 0 {
		v := uint64(o.CPUPeriod)
		cpu().Period = &v
	}
	if o.CPUQuota != 0 {
		v := o.CPUQuota
		cpu().Quota = &v
	}
	if o.CpusetCpus != "" {
		cpu().Cpus = o.CpusetCpus
	}
	if o.CpusetMems != "" {
		cpu().Mems = o.CpusetMems
	}
	if pids != nil {
		v := *pids
		if v <= 0 {
			v = -1
		}
		r.Pids = &specs.LinuxPids{Limit: &v}
	}
	if o.BlkioWeight != 0 {
		w := o.BlkioWeight
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return r
}
