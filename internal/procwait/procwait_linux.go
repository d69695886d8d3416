// Package procwait waits for child processes without holding a thread in
// a blocking wait: os/exec's Wait sits in waitid for the child's whole
// life, and while it does the Go runtime's monitor thread wakes every
// fraction of a millisecond to take the processor back, CPU that a 2-core
// host would rather give the child (an OCI runtime doing its work).
// Here the child's pidfd is polled through the runtime's poller first, so
// the final Wait returns at once.
package procwait

import (
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// Wait waits for cmd's process to exit, then for cmd to finish (its
// output copied), as cmd.Wait does.
func Wait(cmd *exec.Cmd) error {
	waitExit(cmd.Process.Pid)
	return cmd.Wait()
}

// Run starts cmd and waits for it, as cmd.Run does.
func Run(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	return Wait(cmd)
}

// waitExit returns once the child pid has exited (without reaping it), or
// at once if it cannot tell, leaving the waiting to the caller's Wait.
func waitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		return err != nil || info.Signo != 0
	})
}
