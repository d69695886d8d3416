package containers

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wharf-dev/wharf/engine/container"
)

type fakeSource []container.Running

func (f fakeSource) RunningContainers() []container.Running { return f }

func TestCollectorCAdvisorShape(t *testing.T) {
	start := time.Unix(1700000000, 500_000_000)
	src := fakeSource{{ID: "abc", Name: "web", Image: "nginx:1", StartedAt: start, Cgroup: "/wharf/abc", NetPid: 42}}
	read := func(cg string, pid int, _ ...container.ReadOption) container.CgroupSample {
		if cg != "/wharf/abc" || pid != 42 {
			t.Errorf("read(%q, %d)", cg, pid)
		}
		return container.CgroupSample{CPUUsage: 2_500_000_000, CPUUser: 2e9, CPUSystem: 5e8,
			MemoryUsage: 1000, MemoryInactiveFile: 300, MemoryRSS: 600, MemoryLimit: 4096, OOMKills: 1, PidsCurrent: 3,
			IO:       map[string]container.IOStats{"nodev:0": {ReadBytes: 10, WriteBytes: 20}},
			Networks: map[string]container.NetStats{"eth0": {RxBytes: 7, TxBytes: 9, RxPackets: 1, TxPackets: 2}}}
	}
	c := New(src, WithReader(read))
	c.now = func() time.Time { return time.Unix(1700000100, 0) }
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{cpu="total",id="/wharf/abc",image="nginx:1",name="web"} 2.5
# HELP container_memory_working_set_bytes Current working set in bytes.
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{id="/wharf/abc",image="nginx:1",name="web"} 700
# HELP container_network_transmit_bytes_total Cumulative count of bytes transmitted
# TYPE container_network_transmit_bytes_total counter
container_network_transmit_bytes_total{id="/wharf/abc",image="nginx:1",interface="eth0",name="web"} 9
# HELP container_fs_writes_bytes_total Cumulative count of bytes written
# TYPE container_fs_writes_bytes_total counter
container_fs_writes_bytes_total{device="nodev:0",id="/wharf/abc",image="nginx:1",name="web"} 20
# HELP container_start_time_seconds Start time of the container since unix epoch in seconds.
# TYPE container_start_time_seconds gauge
container_start_time_seconds{id="/wharf/abc",image="nginx:1",name="web"} 1.7000000005e+09
# HELP container_last_seen Last time a container was seen by the exporter
# TYPE container_last_seen gauge
container_last_seen{id="/wharf/abc",image="nginx:1",name="web"} 1.7000001e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "container_cpu_usage_seconds_total",
		"container_memory_working_set_bytes", "container_network_transmit_bytes_total", "container_fs_writes_bytes_total",
		"container_start_time_seconds", "container_last_seen"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 21 {
		t.Errorf("series of one container with one interface and one device: %d (%v), want 21", n, err)
	}
}

func TestWorkingSetNeverNegative(t *testing.T) {
	if ws := WorkingSet(container.CgroupSample{MemoryUsage: 10, MemoryInactiveFile: 20}); ws != 0 {
		t.Errorf("working set %d", ws)
	}
}

// Many containers are sampled by a few workers; every one is reported.
func TestCollectorManyContainers(t *testing.T) {
	var src fakeSource
	for i := range 50 {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26))
		src = append(src, container.Running{ID: id, Name: "n" + id, Cgroup: "/wharf/" + id})
	}
	c := New(src, WithReader(func(string, int, ...container.ReadOption) container.CgroupSample {
		return container.CgroupSample{MemoryUsage: 1}
	}), WithWorkers(3))
	if n := testutil.CollectAndCount(c, "container_memory_usage_bytes"); n != 50 {
		t.Errorf("got %d memory series, want 50", n)
	}
}

// BenchmarkScrape500 is a scrape of 500 containers without the kernel's
// part (the reader is a fake): what labelling, gathering and encoding the
// series cost, gzip included as Prometheus asks for it.
func BenchmarkScrape500(b *testing.B) {
	var src fakeSource
	for i := range 500 {
		id := strings.Repeat(string(rune('a'+i%26)), 64)[:60] + strconv.Itoa(1000+i)
		src = append(src, container.Running{ID: id, Name: "c" + strconv.Itoa(i), Image: "busybox:1", Cgroup: "/wharf/" + id, StartedAt: time.Now()})
	}
	c := New(src, WithReader(func(string, int, ...container.ReadOption) container.CgroupSample {
		return container.CgroupSample{CPUUsage: 1e9, MemoryUsage: 1 << 20, PidsCurrent: 1}
	}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			for b.Loop() {
				r := httptest.NewRequest("GET", "/metrics", nil)
				if gz {
					r.Header.Set("Accept-Encoding", "gzip")
				}
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
