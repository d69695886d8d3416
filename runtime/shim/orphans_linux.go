package shim

import (
	"os"
	"os/signal"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The shim is a child subreaper: besides the container's init, the
// runtime's helpers that outlive their parent come to it. crun's `run
// --detach` forks twice, and its second process, the init's parent until
// it exits once the container has started, is reparented to the shim.
// reap takes every child only once the init has exited, so each such
// helper stayed a zombie (a pid held) for the container's whole life.
// reapOthers reaps them while the container runs, and only looks at the
// init's own exit (WNOWAIT), which is reap's. No other child of the shim
// exists meanwhile: the runtime's run is over before run starts it, and
// the runtime's delete comes after reap.

// siginfoChild is the kernel's siginfo_t as waitid fills it for a child
// (the SIGCHLD fields of its union), for the child's pid.
type siginfoChild struct {
	Signo  int32
	Errno  int32
	Code   int32
	_      int32
	Pid    int32
	Uid    uint32
	Status int32
	_      [100]byte
}

// peekExited returns the pid of an exited child without reaping it, or 0
// when none has exited.
func peekExited() int {
	var si siginfoChild
	for {
		_, _, errno := unix.Syscall6(unix.SYS_WAITID, unix.P_ALL, 0, uintptr(unsafe.Pointer(&si)),
			unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 || si.Signo == 0 {
			return 0
		}
		return int(si.Pid)
	}
}

// reapOthers reaps the exited children other than the init (pid) until
// the init exits or stop is closed.
func reapOthers(pid int, stop <-chan struct{}) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	defer signal.Stop(sigs)
	for {
		for {
			got := peekExited()
			if got == 0 {
				break
			}
			if got == pid {
				return // the exit path reaps every child from here
			}
			var ws unix.WaitStatus
			_, _ = unix.Wait4(got, &ws, unix.WNOHANG, nil)
		}
		select {
		case <-sigs:
		case <-stop:
			return
		}
	}
}
