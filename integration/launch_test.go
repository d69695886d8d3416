package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var daemonBinName = regexp.MustCompile(`^wharfd-[0-9a-f]{64}$`)

// TestDaemonRunsEmbeddedBinary checks the one-artifact launch: `wharf
// daemon` writes the embedded daemon once under --root and becomes it
// (same pid, so whoever started it signals the daemon), while what the
// daemon starts — shims, wharf-init — runs the lean wharf binary.
func TestDaemonRunsEmbeddedBinary(t *testing.T) {
	d := newDaemon(t)
	pid := d.Pid()
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(d.Root, "bin")
	if filepath.Dir(exe) != bin || !daemonBinName.MatchString(filepath.Base(exe)) {
		t.Fatalf("the daemon (pid %d) runs %s, want %s/wharfd-<sha256>", pid, exe, bin)
	}
	if raw, err := os.ReadFile(filepath.Join(d.ExecRoot, "wharf.pid")); err != nil || strings.TrimSpace(string(raw)) != strconv.Itoa(pid) {
		t.Fatalf("wharf.pid holds %q (%v), the started process is %d", raw, err, pid)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v %v, want mode 0700", bin, fi.Mode(), err)
	}
	st, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	ino := st.Sys().(*syscall.Stat_t).Ino

	// The shim and the container's init come from the lean binary.
	id := runD(t, d, "--init", busybox, "sleep", "60")
	var shims []int
	if !waitFor(10*time.Second, func() bool { shims = d.ShimPids(); return len(shims) > 0 }) {
		t.Fatal("no shim")
	}
	for _, p := range shims {
		if got, _ := os.Readlink("/proc/" + strconv.Itoa(p) + "/exe"); got != d.Bin {
			t.Errorf("shim %d runs %s, want the lean binary %s", p, got, d.Bin)
		}
	}
	if out := d.MustWharf(t, "exec", id, "cat", "/proc/1/cmdline"); !strings.Contains(out, "init") {
		t.Errorf("pid 1 of an --init container is %q, want wharf-init", out)
	}

	// A restart reuses the written binary.
	d.Restart(t)
	exe2, _ := os.Readlink("/proc/" + strconv.Itoa(d.Pid()) + "/exe")
	st2, err := os.Stat(exe2)
	if err != nil || exe2 != exe || st2.Sys().(*syscall.Stat_t).Ino != ino {
		t.Errorf("after a restart the daemon runs %s (%v), want the same file %s", exe2, err, exe)
	}
	if ents, _ := os.ReadDir(bin); len(ents) != 1 {
		t.Errorf("%s holds %d files, want 1", bin, len(ents))
	}
}
