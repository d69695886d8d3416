package container

import (
	"errors"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

var testHost = sysInfo{ncpu: 2, cpus: "0-1", mems: "0", swap: true, blkioWeight: true}

// The limits are checked with dockerd's rules and words.
func TestValidateResources(t *testing.T) {
	for _, c := range []struct {
		r      Resources
		update bool
		want   string // "" for valid
	}{
		{Resources{Memory: 64 << 20}, false, ""},
		{Resources{Memory: 1 << 20}, false, "Minimum memory limit allowed is 6MB"},
		{Resources{Memory: 64 << 20, MemorySwap: 32 << 20}, false, "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{Resources{MemorySwap: 64 << 20}, false, "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{Resources{MemorySwap: 64 << 20}, true, ""},
		{Resources{MemoryReservation: 1 << 20}, false, "Minimum memory reservation allowed is 6MB"},
		{Resources{Memory: 16 << 20, MemoryReservation: 32 << 20}, false, "Minimum memory limit can not be less than memory reservation limit, see usage"},
		{Resources{NanoCPUs: 5e8, CPUPeriod: 100000}, false, "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{Resources{NanoCPUs: 5e8, CPUQuota: 50000}, false, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{Resources{NanoCPUs: 3e9}, false, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"},
		{Resources{CPUPeriod: 500}, false, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{Resources{CPUQuota: 500}, false, "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{Resources{CpusetCpus: "0-1"}, false, ""},
		{Resources{CpusetCpus: "5"}, false, "Requested CPUs are not available - requested 5, available: 0-1"},
		{Resources{CpusetCpus: "a"}, false, "Invalid value a for cpuset cpus"},
		{Resources{CpusetMems: "1"}, false, "Requested memory nodes are not available - requested 1, available: 0"},
		{Resources{BlkioWeight: 5}, false, "Range of blkio weight is from 10 to 1000"},
	} {
		r := c.r
		_, err := validateResources(&r, testHost, c.update)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v refused: %v", c.r, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want) || !errdefs.IsInvalidArgument(err)):
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	// What the host cannot do is dropped with dockerd's warnings.
	r := Resources{Memory: 64 << 20, BlkioWeight: 300}
	w, err := validateResources(&r, sysInfo{ncpu: 1, cpus: "0", mems: "0"}, false)
	if err != nil || len(w) != 2 || r.MemorySwap != -1 || r.BlkioWeight != 0 ||
		!strings.Contains(w[0], "does not support swap limit") || !strings.Contains(w[1], "Block I/O weight") {
		t.Errorf("warnings %q, %+v, %v", w, r, err)
	}
}

// An update merges into the container's limits as dockerd's
// UpdateContainer does, and refuses what it refuses, as a conflict.
func TestMergeUpdate(t *testing.T) {
	h := HostConfig{Memory: 64 << 20, MemorySwap: 128 << 20, NanoCPUs: 5e8}
	ten := int64(10)
	if err := mergeUpdate(&h, UpdateOptions{Resources: Resources{Memory: 100 << 20, CPUShares: 512, CpusetCpus: "0"}, PidsLimit: &ten, RestartPolicy: RestartPolicy{Name: "always"}}); err != nil {
		t.Fatal(err)
	}
	if h.Memory != 100<<20 || h.MemorySwap != 128<<20 || h.CPUShares != 512 || h.CpusetCpus != "0" || h.PidsLimit != 10 || h.NanoCPUs != 5e8 || h.RestartPolicy.Name != "always" {
		t.Fatalf("merged %+v", h)
	}
	for _, c := range []struct {
		h    HostConfig
		o    UpdateOptions
		want string
	}{
		{HostConfig{NanoCPUs: 5e8}, UpdateOptions{Resources: Resources{CPUPeriod: 50000}}, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"},
		{HostConfig{NanoCPUs: 5e8}, UpdateOptions{Resources: Resources{CPUQuota: 50000}}, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"},
		{HostConfig{CPUPeriod: 50000}, UpdateOptions{Resources: Resources{NanoCPUs: 5e8}}, "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"},
		{HostConfig{CPUQuota: 50000}, UpdateOptions{Resources: Resources{NanoCPUs: 5e8}}, "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"},
		// dockerd's swap default (twice the memory) bounds a new memory
		// limit; a container without one has none.
		{HostConfig{Memory: 64 << 20}, UpdateOptions{Resources: Resources{Memory: 200 << 20}}, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"},
		{HostConfig{}, UpdateOptions{Resources: Resources{Memory: 100 << 20}}, "Memory limit should be smaller than already set memoryswap limit"},
		{HostConfig{AutoRemove: true}, UpdateOptions{RestartPolicy: RestartPolicy{Name: "always"}}, "Restart policy cannot be updated because AutoRemove is enabled for the container"},
	} {
		h := c.h
		err := mergeUpdate(&h, c.o)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !errors.Is(err, errdefs.ErrConflict) {
			t.Errorf("%+v with %+v: %v, want %q", c.h, c.o, err, c.want)
		}
	}
	h = HostConfig{Memory: 64 << 20, MemorySwap: 128 << 20}
	if err := mergeUpdate(&h, UpdateOptions{Resources: Resources{MemorySwap: 32 << 20}}); err == nil || !errdefs.IsInvalidArgument(err) {
		t.Errorf("swap below memory: %v", err)
	}
	h = HostConfig{}
	if err := mergeUpdate(&h, UpdateOptions{Resources: Resources{Memory: 100 << 20, MemorySwap: -1}}); err != nil || h.Memory != 100<<20 || h.MemorySwap != -1 {
		t.Errorf("memory with unlimited swap: %+v, %v", h, err)
	}
}
