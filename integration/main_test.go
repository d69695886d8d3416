// Package integration holds wharf's black-box tests: each test starts its
// own daemon (internal/testutil.StartDaemon) on private directories and
// drives it only through the wharf CLI, as a user would. The tests need
// root and skip without it.
package integration

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// busybox is the image every test imports from the local busybox-static.
const busybox = "local/busybox:1"

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBuiltWharf()
	testutil.RemoveEmptyCgroupParents()
	os.Exit(code)
}

// newDaemon starts a daemon for one top-level test and imports busybox.
func newDaemon(t *testing.T, opts ...testutil.DaemonOption) *testutil.Daemon {
	t.Helper()
	d := testutil.StartDaemon(t, opts...)
	d.ImportBusybox(t, busybox)
	return d
}

// inspect returns one field of a container or image, trimmed.
func inspect(t testing.TB, d *testutil.Daemon, format, ref string) string {
	t.Helper()
	return strings.TrimSpace(d.MustWharf(t, "inspect", "--format", format, ref))
}

// runD starts a detached container and returns its full ID.
func runD(t testing.TB, d *testutil.Daemon, args ...string) string {
	t.Helper()
	out := d.MustWharf(t, append([]string{"run", "-d"}, args...)...)
	id := strings.TrimSpace(out)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a 64-character ID", out)
	}
	return id
}

// waitFor polls cond every 50ms until it holds or timeout passes; it
// reports whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStatus waits until the container's .State.Status is want.
func waitStatus(t testing.TB, d *testutil.Daemon, id, want string, timeout time.Duration) {
	t.Helper()
	var got string
	if !waitFor(timeout, func() bool {
		got = inspect(t, d, "{{.State.Status}}", id)
		return got == want
	}) {
		t.Fatalf("container %.12s: status %q after %v, want %q", id, got, timeout, want)
	}
}

// pidAlive reports whether a host process exists (kill(pid, 0)) and is not
// a zombie.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(raw)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// assertNoLeaks removes every container and checks that the daemon left
// no mount under its directories, no shim process and no cgroup of any
// container it ever had.
func assertNoLeaks(t *testing.T, d *testutil.Daemon) {
	t.Helper()
	removeAll(t, d)
	ids := d.ContainerIDs()
	if out := strings.TrimSpace(d.MustWharf(t, "ps", "-aq")); out != "" {
		t.Errorf("containers left after removal: %s", out)
	}
	// Removal returns once the daemon has recorded it; shims and the
	// kernel may take a moment more.
	var mounts []string
	var shims []int
	var cgroups []string
	var runtimes []int
	waitFor(5*time.Second, func() bool {
		mounts, shims, runtimes, cgroups = d.Mounts(), d.ShimPids(), d.RuntimePids(), nil
		for _, id := range ids {
			cgroups = append(cgroups, testutil.CgroupDirs(id)...)
		}
		return len(mounts) == 0 && len(shims) == 0 && len(runtimes) == 0 && len(cgroups) == 0
	})
	if len(mounts) > 0 {
		t.Errorf("mounts left under the daemon's directories: %v", mounts)
	}
	if len(shims) > 0 {
		t.Errorf("wharf shim processes left: %v", shims)
	}
	if len(cgroups) > 0 {
		t.Errorf("cgroups left for removed containers: %v", cgroups)
	}
	if len(runtimes) > 0 {
		t.Errorf("runtime processes left (a warm exec?): %v", runtimes)
	}
}

// removeAll removes every container of the daemon with rm -f.
func removeAll(t *testing.T, d *testutil.Daemon) {
	t.Helper()
	ids := strings.Fields(d.MustWharf(t, "ps", "-aq", "--no-trunc"))
	if len(ids) > 0 {
		d.MustWharf(t, append([]string{"rm", "-f"}, ids...)...)
	}
}
