package oci_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/internal/testutil"
	"github.com/wharf-dev/wharf/runtime/oci"
)

// hostHasMount tells whether mp is a mount point in the test's (the
// host's) mount namespace.
func hostHasMount(t *testing.T, mp string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == mp {
			return true
		}
	}
	return false
}

// A command started with Hide sees none of the hidden mounts, the host
// keeps them, and mounts the host makes later in a shared mount reach the
// command's namespace (rslave, not rprivate).
func TestStartHiddenNamespace(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	hidden := filepath.Join(dir, "hidden")
	for _, d := range []string{shared, hidden} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", 0, "size=64k"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Unmount(d, unix.MNT_DETACH) })
	}
	if err := unix.Mount("", shared, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	later := filepath.Join(shared, "later")
	if err := os.Mkdir(later, 0o755); err != nil {
		t.Fatal(err)
	}

	rt := &oci.Runtime{Name: "sh", Path: "/bin/sh", Hide: []string{hidden}}
	// The command waits for a line, then prints its mount table.
	cmd := exec.Command("/bin/sh", "-c", "read x; cat /proc/self/mountinfo")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A parent-death signal must not fire when Start returns.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := rt.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if !hostHasMount(t, hidden) {
		t.Error("the host lost the hidden mount")
	}
	if err := unix.Mount("tmpfs", later, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(later, unix.MNT_DETACH) })
	// Time for the thread that started the command to end, were it to
	// end with Start: the parent-death signal would then kill the command.
	time.Sleep(50 * time.Millisecond)
	_, _ = io.WriteString(stdin, "go\n")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the command: %v\n%s", err, out.String())
	}
	var sawHidden, sawLater bool
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		sawHidden = sawHidden || f[4] == hidden
		sawLater = sawLater || f[4] == later
	}
	if sawHidden {
		t.Errorf("the command saw the hidden mount %s", hidden)
	}
	if !sawLater {
		t.Errorf("a mount made later in a shared mount did not reach the command:\n%s", out.String())
	}
	// Many starts, from whatever threads the scheduler picks (the main
	// thread among them, at times): the process's own view stays the
	// host's.
	for i := 0; i < 50; i++ {
		if err := rt.Run(exec.Command("/bin/true")); err != nil {
			t.Fatal(err)
		}
	}
	if !hostHasMount(t, hidden) {
		t.Error("after 50 starts the process's /proc/self/mountinfo lacks the hidden mount: a thread in the hidden namespace is the main one")
	}
}

// On a hybrid host crun is usable with the cgroup2 mount hidden, and the
// probe leaves the host's mounts as they were.
func TestProbeCrunOnThisHost(t *testing.T) {
	testutil.RequiresRoot(t)
	if _, err := exec.LookPath("crun"); err != nil {
		t.Skip("crun is not installed")
	}
	hide, err := oci.HostHybridCgroup2Mounts()
	if err != nil {
		t.Fatal(err)
	}
	c := oci.Probe(context.Background(), "crun", t.TempDir())
	t.Logf("crun: usable %v, hide %q: %s", c.Usable, c.Hide, c.Reason)
	if !c.Usable {
		t.Fatalf("crun unusable: %s", c.Reason)
	}
	for _, mp := range hide {
		if !hostHasMount(t, mp) {
			t.Errorf("the host lost %s", mp)
		}
	}
	if len(hide) > 0 && len(c.Hide) == 0 {
		// A crun that handles the hybrid layout itself needs nothing hidden.
		t.Logf("crun works on this hybrid host as it is")
	}
}
