package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// diagnose prints, for a failed test whose daemon still runs, what the
// daemon's own goroutines in the engine and the runtime are waiting for
// (the stacks it writes on SIGUSR1), and each shim's state: its process,
// the container processes under it and its log. A hang (a stop that never
// sees its exit) is then explained by the run that showed it.
func (d *Daemon) diagnose(t testing.TB) {
	t.Helper()
	pid := d.Pid()
	if pid == 0 {
		return
	}
	before, _ := filepath.Glob(filepath.Join(d.ExecRoot, "goroutine-stacks-*.log"))
	if err := syscall.Kill(pid, syscall.SIGUSR1); err == nil {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			after, _ := filepath.Glob(filepath.Join(d.ExecRoot, "goroutine-stacks-*.log"))
			if len(after) > len(before) {
				sort.Strings(after)
				time.Sleep(100 * time.Millisecond) // written whole by then
				if data, err := os.ReadFile(after[len(after)-1]); err == nil {
					t.Logf("daemon goroutines in the engine and the runtime:\n%s", limit(stacksOf(string(data), []string{
						"wharf/engine/", "wharf/runtime/", "wharf/network/", "wharf/volume/",
					}), 64<<10))
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var b strings.Builder
	shims, _ := filepath.Glob(filepath.Join(d.ExecRoot, "shims", "*"))
	for _, dir := range shims {
		fmt.Fprintf(&b, "shim %s:\n", filepath.Base(dir))
		for _, p := range processes(func(pid int, args []string) bool {
			cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd"))
			return err == nil && cwd == dir
		}) {
			fmt.Fprintf(&b, "  %s\n", procLine(p))
			for _, c := range Children(p) {
				fmt.Fprintf(&b, "    child %s\n", procLine(c))
			}
		}
		for _, f := range []string{"shim.log", "exit.json", "dormant.json"} {
			if data, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				fmt.Fprintf(&b, "  %s: %s\n", f, limit(strings.TrimSpace(string(data)), 4<<10))
			}
		}
	}
	// The daemon is a child subreaper: a process left to it that it
	// does not reap keeps a container's pid namespace from ending.
	fmt.Fprintf(&b, "daemon %s:\n", procLine(pid))
	for _, c := range Children(pid) {
		fmt.Fprintf(&b, "  child %s\n", procLine(c))
	}
	t.Logf("shims:\n%s", limit(b.String(), 64<<10))
}

// stacksOf keeps the goroutines of a runtime.Stack dump that have a frame
// in one of the packages.
func stacksOf(dump string, pkgs []string) string {
	var keep []string
	for _, g := range strings.Split(dump, "\n\n") {
		for _, p := range pkgs {
			if strings.Contains(g, p) {
				keep = append(keep, g)
				break
			}
		}
	}
	return strings.Join(keep, "\n\n")
}

// procLine is a process's pid, state and command line.
func procLine(pid int) string {
	stat, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	state := "?"
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) {
		state = string(stat[i+2])
	}
	// Where in the kernel it sleeps: a namespace's init that cannot end
	// waits in zap_pid_ns_processes.
	wchan, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "wchan"))
	cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return fmt.Sprintf("pid %d state %s wchan %s: %s", pid, state, wchan, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " "))
}

// Children lists the processes whose parent is pid.
func Children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

func limit(s string, max int) string {
	if len(s) > max {
		return s[:max] + "\n... (cut)"
	}
	return s
}
