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
//
// What a scrape of many containers costs, and what keeps it low:
//   - the cgroup files of each container stay open from one scrape to the
//     next (container.Files) and are read with one pread each; an open is
//     several times dearer than the read on cgroupfs. The descriptors of a
//     container are closed at the first scrape that no longer lists it,
//     and a budget (WithFileBudget) bounds how many are held in all;
//   - containers are sampled in parallel by as many workers as the
//     process may run threads, and each worker reads whole containers;
//   - the series carry label pairs built once per container (its id,
//     name and image) rather than validated and sorted at every scrape,
//     and are sent in the order of the id label so that the registry's
//     sort finds them sorted;
//   - the running containers are listed once, as a copy (the engine's
//     lock is held for the copy only, never while files are read).
package containers

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

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
	budget  int      // descriptors all containers' Files may hold

	mu    sync.Mutex
	known map[string]*tracked // by container ID
	held  atomic.Int64        // descriptors held by known's Files
}

// tracked is what the collector keeps of one running container between
// scrapes: its open cgroup files and its label pairs.
type tracked struct {
	// mu serialises the samples of the container (two scrapes at once).
	mu      sync.Mutex
	started time.Time
	cgroup  string
	name    string
	image   string
	files   *container.Files
	// Label pairs, sorted by name as client_golang wants them, shared by
	// every series of the container (immutable once built).
	base, cpu []*dto.LabelPair
	ifaces    map[string][]*dto.LabelPair
	devs      map[string][]*dto.LabelPair
	gone      bool
}

// Option configures a Collector.
type Option func(*Collector)

// WithReader replaces the host's cgroup reader (tests).
func WithReader(r Reader) Option { return func(c *Collector) { c.read = r } }

// WithWorkers sets how many containers are sampled at once.
func WithWorkers(n int) Option { return func(c *Collector) { c.workers = max(n, 1) } }

// WithFileBudget bounds how many cgroup files the collector keeps open
// across scrapes, all containers together (0: none, every file is opened
// at each scrape).
func WithFileBudget(n int) Option { return func(c *Collector) { c.budget = max(n, 0) } }

// New returns a collector of src's running containers. By default it
// samples with one worker per CPU the process may use and keeps open at
// most a quarter of the process's descriptor limit, up to 16,384.
func New(src Source, opts ...Option) *Collector {
	c := &Collector{src: src, read: container.ReadCgroup, workers: runtime.GOMAXPROCS(0), now: time.Now,
		budget: defaultBudget(), known: map[string]*tracked{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

func defaultBudget() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return int(min(lim.Cur/4, 16384))
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
// container, a few at a time, and sends their series in the order of
// their id label.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	list := c.src.RunningContainers()
	slices.SortFunc(list, func(a, b container.Running) int { return strings.Compare(a.Cgroup, b.Cgroup) })
	now := c.now()
	ts := c.track(list)
	samples := make([]sampled, len(list))
	ready := make([]chan struct{}, len(list))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c.workers, len(list)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(list) {
					return
				}
				samples[i] = c.sample(ts[i], list[i])
				close(ready[i])
			}
		}()
	}
	for i, r := range list {
		<-ready[i]
		c.emit(ch, ts[i], r, &samples[i], now)
	}
	wg.Wait()
}

// track returns the tracked state of each container of list, making it
// for new ones (or ones that started again), and closes the files of the
// containers no longer running.
func (c *Collector) track(list []container.Running) []*tracked {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*tracked, len(list))
	seen := make(map[string]bool, len(list))
	for i, r := range list {
		seen[r.ID] = true
		t := c.known[r.ID]
		if t != nil && (!t.started.Equal(r.StartedAt) || t.cgroup != r.Cgroup || t.name != r.Name || t.image != r.Image) {
			c.forget(t)
			t = nil
		}
		if t == nil {
			t = newTracked(r)
			c.known[r.ID] = t
		}
		out[i] = t
	}
	for id, t := range c.known {
		if !seen[id] {
			c.forget(t)
			delete(c.known, id)
		}
	}
	return out
}

// forget closes t's files once no scrape samples it any more.
func (c *Collector) forget(t *tracked) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gone = true
	if t.files != nil {
		c.held.Add(-int64(t.files.Open()))
		t.files.Close()
		t.files = nil
	}
}

func newTracked(r container.Running) *tracked {
	t := &tracked{started: r.StartedAt, cgroup: r.Cgroup, name: r.Name, image: r.Image,
		ifaces: map[string][]*dto.LabelPair{}, devs: map[string][]*dto.LabelPair{}}
	t.base = pairs("id", r.Cgroup, "image", r.Image, "name", r.Name)
	t.cpu = pairs("cpu", "total", "id", r.Cgroup, "image", r.Image, "name", r.Name)
	return t
}

// pairs makes label pairs of name, value arguments, sorted by name.
func pairs(kv ...string) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		out = append(out, &dto.LabelPair{Name: &kv[i], Value: &kv[i+1]})
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// sampled is one container's sample with the label pairs of its
// interfaces and devices, in the order of their names.
type sampled struct {
	container.CgroupSample
	ifaces, devs []string
	ifaceLabels  [][]*dto.LabelPair
	devLabels    [][]*dto.LabelPair
}

// sample reads one container, through its kept files while the budget
// allows, and finds the label pairs of what it read.
func (c *Collector) sample(t *tracked, r container.Running) sampled {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out sampled
	switch {
	case t.gone:
		out.CgroupSample = c.read(r.Cgroup, r.NetPid)
	case t.files == nil && c.held.Load()+filesPerContainer > int64(c.budget):
		// Past the budget, a container keeps none of its files.
		out.CgroupSample = c.read(r.Cgroup, r.NetPid)
	default:
		if t.files == nil {
			t.files = container.NewFiles(filesPerContainer)
		}
		before := t.files.Open()
		out.CgroupSample = c.read(r.Cgroup, r.NetPid, container.WithFiles(t.files))
		c.held.Add(int64(t.files.Open() - before))
	}
	out.ifaces = sortedKeys(out.Networks)
	for _, name := range out.ifaces {
		l := t.ifaces[name]
		if l == nil {
			l = pairs("id", t.cgroup, "image", t.image, "interface", name, "name", t.name)
			t.ifaces[name] = l
		}
		out.ifaceLabels = append(out.ifaceLabels, l)
	}
	out.devs = sortedKeys(out.IO)
	for _, dev := range out.devs {
		l := t.devs[dev]
		if l == nil {
			l = pairs("device", c.device(dev), "id", t.cgroup, "image", t.image, "name", t.name)
			t.devs[dev] = l
		}
		out.devLabels = append(out.devLabels, l)
	}
	return out
}

// filesPerContainer bounds the files one container keeps open: the
// metrics read 8 on cgroup v1, 7 on v2.
const filesPerContainer = 10

// metric is one series: a value and label pairs shared with the other
// series of its container. It spares client_golang's const metrics'
// validation and sorting of the same labels at every scrape.
type metric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	typ    prometheus.ValueType
	v      float64
}

func (m *metric) Desc() *prometheus.Desc { return m.desc }

func (m *metric) Write(out *dto.Metric) error {
	out.Label = m.labels
	if m.typ == prometheus.CounterValue {
		out.Counter = &dto.Counter{Value: &m.v}
	} else {
		out.Gauge = &dto.Gauge{Value: &m.v}
	}
	return nil
}

func (c *Collector) emit(ch chan<- prometheus.Metric, t *tracked, r container.Running, s *sampled, now time.Time) {
	// One allocation for all the container's series.
	all := make([]metric, 0, 11+8*len(s.ifaces)+2*len(s.devs))
	send := func(d *prometheus.Desc, l []*dto.LabelPair, typ prometheus.ValueType, v float64) {
		all = append(all, metric{desc: d, labels: l, typ: typ, v: v})
		ch <- &all[len(all)-1]
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	send(cpuUsage, t.cpu, counter, float64(s.CPUUsage)/1e9)
	send(cpuUser, t.base, counter, float64(s.CPUUser)/1e9)
	send(cpuSystem, t.base, counter, float64(s.CPUSystem)/1e9)
	send(memUsage, t.base, gauge, float64(s.MemoryUsage))
	send(memWorking, t.base, gauge, float64(WorkingSet(s.CgroupSample)))
	send(memRSS, t.base, gauge, float64(s.MemoryRSS))
	// cAdvisor reports 0 for a container without a limit.
	send(memLimit, t.base, gauge, float64(s.MemoryLimit))
	send(oomEvents, t.base, counter, float64(s.OOMKills))
	send(processes, t.base, gauge, float64(s.PidsCurrent))
	send(lastSeen, t.base, gauge, float64(now.Unix()))
	send(startTime, t.base, gauge, float64(r.StartedAt.UnixNano())/1e9)
	for i, name := range s.ifaces {
		n, l := s.Networks[name], s.ifaceLabels[i]
		send(netRxBytes, l, counter, float64(n.RxBytes))
		send(netRxPkts, l, counter, float64(n.RxPackets))
		send(netRxErrs, l, counter, float64(n.RxErrors))
		send(netRxDrop, l, counter, float64(n.RxDropped))
		send(netTxBytes, l, counter, float64(n.TxBytes))
		send(netTxPkts, l, counter, float64(n.TxPackets))
		send(netTxErrs, l, counter, float64(n.TxErrors))
		send(netTxDrop, l, counter, float64(n.TxDropped))
	}
	for i, dev := range s.devs {
		io, l := s.IO[dev], s.devLabels[i]
		send(fsReads, l, counter, float64(io.ReadBytes))
		send(fsWrites, l, counter, float64(io.WriteBytes))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
