// Package containers exposes the daemon's running containers to Prometheus
// with cAdvisor's metric names, types and labels, so that dashboards and
// alerts written for cAdvisor (and kubelet's /metrics/cadvisor) work
// unchanged.
//
// Labels: id is the container's cgroup path, as cAdvisor forms it from the
// cgroup of a container ("/wharf/<id>", as dockerd's containers get
// "/docker/<id>"); name is the container's name and image the image it was
// created from, as the user named it. Series with more dimensions add
// cAdvisor's: cpu ("total": per-CPU series are off by default in
// cAdvisor too), interface, device.
//
// Nothing is polled between scrapes: each scrape lists the running
// containers and reads their cgroup files and network counters
// (container.ReadCgroup, the reader `docker stats` uses too). None of it
// reaches a container's shim, so a dormant shim stays dormant.
package containers

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/engine/container"
)

// Source lists the running containers and samples one.
type Source interface {
	RunningContainers() []container.Running
}

// Reader samples one container's cgroup and the network namespace of
// pid; container.ReadCgroup on a host.
type Reader func(cgroup string, pid int, opts ...container.ReadOption) container.CgroupSample

// Collector is a prometheus.Collector of the running containers.
type Collector struct {
	src     Source
	read    Reader
	workers int
	now     func() time.Time
	devices sync.Map // "major:minor" -> device name
}

// Option configures a Collector.
type Option func(*Collector)

// WithReader replaces the host's cgroup reader (tests).
func WithReader(r Reader) Option { return func(c *Collector) { c.read = r } }

// WithWorkers sets how many containers are sampled at once.
func WithWorkers(n int) Option { return func(c *Collector) { c.workers = max(n, 1) } }

// New returns a collector of src's running containers.
func New(src Source, opts ...Option) *Collector {
	c := &Collector{src: src, read: container.ReadCgroup, workers: 4, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c
}

var base = []string{"id", "image", "name"}

func desc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string(nil), base...), extra...), nil)
}

var (
	cpuUsage   = desc("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", "cpu")
	cpuUser    = desc("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.")
	cpuSystem  = desc("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.")
	memUsage   = desc("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed")
	memWorking = desc("container_memory_working_set_bytes", "Current working set in bytes.")
	memRSS     = desc("container_memory_rss", "Size of RSS in bytes.")
	memLimit   = desc("container_spec_memory_limit_bytes", "Memory limit for the container.")
	oomEvents  = desc("container_oom_events_total", "Count of out of memory events observed for the container")
	netRxBytes = desc("container_network_receive_bytes_total", "Cumulative count of bytes received", "interface")
	netRxPkts  = desc("container_network_receive_packets_total", "Cumulative count of packets received", "interface")
	netRxErrs  = desc("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", "interface")
	netRxDrop  = desc("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", "interface")
	netTxBytes = desc("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", "interface")
	netTxPkts  = desc("container_network_transmit_packets_total", "Cumulative count of packets transmitted", "interface")
	netTxErrs  = desc("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", "interface")
	netTxDrop  = desc("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", "interface")
	fsReads    = desc("container_fs_reads_bytes_total", "Cumulative count of bytes read", "device")
	fsWrites   = desc("container_fs_writes_bytes_total", "Cumulative count of bytes written", "device")
	processes  = desc("container_processes", "Number of processes running inside the container.")
	lastSeen   = desc("container_last_seen", "Last time a container was seen by the exporter")
	startTime  = desc("container_start_time_seconds", "Start time of the container since unix epoch in seconds.")
	allDescs   = []*prometheus.Desc{cpuUsage, cpuUser, cpuSystem, memUsage, memWorking, memRSS, memLimit, oomEvents,
		netRxBytes, netRxPkts, netRxErrs, netRxDrop, netTxBytes, netTxPkts, netTxErrs, netTxDrop,
		fsReads, fsWrites, processes, lastSeen, startTime}
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it samples every running
// container, a few at a time.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	list := c.src.RunningContainers()
	now := c.now()
	next := make(chan container.Running)
	var wg sync.WaitGroup
	for range min(c.workers, len(list)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				c.collectOne(ch, r, now)
			}
		}()
	}
	for _, r := range list {
		next <- r
	}
	close(next)
	wg.Wait()
}

func (c *Collector) collectOne(ch chan<- prometheus.Metric, r container.Running, now time.Time) {
	s := c.read(r.Cgroup, r.NetPid)
	l := []string{r.Cgroup, r.Image, r.Name}
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(l, extra...)...)
	}
	counter := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append(l, extra...)...)
	}
	counter(cpuUsage, float64(s.CPUUsage)/1e9, "total")
	counter(cpuUser, float64(s.CPUUser)/1e9)
	counter(cpuSystem, float64(s.CPUSystem)/1e9)
	gauge(memUsage, float64(s.MemoryUsage))
	gauge(memWorking, float64(WorkingSet(s)))
	gauge(memRSS, float64(s.MemoryRSS))
	// cAdvisor reports 0 for a container without a limit.
	gauge(memLimit, float64(s.MemoryLimit))
	counter(oomEvents, float64(s.OOMKills))
	for name, n := range s.Networks {
		counter(netRxBytes, float64(n.RxBytes), name)
		counter(netRxPkts, float64(n.RxPackets), name)
		counter(netRxErrs, float64(n.RxErrors), name)
		counter(netRxDrop, float64(n.RxDropped), name)
		counter(netTxBytes, float64(n.TxBytes), name)
		counter(netTxPkts, float64(n.TxPackets), name)
		counter(netTxErrs, float64(n.TxErrors), name)
		counter(netTxDrop, float64(n.TxDropped), name)
	}
	for dev, io := range s.IO {
		name := c.device(dev)
		counter(fsReads, float64(io.ReadBytes), name)
		counter(fsWrites, float64(io.WriteBytes), name)
	}
	gauge(processes, float64(s.PidsCurrent))
	gauge(lastSeen, float64(now.Unix()))
	gauge(startTime, float64(r.StartedAt.UnixNano())/1e9)
}

// WorkingSet is the memory the kernel cannot reclaim without I/O, as
// cAdvisor computes container_memory_working_set_bytes: the usage less the
// inactive page cache, never below 0.
func WorkingSet(s container.CgroupSample) uint64 {
	if s.MemoryInactiveFile > s.MemoryUsage {
		return 0
	}
	return s.MemoryUsage - s.MemoryInactiveFile
}

// device names a block device "major:minor" as cAdvisor's device label
// does (/dev/sda), from /sys/dev/block/<major:minor>/uevent; the numbers
// themselves when sysfs does not know it. Names are kept: a device keeps
// its numbers while it exists.
func (c *Collector) device(majmin string) string {
	if v, ok := c.devices.Load(majmin); ok {
		return v.(string)
	}
	name := majmin
	if data, err := os.ReadFile(filepath.Join("/sys/dev/block", filepath.Base(majmin), "uevent")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "DEVNAME="); ok && v != "" {
				name = "/dev/" + v
			}
		}
	}
	c.devices.Store(majmin, name)
	return name
}
