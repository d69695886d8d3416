package dockerapi

import (
	"fmt"
	"net/http"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
)

// updateOptions copies Docker's UpdateConfig into the engine's options.
// The resource fields the engine cannot change are refused rather than
// dropped.
func updateOptions(u *mcontainer.UpdateConfig) (container.UpdateOptions, error) {
	r := u.Resources
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"BlkioWeightDevice", len(r.BlkioWeightDevice) > 0}, {"BlkioDeviceReadBps", len(r.BlkioDeviceReadBps) > 0},
		{"BlkioDeviceWriteBps", len(r.BlkioDeviceWriteBps) > 0}, {"BlkioDeviceReadIOps", len(r.BlkioDeviceReadIOps) > 0},
		{"BlkioDeviceWriteIOps", len(r.BlkioDeviceWriteIOps) > 0}, {"CpuRealtimePeriod", r.CPURealtimePeriod != 0},
		{"CpuRealtimeRuntime", r.CPURealtimeRuntime != 0}, {"Devices", len(r.Devices) > 0},
		{"DeviceCgroupRules", len(r.DeviceCgroupRules) > 0}, {"DeviceRequests", len(r.DeviceRequests) > 0},
		{"MemorySwappiness", r.MemorySwappiness != nil && *r.MemorySwappiness != -1}, {"OomKillDisable", r.OomKillDisable != nil},
		{"Ulimits", len(r.Ulimits) > 0}, {"CgroupParent", r.CgroupParent != ""},
		{"CpuCount", r.CPUCount != 0}, {"CpuPercent", r.CPUPercent != 0},
		{"IOMaximumIOps", r.IOMaximumIOps != 0}, {"IOMaximumBandwidth", r.IOMaximumBandwidth != 0},
	} {
		if f.set {
			return container.UpdateOptions{}, fmt.Errorf("updating %s is not supported by this daemon: %w", f.name, errdefs.ErrInvalidArgument)
		}
	}
	return container.UpdateOptions{
		Resources: container.Resources{
			Memory: r.Memory, MemorySwap: r.MemorySwap, MemoryReservation: r.MemoryReservation,
			NanoCPUs: r.NanoCPUs, CPUShares: r.CPUShares, CPUPeriod: r.CPUPeriod, CPUQuota: r.CPUQuota,
			CpusetCpus: r.CpusetCpus, CpusetMems: r.CpusetMems, BlkioWeight: r.BlkioWeight,
		},
		PidsLimit:     r.PidsLimit,
		RestartPolicy: container.RestartPolicy{Name: string(u.RestartPolicy.Name), MaximumRetryCount: u.RestartPolicy.MaximumRetryCount},
	}, nil
}

// updateContainer is POST /containers/{id}/update (docker update).
func (s *Server) updateContainer(w http.ResponseWriter, r *http.Request) error {
	var u mcontainer.UpdateConfig
	if err := decodeBody(r, &u); err != nil {
		return err
	}
	o, err := updateOptions(&u)
	if err != nil {
		return err
	}
	warnings, err := s.c.Update(r.Context(), r.PathValue("id"), o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mcontainer.UpdateResponse{Warnings: warnings})
}
