// Package fake is an in-memory container runtime (task.Runtime) and root
// filesystem mounter (snapshot.Mounter) that need no privilege, for the
// engine's and the API servers' tests. It is not a recording mock: it
// behaves as the engine sees a real runtime behave.
//
// A container's process runs the program its bundle's config.json names,
// interpreted (shell.go): a small subset of sh and of busybox's applets
// (echo, cat, sleep, exit, trap, wait, read, env, hostname, stty size,
// "sh -c" scripts, "sh" reading commands from stdin, output redirected to
// files), resolved in the container's root filesystem as an exec would
// resolve it: a program whose file is missing does not start (127), one
// the fake cannot run does not either (126). So a test scripts a
// container the way it would script a busybox one, and the same scripts
// run unchanged on the real runtime (runtime/testsuite checks both).
//
// Processes run until they exit or are killed; signals follow the
// kernel's rules for a container's init (proc.go); exit codes are the
// process's own or 128+n for signal n; Pause freezes them; the container's
// stdio is held as wharf's shim holds it (stdio.go), output written to
// the log; Exec runs more programs in the container, killed with it.
//
// A Host is the machine: its containers outlive the Runtime through which
// a daemon drives them. Closing a Runtime is the daemon going away; a new
// Runtime of the same Host is a restarted daemon, which re-adopts the
// containers still running (Alive, Wait) and reads the exits recorded
// while it was down (ReadExit). Host.Reboot loses everything, as a
// reboot does.
package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/runtime/task"
)

// firstPid is the first pid the fake hands out: above any kernel's
// pid_max (at most 2^22), so that a fake pid never names a host process.
const firstPid = 1 << 23

// Host is the machine fake containers run on.
type Host struct {
	rootfs *RootFS

	mu      sync.Mutex
	ctrs    map[string]*ctr       // containers whose process runs
	exits   map[string]*task.Exit // recorded exits, until Start or Delete
	nextPid int
}

// NewHost returns a host with no containers.
func NewHost() *Host {
	return &Host{rootfs: NewRootFS(), ctrs: map[string]*ctr{}, exits: map[string]*task.Exit{}, nextPid: firstPid}
}

// RootFS is the host's mounter: its mount table is the host's, kept
// across daemon restarts.
func (h *Host) RootFS() *RootFS { return h.rootfs }

// Runtime returns the runtime through which one daemon drives the host's
// containers.
func (h *Host) Runtime() *Runtime {
	return &Runtime{h: h, dead: make(chan struct{}), streams: map[*net.UnixConn]struct{}{}}
}

// New returns the runtime of a new host.
func New() *Runtime { return NewHost().Runtime() }

// Reboot ends every container at once without recording their exits,
// and takes every mount down (keeping what was written under them, as a
// kernel overlay does).
func (h *Host) Reboot() {
	h.mu.Lock()
	ctrs := h.ctrs
	h.ctrs = map[string]*ctr{}
	h.exits = map[string]*task.Exit{}
	h.mu.Unlock()
	for _, c := range ctrs {
		c.vanish()
	}
	h.rootfs.unmountAll()
}

func (h *Host) pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextPid++
	return h.nextPid
}

// ctr is one running container, the fake's supervisor of it included.
type ctr struct {
	h      *Host
	id     string
	opts   task.StartOptions
	spec   *specs.Spec
	rootfs string
	pid    int

	// step is taken for reading by each step of the container's
	// processes and for writing by Pause (proc.go).
	step sync.RWMutex

	mu       sync.Mutex
	status   string // task.StatusRunning or task.StatusPaused
	frozen   bool
	thaw     chan struct{}    // closed at the next Resume
	queued   []syscall.Signal // signals sent while frozen
	init     *proc
	execs    map[*proc]struct{}
	clients  map[*client]struct{}
	termSize [2]uint16
	exit     *task.Exit
	done     chan struct{} // closed once the exit is recorded
	vanished bool

	released chan struct{}
	relOnce  sync.Once

	stdinR    *io.PipeReader
	stdinW    *io.PipeWriter
	stdinOnce sync.Once

	logw  *logfile.Writer
	split map[string]*logfile.LineSplitter

	// tmpfs are the directories standing in for the tmpfs mounts, by
	// destination; they go with the run.
	tmpfs map[string]string
}

func (c *ctr) release() { c.relOnce.Do(func() { close(c.released) }) }

// Runtime is a task.Runtime over a Host: one daemon's view of it.
type Runtime struct {
	h *Host
	// dead is closed by Close: the daemon is gone.
	dead    chan struct{}
	mu      sync.Mutex
	closed  bool
	streams map[*net.UnixConn]struct{} // the daemon's ends of attach streams
}

var _ task.Runtime = (*Runtime)(nil)

func (r *Runtime) alive() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("fake runtime: this daemon is gone: %w", errdefs.ErrUnavailable)
	}
	return nil
}

// Close implements task.Runtime. The daemon is gone: its attach streams
// close, and its calls still waiting (Wait) never return, as a dead
// daemon's would not; the containers go on.
func (r *Runtime) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.dead)
	streams := r.streams
	r.streams = nil
	r.mu.Unlock()
	for s := range streams {
		s.Close()
	}
}

// running returns the running container id.
func (r *Runtime) running(id string) (*ctr, error) {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	c := r.h.ctrs[id]
	if c == nil {
		return nil, fmt.Errorf("fake runtime: container %s does not exist: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

// Start implements task.Lifecycle.
func (r *Runtime) Start(ctx context.Context, o task.StartOptions) (int, error) {
	if err := r.alive(); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(filepath.Join(o.Bundle, "config.json"))
	if err != nil {
		return 0, &task.StartError{Msg: fmt.Sprintf("reading the bundle: %v", err), ExitCode: 125}
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return 0, &task.StartError{Msg: fmt.Sprintf("config.json: %v", err), ExitCode: 125}
	}
	if s.Process == nil || len(s.Process.Args) == 0 || s.Root == nil {
		return 0, &task.StartError{Msg: "config.json: no process or root", ExitCode: 125}
	}
	rootfs := s.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(o.Bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return 0, &task.StartError{Msg: fmt.Sprintf("rootfs %s: not a directory (%v)", rootfs, err), ExitCode: 125}
	}
	c := &ctr{
		h: r.h, id: o.ID, opts: o, spec: &s, rootfs: rootfs,
		status: task.StatusRunning, execs: map[*proc]struct{}{}, clients: map[*client]struct{}{},
		done: make(chan struct{}), released: make(chan struct{}), thaw: make(chan struct{}),
	}
	if s.Process.ConsoleSize != nil {
		c.termSize = [2]uint16{uint16(s.Process.ConsoleSize.Height), uint16(s.Process.ConsoleSize.Width)}
	}
	if err := c.makeTmpfs(); err != nil {
		return 0, &task.StartError{Msg: "tmpfs: " + err.Error(), ExitCode: 125}
	}
	prog, err := c.resolve(s.Process.Args, s.Process.Env)
	if err != nil {
		c.dropTmpfs()
		return 0, err
	}
	r.h.mu.Lock()
	if r.h.ctrs[o.ID] != nil {
		r.h.mu.Unlock()
		c.dropTmpfs()
		return 0, fmt.Errorf("the supervisor of the previous run of %s is still running: %w", o.ID, errdefs.ErrUnavailable)
	}
	r.h.ctrs[o.ID] = c
	delete(r.h.exits, o.ID)
	r.h.mu.Unlock()
	if err := c.openLog(); err != nil {
		r.h.mu.Lock()
		delete(r.h.ctrs, o.ID)
		r.h.mu.Unlock()
		c.dropTmpfs()
		return 0, &task.StartError{Msg: "log file: " + err.Error(), ExitCode: 125}
	}
	if !o.Hold {
		c.release()
	}
	c.pid = r.h.pid()
	p := newProc(c, c.pid, !prog.forwarded)
	c.init = p
	var stdin io.Reader = eofReader{}
	if o.Stdin {
		c.stdinR, c.stdinW = io.Pipe()
		stdin = c.stdinR
	}
	term := func() ([2]uint16, bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.termSize, o.Tty
	}
	go func() {
		code := runProgram(p, prog, s.Process.Env, s.Process.Cwd, stdin,
			&output{c: c, p: p, stream: "stdout"}, &output{c: c, p: p, stream: "stderr"}, term)
		c.exited(code)
	}()
	return c.pid, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// exited records the end of the init process: the container's other
// processes die with it, its streams close, its exit is recorded.
func (c *ctr) exited(code int) {
	c.mu.Lock()
	execs := c.execs
	c.execs = map[*proc]struct{}{}
	c.mu.Unlock()
	for p := range execs {
		p.die(128 + int(syscall.SIGKILL))
	}
	c.closeLog()
	if c.stdinR != nil {
		c.stdinR.Close()
	}
	c.dropTmpfs()
	exit := &task.Exit{Pid: c.pid, ExitCode: code, ExitedAt: time.Now().UTC()}
	c.mu.Lock()
	vanished := c.vanished
	c.exit = exit
	clients := c.clients
	c.clients = map[*client]struct{}{}
	c.mu.Unlock()
	for cl := range clients {
		cl.conn.Close()
	}
	if vanished {
		return
	}
	c.h.mu.Lock()
	if c.h.ctrs[c.id] == c {
		delete(c.h.ctrs, c.id)
		c.h.exits[c.id] = exit
	}
	c.h.mu.Unlock()
	close(c.done)
}

// vanish ends the container without a trace, as a host going down does.
func (c *ctr) vanish() {
	c.mu.Lock()
	c.vanished = true
	procs := []*proc{c.init}
	for p := range c.execs {
		procs = append(procs, p)
	}
	if c.frozen {
		c.frozen = false
		close(c.thaw)
	}
	c.mu.Unlock()
	for _, p := range procs {
		p.die(128 + int(syscall.SIGKILL))
	}
}

// Wait implements task.Lifecycle.
func (r *Runtime) Wait(ctx context.Context, id string) (*task.Exit, error) {
	if err := r.alive(); err != nil {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	r.h.mu.Lock()
	c := r.h.ctrs[id]
	exit := r.h.exits[id]
	r.h.mu.Unlock()
	if c == nil {
		if exit == nil {
			return nil, task.ErrGone
		}
		cp := *exit
		return &cp, nil
	}
	select {
	case <-c.done:
		cp := *c.exit
		return &cp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.dead:
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

// Alive implements task.Lifecycle.
func (r *Runtime) Alive(_ context.Context, id string) bool {
	_, err := r.running(id)
	return err == nil
}

// ReadExit implements task.Lifecycle.
func (r *Runtime) ReadExit(_ context.Context, id string) (*task.Exit, error) {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	if x := r.h.exits[id]; x != nil {
		cp := *x
		return &cp, nil
	}
	return nil, nil
}

// Kill implements task.Lifecycle.
func (r *Runtime) Kill(_ context.Context, id string, sig syscall.Signal) error {
	if err := r.alive(); err != nil {
		return err
	}
	c, err := r.running(id)
	if err != nil {
		return err
	}
	if sig <= 0 || sig > 64 {
		return fmt.Errorf("fake runtime: invalid signal %d: %w", sig, errdefs.ErrInvalidArgument)
	}
	c.mu.Lock()
	if c.frozen && sig != syscall.SIGKILL {
		c.queued = append(c.queued, sig)
		c.mu.Unlock()
		return nil
	}
	if c.frozen {
		// As runc does, SIGKILL thaws a paused container to reach it.
		c.frozen = false
		c.status = task.StatusRunning
		close(c.thaw)
	}
	p := c.init
	c.mu.Unlock()
	p.signal(sig)
	return nil
}

// Pause implements task.Lifecycle.
func (r *Runtime) Pause(_ context.Context, id string) error {
	if err := r.alive(); err != nil {
		return err
	}
	c, err := r.running(id)
	if err != nil {
		return err
	}
	// No step of the container's processes is under way once this
	// holds the step lock.
	c.step.Lock()
	defer c.step.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return fmt.Errorf("fake runtime: container %s is already paused: %w", id, errdefs.ErrConflict)
	}
	c.frozen = true
	c.thaw = make(chan struct{})
	c.status = task.StatusPaused
	return nil
}

// Resume implements task.Lifecycle.
func (r *Runtime) Resume(_ context.Context, id string) error {
	if err := r.alive(); err != nil {
		return err
	}
	c, err := r.running(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if !c.frozen {
		c.mu.Unlock()
		return fmt.Errorf("fake runtime: container %s is not paused: %w", id, errdefs.ErrConflict)
	}
	c.frozen = false
	c.status = task.StatusRunning
	queued := c.queued
	c.queued = nil
	p := c.init
	close(c.thaw)
	c.mu.Unlock()
	for _, sig := range queued {
		p.signal(sig)
	}
	return nil
}

// Delete implements task.Lifecycle.
func (r *Runtime) Delete(_ context.Context, id string) error {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	if r.h.ctrs[id] != nil {
		return fmt.Errorf("fake runtime: container %s is running: %w", id, errdefs.ErrConflict)
	}
	delete(r.h.exits, id)
	return nil
}

// State implements task.Inspector.
func (r *Runtime) State(_ context.Context, id string) (*task.State, error) {
	c, err := r.running(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &task.State{ID: id, Pid: c.pid, Status: c.status}, nil
}

// Pids implements task.Inspector.
func (r *Runtime) Pids(_ context.Context, id string) ([]int, error) {
	c, err := r.running(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := []int{c.pid}
	for p := range c.execs {
		pids = append(pids, p.pid)
	}
	sort.Ints(pids)
	return pids, nil
}

// Attach implements task.Stdio.
func (r *Runtime) Attach(_ context.Context, id string, o task.AttachOptions) (task.Stream, error) {
	if err := r.alive(); err != nil {
		return nil, err
	}
	c, err := r.running(id)
	if err != nil {
		return nil, err
	}
	mine, theirs, err := socketPair()
	if err != nil {
		return nil, err
	}
	cl := &client{conn: theirs, stdout: o.Stdout, stderr: o.Stderr}
	c.mu.Lock()
	cl.marks = o.Marks && !c.opts.Tty
	c.mu.Unlock()
	c.mu.Lock()
	if c.exit != nil {
		c.mu.Unlock()
		mine.Close()
		theirs.Close()
		return nil, fmt.Errorf("attach: container already exited: %w", errdefs.ErrConflict)
	}
	c.clients[cl] = struct{}{}
	var cut *task.Cut
	if o.Cut {
		cut = c.cutLocked()
	}
	c.mu.Unlock()
	r.mu.Lock()
	if r.streams != nil {
		r.streams[mine] = struct{}{}
	}
	r.mu.Unlock()
	if o.Release {
		c.release()
	}
	if o.Stdin && c.stdinW != nil {
		go c.serveStdin(theirs)
	}
	if o.Cut {
		return &cutStream{UnixConn: mine, cut: cut}, nil
	}
	return mine, nil
}

// Release implements task.Stdio.
func (r *Runtime) Release(_ context.Context, id string) error {
	c, err := r.running(id)
	if err != nil {
		return err
	}
	c.release()
	return nil
}

// Flush implements task.Stdio.
func (r *Runtime) Flush(_ context.Context, id, token string) error {
	c, err := r.running(id)
	if err != nil {
		return err
	}
	return c.mark(token)
}

// Resize implements task.Stdio.
func (r *Runtime) Resize(_ context.Context, id string, height, width uint16) error {
	c, err := r.running(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.termSize = [2]uint16{height, width}
	c.mu.Unlock()
	return nil
}

// makeTmpfs makes the directories that stand in for the spec's tmpfs
// mounts, in the bundle, so that nothing outlives the bundle's directory.
func (c *ctr) makeTmpfs() error {
	c.tmpfs = map[string]string{}
	base := filepath.Join(c.opts.Bundle, ".fake-tmpfs")
	for _, m := range c.spec.Mounts {
		if m.Type != "tmpfs" {
			continue
		}
		if err := os.MkdirAll(base, 0o700); err != nil {
			c.dropTmpfs()
			return err
		}
		d, err := os.MkdirTemp(base, "")
		if err != nil {
			c.dropTmpfs()
			return err
		}
		c.tmpfs[m.Destination] = d
	}
	return nil
}

func (c *ctr) dropTmpfs() {
	for _, d := range c.tmpfs {
		_ = os.RemoveAll(d)
	}
}

// Update implements task.Lifecycle: the container's limits change as a
// cgroup's would, field by field (what r leaves nil keeps its value).
func (r *Runtime) Update(_ context.Context, id string, res *specs.LinuxResources) error {
	if err := r.alive(); err != nil {
		return err
	}
	c, err := r.running(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spec.Linux == nil {
		c.spec.Linux = &specs.Linux{}
	}
	cur := c.spec.Linux.Resources
	if cur == nil {
		cur = &specs.LinuxResources{}
		c.spec.Linux.Resources = cur
	}
	if m := res.Memory; m != nil {
		if cur.Memory == nil {
			cur.Memory = &specs.LinuxMemory{}
		}
		if m.Limit != nil {
			cur.Memory.Limit = m.Limit
		}
		if m.Swap != nil {
			cur.Memory.Swap = m.Swap
		}
		if m.Reservation != nil {
			cur.Memory.Reservation = m.Reservation
		}
	}
	if p := res.CPU; p != nil {
		if cur.CPU == nil {
			cur.CPU = &specs.LinuxCPU{}
		}
		if p.Shares != nil {
			cur.CPU.Shares = p.Shares
		}
		if p.Quota != nil {
			cur.CPU.Quota = p.Quota
		}
		if p.Period != nil {
			cur.CPU.Period = p.Period
		}
		if p.Cpus != "" {
			cur.CPU.Cpus = p.Cpus
		}
		if p.Mems != "" {
			cur.CPU.Mems = p.Mems
		}
	}
	if res.Pids != nil {
		cur.Pids = res.Pids
	}
	if res.BlockIO != nil {
		cur.BlockIO = res.BlockIO
	}
	return nil
}

// Resources returns the current limits of a running container, as its
// cgroup holds them: those of its spec, changed by Update. Nil when it
// does not run.
func (h *Host) Resources(id string) *specs.LinuxResources {
	h.mu.Lock()
	c := h.ctrs[id]
	h.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spec.Linux == nil || c.spec.Linux.Resources == nil {
		return &specs.LinuxResources{}
	}
	data, _ := json.Marshal(c.spec.Linux.Resources)
	var out specs.LinuxResources
	_ = json.Unmarshal(data, &out)
	return &out
}
