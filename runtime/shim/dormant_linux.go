package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// A shim whose container has been quiet for Options.DormantAfter (no
// output, no request, no attached stream) goes dormant: it execs its own
// binary as "wharf-shim-dormant", keeping every descriptor it holds (the
// socket listener, the init's pidfd, the output pipes or pty, stdin, the
// daemon's wait connections), and that process does nothing but poll the
// listener, the pidfd and the outputs. When one becomes ready (a request,
// the container's exit, output) it execs `wharf shim --resume`, which
// rebuilds the Go shim from dormant.json and the inherited descriptors and
// carries on. The process, its pid and its children stay the same
// throughout, so the container is never without its parent and nothing the
// daemon or the container sees changes.
//
// In a binary linked with the entry point DormantEntry (make build does),
// the dormant process never starts the Go runtime: the entry, in assembly,
// polls and execs on its own, and the process costs a few pages instead of
// a Go heap. Any other build runs DormantMain, the same loop in Go.

// DormantEntry is the ELF entry symbol of the assembly dormant loop (amd64),
// for the linker's -E flag. Without it the binary still works; its dormant
// shims are ordinary Go processes.
const DormantEntry = "wharf_rt0"

// DormantName is argv[0] of a dormant shim.
const DormantName = "wharf-shim-dormant"

const dormantFile = "dormant.json"

// dormantState is what a resumed shim needs besides its descriptors'
// contents: the options, the init's pid and which descriptor is which.
type dormantState struct {
	Options Options
	// Since is when the shim went dormant and Backoff how many times in a
	// row it was woken soon after (see nextBackoff).
	Since    time.Time
	Backoff  int
	Pid      int
	Listener int
	Pidfd    int
	Outputs  []dormantOutput
	Stdin    int // -1: none, or closed after StdinOnce
	Waiters  []int
}

type dormantOutput struct {
	Stream string
	Fd     int
	Held   []byte `json:",omitempty"` // a partial line not logged yet
}

// A shim that is woken again soon after it went dormant (a container
// that logs every few seconds) waits twice as long before its next
// dormancy, up to maxBackoff doublings: each wake costs a Go process's
// start, which a chatty container should not pay every few seconds. A
// long sleep resets the wait.
const (
	maxBackoff = 6 // 64 × DormantAfter
	soonWoken  = 30
)

// nextBackoff returns the backoff of a shim resumed after sleeping for
// slept, with DormantAfter base and previous backoff prev.
func nextBackoff(prev int, slept, base time.Duration) int {
	if slept >= soonWoken*base {
		return 0
	}
	return min(prev+1, maxBackoff)
}

// idle puts the shim to sleep once the container has been quiet long
// enough.
func (s *shim) idle(pid int) {
	after := s.o.DormantAfter << s.backoff
	tick := after / 4
	if tick < 50*time.Millisecond {
		tick = 50 * time.Millisecond
	}
	for {
		time.Sleep(tick)
		if time.Since(time.Unix(0, s.active.Load())) < after || !s.quiet() {
			continue
		}
		err := s.park(pid)
		if errors.Is(err, errExiting) {
			return
		}
		if err != nil && !errors.Is(err, errBusy) {
			// Not a passing state: this shim stays awake.
			s.log.Warn("cannot go dormant", "err", err)
			return
		}
		s.touch()
	}
}

// quiet reports whether nothing needs the Go shim: output released and no
// stream attached.
func (s *shim) quiet() bool {
	select {
	case <-s.released:
	default:
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients) == 0 && s.exit == nil
}

var (
	errBusy    = errors.New("shim busy")
	errExiting = errors.New("container exiting")
)

// park stops the shim's goroutines at a quiet moment and execs the dormant
// process. It returns only if it could not: the shim then runs on.
func (s *shim) park(pid int) (err error) {
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if s.exiting {
		return errExiting
	}
	// Every stream must take a deadline, or its copier could not be
	// stopped.
	for _, out := range s.outs {
		if err := out.f.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("%s cannot be stopped: %w", out.stream, err)
		}
	}
	since := s.active.Load()
	// Stop accepting and let requests in flight finish, then stop the
	// copiers; whatever they read before stopping is logged.
	_ = s.l.SetDeadline(time.Unix(1, 0))
	s.serving.Wait()
	// No flush is in flight now (it is a request): the deadlines stop
	// the copiers.
	s.stopping.Store(true)
	for _, out := range s.outs {
		_ = out.f.SetReadDeadline(time.Unix(1, 0))
	}
	s.copiers.Wait()
	defer func() {
		if err != nil {
			s.stopping.Store(false)
			s.startServing()
			s.startCopiers()
		}
	}()
	if s.active.Load() != since || !s.quiet() {
		return errBusy
	}
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil || info.Signo != 0 {
		return errExiting // exited (or not ours): the exit path takes over
	}

	// Inheritable duplicates of everything the next process needs; they
	// are closed again if the exec fails.
	var fds []int
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}()
	dup := func(get func() (int, error)) (int, error) {
		fd, err := get()
		if err != nil {
			return -1, err
		}
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD, 3)
		if err != nil {
			return -1, err
		}
		fds = append(fds, nfd)
		return nfd, nil
	}
	st := dormantState{Options: s.o, Since: time.Now(), Backoff: s.backoff, Pid: pid, Stdin: -1}
	if st.Listener, err = dup(func() (int, error) { return rawFd(s.l) }); err != nil {
		return err
	}
	if st.Pidfd, err = dup(func() (int, error) { return s.pidfd, nil }); err != nil {
		return err
	}
	poll := []int{st.Listener, st.Pidfd}
	s.mu.Lock()
	outs, stdinEOF, waiters := s.outs, s.stdinEOF, s.waiters
	s.mu.Unlock()
	for _, out := range outs {
		if out.done {
			continue
		}
		fd, err := dup(func() (int, error) { return rawFd(out.f) })
		if err != nil {
			return err
		}
		st.Outputs = append(st.Outputs, dormantOutput{Stream: out.stream, Fd: fd, Held: out.held()})
		poll = append(poll, fd)
	}
	if f, ok := s.stdin.(*os.File); ok && f != nil && !stdinEOF && !s.o.Tty {
		if st.Stdin, err = dup(func() (int, error) { return rawFd(f) }); err != nil {
			return err
		}
	}
	for _, w := range waiters {
		fd, err := dup(func() (int, error) { return rawFd(w) })
		if err != nil {
			return err
		}
		st.Waiters = append(st.Waiters, fd)
	}
	// The dormant loop polls exactly four descriptors; a missing output
	// repeats the pidfd.
	for len(poll) < 4 {
		poll = append(poll, st.Pidfd)
	}
	if len(poll) > 4 {
		return fmt.Errorf("%d descriptors to poll", len(poll))
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	// Whole, not durable: the shim's directory is run-time state under
	// the exec-root (/run/wharf, a tmpfs on most hosts), which a host
	// crash loses along with the container itself.
	if err := atomicfile.WriteFile(filepath.Join(s.o.Dir, dormantFile), data, 0o600, atomicfile.NoSync()); err != nil {
		return err
	}
	argv := []string{DormantName}
	for _, fd := range poll {
		argv = append(argv, strconv.Itoa(fd))
	}
	env := append(os.Environ(), "GOMAXPROCS=1")
	s.log.Info("going dormant")
	err = unix.Exec("/proc/self/exe", argv, env)
	return fmt.Errorf("exec dormant: %w", err)
}

// rawFd returns the descriptor behind a file, connection or listener
// without changing its blocking mode (as Fd would).
func rawFd(x any) (int, error) {
	c, ok := x.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", x)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// Resume is `wharf shim --resume`: the Go shim again, in the process a
// dormant shim woke up in, from dormant.json in its directory (the working
// directory) and the descriptors it kept.
func Resume() int {
	_ = os.Unsetenv("GOMAXPROCS")
	data, err := os.ReadFile(dormantFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wharf shim: resume:", err)
		return 2
	}
	var st dormantState
	if err := json.Unmarshal(data, &st); err != nil {
		fmt.Fprintln(os.Stderr, "wharf shim: resume:", err)
		return 2
	}
	_ = os.Remove(dormantFile)
	s := newShim(st.Options)
	s.backoff = nextBackoff(st.Backoff, time.Since(st.Since), st.Options.DormantAfter)
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	// Descriptors go back to close-on-exec, and to non-blocking so that
	// the Go runtime polls them.
	for _, fd := range append(append([]int{st.Listener, st.Pidfd, st.Stdin}, st.Waiters...), outputFds(st.Outputs)...) {
		if fd >= 0 {
			unix.CloseOnExec(fd)
			_ = unix.SetNonblock(fd, true)
		}
	}
	lf := os.NewFile(uintptr(st.Listener), "listener")
	fl, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		s.log.Error("resume: listener", "err", err)
		return 2
	}
	l := fl.(*net.UnixListener)
	l.SetUnlinkOnClose(true)
	if s.logw, err = openLog(st.Options); err != nil {
		s.log.Error("resume: log file", "err", err)
		return 2
	}
	var outputs []*output
	for _, o := range st.Outputs {
		f := os.NewFile(uintptr(o.Fd), o.Stream)
		out := newOutput(o.Stream, f, s.logw)
		if out.split != nil {
			out.split.Hold(o.Held)
		}
		outputs = append(outputs, out)
		if st.Options.Tty {
			s.master = f
			if st.Options.Stdin {
				s.stdin = f
			}
		}
	}
	if st.Stdin >= 0 {
		s.stdin = os.NewFile(uintptr(st.Stdin), "stdin")
	} else if st.Options.Stdin && !st.Options.Tty {
		s.stdinEOF = true
	}
	for _, fd := range st.Waiters {
		f := os.NewFile(uintptr(fd), "waiter")
		c, err := net.FileConn(f)
		f.Close()
		if err == nil {
			s.waiters = append(s.waiters, c)
		}
	}
	s.release()
	unix.Close(st.Pidfd) // run opens its own
	s.log.Info("resumed")
	return s.run(st.Pid, l, outputs)
}

func outputFds(outs []dormantOutput) []int {
	var fds []int
	for _, o := range outs {
		fds = append(fds, o.Fd)
	}
	return fds
}

// DormantMain is the dormant loop for a binary without the assembly entry:
// wait until one of the four descriptors in argv is ready, then resume.
func DormantMain() int {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, DormantName+": started by a wharf shim only")
		return 2
	}
	var pfds []unix.PollFd
	for _, a := range os.Args[1:] {
		fd, err := strconv.Atoi(a)
		if err != nil {
			return 2
		}
		pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for {
		if _, err := unix.Poll(pfds, -1); err != unix.EINTR {
			break
		}
	}
	for {
		err := unix.Exec("/proc/self/exe", []string{"wharf", "shim", "--resume"}, os.Environ())
		fmt.Fprintln(os.Stderr, DormantName+": resume:", err)
		time.Sleep(time.Second)
	}
}
