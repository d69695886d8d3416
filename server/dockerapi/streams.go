package dockerapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/server/hijack"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
	wstream "github.com/wharf-dev/wharf/stream"
)

func writeJSONTo(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

func (s *Server) logs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	o := container.LogsOptions{Stdout: boolQuery(r, "stdout"), Stderr: boolQuery(r, "stderr"), Follow: boolQuery(r, "follow"), Tail: -1}
	if !o.Stdout && !o.Stderr {
		return fmt.Errorf("you must choose at least one stream: %w", errdefs.ErrInvalidArgument)
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return fmt.Errorf("invalid tail %q: %w", t, errdefs.ErrInvalidArgument)
		}
		if n >= 0 {
			o.Tail = n
		}
	}
	if o.Since, err = hijack.ParseTime(q.Get("since")); err != nil {
		return err
	}
	if o.Until, err = hijack.ParseTime(q.Get("until")); err != nil {
		return err
	}
	timestamps := boolQuery(r, "timestamps")
	ctype := "application/vnd.docker.multiplexed-stream"
	if c.Config.Tty {
		ctype = "application/vnd.docker.raw-stream"
	}
	var fw *hijack.FlushWriter
	var mo, me io.Writer
	// The headers go out once the engine found the log readable: an
	// error before that (a container that keeps no log) is answered as
	// an error. After, an error (a client that left) can only end the
	// stream.
	o.Ready = func() {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(http.StatusOK)
		fw = hijack.NewFlushWriter(w)
		fw.Flush()
		mo, me = wstream.NewMuxWriters(fw)
	}
	err = s.c.Logs(r.Context(), c.ID, o, func(e logfile.Entry) error {
		if fw == nil {
			o.Ready() // an engine that reads without saying so first
		}
		line := e.Log
		if timestamps {
			line = e.Time.UTC().Format(time.RFC3339Nano) + " " + line
		}
		var err error
		switch {
		case c.Config.Tty:
			_, err = fw.Write([]byte(line))
		case e.Stream == "stderr":
			_, err = me.Write([]byte(line))
		default:
			_, err = mo.Write([]byte(line))
		}
		return err
	})
	if fw == nil {
		return err
	}
	return nil
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
		CPUStats: mcontainer.CPUStats{
			CPUUsage:    mcontainer.CPUUsage{TotalUsage: cur.CPUUsage},
			SystemUsage: cur.SystemUsage, OnlineCPUs: uint32(cur.OnlineCPUs),
		},
		MemoryStats: mcontainer.MemoryStats{Usage: cur.MemoryUsage, Limit: cur.MemoryLimit, Stats: map[string]uint64{}},
		PidsStats:   mcontainer.PidsStats{Current: cur.PidsCurrent, Limit: cur.PidsLimit},
		BlkioStats:  mcontainer.BlkioStats{},
		Networks:    map[string]mcontainer.NetworkStats{},
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
		out.PreCPUStats = mcontainer.CPUStats{
			CPUUsage:    mcontainer.CPUUsage{TotalUsage: pre.CPUUsage},
			SystemUsage: pre.SystemUsage, OnlineCPUs: uint32(pre.OnlineCPUs),
		}
	}
	return out
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
