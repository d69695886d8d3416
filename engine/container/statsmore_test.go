package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeCgroupFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The v2 reader takes the inactive page cache (not all of it: "file") as
// what usage minus gives the working set, as the docker CLI and cAdvisor.
func TestReadCgroupV2(t *testing.T) {
	root := t.TempDir()
	writeCgroupFiles(t, root, map[string]string{
		"wharf/c1/cpu.stat":       "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n",
		"wharf/c1/memory.current": "10485760\n",
		"wharf/c1/memory.max":     "max\n",
		"wharf/c1/memory.stat":    "anon 4096000\nfile 6000000\ninactive_file 2000000\nactive_file 4000000\n",
		"wharf/c1/memory.events":  "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n",
		"wharf/c1/pids.current":   "3\n",
		"wharf/c1/pids.max":       "100\n",
		"wharf/c1/io.stat":        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=2\n",
	})
	s := cgroupFS{root: root, v2: true}.read("/wharf/c1", 0, WithStatsDetail())
	want := CgroupSample{CPUUsage: 1_500_000, CPUUser: 1_000_000, CPUSystem: 500_000,
		MemoryUsage: 10485760, MemoryInactiveFile: 2000000, MemoryRSS: 4096000, OOMKills: 1,
		PidsCurrent: 3, PidsLimit: 100}
	s2 := s
	s2.IO = nil
	if s2.PerCPU != nil || s2.Networks != nil {
		t.Fatalf("unexpected per-CPU or network counters: %+v", s)
	}
	if !sampleEq(s2, want) {
		t.Errorf("v2 sample\n got %+v\nwant %+v", s2, want)
	}
	if s.IO["8:0"] != (IOStats{ReadBytes: 4096, WriteBytes: 8192}) || s.IO["253:1"] != (IOStats{ReadBytes: 1, WriteBytes: 2}) {
		t.Errorf("io: %+v", s.IO)
	}
}

func TestReadCgroupV1(t *testing.T) {
	root := t.TempDir()
	writeCgroupFiles(t, root, map[string]string{
		"cpuacct/wharf/c1/cpuacct.usage":                           "3000000000\n",
		"cpuacct/wharf/c1/cpuacct.usage_percpu":                    "1000000000 2000000000 \n",
		"cpuacct/wharf/c1/cpuacct.stat":                            "user 200\nsystem 100\n",
		"memory/wharf/c1/memory.usage_in_bytes":                    "8192000\n",
		"memory/wharf/c1/memory.limit_in_bytes":                    "9223372036854771712\n",
		"memory/wharf/c1/memory.stat":                              "cache 100\nrss 5\ninactive_file 7\ntotal_rss 4000000\ntotal_inactive_file 1000000\n",
		"memory/wharf/c1/memory.oom_control":                       "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
		"pids/wharf/c1/pids.current":                               "4\n",
		"pids/wharf/c1/pids.max":                                   "max\n",
		"blkio/wharf/c1/blkio.throttle.io_service_bytes_recursive": "8:0 Read 512\n8:0 Write 1024\n8:0 Sync 0\n8:0 Async 1536\n8:0 Total 1536\nTotal 1536\n",
	})
	s := cgroupFS{root: root}.read("/wharf/c1", 0, WithStatsDetail())
	if lean := (cgroupFS{root: root}).read("/wharf/c1", 0); lean.PerCPU != nil || lean.CPUUsage != s.CPUUsage {
		t.Errorf("without the stats detail: per CPU %v, usage %d", lean.PerCPU, lean.CPUUsage)
	}
	want := CgroupSample{CPUUsage: 3_000_000_000, CPUUser: 2_000_000_000, CPUSystem: 1_000_000_000,
		MemoryUsage: 8192000, MemoryInactiveFile: 1000000, MemoryRSS: 4000000, OOMKills: 2, PidsCurrent: 4}
	if len(s.PerCPU) != 2 || s.PerCPU[0] != 1e9 || s.PerCPU[1] != 2e9 {
		t.Errorf("per CPU: %v", s.PerCPU)
	}
	if s.IO["8:0"] != (IOStats{ReadBytes: 512, WriteBytes: 1024}) || len(s.IO) != 1 {
		t.Errorf("io: %+v", s.IO)
	}
	s.PerCPU, s.IO = nil, nil
	if !sampleEq(s, want) {
		t.Errorf("v1 sample\n got %+v\nwant %+v", s, want)
	}
}

func sampleEq(a, b CgroupSample) bool {
	return a.CPUUsage == b.CPUUsage && a.CPUUser == b.CPUUser && a.CPUSystem == b.CPUSystem &&
		a.MemoryUsage == b.MemoryUsage && a.MemoryLimit == b.MemoryLimit && a.MemoryInactiveFile == b.MemoryInactiveFile &&
		a.MemoryRSS == b.MemoryRSS && a.OOMKills == b.OOMKills && a.PidsCurrent == b.PidsCurrent && a.PidsLimit == b.PidsLimit
}

// A counter file larger than the pooled buffer (a host with many block
// devices) is read whole.
func TestReadLargeCounterFile(t *testing.T) {
	root := t.TempDir()
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "8:%d Read %d\n8:%d Write %d\n", i, i, i, 2*i)
	}
	b.WriteString("Total 0\n")
	writeCgroupFiles(t, root, map[string]string{"blkio/wharf/c1/blkio.throttle.io_service_bytes_recursive": b.String()})
	if b.Len() <= 16<<10 {
		t.Fatalf("the file is only %d bytes", b.Len())
	}
	s := cgroupFS{root: root}.read("/wharf/c1", 0)
	if len(s.IO) != 2000 || s.IO["8:1999"] != (IOStats{ReadBytes: 1999, WriteBytes: 3998}) {
		t.Errorf("io of %d devices, 8:1999 %+v", len(s.IO), s.IO["8:1999"])
	}
}
