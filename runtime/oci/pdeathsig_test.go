package oci_test

import (
	"io"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/runtime/oci"
)

// A runtime command with a parent-death signal (a warm exec) lives as long
// as the process that started it, not as long as the thread it was
// started from: a goroutine locked to its thread that returns ends the
// thread (every crun command with hidden mounts does), and the kernel
// sends the signal on that thread's exit. A warm runc exec killed that way
// while it ran a process left the process to the daemon, and the
// container's exit was never seen.
func TestStartParentDeathSignalOutlivesThread(t *testing.T) {
	rt := &oci.Runtime{Name: "sh", Path: "/bin/sh"}
	cmd := exec.Command("/bin/sh", "-c", "read x")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: Go ends this thread when the goroutine returns.
		runtime.LockOSThread()
		errc <- rt.Start(cmd)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The thread above ends as its goroutine returns; were the command
	// its child, the signal would kill it by now. Poll a while for it.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, _ = io.WriteString(stdin, "go\n")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the command died with the thread it was started from: %v", err)
	}
}
