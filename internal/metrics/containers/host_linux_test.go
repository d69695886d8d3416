package containers

import (
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wharf-dev/wharf/engine/container"
	wtestutil "github.com/wharf-dev/wharf/internal/testutil"
)

var hostN = flag.Int("host-containers", 500, "cgroups BenchmarkScrapeHost samples")

// hostCgroups makes n cgroups of the host's hierarchies under a parent of
// the test's own, each holding one sleeping process, as n running
// containers have; everything goes when the test ends.
func hostCgroups(tb testing.TB, n int) []container.Running {
	tb.Helper()
	wtestutil.RequiresRoot(tb)
	parent := fmt.Sprintf("/wharfbench%d", os.Getpid())
	var roots []string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		roots = []string{"/sys/fs/cgroup"}
	} else {
		for _, c := range []string{"cpuacct", "memory", "pids", "blkio"} {
			roots = append(roots, filepath.Join("/sys/fs/cgroup", c))
		}
	}
	var procs []*exec.Cmd
	var out []container.Running
	tb.Cleanup(func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
		for _, r := range roots {
			for i := range n {
				_ = os.Remove(filepath.Join(r, parent, "c"+strconv.Itoa(i)))
			}
			_ = os.Remove(filepath.Join(r, parent))
		}
	})
	for i := range n {
		cmd := exec.Command("sleep", "100000")
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		procs = append(procs, cmd)
		cg := filepath.Join(parent, "c"+strconv.Itoa(i))
		for _, r := range roots {
			dir := filepath.Join(r, cg)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
				tb.Fatal(err)
			}
		}
		out = append(out, container.Running{ID: fmt.Sprintf("%064x", i), Name: "c" + strconv.Itoa(i), Image: "busybox:1",
			StartedAt: time.Now(), Cgroup: cg})
	}
	return out
}

// BenchmarkScrapeHost is a whole scrape (collect, gather, encode with
// gzip) of -host-containers real cgroups with a process each: what the
// daemon's /metrics costs without the HTTP round trip. Profile it with
// -cpuprofile.
func BenchmarkScrapeHost(b *testing.B) {
	src := fakeSource(hostCgroups(b, *hostN))
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(src))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	b.Run("collect", func(b *testing.B) {
		c := New(src)
		for b.Loop() {
			ch := make(chan prometheus.Metric, 1024)
			go func() { c.Collect(ch); close(ch) }()
			for range ch {
			}
		}
	})
	b.Run("scrape", func(b *testing.B) {
		for b.Loop() {
			r := httptest.NewRequest("GET", "/metrics", nil)
			r.Header.Set("Accept-Encoding", "gzip")
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	})
}

// The collector keeps the cgroup files of running containers open between
// scrapes, reads the same numbers through them as a fresh open does, and
// closes them at the first scrape that no longer lists the container.
func TestCollectorKeepsFilesOfRunningContainers(t *testing.T) {
	list := hostCgroups(t, 3)
	src := &listSource{list: list}
	c := New(src)
	for range 2 {
		if n := testutil.CollectAndCount(c, "container_processes"); n != 3 {
			t.Fatalf("%d container_processes series, want 3", n)
		}
	}
	held := c.held.Load()
	if held < 3*5 || held > 3*filesPerContainer {
		t.Fatalf("%d files held for 3 containers", held)
	}
	fds := func() int { ents, _ := os.ReadDir("/proc/self/fd"); return len(ents) }
	before := fds()
	for _, r := range list {
		kept := c.known[r.ID].files
		s := container.ReadCgroup(r.Cgroup, 0, container.WithFiles(kept))
		fresh := container.ReadCgroup(r.Cgroup, 0)
		if s.PidsCurrent != 1 || fresh.PidsCurrent != 1 || s.MemoryLimit != fresh.MemoryLimit || s.CPUUsage > fresh.CPUUsage {
			t.Errorf("kept files read %+v, a fresh open %+v", s, fresh)
		}
	}
	src.list = list[1:]
	testutil.CollectAndCount(c, "container_processes")
	if got := c.held.Load(); got != held*2/3 {
		t.Errorf("after one of 3 containers left: %d files held, want %d", got, held*2/3)
	}
	if after := fds(); before-after != int(held/3) {
		t.Errorf("descriptors of the process went from %d to %d, want %d fewer", before, after, held/3)
	}
	// A budget too small for a container's files reads them all afresh.
	small := New(src, WithFileBudget(filesPerContainer-1))
	testutil.CollectAndCount(small, "container_processes")
	if small.held.Load() != 0 {
		t.Errorf("%d files held past a budget of %d", small.held.Load(), filesPerContainer-1)
	}
}

type listSource struct{ list []container.Running }

func (s *listSource) RunningContainers() []container.Running {
	return append([]container.Running(nil), s.list...)
}
