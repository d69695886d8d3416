package container

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// NetStats are the counters of one network interface of a container.
type NetStats struct {
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// IOStats are the bytes a container read from and wrote to one block
// device, as its cgroup counts them.
type IOStats struct{ ReadBytes, WriteBytes uint64 }

// CgroupSample is what a container's cgroup and network namespace count
// at one instant. ReadCgroup is the one reader behind both `docker stats`
// / `wharf stats` (Engine.Stats) and the daemon's Prometheus collector, so
// the two never disagree.
type CgroupSample struct {
	// CPU time in ns: in total, in user and kernel mode, and per CPU
	// (cgroup v1 only: v2 keeps no per-CPU usage).
	CPUUsage, CPUUser, CPUSystem uint64
	PerCPU                       []uint64
	// MemoryUsage counts the page cache too; MemoryInactiveFile is the
	// part of it the kernel reclaims first (usage minus it is the working
	// set, as cAdvisor and the docker CLI compute it). MemoryLimit is 0
	// when the cgroup has none.
	MemoryUsage, MemoryLimit, MemoryInactiveFile, MemoryRSS uint64
	// OOMKills counts the processes the OOM killer killed in the cgroup.
	OOMKills               uint64
	PidsCurrent, PidsLimit uint64
	IO                     map[string]IOStats // by "major:minor"
	Networks               map[string]NetStats
}

// cgroupFS is where the reader finds the cgroup hierarchies: the host's
// /sys/fs/cgroup, or a test's tree of files.
type cgroupFS struct {
	root string
	v2   bool
}

func hostCgroupFS() cgroupFS { return cgroupFS{root: "/sys/fs/cgroup", v2: hostIsCgroup2()} }

// hostIsCgroup2 is isCgroup2, asked once: a scrape samples hundreds of
// containers, and the host's hierarchy does not change under a daemon.
var hostIsCgroup2 = sync.OnceValue(isCgroup2)

// ReadCgroup samples the cgroup cg (a container's cgroupsPath) and, when
// pid is above 0, the interfaces of pid's network namespace. It reads
// kernel counters only: nothing in it reaches the container's shim, so a
// dormant shim stays asleep however often it runs.
func ReadCgroup(cg string, pid int, opts ...ReadOption) CgroupSample {
	return hostCgroupFS().read(cg, pid, opts...)
}

// ReadOption widens what ReadCgroup reads.
type ReadOption func(*readOptions)

type readOptions struct {
	detail bool
	files  *Files
}

// WithStatsDetail also reads what docker stats shows beside the metrics'
// counters: the per-CPU usage and the pids limit. A scrape of many
// containers leaves them out (two files fewer each).
func WithStatsDetail() ReadOption { return func(o *readOptions) { o.detail = true } }

// WithFiles reads the cgroup's files through f, which keeps them open
// from one sample of the container to the next (see Files).
func WithFiles(f *Files) ReadOption { return func(o *readOptions) { o.files = f } }

// readFunc calls fn with the contents of a small kernel file and reports
// whether it could read it: readSmall, or a Files' read.
type readFunc func(path string, fn func([]byte)) bool

func (fs cgroupFS) read(cg string, pid int, opts ...ReadOption) CgroupSample {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	rd := readFunc(readSmall)
	if o.files != nil {
		rd = o.files.read
	}
	var s CgroupSample
	if fs.v2 {
		base := filepath.Join(fs.root, cg)
		cpu := statValues(rd, filepath.Join(base, "cpu.stat"), "usage_usec", "user_usec", "system_usec")
		s.CPUUsage, s.CPUUser, s.CPUSystem = cpu[0]*1000, cpu[1]*1000, cpu[2]*1000
		mem := statValues(rd, filepath.Join(base, "memory.stat"), "inactive_file", "anon")
		s.MemoryUsage = readUint(rd, filepath.Join(base, "memory.current"))
		s.MemoryLimit = readUint(rd, filepath.Join(base, "memory.max")) // "max" reads as 0
		s.MemoryInactiveFile, s.MemoryRSS = mem[0], mem[1]
		s.OOMKills = statValues(rd, filepath.Join(base, "memory.events"), "oom_kill")[0]
		s.PidsCurrent = readUint(rd, filepath.Join(base, "pids.current"))
		if o.detail {
			s.PidsLimit = readUint(rd, filepath.Join(base, "pids.max"))
		}
		s.IO = parseIOStat(rd, filepath.Join(base, "io.stat"))
	} else {
		acct := filepath.Join(fs.root, "cpuacct", cg)
		s.CPUUsage = readUint(rd, filepath.Join(acct, "cpuacct.usage"))
		if o.detail {
			rd(filepath.Join(acct, "cpuacct.usage_percpu"), func(data []byte) {
				for _, f := range strings.Fields(string(data)) {
					v, _ := strconv.ParseUint(f, 10, 64)
					s.PerCPU = append(s.PerCPU, v)
				}
			})
		}
		// cpuacct.stat counts in USER_HZ (100 a second on Linux).
		cpu := statValues(rd, filepath.Join(acct, "cpuacct.stat"), "user", "system")
		s.CPUUser, s.CPUSystem = cpu[0]*10_000_000, cpu[1]*10_000_000
		memDir := filepath.Join(fs.root, "memory", cg)
		mem := statValues(rd, filepath.Join(memDir, "memory.stat"), "total_inactive_file", "total_rss")
		s.MemoryUsage = readUint(rd, filepath.Join(memDir, "memory.usage_in_bytes"))
		s.MemoryLimit = readUint(rd, filepath.Join(memDir, "memory.limit_in_bytes"))
		s.MemoryInactiveFile, s.MemoryRSS = mem[0], mem[1]
		s.OOMKills = statValues(rd, filepath.Join(memDir, "memory.oom_control"), "oom_kill")[0]
		pids := filepath.Join(fs.root, "pids", cg)
		s.PidsCurrent = readUint(rd, filepath.Join(pids, "pids.current"))
		if o.detail {
			s.PidsLimit = readUint(rd, filepath.Join(pids, "pids.max"))
		}
		s.IO = parseBlkio(rd, filepath.Join(fs.root, "blkio", cg, "blkio.throttle.io_service_bytes_recursive"))
	}
	// v1 writes "no limit" as a huge page-aligned number.
	if s.MemoryLimit >= 1<<62 {
		s.MemoryLimit = 0
	}
	if pid > 0 {
		// The container's interfaces, as its own namespace counts them:
		// /proc/<pid>/net/dev is read in the namespace of that process.
		// It names the interfaces as the container sees them (eth0), as
		// cAdvisor's interface label does, serves every network mode
		// (a bridge, a function sandbox's namespace), and costs one
		// procfs read; the host veth's counters would need a map from
		// veth to container and exist for bridge networks only.
		s.Networks = parseNetDev(filepath.Join("/proc", strconv.Itoa(pid), "net", "dev"))
	}
	return s
}

// netPid is the pid whose network namespace holds c's interfaces, or 0
// when c has none of its own to count (host and none networks).
func netPid(c *Container) int {
	if c.State.Pid <= 0 {
		return 0
	}
	if len(c.NetworkSettings.Networks) > 0 || strings.HasPrefix(c.HostConfig.NetworkMode, "ns:") {
		return c.State.Pid
	}
	return 0
}

// Running is one running container as the metrics collector labels and
// samples it.
type Running struct {
	ID, Name, Image string
	StartedAt       time.Time
	// Cgroup is the container's cgroupsPath; NetPid the pid to read its
	// interfaces from (0: none).
	Cgroup string
	NetPid int
}

// RunningContainers lists the running containers, for a scrape: it copies
// a few fields under the engine's lock and reads no file.
func (e *Engine) RunningContainers() []Running {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Running, 0, len(e.byID))
	for _, en := range e.byID {
		c := en.c
		if !c.State.Running() {
			continue
		}
		out = append(out, Running{ID: c.ID, Name: c.Name, Image: c.Config.Image, StartedAt: c.State.StartedAt,
			Cgroup: cgroupsPathOf(c), NetPid: netPid(c)})
	}
	return out
}

// statValues reads the values of keys from a file of "key value" lines
// (memory.stat, cpu.stat, memory.events, memory.oom_control); a key that
// is not there reads 0.
func statValues(rd readFunc, path string, keys ...string) []uint64 {
	out := make([]uint64, len(keys))
	rd(path, func(data []byte) {
		for len(data) > 0 {
			line := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			k, v, ok := bytes.Cut(line, []byte{' '})
			if !ok {
				continue
			}
			for i, key := range keys {
				if string(k) == key {
					out[i], _ = strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
				}
			}
		}
	})
	return out
}

// readUint reads a file holding one number ("max" and errors read 0).
func readUint(rd readFunc, path string) uint64 {
	var v uint64
	rd(path, func(data []byte) { v, _ = strconv.ParseUint(string(bytes.TrimSpace(data)), 10, 64) })
	return v
}

// bufPool holds the buffers of readSmall.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// readSmall calls fn with the contents of a small kernel file (cgroupfs,
// procfs) and reports whether it could read it. One open, reads and a
// close into a pooled buffer cost half what os.ReadFile does (no fstat,
// no poller registration, no allocation), which a scrape of hundreds of
// containers, ten files each, notices. A file that fills the buffer is
// read again whole.
func readSmall(path string, fn func([]byte)) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return false
		}
		if m == 0 {
			break
		}
		n += m
	}
	unix.Close(fd)
	if n == len(buf) {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		fn(data)
		return true
	}
	fn(buf[:n])
	return true
}

// parseIOStat reads cgroup v2's io.stat: "8:0 rbytes=1 wbytes=2 ...".
func parseIOStat(rd readFunc, path string) map[string]IOStats {
	var data []byte
	if !rd(path, func(b []byte) { data = append(data, b...) }) {
		return nil
	}
	out := map[string]IOStats{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var st IOStats
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "rbytes":
				st.ReadBytes = n
			case "wbytes":
				st.WriteBytes = n
			}
		}
		out[f[0]] = st
	}
	return out
}

// parseBlkio reads cgroup v1's blkio.throttle.io_service_bytes_recursive:
// "8:0 Read 1", "8:0 Write 2", ..., "Total 3".
func parseBlkio(rd readFunc, path string) map[string]IOStats {
	var data []byte
	if !rd(path, func(b []byte) { data = append(data, b...) }) {
		return nil
	}
	out := map[string]IOStats{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseUint(f[2], 10, 64)
		st := out[f[0]]
		switch f[1] {
		case "Read":
			st.ReadBytes = n
		case "Write":
			st.WriteBytes = n
		default:
			continue
		}
		out[f[0]] = st
	}
	return out
}

// parseNetDev reads /proc/<pid>/net/dev, leaving out the loopback
// interface as dockerd does.
func parseNetDev(path string) map[string]NetStats {
	var data []byte
	if !readSmall(path, func(b []byte) { data = append(data, b...) }) {
		return nil
	}
	out := map[string]NetStats{}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" || strings.Contains(name, "|") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		v := make([]uint64, 16)
		for i := range v {
			v[i], _ = strconv.ParseUint(f[i], 10, 64)
		}
		out[name] = NetStats{RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11]}
	}
	return out
}
