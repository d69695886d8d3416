package container

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NetStats are the counters of one network interface of a container.
type NetStats struct {
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// statsDetails adds to a sample what dockerd reports beside the totals:
// the CPU time per CPU and in user and kernel mode, and the counters of
// each network interface of the container's own network namespace.
func statsDetails(s *Stats, c *Container, cg string) {
	if isCgroup2() {
		base := filepath.Join("/sys/fs/cgroup", cg)
		// cgroup v2 keeps no per-CPU usage; dockerd then reports none.
		s.CPUUser = statField(filepath.Join(base, "cpu.stat"), "user_usec") * 1000
		s.CPUSystem = statField(filepath.Join(base, "cpu.stat"), "system_usec") * 1000
	} else {
		acct := filepath.Join("/sys/fs/cgroup/cpuacct", cg)
		if data, err := os.ReadFile(filepath.Join(acct, "cpuacct.usage_percpu")); err == nil {
			for _, f := range strings.Fields(string(data)) {
				v, _ := strconv.ParseUint(f, 10, 64)
				s.PerCPU = append(s.PerCPU, v)
			}
		}
		// cpuacct.stat counts in USER_HZ (100 a second on Linux).
		s.CPUUser = statField(filepath.Join(acct, "cpuacct.stat"), "user") * 10_000_000
		s.CPUSystem = statField(filepath.Join(acct, "cpuacct.stat"), "system") * 10_000_000
	}
	if c.State.Pid > 0 && len(c.NetworkSettings.Networks) > 0 {
		// The container's interfaces, as its own namespace counts them:
		// /proc/<pid>/net/dev is read in the namespace of that process.
		s.Networks = parseNetDev(filepath.Join("/proc", strconv.Itoa(c.State.Pid), "net", "dev"))
	}
}

// parseNetDev reads /proc/<pid>/net/dev, leaving out the loopback
// interface as dockerd does.
func parseNetDev(path string) map[string]NetStats {
	data, err := os.ReadFile(path)
	if err != nil {
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
