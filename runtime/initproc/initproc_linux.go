package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"unsafe"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// Exit statuses of wharf-init itself. When the command cannot run they follow
// the shell's conventions: 126 "cannot execute", 127 "not found".
const (
	exitUsage     = 2
	exitNotExec   = 126
	exitNotFound  = 127
	exitSignalled = 128
)

// Main runs args (after an optional leading "--") as the child of this
// process, forwards signals to it, reaps zombies, and returns the exit
// status to use: the child's exit code, or 128+signal if it was killed.
// It writes diagnostics to stderr prefixed with "wharf-init: ".
func Main(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "wharf-init: usage: wharf-init [--] command [args...]")
		return exitUsage
	}

	// When not pid 1 (a test, or a container sharing a pid namespace),
	// become a subreaper so that orphans of the command are still ours to
	// reap. Failure only means orphans go to the real init, so ignore it.
	if os.Getpid() != 1 {
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	}

	// Subscribe to every signal before the child exists, so that neither a
	// SIGCHLD nor a SIGTERM sent right after start is lost. Catching (rather
	// than ignoring) keeps the child's dispositions at their defaults: an
	// ignored signal would stay ignored across exec.
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs)

	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "wharf-init: %v\n", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return exitNotFound
		}
		return exitNotExec
	}
	pid, err := start(path, args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wharf-init: exec %s: %v\n", args[0], err)
		return exitNotExec
	}

	for sig := range sigs {
		s, ok := sig.(syscall.Signal)
		if !ok {
			continue
		}
		switch s {
		case syscall.SIGCHLD:
			// Reaped below.
		case syscall.SIGURG:
			// The Go runtime uses SIGURG to preempt goroutines; it is
			// not meant for the child.
		case syscall.SIGTTIN, syscall.SIGTTOU:
			// Job-control signals addressed to init itself, as a
			// background process of the terminal; the child is in the
			// foreground and unaffected.
		default:
			// ESRCH means the child has already gone; its SIGCHLD is on
			// its way.
			_ = syscall.Kill(pid, s)
		}
		// Reap after every signal, not only SIGCHLD: signal.Notify drops
		// signals when the channel is full, and a lost SIGCHLD must not
		// leave init waiting for ever.
		if status, done := reap(pid); done {
			return status
		}
	}
	return exitSignalled
}

// start runs the child in a process group of its own, which is made the
// foreground group of the controlling terminal if stdin is one. Its pid is
// the only thing kept: the child is waited for by reap, never through os.
func start(path string, args []string) (int, error) {
	attr := &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Env:   os.Environ(),
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	if isTerminal(0) {
		attr.Sys = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0}
		p, err := os.StartProcess(path, args, attr)
		if err == nil {
			return p.Pid, nil
		}
		// stdin may be a terminal that is not our controlling terminal
		// (tcsetpgrp fails with ENOTTY); run the child in the background
		// group then, as tini does.
		attr.Sys = &syscall.SysProcAttr{Setpgid: true}
	}
	p, err := os.StartProcess(path, args, attr)
	if err != nil {
		return 0, err
	}
	return p.Pid, nil
}

// reap collects every exited child without blocking. It reports the exit
// status to return once the main child (pid) is among them.
func reap(pid int) (status int, done bool) {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			// ECHILD: no children left; 0: the rest are still running.
			return status, done
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			status, done = ws.ExitStatus(), true
		case ws.Signaled():
			status, done = exitSignalled+int(ws.Signal()), true
		}
	}
}

// isTerminal reports whether fd is a terminal, with the same TCGETS ioctl
// that isatty(3) uses, to avoid a dependency for one call.
func isTerminal(fd int) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
