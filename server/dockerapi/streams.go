package dockerapi

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/wharf-dev/wharf/server/hijack"
	"github.com/wharf-dev/wharf/server/logstream"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/engine/container"
)

func writeJSONTo(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// logs serves the shared logs core (server/logstream) in dockerd's
// framing: a container with a TTY has one raw stream, others a
// multiplexed one, announced as such from API 1.42 on.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) error {
	o, err := logstream.ParseOptions(r.URL.Query())
	if err != nil {
		return err
	}
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := logstream.Framing{ContentType: logstream.RawStream}
	if !c.Config.Tty {
		f.Mux = true
		if !versionLess(requestVersion(r), "1.42") {
			f.ContentType = logstream.MultiplexedStream
		}
	}
	return logstream.Serve(w, r, s.c, c, o, f)
}

func cgroup2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// statsResponse renders an engine sample in Docker's stats shape, with pre
// the previous sample (zero for the first).
func statsResponse(c *container.Container, cur, pre *container.Stats, v2 bool) mcontainer.StatsResponse {
	out := mcontainer.StatsResponse{
		ID: c.ID, Name: "/" + c.Name, OSType: "linux", Read: cur.Read,
		CPUStats:    cpuStats(cur),
		MemoryStats: mcontainer.MemoryStats{Usage: cur.MemoryUsage, Limit: cur.MemoryLimit, Stats: map[string]uint64{}},
		PidsStats:   mcontainer.PidsStats{Current: cur.PidsCurrent, Limit: cur.PidsLimit},
		// dockerd gives empty lists, not null, when it has no entries.
		BlkioStats: mcontainer.BlkioStats{
			IoServiceBytesRecursive: []mcontainer.BlkioStatEntry{}, IoServicedRecursive: []mcontainer.BlkioStatEntry{},
			IoQueuedRecursive: []mcontainer.BlkioStatEntry{}, IoServiceTimeRecursive: []mcontainer.BlkioStatEntry{},
			IoWaitTimeRecursive: []mcontainer.BlkioStatEntry{}, IoMergedRecursive: []mcontainer.BlkioStatEntry{},
			IoTimeRecursive: []mcontainer.BlkioStatEntry{}, SectorsRecursive: []mcontainer.BlkioStatEntry{},
		},
		Networks: map[string]mcontainer.NetworkStats{},
	}
	for name, n := range cur.Networks {
		out.Networks[name] = mcontainer.NetworkStats{RxBytes: n.RxBytes, RxPackets: n.RxPackets, RxErrors: n.RxErrors, RxDropped: n.RxDropped,
			TxBytes: n.TxBytes, TxPackets: n.TxPackets, TxErrors: n.TxErrors, TxDropped: n.TxDropped}
	}
	// The docker CLI subtracts the inactive page cache from the usage; it
	// reads total_inactive_file on cgroup v1 and inactive_file on v2.
	if v2 {
		out.MemoryStats.Stats["inactive_file"] = cur.MemoryCache
	} else {
		out.MemoryStats.Stats["total_inactive_file"] = cur.MemoryCache
	}
	if pre != nil {
		out.PreRead = pre.Read
		out.PreCPUStats = cpuStats(pre)
	}
	return out
}

func cpuStats(s *container.Stats) mcontainer.CPUStats {
	return mcontainer.CPUStats{
		CPUUsage: mcontainer.CPUUsage{TotalUsage: s.CPUUsage, PercpuUsage: s.PerCPU,
			UsageInUsermode: s.CPUUser, UsageInKernelmode: s.CPUSystem},
		SystemUsage: s.SystemUsage, OnlineCPUs: uint32(s.OnlineCPUs),
	}
}

// stats streams a sample a second, each carrying the previous one as
// precpu_stats. With stream=0 it answers one sample whose precpu is a
// sample taken a moment before (Docker waits a whole interval; a short
// one gives the same percentages); one-shot=1 skips the first sample.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) error {
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	stream := r.URL.Query().Get("stream") == "" || boolQuery(r, "stream")
	if !stream && (!c.State.Running() || c.State.Status == container.StatusRestarting) {
		// dockerd answers a single sample of a container that is not
		// running with an empty one: only its name and id, a zero read
		// time and empty pids_stats, without asking the runtime.
		return writeJSON(w, http.StatusOK, mcontainer.StatsResponse{ID: c.ID, Name: "/" + c.Name})
	}
	v2 := cgroup2()
	var pre *container.Stats
	if !stream && !boolQuery(r, "one-shot") && c.State.Running() {
		if pre, err = s.c.Stats(r.Context(), c.ID); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	first, err := s.c.Stats(r.Context(), c.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fw := hijack.NewFlushWriter(w)
	cur := first
	for {
		if !cur.Read.IsZero() && !c.State.Running() {
			// Docker zeroes the sample of a stopped container.
			cur = &container.Stats{Read: cur.Read}
		}
		if err := writeJSONTo(fw, statsResponse(c, cur, pre, v2)); err != nil || !stream {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(time.Second):
		}
		pre = cur
		if cur, err = s.c.Stats(r.Context(), c.ID); err != nil {
			return nil
		}
		if c2, err := s.c.Get(r.Context(), c.ID); err == nil {
			c = c2
		} else {
			return nil
		}
	}
}
