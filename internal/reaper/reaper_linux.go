// Package reaper reaps the orphans that a child subreaper adopts and that
// nobody waits for.
//
// The daemon is a child subreaper (PR_SET_CHILD_SUBREAPER): a descendant
// whose parent exits is reparented to the daemon, not to the host's init.
// Some of those the daemon waits for on purpose (the process of a terminal
// exec, left to it by a runtime that detaches). Every other one stays a
// zombie for the daemon's lifetime unless the daemon reaps it: a runtime's
// helpers orphaned when their parent exits (runsc re-execs itself as its
// sandbox and gofer, and leaves them to the daemon when its probe fails),
// an exec's process whose runtime died. One that belongs to a container's
// pid namespace does more harm than a leaked pid: a namespace's init that
// was killed does not finish exiting until every process of its namespace
// has been reaped (the kernel's zap_pid_ns_processes waits for them), so
// the container's exit would never be reported.
//
// The reaper must never take the exit status of a child that someone
// waits for: os/exec's Wait would then fail with ECHILD. It reaps a zombie
// child only when it can tell that nobody will:
//
//   - Go's os package holds a pidfd for every child it starts (Go 1.23 and
//     later, on a kernel with pidfds; Start checks both) until its Wait
//     has reaped it or Release dropped it; a child with a pidfd open in
//     this process is someone's.
//   - A pid claimed through an Adoption is waited for by its claimant.
//   - While an adoption is expected and its pid not yet claimed, nothing is
//     reaped: the adopted process could exit before its claimant knows it.
//
// Any other zombie child is an orphan nobody waits for. The reaper reaps it
// through a pidfd of its own, so that a pid reused meanwhile is never
// touched. This is how a process manager that starts its children through
// libraries does it without a registry of every fork (containerd's shim
// and tini own every fork they make, and reap everything else).
package reaper

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Reaper reaps the orphan zombies of the calling process. Its methods are
// safe for concurrent use; a nil *Reaper does nothing (Expect returns an
// Adoption that does nothing).
type Reaper struct {
	log *slog.Logger
	// settle is how long a scan waits after a SIGCHLD, so that the
	// waiters of children that just exited take them first and a burst
	// of exits costs one scan; every is the period of the scan that
	// runs without a signal.
	settle, every time.Duration

	mu        sync.Mutex
	expecting int              // adoptions whose pid is not claimed yet
	claimed   map[int]struct{} // pids their claimants wait for
	reaped    int              // orphans reaped so far

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// Option configures a Reaper.
type Option func(*Reaper)

// WithLogger sets the reaper's logger.
func WithLogger(l *slog.Logger) Option { return func(r *Reaper) { r.log = l } }

// WithPeriod sets how often the reaper scans without a SIGCHLD (default
// 30 s: a signal is the rule, the period a safety net).
func WithPeriod(d time.Duration) Option { return func(r *Reaper) { r.every = d } }

// ErrNoPidfd means the Go runtime does not hold pidfds for the children
// it starts here, so the reaper cannot tell its orphans from the children
// os/exec waits for.
var ErrNoPidfd = errors.New("pidfds are not usable here")

// Start starts a reaper for the calling process, which should be a child
// subreaper (or its orphans go to init anyway). It refuses to start where
// Go cannot use pidfds (ErrNoPidfd): without them every child would look
// like an orphan.
func Start(opts ...Option) (*Reaper, error) {
	if err := checkPidfd(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoPidfd, err)
	}
	r := &Reaper{
		log:     slog.Default(),
		settle:  100 * time.Millisecond,
		every:   30 * time.Second,
		claimed: map[int]struct{}{},
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	go r.loop(sigs)
	r.Kick() // orphans adopted before the reaper started
	return r, nil
}

// checkPidfd checks what Go's os package checks before it uses pidfds for
// the children it starts (os/pidfd_linux.go checkPidfd).
func checkPidfd() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	defer unix.Close(fd)
	var info unix.Siginfo
	for {
		err = unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil)
		if err != unix.EINTR {
			break
		}
	}
	if err != unix.ECHILD {
		return fmt.Errorf("waitid(P_PIDFD): %v", err)
	}
	if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
		return fmt.Errorf("pidfd_send_signal: %w", err)
	}
	return nil
}

// Close stops the reaper.
func (r *Reaper) Close() {
	if r == nil {
		return
	}
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// Kick asks for a scan soon.
func (r *Reaper) Kick() {
	if r == nil {
		return
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Reaped returns how many orphans the reaper has reaped.
func (r *Reaper) Reaped() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reaped
}

func (r *Reaper) loop(sigs chan os.Signal) {
	defer close(r.done)
	defer signal.Stop(sigs)
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-sigs:
		case <-r.kick:
		case <-tick.C:
		}
		select {
		case <-r.stop:
			return
		case <-time.After(r.settle):
		}
		if again := r.scan(); again {
			// An adoption was expected: look again once it is claimed.
			r.Kick()
		}
	}
}

// scan reaps the orphan zombies among the children; it reports whether it
// left one because an adoption was expected.
func (r *Reaper) scan() (again bool) {
	zombies := zombieChildren()
	if len(zombies) == 0 {
		return false
	}
	// Each zombie is pinned with a pidfd of the reaper's first: while it
	// is open, the zombie's pid names it and no other process, so the
	// pidfds held by others that name the pid are the zombie's.
	pinned := map[int]int{} // pid -> the reaper's pidfd
	defer func() {
		for _, fd := range pinned {
			unix.Close(fd)
		}
	}()
	for _, pid := range zombies {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // reaped meanwhile
		}
		var info unix.Siginfo
		if err := waitid(fd, &info, unix.WNOWAIT); err != nil || info.Signo == 0 {
			unix.Close(fd) // not a child, or not a zombie (the pid was reused)
			continue
		}
		pinned[pid] = fd
	}
	if len(pinned) == 0 {
		return false
	}
	// A pidfd held here by anyone else is a waiter's (os/exec's).
	own := map[int]bool{}
	for _, fd := range pinned {
		own[fd] = true
	}
	held := heldPidfds(own)
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid, fd := range pinned {
		if _, ok := held[pid]; ok {
			continue
		}
		if _, ok := r.claimed[pid]; ok {
			continue
		}
		if r.expecting > 0 {
			return true
		}
		comm := readComm(pid)
		var info unix.Siginfo
		if err := waitid(fd, &info, 0); err != nil || info.Signo == 0 {
			continue
		}
		r.reaped++
		r.log.Debug("reaped an orphan", "pid", pid, "comm", comm)
	}
	return false
}

// waitid waits without blocking for the exit of the child behind pidfd
// fd, with flags added to WEXITED|WNOHANG; info.Signo stays 0 when it has
// not exited.
func waitid(fd int, info *unix.Siginfo, flags int) error {
	for {
		err := unix.Waitid(unix.P_PIDFD, fd, info, unix.WEXITED|unix.WNOHANG|flags, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// Adoption is a process the caller will adopt as a child subreaper and
// wait for itself (by pid): while it is expected, nothing is reaped; once
// claimed, its pid is left to the caller until Done.
type Adoption struct {
	r    *Reaper
	mu   sync.Mutex
	pid  int
	open bool // expected and not claimed
	done bool
}

// Expect announces an adoption whose pid is not known yet. The caller
// must end it with Claim and then Done, or Done alone.
func (r *Reaper) Expect() *Adoption {
	a := &Adoption{r: r}
	if r == nil {
		return a
	}
	r.mu.Lock()
	r.expecting++
	r.mu.Unlock()
	a.open = true
	return a
}

// Claim says the adopted process is pid: the caller waits for it.
func (a *Adoption) Claim(pid int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.r == nil || a.done || !a.open {
		return
	}
	a.r.mu.Lock()
	a.r.expecting--
	a.r.claimed[pid] = struct{}{}
	a.r.mu.Unlock()
	a.open, a.pid = false, pid
	a.r.Kick() // anything left while it was expected
}

// Done ends the adoption: the caller has reaped the process, or will not
// adopt one.
func (a *Adoption) Done() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.r == nil || a.done {
		return
	}
	a.done = true
	a.r.mu.Lock()
	if a.open {
		a.r.expecting--
	}
	if a.pid != 0 {
		delete(a.r.claimed, a.pid)
	}
	a.r.mu.Unlock()
	a.r.Kick()
}

// zombieChildren lists the children of this process that are zombies.
func zombieChildren() []int {
	var out []int
	for _, pid := range children() {
		if procState(pid) == 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// children lists this process's children: each thread's children file
// (a subreaper's adoptee becomes the child of one of its threads), or a
// walk of /proc where that file does not exist (CONFIG_PROC_CHILDREN).
func children() []int {
	self := os.Getpid()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", self))
	if len(tasks) > 0 {
		seen := map[int]bool{}
		var out []int
		for _, f := range tasks {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, s := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(s); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
		}
		return out
	}
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := statFields(pid); ppid == self {
			out = append(out, pid)
		}
	}
	return out
}

// procState is the state letter of /proc/<pid>/stat (0 if unknown).
func procState(pid int) byte {
	_, st := statFields(pid)
	return st
}

// statFields returns the parent pid and state of /proc/<pid>/stat.
func statFields(pid int) (ppid int, state byte) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0, 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0][0]
}

func readComm(pid int) string {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(data))
}

// heldPidfds returns the pids that the pidfds open in this process refer
// to, but for the descriptors in skip.
func heldPidfds(skip map[int]bool) map[int]struct{} {
	out := map[int]struct{}{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return out
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || skip[fd] {
			continue
		}
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		// "anon_inode:[pidfd]", or "pidfd:[…]" where pidfs names it.
		if err != nil || !strings.Contains(link, "pidfd") {
			continue
		}
		data, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Pid:"); ok {
				if pid, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && pid > 0 {
					out[pid] = struct{}{}
				}
				break
			}
		}
	}
	return out
}
