package container

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// awaitChild sees a process's child, and answers false (without waiting
// out its bound) for a process that has none or is gone.
func TestAwaitChild(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if !awaitChild(os.Getpid(), time.Second) {
		t.Fatal("this process's child was not seen")
	}
	if awaitChild(cmd.Process.Pid, 50*time.Millisecond) {
		t.Fatal("sleep has no child")
	}
	start := time.Now()
	if awaitChild(1<<22+12345, time.Second) || time.Since(start) > 100*time.Millisecond {
		t.Fatal("a process that does not exist")
	}
}
