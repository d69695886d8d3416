package dockerapi

import (
	"fmt"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/errdefs"
)

// refuseUnsupported refuses with 400 the parts of a create request that
// the engine can neither apply nor keep: a client that sets them learns
// it at once instead of getting a container that silently lacks them.
// Values that ask for nothing (empty, the defaults dockerd takes for
// absent) pass. hostconfig_test.go holds every field of Docker's Config
// and HostConfig to this function or to the translation.
func refuseUnsupported(cfg *mcontainer.Config, h *mcontainer.HostConfig) error {
	var set []string
	add := func(name string, isSet bool) {
		if isSet {
			set = append(set, name)
		}
	}
	if cfg != nil {
		add("Domainname", cfg.Domainname != "")
		add("ArgsEscaped", cfg.ArgsEscaped)
		add("NetworkDisabled", cfg.NetworkDisabled)
		add("OnBuild", len(cfg.OnBuild) > 0)
	}
	if h != nil {
		r := h.Resources
		add("Cgroup", h.Cgroup != "")
		add("StorageOpt", len(h.StorageOpt) > 0)
		add("Umask", h.Umask != nil)
		add("MaskedPaths", h.MaskedPaths != nil)
		add("ReadonlyPaths", h.ReadonlyPaths != nil)
		add("CgroupParent", r.CgroupParent != "")
		add("BlkioWeightDevice", len(r.BlkioWeightDevice) > 0)
		add("BlkioDeviceReadBps", len(r.BlkioDeviceReadBps) > 0)
		add("BlkioDeviceWriteBps", len(r.BlkioDeviceWriteBps) > 0)
		add("BlkioDeviceReadIOps", len(r.BlkioDeviceReadIOps) > 0)
		add("BlkioDeviceWriteIOps", len(r.BlkioDeviceWriteIOps) > 0)
		add("CpuRealtimePeriod", r.CPURealtimePeriod != 0)
		add("CpuRealtimeRuntime", r.CPURealtimeRuntime != 0)
		add("Devices", len(r.Devices) > 0)
		add("DeviceRequests", len(r.DeviceRequests) > 0)
		add("MemorySwappiness", r.MemorySwappiness != nil && *r.MemorySwappiness != -1)
		add("OomKillDisable", r.OomKillDisable != nil && *r.OomKillDisable)
		add("CpuCount", r.CPUCount != 0)
		add("CpuPercent", r.CPUPercent != 0)
		add("IOMaximumIOps", r.IOMaximumIOps != 0)
		add("IOMaximumBandwidth", r.IOMaximumBandwidth != 0)
	}
	if len(set) > 0 {
		return fmt.Errorf("%s: not supported by this daemon: %w", set[0], errdefs.ErrInvalidArgument)
	}
	return nil
}
