package metrics

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// scalar is one unlabelled sample of a family.
type scalar struct {
	name, help, typ string
	value           float64
}

func writeScalars(w *bufio.Writer, ss []scalar) {
	for _, s := range ss {
		writeHeader(w, s.name, s.help, s.typ)
		writeSample(w, s.name, nil, nil, "", "", s.value)
	}
}

// GoCollector exposes the Go runtime's basics under the names
// client_golang's Go collector uses: go_goroutines, go_threads, go_info
// and the go_memstats_* of runtime.MemStats.
type GoCollector struct{}

// NewGoCollector returns the Go runtime collector.
func NewGoCollector() GoCollector { return GoCollector{} }

func (GoCollector) names() []string {
	return []string{"go_goroutines", "go_threads", "go_info", "go_memstats_alloc_bytes", "go_memstats_alloc_bytes_total",
		"go_memstats_sys_bytes", "go_memstats_mallocs_total", "go_memstats_frees_total", "go_memstats_heap_alloc_bytes",
		"go_memstats_heap_sys_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_released_bytes",
		"go_memstats_heap_objects", "go_memstats_stack_inuse_bytes", "go_memstats_stack_sys_bytes", "go_memstats_next_gc_bytes",
		"go_memstats_last_gc_time_seconds", "go_gc_cycles_total"}
}

func (GoCollector) write(w *bufio.Writer) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	threads, _ := runtime.ThreadCreateProfile(nil)
	writeScalars(w, []scalar{
		{"go_goroutines", "Number of goroutines that currently exist.", "gauge", float64(runtime.NumGoroutine())},
		{"go_threads", "Number of OS threads created.", "gauge", float64(threads)},
	})
	writeHeader(w, "go_info", "Information about the Go environment.", "gauge")
	writeSample(w, "go_info", []string{"version"}, []string{runtime.Version()}, "", "", 1)
	writeScalars(w, []scalar{
		{"go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", "gauge", float64(ms.Alloc)},
		{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", "counter", float64(ms.TotalAlloc)},
		{"go_memstats_sys_bytes", "Number of bytes obtained from system.", "gauge", float64(ms.Sys)},
		{"go_memstats_mallocs_total", "Total number of heap objects allocated.", "counter", float64(ms.Mallocs)},
		{"go_memstats_frees_total", "Total number of heap objects frees.", "counter", float64(ms.Frees)},
		{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", "gauge", float64(ms.HeapAlloc)},
		{"go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", "gauge", float64(ms.HeapSys)},
		{"go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", "gauge", float64(ms.HeapIdle)},
		{"go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", "gauge", float64(ms.HeapInuse)},
		{"go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", "gauge", float64(ms.HeapReleased)},
		{"go_memstats_heap_objects", "Number of currently allocated objects.", "gauge", float64(ms.HeapObjects)},
		{"go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments.", "gauge", float64(ms.StackInuse)},
		{"go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator.", "gauge", float64(ms.StackSys)},
		{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", "gauge", float64(ms.NextGC)},
		{"go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", "gauge", float64(ms.LastGC) / 1e9},
		{"go_gc_cycles_total", "Number of completed GC cycles.", "counter", float64(ms.NumGC)},
	})
}

// ProcessCollector exposes the process_* series client_golang's process
// collector does, read from getrusage, getrlimit and /proc/self directly:
// CPU time, resident and virtual memory, open and maximum descriptors,
// start time. A value that cannot be read is left out.
type ProcessCollector struct{}

// NewProcessCollector returns the collector of this process.
func NewProcessCollector() ProcessCollector { return ProcessCollector{} }

func (ProcessCollector) names() []string {
	return []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
		"process_open_fds", "process_max_fds", "process_start_time_seconds"}
}

func (ProcessCollector) write(w *bufio.Writer) {
	var ss []scalar
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		ss = append(ss, scalar{"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", cpu})
	}
	if rss, vsz, ok := statm(); ok {
		ss = append(ss,
			scalar{"process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", rss},
			scalar{"process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", vsz})
	}
	if f, err := os.Open("/proc/self/fd"); err == nil {
		names, err := f.Readdirnames(-1)
		f.Close()
		if err == nil {
			// One of them is the directory being read.
			ss = append(ss, scalar{"process_open_fds", "Number of open file descriptors.", "gauge", float64(len(names) - 1)})
		}
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		ss = append(ss, scalar{"process_max_fds", "Maximum number of open file descriptors.", "gauge", float64(lim.Cur)})
	}
	if start, ok := startTime(); ok {
		ss = append(ss, scalar{"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge", start})
	}
	writeScalars(w, ss)
}

// statm reads the resident and virtual sizes from /proc/self/statm.
func statm() (rss, vsz float64, ok bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, 0, false
	}
	pages, err1 := strconv.ParseUint(f[0], 10, 64)
	res, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	ps := float64(os.Getpagesize())
	return float64(res) * ps, float64(pages) * ps, true
}

// userHZ is the unit of /proc's clock-tick fields (sysconf(_SC_CLK_TCK)),
// 100 on every Linux ABI Go supports; procfs assumes the same.
const userHZ = 100

// startTime is the process's start: its starttime (field 22 of
// /proc/self/stat, in ticks since boot) plus the boot time (btime in
// /proc/stat).
func startTime() (float64, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it start past the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	const startField = 22 - 3 // f[0] is field 3
	if len(f) <= startField {
		return 0, false
	}
	ticks, err := strconv.ParseUint(f[startField], 10, 64)
	if err != nil {
		return 0, false
	}
	st, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, false
			}
			return float64(boot) + float64(ticks)/userHZ, true
		}
	}
	return 0, false
}
