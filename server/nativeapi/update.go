package nativeapi

import (
	"net/http"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
)

// updateContainer is POST /containers/{id}/update (wharf update).
func (s *Server) updateContainer(w http.ResponseWriter, r *http.Request) error {
	var u wharf.UpdateConfig
	if err := decodeBody(r, &u); err != nil {
		return err
	}
	warnings, err := s.c.Update(r.Context(), r.PathValue("id"), container.UpdateOptions{
		Resources: container.Resources{
			Memory: u.Memory, MemorySwap: u.MemorySwap, MemoryReservation: u.MemoryReservation,
			NanoCPUs: u.NanoCPUs, CPUShares: u.CPUShares, CPUPeriod: u.CPUPeriod, CPUQuota: u.CPUQuota,
			CpusetCpus: u.CpusetCpus, CpusetMems: u.CpusetMems, BlkioWeight: u.BlkioWeight,
		},
		PidsLimit:     u.PidsLimit,
		RestartPolicy: container.RestartPolicy{Name: u.RestartPolicy.Name, MaximumRetryCount: u.RestartPolicy.MaximumRetryCount},
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wharf.UpdateResponse{Warnings: warnings})
}
