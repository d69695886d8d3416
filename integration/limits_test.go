package integration

import (
	"strconv"
	"strings"
	"testing"
)

// TestLimits checks resource limits and the user and read-only options.
func TestLimits(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)

	t.Run("MemoryOOMKill", func(t *testing.T) {
		id := runD(t, d, "--memory", "16m", "--memory-swap", "16m", busybox, "tail", "/dev/zero")
		code := strings.TrimSpace(d.MustWharf(t, "wait", id))
		if code != "137" {
			t.Errorf("wait on a memory hog under --memory 16m printed %q, want 137", code)
		}
		if got := inspect(t, d, "{{.State.ExitCode}}", id); got != "137" {
			t.Errorf(".State.ExitCode = %s, want 137", got)
		}
		if got := inspect(t, d, "{{.State.OOMKilled}}", id); got != "true" {
			t.Errorf(".State.OOMKilled = %s, want true", got)
		}
		d.MustWharf(t, "rm", id)
	})
	t.Run("MemoryOOMKillForeground", func(t *testing.T) {
		_, errOut, code := d.Wharf(t, "run", "--rm", "--memory", "16m", busybox, "sh", "-c", "x=a; while true; do x=$x$x; done")
		if code != 137 {
			t.Errorf("run --memory 16m of a doubling string: exit %d, want 137 (stderr %q)", code, errOut)
		}
	})
	t.Run("MemoryLimitVisible", func(t *testing.T) {
		out := d.MustWharf(t, "run", "--rm", "--memory", "16m", busybox, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
		if got := strings.TrimSpace(out); got != strconv.Itoa(16<<20) {
			t.Errorf("memory.limit_in_bytes in the container is %q, want %d", got, 16<<20)
		}
	})
	t.Run("PidsLimit", func(t *testing.T) {
		// busybox sh gives up on the script at the first failed fork.
		script := `cat /sys/fs/cgroup/pids/pids.max; for i in $(seq 50); do sleep 5 & done; echo all-forked`
		out, errOut, code := d.Wharf(t, "run", "--rm", "--pids-limit", "10", busybox, "sh", "-c", script)
		if !strings.Contains(errOut, "can't fork") || strings.Contains(out, "all-forked") || code == 0 {
			t.Errorf("--pids-limit 10: 50 background sleeps did not hit the limit (exit %d)\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if first, _, _ := strings.Cut(out, "\n"); first != "10" {
			t.Errorf("pids.max in the container is %q, want 10", first)
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		_, errOut, code := d.Wharf(t, "run", "--rm", "--read-only", busybox, "touch", "/x")
		if code == 0 {
			t.Fatalf("touch /x succeeded under --read-only")
		}
		if !strings.Contains(errOut, "Read-only file system") {
			t.Errorf("touch /x under --read-only: stderr %q, want a read-only error", errOut)
		}
		// Without it the same write works.
		d.MustWharf(t, "run", "--rm", busybox, "touch", "/x")
	})
	t.Run("UserNumeric", func(t *testing.T) {
		if out := strings.TrimSpace(d.MustWharf(t, "run", "--rm", "--user", "1000", busybox, "id", "-u")); out != "1000" {
			t.Errorf("--user 1000: id -u printed %q", out)
		}
	})
	t.Run("UserName", func(t *testing.T) {
		out := strings.TrimSpace(d.MustWharf(t, "run", "--rm", "-u", "user", busybox, "sh", "-c", "id -u; id -g"))
		if out != "1000\n1000" {
			t.Errorf("-u user: id -u; id -g printed %q, want 1000 and 1000", out)
		}
	})
	t.Run("Cpus", func(t *testing.T) {
		out := d.MustWharf(t, "run", "--rm", "--cpus", "0.5", busybox, "sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us")
		f := strings.Fields(out)
		if len(f) != 2 {
			t.Fatalf("cfs quota/period: %q", out)
		}
		q, _ := strconv.Atoi(f[0])
		p, _ := strconv.Atoi(f[1])
		if p == 0 || q*2 != p {
			t.Errorf("--cpus 0.5: cfs_quota_us %d / cfs_period_us %d, want half", q, p)
		}
	})
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaks(t, d) })
}
