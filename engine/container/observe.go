package container

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// LogsOptions select what Logs returns.
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Tail           int // negative: all
	Since, Until   time.Time
	// Ready, if set, is called once the log is found readable, before
	// the first entry: an error Logs returns before it means that
	// nothing was read (a server can still answer with the error).
	Ready func()
}

// Logs calls emit with every selected log entry of a container, across
// its rotated files, following new entries while the container runs when
// asked to. A container whose log driver keeps nothing has no log to
// read, as in dockerd.
func (e *Engine) Logs(ctx context.Context, ref string, o LogsOptions, emit func(logfile.Entry) error) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	c := en.c.clone()
	e.mu.Unlock()
	path, _, err := e.logFile(c)
	if err != nil {
		return err
	}
	if path == "" {
		return errLogsNotReadable
	}
	if o.Ready != nil {
		o.Ready()
	}
	running := func() bool {
		st, _, removed := e.snapshot(en)
		return !removed && (st.Running() || st.Status == StatusRestarting)
	}
	return logfile.Read(ctx, path, logfile.ReadOptions{
		Stdout: o.Stdout, Stderr: o.Stderr, Tail: o.Tail, Since: o.Since, Until: o.Until,
		Follow: o.Follow, Running: running,
	}, emit)
}

// Stats is one sample of a container's resource usage, read from its
// cgroup.
type Stats struct {
	Read        time.Time
	CPUUsage    uint64 // ns of CPU time
	SystemUsage uint64 // ns of host CPU time
	OnlineCPUs  int
	MemoryUsage uint64
	MemoryLimit uint64
	MemoryCache uint64
	PidsCurrent uint64
	PidsLimit   uint64
	// PerCPU is the CPU time on each CPU (cgroup v1 only), CPUUser and
	// CPUSystem the time in user and kernel mode, in ns.
	PerCPU             []uint64
	CPUUser, CPUSystem uint64
	// Networks are the counters of the container's interfaces by name.
	Networks map[string]NetStats
}

// Stats samples a running container's cgroup.
func (e *Engine) Stats(ctx context.Context, ref string) (*Stats, error) {
	en, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	st, _, _ := e.snapshot(en)
	s := &Stats{Read: time.Now().UTC(), OnlineCPUs: onlineCPUs(), SystemUsage: systemUsage()}
	if !st.Running() {
		return s, nil
	}
	e.mu.Lock()
	c := en.c.clone()
	e.mu.Unlock()
	// The same reader as the daemon's metrics (statsmore.go).
	cs := ReadCgroup(cgroupsPathOf(c), netPid(c), WithStatsDetail())
	s.CPUUsage, s.CPUUser, s.CPUSystem, s.PerCPU = cs.CPUUsage, cs.CPUUser, cs.CPUSystem, cs.PerCPU
	s.MemoryUsage, s.MemoryLimit, s.MemoryCache = cs.MemoryUsage, cs.MemoryLimit, cs.MemoryInactiveFile
	s.PidsCurrent, s.PidsLimit = cs.PidsCurrent, cs.PidsLimit
	if len(c.NetworkSettings.Networks) > 0 {
		s.Networks = cs.Networks
	}
	if total := memTotal(); s.MemoryLimit == 0 || s.MemoryLimit > total {
		s.MemoryLimit = total
	}
	return s, nil
}

func isCgroup2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

func onlineCPUs() int {
	n := 0
	data, _ := os.ReadFile("/proc/stat")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "cpu") && len(line) > 3 && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return n
}

// systemUsage is the host's total CPU time in ns, from /proc/stat, as
// docker computes it for CPU percentages.
func systemUsage() uint64 {
	data, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks uint64
	for _, v := range f[1:8] {
		n, _ := strconv.ParseUint(v, 10, 64)
		ticks += n
	}
	return ticks * uint64(time.Second/100) // USER_HZ is 100 on Linux
}

func memTotal() uint64 {
	var v uint64
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			v, _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	return v * 1024
}

// Top lists the container's processes with the given ps arguments (default
// "-ef"), as docker does: run the host's ps and keep the container's pids.
func (e *Engine) Top(ctx context.Context, ref, psArgs string) ([]string, [][]string, error) {
	en, err := e.lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	st, _, _ := e.snapshot(en)
	if !st.Running() {
		return nil, nil, fmt.Errorf("container %s is not running: %w", en.c.ID, errdefs.ErrConflict)
	}
	rt, err := e.runtime(en.c)
	if err != nil {
		return nil, nil, err
	}
	pids, err := rt.Pids(ctx, en.c.ID)
	if err != nil {
		return nil, nil, err
	}
	titles, procs, err := psTable(ctx, psArgs, pids)
	if err == nil {
		e.publishOf(en, "top", nil)
	}
	return titles, procs, err
}
