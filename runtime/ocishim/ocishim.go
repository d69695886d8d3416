// Package ocishim is the task.Runtime of wharf's daemon: an OCI runtime
// binary (runc or crun, package oci) running each container under wharf's
// shim (package shim), the per-container supervisor that holds the
// container's stdio, writes its log, records its exit and outlives the
// daemon.
//
// On-disk layout, under the daemon's exec-root:
//
//	shims/<id[:24]>/      the shim's directory (see package shim); its
//	                      name is a prefix of the ID because unix socket
//	                      paths inside it are limited to 108 bytes
//	shims/<id[:24]>/x<exec[:8]>/   one exec's process.json, pid file and
//	                      runtime log, removed when the exec is over
//	shims/<id[:24]>/w<rand>/       a warm exec (warm.go)
//	runtime/<name>/       the OCI runtime's own state (its --root)
//
// The optimisations of the start and exec paths live here, behind the
// interface: one shim process is kept started ahead of need and handed
// the next container (shim.Spawner, shared by the runtimes of one
// daemon); shims go dormant when their container is quiet
// (WithShimDormantAfter); the runtime's record of an exited container is
// deleted by its shim at the lowest CPU priority after the exit is
// reported; `run` attaches and releases held output in one round trip
// (AttachOptions.Release); and a container whose execs repeat finds the
// runtime's next exec started and waiting (warm.go).
package ocishim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/shim"
	"github.com/wharf-dev/wharf/runtime/task"
)

// Runtime runs containers with one OCI runtime under wharf's shim.
type Runtime struct {
	rt      *oci.Runtime
	sp      *shim.Spawner
	shims   string // <exec-root>/shims
	dormant time.Duration
	warmFor time.Duration
	log     *slog.Logger

	mu sync.Mutex
	// runs is what the runtime keeps in memory per container: the warm
	// exec and when the last exec came. A container re-adopted after a
	// daemon restart gets one at its first exec.
	runs map[string]*run
	// closed: no more warm execs are started.
	closed bool

	// forwardDelay is WithShimForwardDelay's.
	forwardDelay time.Duration
	// adopter is WithAdopter's.
	adopter Adopter
	// seccompDir is WithSeccompCache's; seccomp the cache of this
	// runtime's compiled seccomp programs (nil: it compiles its own at
	// every start).
	seccompDir string
	seccomp    *oci.SeccompCache
}

// Adopter is told of a process that the daemon, a child subreaper, adopts
// and waits for by its pid (a terminal exec's, which the runtime leaves
// behind when it detaches), so that a reaper of the daemon's orphans
// leaves it alone. Calling it announces the adoption before the pid is
// known; claim names the pid once it is, and done ends the adoption once
// the process is reaped (or will not be waited for). Both are called at
// most once, claim before done.
type Adopter func() (claim func(pid int), done func())

// WithAdopter sets the Adopter of the processes the daemon adopts.
func WithAdopter(a Adopter) Option { return func(r *Runtime) { r.adopter = a } }

// expectAdoption announces an adoption to the Adopter, if any.
func (r *Runtime) expectAdoption() (claim func(pid int), done func()) {
	if r.adopter == nil {
		return func(int) {}, func() {}
	}
	return r.adopter()
}

// run is the in-memory state of a container's current run.
type run struct {
	// gen counts the container's starts: a warm exec belongs to the run
	// it was started for.
	gen int
	// exited: Wait saw the run end; paused: Pause froze it.
	exited, paused bool
	warm           *warmExec
	// lastExec is when the container's last non-terminal exec started.
	lastExec time.Time
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithLogger sets the runtime's logger.
func WithLogger(l *slog.Logger) Option { return func(r *Runtime) { r.log = l } }

// WithShimDormantAfter makes a container's shim go dormant after d without
// output, requests or attached streams (0: never); see package shim.
func WithShimDormantAfter(d time.Duration) Option { return func(r *Runtime) { r.dormant = d } }

// WithShimForwardDelay makes every shim wait d before it forwards each
// read of its container's output (tests only: output stays in flight as
// on a loaded host; see shim.Options.ForwardDelay).
func WithShimForwardDelay(d time.Duration) Option { return func(r *Runtime) { r.forwardDelay = d } }

// WithExecWarmFor keeps a runtime exec started ahead for d after a
// container's last exec (0: never); see warm.go.
func WithExecWarmFor(d time.Duration) Option { return func(r *Runtime) { r.warmFor = d } }

// WithSeccompCache keeps the seccomp programs crun compiles under dir
// (one directory per runtime) and starts later containers of the same
// profile from them (runtime/oci's SeccompCache); runtimes other than
// crun compile their own.
func WithSeccompCache(dir string) Option { return func(r *Runtime) { r.seccompDir = dir } }

// New returns the Runtime of the OCI runtime rt, whose shims sp starts and
// whose shim directories are under execRoot/shims.
func New(rt *oci.Runtime, sp *shim.Spawner, execRoot string, opts ...Option) (*Runtime, error) {
	r := &Runtime{rt: rt, sp: sp, shims: filepath.Join(execRoot, "shims"), log: slog.Default(), runs: map[string]*run{}}
	for _, o := range opts {
		o(r)
	}
	if err := os.MkdirAll(r.shims, 0o700); err != nil {
		return nil, err
	}
	if r.seccompDir != "" && strings.Contains(filepath.Base(rt.Path), "crun") {
		c, err := oci.NewSeccompCache(filepath.Join(r.seccompDir, rt.Name), rt)
		if err != nil {
			return nil, fmt.Errorf("seccomp cache of %s: %w", rt.Name, err)
		}
		r.seccomp = c
	}
	return r, nil
}

// PrepareSpec implements task.SpecPreparer: a crun container whose
// seccomp profile was compiled before starts from that program; one whose
// profile was not teaches it to the cache once started.
func (r *Runtime) PrepareSpec(id string, s *specs.Spec) func() {
	if r.seccomp == nil {
		return nil
	}
	key := r.seccomp.Apply(s)
	if key == "" {
		return nil
	}
	return func() {
		if err := r.seccomp.Learn(key, filepath.Join(r.rt.Root, id)); err != nil {
			r.log.Debug("keeping the compiled seccomp program", "runtime", r.rt.Name, "container", id, "err", err)
		}
	}
}

// NewSet returns a Runtime for each OCI runtime, by name, sharing one
// shim spawner that runs `self shim`, and starts the spawner's first shim.
func NewSet(self, execRoot string, runtimes map[string]*oci.Runtime, opts ...Option) (map[string]task.Runtime, error) {
	sp := shim.NewSpawner(self)
	out := make(map[string]task.Runtime, len(runtimes))
	for name, rt := range runtimes {
		r, err := New(rt, sp, execRoot, opts...)
		if err != nil {
			sp.Close()
			return nil, err
		}
		out[name] = r
	}
	go sp.Prestart()
	return out, nil
}

// dir is the shim's directory of container id.
func (r *Runtime) dir(id string) string { return filepath.Join(r.shims, id[:min(24, len(id))]) }

// runOf returns the in-memory state of id's run, making it if missing.
// Called with r.mu held.
func (r *Runtime) runOf(id string) *run {
	rn := r.runs[id]
	if rn == nil {
		rn = &run{}
		r.runs[id] = rn
	}
	return rn
}

// newRun starts a new run of id: the last run's warm exec is of no use.
func (r *Runtime) newRun(id string) {
	r.mu.Lock()
	rn := r.runOf(id)
	rn.gen++
	rn.exited, rn.paused = false, false
	w := rn.warm
	rn.warm = nil
	r.mu.Unlock()
	if w != nil {
		w.kill()
	}
}

// Start implements task.Lifecycle: it hands the options to a shim, which
// runs `runtime run --detach` and reports the container's pid.
func (r *Runtime) Start(ctx context.Context, o task.StartOptions) (int, error) {
	dir := r.dir(o.ID)
	if !shim.WaitGone(dir, 5*time.Second) {
		return 0, fmt.Errorf("the shim of the previous run of %s is still running: %w", o.ID, errdefs.ErrUnavailable)
	}
	r.newRun(o.ID)
	r.recordCgroup(dir, o.CgroupsPath)
	pid, err := r.sp.Spawn(ctx, shim.Options{
		ID:           o.ID,
		Bundle:       o.Bundle,
		RuntimeName:  r.rt.Name,
		RuntimePath:  r.rt.Path,
		RuntimeRoot:  r.rt.Root,
		RuntimeHide:  r.rt.Hide,
		LogPath:      o.LogPath,
		LogMaxSize:   o.LogMaxSize,
		LogMaxFiles:  o.LogMaxFiles,
		Dir:          dir,
		Tty:          o.Tty,
		Stdin:        o.Stdin,
		StdinOnce:    o.StdinOnce,
		Hold:         o.Hold,
		CgroupsPath:  o.CgroupsPath,
		DormantAfter: r.dormant,
		ForwardDelay: r.forwardDelay,
	})
	if err != nil {
		var se *shim.StartError
		if errors.As(err, &se) {
			return 0, &task.StartError{Msg: se.Msg, ExitCode: se.ExitCode}
		}
		return 0, err
	}
	return pid, nil
}

// Wait implements task.Lifecycle through the shim's socket, or its exit
// file once it is gone.
func (r *Runtime) Wait(ctx context.Context, id string) (*task.Exit, error) {
	r.mu.Lock()
	gen := r.runOf(id).gen
	r.mu.Unlock()
	x, err := shim.Wait(ctx, r.dir(id))
	if errors.Is(err, shim.ErrShimGone) {
		err = task.ErrGone
	}
	if err == nil || errors.Is(err, task.ErrGone) {
		r.ended(id, gen)
	}
	if err != nil {
		return nil, err
	}
	return toExit(x), nil
}

// ended records that run gen of id is over: its warm exec goes.
func (r *Runtime) ended(id string, gen int) {
	r.mu.Lock()
	rn := r.runs[id]
	var w *warmExec
	if rn != nil && rn.gen == gen {
		rn.exited = true
		w, rn.warm = rn.warm, nil
	}
	r.mu.Unlock()
	if w != nil {
		w.kill()
	}
}

func toExit(x *shim.Exit) *task.Exit {
	if x == nil {
		return nil
	}
	return &task.Exit{Pid: x.Pid, ExitCode: x.ExitCode, OOMKilled: x.OOMKilled, ExitedAt: x.ExitedAt}
}

// Alive implements task.Lifecycle: the shim answers on its socket.
func (r *Runtime) Alive(_ context.Context, id string) bool { return shim.Alive(r.dir(id)) }

// ReadExit implements task.Lifecycle from the shim's exit file.
func (r *Runtime) ReadExit(_ context.Context, id string) (*task.Exit, error) {
	x, err := shim.ReadExit(r.dir(id))
	if err != nil {
		return nil, err
	}
	return toExit(x), nil
}

// Kill implements task.Lifecycle. A SIGKILL also thaws a container that
// its cgroup v1 freezer holds (see thawAfterKill).
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	err := r.rt.Kill(ctx, id, sig)
	if sig == syscall.SIGKILL {
		r.thawAfterKill(ctx, id)
	}
	return err
}

// Pause implements task.Lifecycle.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	// runc refuses to pause a paused container, crun does not: the
	// record of this run says it for both.
	r.mu.Lock()
	rn := r.runs[id]
	paused := rn != nil && rn.paused
	r.mu.Unlock()
	if paused {
		return fmt.Errorf("container %s is already paused: %w", id, errdefs.ErrConflict)
	}
	if err := r.rt.Pause(ctx, id); err != nil {
		return err
	}
	r.setPaused(id, true)
	return nil
}

// Update implements task.Lifecycle with the runtime's update: the shim
// is not involved (a dormant one stays asleep).
func (r *Runtime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	return r.rt.Update(ctx, id, res)
}

// Resume implements task.Lifecycle.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	if err := r.rt.Resume(ctx, id); err != nil {
		return err
	}
	r.setPaused(id, false)
	return nil
}

func (r *Runtime) setPaused(id string, paused bool) {
	r.mu.Lock()
	r.runOf(id).paused = paused
	r.mu.Unlock()
}

// Delete implements task.Lifecycle. The shim deletes the runtime's record
// after an exit; only a record left by a shim that died is deleted here.
// With the container forgotten, the CPUs are free for the shim that the
// next container will take (a `run --rm` loop's next run).
func (r *Runtime) Delete(ctx context.Context, id string) error {
	dir := r.dir(id)
	if shim.Alive(dir) {
		if x, _ := shim.ReadExit(dir); x == nil {
			return fmt.Errorf("container %s is running: %w", id, errdefs.ErrConflict)
		}
	} else if _, err := os.Stat(filepath.Join(r.rt.Root, id)); err == nil {
		_ = r.rt.Delete(ctx, id, true)
	}
	r.mu.Lock()
	var w *warmExec
	if rn := r.runs[id]; rn != nil {
		w = rn.warm
		delete(r.runs, id)
	}
	r.mu.Unlock()
	if w != nil {
		w.kill()
	}
	err := os.RemoveAll(dir)
	go r.sp.Prestart()
	return err
}

// State implements task.Inspector through `runtime state`.
func (r *Runtime) State(ctx context.Context, id string) (*task.State, error) {
	st, err := r.rt.State(ctx, id)
	if err != nil {
		return nil, err
	}
	return &task.State{ID: st.ID, Pid: st.Pid, Status: st.Status}, nil
}

// Pids implements task.Inspector through `runtime ps`.
func (r *Runtime) Pids(ctx context.Context, id string) ([]int, error) { return r.rt.Pids(ctx, id) }

// Attach implements task.Stdio through the shim's socket.
func (r *Runtime) Attach(ctx context.Context, id string, o task.AttachOptions) (task.Stream, error) {
	conn, rd, rep, err := shim.AttachWith(ctx, r.dir(id), shim.Request{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Release: o.Release, Marks: o.Marks, Cut: o.Cut})
	if err != nil {
		return nil, err
	}
	st := &stream{Conn: conn, r: rd}
	if !o.Cut {
		return st, nil
	}
	cs := &cutStream{stream: st}
	if rep.Cut {
		cs.cut = &task.Cut{Log: rep.Log, Held: rep.Held}
	}
	return cs, nil
}

// cutStream is a stream attached with a cut (task.CutStream).
type cutStream struct {
	*stream
	cut *task.Cut
}

func (s *cutStream) Cut() *task.Cut { return s.cut }

// Flush implements task.Stdio through the shim's socket.
func (r *Runtime) Flush(ctx context.Context, id, token string) error {
	err := shim.Flush(ctx, r.dir(id), token)
	if errors.Is(err, shim.ErrNoFlush) {
		return fmt.Errorf("container %s: %w: %w", id, err, errdefs.ErrNotImplemented)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("container %s: %w: %w", id, err, errdefs.ErrUnavailable)
	}
	return err
}

// stream is an attach connection whose first bytes (after the shim's
// acknowledgement) may already sit in the reader's buffer.
type stream struct {
	net.Conn
	r io.Reader
}

func (s *stream) Read(p []byte) (int, error) { return s.r.Read(p) }

func (s *stream) CloseWrite() error {
	if uc, ok := s.Conn.(*net.UnixConn); ok {
		return uc.CloseWrite()
	}
	return nil
}

// Release implements task.Stdio.
func (r *Runtime) Release(ctx context.Context, id string) error { return shim.Release(ctx, r.dir(id)) }

// Resize implements task.Stdio.
func (r *Runtime) Resize(ctx context.Context, id string, height, width uint16) error {
	return shim.Resize(ctx, r.dir(id), height, width)
}

// Close implements task.Runtime: it stops the shim started ahead and every
// warm exec.
func (r *Runtime) Close() {
	r.sp.Close()
	r.mu.Lock()
	r.closed = true
	var ws []*warmExec
	for _, rn := range r.runs {
		if rn.warm != nil {
			ws = append(ws, rn.warm)
			rn.warm = nil
		}
	}
	r.mu.Unlock()
	for _, w := range ws {
		w.kill()
	}
}
