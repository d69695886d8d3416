package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cgroupValue reads a container's cgroup v1 file, "" if missing.
func cgroupValue(id, controller, file string) string {
	data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, "wharf", id, file))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// docker update changes a running container's cgroup at once and its
// record; a stopped one's record, applied at its next start; dockerd's
// refusals, and the kernel's (memory below what is used), are reported
// and leave the container as it was.
func TestUpdate(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("these checks read cgroup v1 files")
	}
	d := newDaemon(t)
	dk := newDockerCLI(t, d)
	id := strings.TrimSpace(dk.must(t, "run", "-d", "--name", "up", "-m", "64m", busybox, "sh", "-c", "head -c 30000000 /dev/zero > /dev/shm/fill; echo ready; sleep 1000"))
	if !waitFor(20*time.Second, func() bool { return strings.Contains(dk.must(t, "logs", "up"), "ready") }) {
		t.Fatal("the container never filled its memory")
	}
	if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "up")); got != "67108864 134217728" {
		t.Errorf("memory and dockerd's default swap: %s", got)
	}
	out := dk.must(t, "update", "-m", "100m", "--memory-swap", "200m", "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "--memory-reservation", "40m", "up")
	if strings.TrimSpace(out) != "up" {
		t.Errorf("update printed %q", out)
	}
	for _, c := range []struct{ controller, file, want string }{
		{"memory", "memory.limit_in_bytes", "104857600"},
		{"memory", "memory.memsw.limit_in_bytes", "209715200"},
		{"memory", "memory.soft_limit_in_bytes", "41943040"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.shares", "512"},
		{"cpuset", "cpuset.cpus", "0"},
		{"pids", "pids.max", "50"},
	} {
		if got := cgroupValue(id, c.controller, c.file); got != c.want {
			t.Errorf("%s/%s = %q, want %q", c.controller, c.file, got, c.want)
		}
	}
	if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.MemoryReservation}}", "up")); got != "104857600 209715200 500000000 512 0 50 41943040" {
		t.Errorf("inspect after the update: %s", got)
	}

	// The kernel refuses a limit below what the container uses: dockerd
	// answers 500 with the runtime's words, and nothing changed.
	_, errOut, code := dk.run(t, nil, "update", "-m", "10m", "--memory-swap", "10m", "up")
	if code == 0 || !strings.Contains(errOut, "Cannot update container "+id+": ") || !strings.Contains(errOut, "unable to set memory limit to 10485760") {
		t.Errorf("memory below usage: exit %d, %q", code, errOut)
	}
	if got := cgroupValue(id, "memory", "memory.limit_in_bytes"); got != "104857600" {
		t.Errorf("memory limit after a refused update: %s", got)
	}
	if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.HostConfig.Memory}}", "up")); got != "104857600" {
		t.Errorf("record after a refused update: %s", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cpu-quota", "20000"}, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"},
		{[]string{"-m", "300m"}, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"},
		{[]string{"--memory-swap", "50m"}, "Minimum memoryswap limit should be larger than memory limit"},
		{[]string{"-m", "1m"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"--cpuset-cpus", "64"}, "Requested CPUs are not available - requested 64"},
	} {
		_, errOut, code := dk.run(t, nil, append(append([]string{"update"}, c.args...), "up")...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("update %v: exit %d, %q, want %q", c.args, code, errOut, c.want)
		}
	}

	// A stopped container: the record now, the cgroup at its next start.
	dk.must(t, "stop", "-t", "0", "up")
	d.MustWharf(t, "update", "--cpu-shares", "256", "--pids-limit", "-1", "--restart", "on-failure:3", "up")
	if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "up")); got != "256 on-failure:3" {
		t.Errorf("stopped container's record: %s", got)
	}
	dk.must(t, "start", "up")
	if got := cgroupValue(id, "cpu", "cpu.shares"); got != "256" {
		t.Errorf("cpu.shares at the next start: %s", got)
	}
	if got := cgroupValue(id, "pids", "pids.max"); got != "max" {
		t.Errorf("pids.max at the next start: %s", got)
	}
	if got := cgroupValue(id, "memory", "memory.limit_in_bytes"); got != "104857600" {
		t.Errorf("memory limit at the next start: %s", got)
	}
	assertNoLeaks(t, d)
}
