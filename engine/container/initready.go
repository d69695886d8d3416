package container

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// A container's init (--init: wharf-init) is a Go program: between its
// exec and the moment it subscribes to signals (its first steps, longer
// on a loaded host) a signal is lost: before the Go runtime's handlers
// the kernel drops a default-action signal sent to the pid 1 of a
// namespace, and after them, until the init subscribes, the runtime
// exits on it without telling the command. A stop right after `run -d`
// then waited its whole timeout and killed. The init starts its command
// only once it forwards signals, so a signal for a container with an init
// waits (briefly) until the init has a child. tini has the same window,
// only shorter.

// initReadyWait bounds the wait for an init to start its command.
const initReadyWait = 2 * time.Second

// awaitChild waits until process pid has a child, at most d; it returns
// whether it has one (false at once when its children cannot be read).
func awaitChild(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		ok, err := hasChild(pid)
		if ok || err != nil || time.Now().After(deadline) {
			return ok
		}
		time.Sleep(time.Millisecond)
	}
}

// hasChild reads whether any thread of pid has a child
// (/proc/<pid>/task/<tid>/children).
func hasChild(pid int) (bool, error) {
	files, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	if err != nil || len(files) == 0 {
		return false, os.ErrNotExist
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		if len(bytes.TrimSpace(b)) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// beforeSignal is what a signal other than SIGKILL to container c waits
// for: its init running its command, when it has an init.
func beforeSignal(c *Container, sig syscall.Signal) {
	if !c.HostConfig.Init || sig == syscall.SIGKILL || c.State.Pid <= 0 {
		return
	}
	awaitChild(c.State.Pid, initReadyWait)
}
