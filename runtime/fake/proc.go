package fake

import (
	"errors"
	"io"
	"sync"
	"syscall"
)

// A fake process runs a program (shell.go) in a goroutine. Everything it
// does between two blocking points is a step, taken under its container's
// step lock for reading; Pause takes that lock for writing, so once Pause
// returns no process of the container takes another step until Resume:
// no output, no exit, no progress, as under the cgroup freezer. A sleep
// whose time passes while frozen ends at the thaw.
//
// Signals follow the kernel's rules for a container's init (pid 1 in its
// namespace): a signal the process has no handler for is ignored, except
// SIGKILL. Any other process, and the command that a forwarding init
// (--init) runs, dies of a signal whose default action is to terminate.
// A handler (the shell's trap) runs when the shell is between commands or
// waiting in the wait builtin, as a shell's do. Signals sent to a frozen
// container take effect at the thaw, as with the cgroup v1 freezer,
// except SIGKILL, which thaws it as runc does.
type proc struct {
	c    *ctr
	pid  int
	init bool // the container's pid 1, not behind a forwarding init
	// killed is closed when the process is killed; code is then its
	// exit code.
	killed   chan struct{}
	killOnce sync.Once
	code     int

	mu      sync.Mutex
	traps   map[syscall.Signal]string
	pending []syscall.Signal // trapped signals not handled yet
	kick    chan struct{}    // wakes a wait builtin for a trapped signal

	done chan struct{} // closed once the process has exited
	exit int
}

func newProc(c *ctr, pid int, init bool) *proc {
	return &proc{c: c, pid: pid, init: init, killed: make(chan struct{}), kick: make(chan struct{}, 1),
		traps: map[syscall.Signal]string{}, done: make(chan struct{})}
}

// errKilled stops a program whose process was killed.
var errKilled = errors.New("killed")

// die kills the process with exit code code.
func (p *proc) die(code int) {
	p.killOnce.Do(func() {
		p.code = code
		close(p.killed)
	})
}

func (p *proc) isKilled() bool {
	select {
	case <-p.killed:
		return true
	default:
		return false
	}
}

// signal delivers sig to the process (its container is not frozen).
func (p *proc) signal(sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		p.die(128 + int(sig))
		return
	}
	p.mu.Lock()
	_, trapped := p.traps[sig]
	if trapped {
		p.pending = append(p.pending, sig)
	}
	p.mu.Unlock()
	switch {
	case trapped:
		select {
		case p.kick <- struct{}{}:
		default:
		}
	case p.init:
		// pid 1 has no default action for signals.
	case terminates(sig):
		p.die(128 + int(sig))
	}
}

// terminates reports whether sig's default action ends a process.
func terminates(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGCHLD, syscall.SIGCONT, syscall.SIGURG, syscall.SIGWINCH,
		syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
		return false
	}
	return true
}

// takeTrapped returns the next trapped signal not handled yet and its
// handler.
func (p *proc) takeTrapped() (syscall.Signal, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return 0, "", false
	}
	sig := p.pending[0]
	p.pending = p.pending[1:]
	return sig, p.traps[sig], true
}

// enter starts a step: it waits while the container is frozen and holds
// the step lock for reading until leave. It returns errKilled for a
// killed process, still holding the lock, so that every enter has its
// leave.
func (p *proc) enter() error {
	for {
		p.c.step.RLock()
		p.c.mu.Lock()
		frozen, thaw := p.c.frozen, p.c.thaw
		p.c.mu.Unlock()
		if !frozen {
			if p.isKilled() {
				return errKilled
			}
			return nil
		}
		p.c.step.RUnlock()
		select {
		case <-thaw:
		case <-p.killed:
			p.c.step.RLock()
			return errKilled
		}
	}
}

func (p *proc) leave() { p.c.step.RUnlock() }

// block runs wait, which blocks, outside the step: the container may be
// frozen meanwhile. It re-enters a step before it returns wait's result,
// or errKilled if the process was killed meanwhile.
func (p *proc) block(wait func() error) error {
	p.leave()
	err := wait()
	if eerr := p.enter(); eerr != nil {
		return eerr
	}
	return err
}

// waitOr blocks until ch is ready or the process is killed.
func (p *proc) waitOr(ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-p.killed:
		return errKilled
	}
}

// reader is a process's stdin: reads block outside the step and end when
// the process is killed.
type reader struct {
	p *proc
	r io.Reader
}

type readResult struct {
	n   int
	err error
}

func (r *reader) Read(b []byte) (int, error) {
	var res readResult
	err := r.p.block(func() error {
		ch := make(chan readResult, 1)
		buf := make([]byte, len(b))
		go func() {
			n, err := r.r.Read(buf)
			ch <- readResult{n, err}
		}()
		select {
		case res = <-ch:
			copy(b, buf[:res.n])
			return nil
		case <-r.p.killed:
			return errKilled
		}
	})
	if err != nil {
		return 0, err
	}
	return res.n, res.err
}
