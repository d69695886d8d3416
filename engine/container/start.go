package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/snapshot"
	"github.com/wharf-dev/wharf/internal/atomicfile"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/spec"
	"github.com/wharf-dev/wharf/runtime/task"
	wstream "github.com/wharf-dev/wharf/stream"
)

// AttachOptions selects the streams of an attach.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
	// Marks asks for the stream.Mark frames of FlushOutput in the stream
	// (never with a TTY): for the daemon's own readers, which know them;
	// Docker's clients do not.
	Marks bool
	// Stream is the client's connection: output is written to it (in the
	// multiplexed format unless the container has a TTY) and stdin is read
	// from it.
	Stream io.ReadWriter
	// Registered, if set, is called once the stream is connected or queued
	// for the next start, before any output flows; the API answers the
	// client's upgrade request there, so a client that starts the
	// container after that answer loses no output.
	Registered func()
	// Logs replays the container's log (the streams asked for) first;
	// with NoStream the attach ends there (logs=1&stream=0).
	Logs, NoStream bool
	// DetachKeys let a client on the container's terminal go while the
	// container runs on ("" is ctrl-p ctrl-q; ParseDetachKeys).
	DetachKeys string

	// detachKeys are the parsed keys, set when they apply (a terminal's
	// stdin); tty says the container has a terminal.
	detachKeys []byte
	tty        bool
}

type attachReq struct {
	o    AttachOptions
	done chan error
	// replayed, for an attach that replays the log, gets the replay's
	// end (nil or its error): the live stream waits for it.
	replayed chan error
}

// Attach connects a client to a container's stdio and blocks until the
// stream ends. Attaching to a container that is not running waits for its
// next start, so that `run` loses no output.
//
// With the log (o.Logs and a stream), the live stream is attached first
// and the log is replayed up to the instant it was (task.Cut): no byte of
// output is lost between the two, none comes twice. What the container
// writes during the replay waits in a bounded buffer (attachBuffer); once
// that is full the supervisor waits for the client as for any slow one,
// and drops the stream after 5 seconds of that.
func (e *Engine) Attach(ctx context.Context, ref string, o AttachOptions) error {
	keys, err := ParseDetachKeys(o.DetachKeys)
	if err != nil {
		return fmt.Errorf("Invalid detach keys (%s) provided: %w", o.DetachKeys, errdefs.ErrInvalidArgument)
	}
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	if o.Registered != nil {
		o.Registered = sync.OnceFunc(o.Registered)
	}
	if o.NoStream {
		if o.Logs {
			if o.Registered != nil {
				o.Registered()
			}
			if err := e.replayLog(ctx, en, o); err != nil {
				return err
			}
		}
		e.publishOf(en, "attach", nil)
		return nil
	}
	// The log's files are held from before the stream's cut, so that
	// the cut names one of them (logfile.Set).
	var set *logfile.Set
	var path string
	if o.Logs {
		e.mu.Lock()
		c := en.c.clone()
		e.mu.Unlock()
		if path, _, err = e.logFile(c); err != nil {
			return err
		}
		if path != "" {
			if set, err = logfile.OpenSet(path); err != nil {
				return err
			}
		}
	}
	closeSet := func() {
		if set != nil {
			set.Close()
		}
	}
	e.mu.Lock()
	running := en.c.State.Status == StatusRunning || en.c.State.Status == StatusPaused
	c := en.c.clone()
	o.tty = c.Config.Tty
	if o.Stdin && c.Config.Tty {
		o.detachKeys = keys
	}
	var req *attachReq
	var end *logfile.Position
	if !running {
		req = &attachReq{o: o, done: make(chan error, 1)}
		if o.Logs {
			req.replayed = make(chan error, 1)
		}
		// Nothing writes the log of a container that is not running,
		// and its next start waits for this stream (Hold): the log's
		// end now is the stream's cut.
		if set != nil {
			set.Close()
			if set, err = logfile.OpenSet(path); err == nil {
				var pos logfile.Position
				if pos, err = set.End(); err == nil {
					end = &pos
				}
			}
		}
		if err != nil {
			e.mu.Unlock()
			closeSet()
			return err
		}
		en.pending = append(en.pending, req)
	}
	e.mu.Unlock()
	e.publish(c, "attach", nil)
	if running {
		return e.detachedOK(c, e.attachRunning(ctx, c, o, set))
	}
	if o.Registered != nil {
		o.Registered()
	}
	if o.Logs {
		var cut *task.Cut
		if end != nil {
			cut = &task.Cut{Log: end}
		}
		err := e.replayTo(ctx, set, cut, o)
		req.replayed <- err
		if err != nil {
			// A start that took the stream ends it on the error.
			if !e.unqueue(en, req) {
				<-req.done
			}
			return err
		}
	}
	select {
	case err := <-req.done:
		return e.detachedOK(c, err)
	case <-ctx.Done():
		e.unqueue(en, req)
		return ctx.Err()
	}
}

// unqueue removes req from the attaches waiting for en's next start and
// reports whether it was still there.
func (e *Engine) unqueue(en *entry, req *attachReq) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, p := range en.pending {
		if p == req {
			en.pending = append(en.pending[:i], en.pending[i+1:]...)
			return true
		}
	}
	return false
}

// attachRunning copies between a client stream and the stdio of the
// running container c, after the log up to the stream's cut with o.Logs
// (set holds the log's files, opened before the attach; nil without a
// log).
func (e *Engine) attachRunning(ctx context.Context, c *Container, o AttachOptions, set *logfile.Set) error {
	rt, err := e.runtime(c)
	if err != nil {
		if set != nil {
			set.Close()
		}
		return err
	}
	st, err := rt.Attach(ctx, c.ID, task.AttachOptions{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Marks: o.Marks, Cut: o.Logs})
	if err != nil {
		if set != nil {
			set.Close()
		}
		return fmt.Errorf("attach %s: %v: %w", c.ID, err, errdefs.ErrConflict)
	}
	if o.Registered != nil {
		o.Registered()
	}
	if o.Logs {
		var cut *task.Cut
		if cs, ok := st.(task.CutStream); ok {
			cut = cs.Cut()
		}
		if cut == nil && set != nil {
			// A supervisor that cannot tell the cut (started by an
			// older wharf): the log as it is now, whose last lines
			// the stream may repeat.
			pos, err := set.End()
			if err != nil {
				set.Close()
				st.Close()
				return err
			}
			cut = &task.Cut{Log: &pos}
		}
		st = newBufferedStream(st, attachBuffer)
		if err := e.replayTo(ctx, set, cut, o); err != nil {
			st.Close()
			return err
		}
	}
	return splice(ctx, st, o)
}

// replayTo writes the container's log up to cut (and the output cut
// holds back from it) to o.Stream, framed as the attach is: raw for a
// terminal, multiplexed otherwise, and closes set. Without a set (no log)
// or a cut there is nothing to replay.
func (e *Engine) replayTo(ctx context.Context, set *logfile.Set, cut *task.Cut, o AttachOptions) error {
	if set == nil {
		return nil
	}
	if cut == nil || cut.Log == nil {
		set.Close()
		return nil
	}
	outw, errw := wstream.NewMuxWriters(o.Stream)
	emit := func(l logfile.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var w io.Writer = outw
		switch {
		case o.tty:
			w = o.Stream
		case l.Stream == "stderr":
			w = errw
		}
		_, err := io.WriteString(w, l.Log)
		return err
	}
	if err := set.ReadTo(*cut.Log, logfile.ReadOptions{Stdout: o.Stdout, Stderr: o.Stderr}, emit); err != nil {
		return err
	}
	for _, h := range cut.Held {
		if h.Stream == "stderr" && !o.Stderr || h.Stream != "stderr" && !o.Stdout {
			continue
		}
		if err := emit(h); err != nil {
			return err
		}
	}
	return nil
}

func splice(ctx context.Context, st task.Stream, o AttachOptions) error {
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	var detached atomic.Bool
	if o.Stdin {
		var in io.Reader = o.Stream
		if o.detachKeys != nil {
			in = newDetachReader(o.Stream, o.detachKeys, func() { detached.Store(true) })
		}
		go func() {
			if _, err := io.Copy(st, in); errors.Is(err, errDetached) {
				// The client leaves; the container keeps its stdin.
				st.Close()
				return
			}
			// The end of a client's input on a terminal ends the attach
			// and leaves the container's stdin open, as dockerd's: the
			// docker CLI detaches by ending its input. Otherwise it
			// closes the container's stdin.
			if o.tty {
				st.Close()
				return
			}
			_ = st.CloseWrite()
		}()
	}
	_, err := io.Copy(o.Stream, st)
	if detached.Load() {
		return errDetached
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// detachedOK is an attach's end: a client that detached is told the
// "detach" event and no error, as dockerd tells it.
func (e *Engine) detachedOK(c *Container, err error) error {
	if errors.Is(err, errDetached) {
		e.publish(c, "detach", nil)
		return nil
	}
	return err
}

// replayLog writes the container's log (the streams o asks for) to
// o.Stream, framed as the attach is: raw for a terminal, multiplexed
// otherwise. A log driver that keeps nothing replays nothing.
func (e *Engine) replayLog(ctx context.Context, en *entry, o AttachOptions) error {
	e.mu.Lock()
	id, tty := en.c.ID, en.c.Config.Tty
	e.mu.Unlock()
	outw, errw := wstream.NewMuxWriters(o.Stream)
	err := e.Logs(ctx, id, LogsOptions{Stdout: o.Stdout, Stderr: o.Stderr, Tail: -1}, func(l logfile.Entry) error {
		var w io.Writer = outw
		switch {
		case tty:
			w = o.Stream
		case l.Stream == "stderr":
			w = errw
		}
		_, err := io.WriteString(w, l.Log)
		return err
	})
	if errors.Is(err, errLogsNotReadable) {
		return nil
	}
	return err
}

// Start starts a created or exited container.
func (e *Engine) Start(ctx context.Context, ref string) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	en.op.Lock()
	err = e.startLocked(ctx, en, false)
	en.op.Unlock()
	if err != nil {
		e.removeUnstarted(ctx, en)
	}
	return err
}

// removeUnstarted removes an auto-remove container whose start failed,
// as dockerd does for every client (the docker CLI waits for it; others
// rely on it).
func (e *Engine) removeUnstarted(ctx context.Context, en *entry) {
	e.mu.Lock()
	id, auto := en.c.ID, en.c.HostConfig.AutoRemove
	e.mu.Unlock()
	st, _, removed := e.snapshot(en)
	if !auto || removed || st.Running() {
		return
	}
	if err := e.Remove(context.WithoutCancel(ctx), id, RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
		e.log.Warn("removing an auto-remove container that did not start", "container", id, "err", err)
	}
}

// StartError is a failed start with the exit code docker gives it
// (127 for a command not found, 126 not runnable, 125 otherwise); the
// error's class is the wrapped error's.
type StartError struct {
	Code int
	Err  error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// startLocked starts en; the caller holds en.op. policy says the start is
// a restart by policy (it counts in RestartCount).
func (e *Engine) startLocked(ctx context.Context, en *entry, policy bool) error {
	st, _, removed := e.snapshot(en)
	if removed {
		return fmt.Errorf("No such container: %s: %w", en.c.ID, errdefs.ErrNotFound)
	}
	if st.Status == StatusRunning || st.Status == StatusPaused {
		return fmt.Errorf("container %s is already running: %w", en.c.ID, errdefs.ErrNotModified)
	}
	if st.Status == StatusRemoving {
		return fmt.Errorf("container %s is being removed: %w", en.c.ID, errdefs.ErrConflict)
	}
	e.mu.Lock()
	c := en.c.clone()
	pending := en.pending
	en.pending = nil
	if en.restartTimer != nil {
		en.restartTimer.Stop()
		en.restartTimer = nil
	}
	e.mu.Unlock()
	// What a start connected and mounted is told as it is, and undone in
	// the events too if the start fails.
	var connected []*network.Network
	mounted := false
	fail := func(err error, code int) error {
		for _, p := range pending {
			p.done <- err
		}
		e.publishNetworks(c, "disconnect", connected)
		if mounted {
			e.publishVolumes(c, false)
		}
		e.update(en, func(c *Container) {
			// A container that never ran stays created, as on dockerd:
			// only its exit code and error tell of the failed start.
			if c.State.Status != StatusCreated {
				c.State.Status = StatusExited
				c.State.FinishedAt = time.Now().UTC()
			}
			c.State.Pid = 0
			c.State.ExitCode = code
			c.State.Error = err.Error()
		})
		if c.IDMap != nil {
			e.releaseIdmapped(c.ID)
		}
		_ = e.unmountRootfs(ctx, c.ID)
		e.unmountVolumes(context.WithoutCancel(ctx), c.ID)
		e.teardownNetwork(context.WithoutCancel(ctx), c.ID)
		e.update(en, func(c *Container) { clearRuntimeNetwork(c) })
		e.observeStart(StartTiming{Err: err})
		return &StartError{Code: code, Err: err}
	}

	rt, err := e.runtime(c)
	if err != nil {
		return fail(err, 125)
	}
	cgroupsPath := cgroupsPathOf(c)
	t0 := time.Now()
	s, err := e.prepare(ctx, c, cgroupsPath)
	tPrepared := time.Now()
	if err != nil {
		return fail(err, 125)
	}
	s.Version = oci.SpecVersion
	var learn func()
	if sp, ok := rt.(task.SpecPreparer); ok {
		learn = sp.PrepareSpec(c.ID, s)
	}
	connected = e.attachedNetworks(ctx, c)
	e.publishNetworks(c, "connect", connected)
	e.publishVolumes(c, true)
	mounted = true
	e.mu.Lock()
	en.proc = s.Process
	e.mu.Unlock()
	data, err := json.Marshal(s)
	if err != nil {
		return fail(err, 125)
	}
	// The bundle's spec is rebuilt at every start and read by the runtime
	// at once: it needs to be whole, not durable.
	if err := atomicfile.WriteFile(filepath.Join(e.dir(c.ID), "config.json"), data, 0o600, atomicfile.NoSync()); err != nil {
		return fail(err, 125)
	}
	logPath, logLim, err := e.prepareLog(c)
	if err != nil {
		return fail(fmt.Errorf("failed to initialize logging driver: %w", err), 125)
	}
	pid, err := rt.Start(ctx, task.StartOptions{
		ID:          c.ID,
		Bundle:      e.dir(c.ID),
		CgroupsPath: cgroupsPath,
		LogPath:     logPath,
		LogMaxSize:  logLim.MaxSize,
		LogMaxFiles: logLim.MaxFiles,
		Tty:         c.Config.Tty,
		Stdin:       c.Config.OpenStdin,
		StdinOnce:   c.Config.StdinOnce,
		Hold:        len(pending) > 0,
	})
	if c.IDMap != nil {
		// The container's mount namespace holds its idmapped binds now.
		e.releaseIdmapped(c.ID)
	}
	if err != nil {
		var se *task.StartError
		if errors.As(err, &se) {
			class := errdefs.ErrUnavailable
			if se.ExitCode == 126 || se.ExitCode == 127 {
				class = errdefs.ErrInvalidArgument
			}
			return fail(fmt.Errorf("failed to create task for container: %s: %w", se.Msg, class), se.ExitCode)
		}
		return fail(err, 125)
	}
	tSpawned := time.Now()
	if learn != nil {
		learn()
	}
	// Connect the streams that waited for this start, then let output flow.
	// The last attach also releases the output.
	released := len(pending) == 0
	for i, p := range pending {
		last := i == len(pending)-1
		st, err := rt.Attach(ctx, c.ID, task.AttachOptions{Stdin: p.o.Stdin, Stdout: p.o.Stdout, Stderr: p.o.Stderr, Release: last, Marks: p.o.Marks})
		if err != nil {
			p.done <- err
			continue
		}
		released = released || last
		go func() {
			if p.replayed != nil {
				// The output waits (bounded) for the log's replay.
				st := newBufferedStream(st, attachBuffer)
				if err := <-p.replayed; err != nil {
					st.Close()
					p.done <- err
					return
				}
				p.done <- splice(context.Background(), st, p.o)
				return
			}
			p.done <- splice(context.Background(), st, p.o)
		}()
	}
	if !released {
		_ = rt.Release(ctx, c.ID)
	}
	var gen int
	ns := c.NetworkSettings.clone()
	var started *Container
	e.update(en, func(c *Container) {
		en.gen++
		gen = en.gen
		c.State = State{Status: StatusRunning, Pid: pid, StartedAt: time.Now().UTC(), Health: startingHealth(c)}
		c.NetworkSettings = ns
		if policy {
			c.RestartCount++
		}
		started = c.clone()
	})
	e.publish(started, "start", nil)
	e.armHealth(en)
	e.log.Info("container started", "container", c.ID, "pid", pid, "runtime", c.Runtime,
		"prepare", tPrepared.Sub(t0), "spawn", tSpawned.Sub(tPrepared), "total", time.Since(t0))
	e.observeStart(StartTiming{Prepare: tPrepared.Sub(t0), Spawn: tSpawned.Sub(tPrepared)})
	go e.monitor(en, gen)
	// Containers linking to this one learn its new address.
	e.updateLinkParents(ctx, c.ID)
	return nil
}

// prepare mounts the container's root filesystem, writes the files bind
// mounted into it and returns its runtime spec.
func (e *Engine) prepare(ctx context.Context, c *Container, cgroupsPath string) (*specs.Spec, error) {
	img, err := e.images.Get(ctx, c.ImageID)
	if err != nil {
		return nil, fmt.Errorf("image of container %s: %w", c.ID, err)
	}
	lowers, err := e.images.LayerDirs(ctx, img)
	if err != nil {
		return nil, err
	}
	dir := e.dir(c.ID)
	rootfs := e.RootfsPath(c.ID)
	for _, d := range []string{rootfs, filepath.Join(dir, "upper"), filepath.Join(dir, "work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	_ = e.rootfs.Unmount(ctx, rootfs)
	if c.IDMap != nil {
		if lowers, err = e.usernsLayers(c, lowers); err != nil {
			return nil, err
		}
	}
	layers := snapshot.Layers{Lowers: lowers, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	err = e.rootfs.Mount(ctx, rootfs, layers, 0)
	if c.IDMap != nil {
		// The overlay holds the idmapped layers it was given.
		e.releaseIdmapped(c.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("mounting root filesystem: %w", err)
	}
	links, err := e.legacyLinks(ctx, c)
	if err != nil {
		return nil, err
	}
	plan, err := e.setupNetwork(ctx, c)
	if err != nil {
		return nil, err
	}
	plan.linkHosts = links.hostsLines
	if c.HostConfig.UsernsShare != "" {
		// The shared user namespace, which owns the network namespace
		// the container joins.
		if plan.userns, err = e.sharedUsernsPath(c); err != nil {
			return nil, err
		}
	}
	if plan.sandbox != nil {
		applySandbox(c, plan.sandbox)
	}
	mounts, err := e.writeEtcFiles(c, plan)
	if err != nil {
		return nil, err
	}
	userMounts, err := e.specMounts(ctx, c, rootfs)
	if err != nil {
		return nil, err
	}
	if c.IDMap != nil {
		if err := e.usernsMounts(c, mounts, userMounts); err != nil {
			return nil, err
		}
	}
	mounts = append(mounts, userMounts...)
	// Parents mount before their children (a volume on /etc must not hide
	// /etc/hosts), as docker orders them.
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(filepath.Clean(mounts[i].Destination), "/") < strings.Count(filepath.Clean(mounts[j].Destination), "/")
	})
	o := &spec.Options{
		ID:            c.ID,
		Rootfs:        rootfs,
		Entrypoint:    c.Config.Entrypoint,
		EntrypointSet: c.Config.EntrypointSet,
		Cmd:           c.Config.Cmd,
		Env:           append(links.env, c.Config.Env...),
		WorkingDir:    c.Config.WorkingDir,
		User:          c.Config.User,
		Hostname:      c.Config.Hostname,
		Tty:           c.Config.Tty,
		OpenStdin:     c.Config.OpenStdin,
		Memory:        c.HostConfig.Memory,
		MemorySwap:    c.HostConfig.MemorySwap,
		NanoCPUs:      c.HostConfig.NanoCPUs,
		CPUShares:     c.HostConfig.CPUShares,
		PidsLimit:     c.HostConfig.PidsLimit,

		MemoryReservation: c.HostConfig.MemoryReservation,
		CPUPeriod:         c.HostConfig.CPUPeriod,
		CPUQuota:          c.HostConfig.CPUQuota,
		CpusetCpus:        c.HostConfig.CpusetCpus,
		CpusetMems:        c.HostConfig.CpusetMems,
		BlkioWeight:       c.HostConfig.BlkioWeight,
		ReadOnly:          c.HostConfig.ReadonlyRootfs,
		CapAdd:            c.HostConfig.CapAdd,
		CapDrop:           c.HostConfig.CapDrop,
		Privileged:        c.HostConfig.Privileged,
		Init:              c.HostConfig.Init,
		InitPath:          e.self,
		NetworkMode:       specNetworkMode(c.HostConfig.NetworkMode, plan.host),
		NetNSPath:         plan.nsPath,
		CgroupsPath:       cgroupsPath,
		Mounts:            mounts,
		Annotations:       labelAnnotations(c.Config.Labels),
		Host:              c.HostConfig.HostOptions.spec(),
		UserNS:            c.IDMap,
		UserNSPath:        plan.userns,
	}
	if len(c.HostConfig.Annotations) > 0 {
		o.Annotations = labelAnnotations(c.Config.Labels)
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		maps.Copy(o.Annotations, c.HostConfig.Annotations)
	}
	if img.Config != nil {
		o.Image = img.Config.Config
	}
	for _, u := range c.HostConfig.Ulimits {
		o.Ulimits = append(o.Ulimits, spec.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	for _, opt := range c.HostConfig.SecurityOpt {
		k, v, _ := strings.Cut(opt, "=")
		if k == opt {
			k, v, _ = strings.Cut(opt, ":")
		}
		switch k {
		case "no-new-privileges":
			o.NoNewPrivileges = v == "" || v == "true"
		case "seccomp":
			switch {
			case v == "unconfined":
				o.SeccompProfile = "unconfined"
			case strings.HasPrefix(strings.TrimSpace(v), "{"):
				p := filepath.Join(e.dir(c.ID), "seccomp.json")
				if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
					return nil, err
				}
				o.SeccompProfile = p
			default:
				o.SeccompProfile = v
			}
		case "apparmor", "label":
			// This daemon applies no AppArmor or SELinux profile; asking
			// for none is what it does, asking for one it cannot honour.
			if v != "unconfined" && v != "disable" && v != "" {
				return nil, fmt.Errorf("--security-opt %s: this daemon does not apply %s profiles: %w", opt, k, errdefs.ErrInvalidArgument)
			}
		default:
			return nil, fmt.Errorf("invalid --security-opt: %q: %w", opt, errdefs.ErrInvalidArgument)
		}
	}
	return spec.Generate(ctx, o)
}

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf and returns their bind mounts. A container on bridge
// networks gets its addresses in hosts and, on a user-defined network, the
// network's DNS server in resolv.conf; a container: mode container shares
// the other container's files.
func (e *Engine) writeEtcFiles(c *Container, plan *netPlan) ([]specs.Mount, error) {
	dir := e.dir(c.ID)
	hostname := c.Config.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	hosts := defaultHosts
	resolv := resolvConf(c.HostConfig.NetworkMode == "host")
	if c.HostConfig.NetworkMode == "host" || plan.host {
		if data, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(data)
		}
	}
	// Extra hosts follow the defaults, before the container's own
	// addresses, as dockerd writes them.
	for _, l := range c.HostConfig.hostsLines() {
		hosts += l + "\n"
	}
	embedded := false
	if plan.sandbox != nil {
		lines, r := etcNetwork(c, hostname)
		for _, l := range append(plan.linkHosts, lines...) {
			hosts += l + "\n"
		}
		// etcNetwork answers the host's resolv.conf unless a
		// user-defined network's DNS server is the container's.
		embedded = r != resolvConf(false)
		resolv = r
	}
	resolv = c.HostConfig.resolv(resolv, embedded)
	if plan.shareFrom != "" {
		if data, err := e.sharedEtc(plan.shareFrom, "hosts"); err == nil {
			hosts = string(data)
		}
		if data, err := e.sharedEtc(plan.shareFrom, "resolv.conf"); err == nil {
			resolv = string(data)
		}
	}
	files := map[string]string{
		"hostname":    hostname + "\n",
		"hosts":       hosts,
		"resolv.conf": resolv,
	}
	var mounts []specs.Mount
	for _, name := range []string{"hostname", "hosts", "resolv.conf"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			return nil, err
		}
		mounts = append(mounts, specs.Mount{Destination: "/etc/" + name, Type: "bind", Source: p, Options: []string{"rbind", "rprivate"}})
	}
	return mounts, nil
}

// defaultHosts is the start of a container's /etc/hosts, as dockerd's.
const defaultHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"

// resolvConf derives the container's resolv.conf from the host's. Without
// host networking, loopback name servers cannot be reached from the
// container and are dropped, as docker does.
func resolvConf(hostNet bool) string {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return ""
	}
	if hostNet {
		return string(data)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// Resize sets the terminal size of a running TTY container.
func (e *Engine) Resize(ctx context.Context, ref string, h, w uint16) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	st, _, _ := e.snapshot(en)
	if !st.Running() {
		return fmt.Errorf("container %s is not running: %w", en.c.ID, errdefs.ErrConflict)
	}
	if en.c.Config.Tty {
		rt, err := e.runtime(en.c)
		if err != nil {
			return err
		}
		if err := rt.Resize(ctx, en.c.ID, h, w); err != nil {
			return err
		}
	}
	e.publishOf(en, "resize", map[string]string{"height": strconv.Itoa(int(h)), "width": strconv.Itoa(int(w))})
	return nil
}

// FlushOutput sends a stream.Mark frame with token down the attached
// streams that asked for marks (AttachOptions.Marks), after everything
// the running container's process wrote to its stdout and stderr before
// the call (task.Stdio's Flush). It returns once the mark is on its way;
// the attached reader knows the output is complete when the mark arrives.
func (e *Engine) FlushOutput(ctx context.Context, ref, token string) error {
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	st, _, _ := e.snapshot(en)
	if !st.Running() {
		return fmt.Errorf("container %s is not running: %w", en.c.ID, errdefs.ErrConflict)
	}
	rt, err := e.runtime(en.c)
	if err != nil {
		return err
	}
	return rt.Flush(ctx, en.c.ID, token)
}

// specNetworkMode maps a container's network mode to the runtime spec's:
// host, or a namespace of its own (empty, or the one prepared and given
// as NetNSPath).
func specNetworkMode(m string, host bool) string {
	if m == "host" || host {
		return m
	}
	return ""
}

// runtimeDirectives are the annotation prefixes OCI runtimes act on
// (crun's run.oci.* replace the seccomp program, send the seccomp
// listener or hook output to a host path, pick a handler; systemd unit
// properties; CRIU's configuration). A container's labels, its image's
// included, become annotations of its spec, and an image is untrusted:
// such labels stay labels and never reach the runtime. HostConfig's
// Annotations, set by the API's caller as on dockerd, are passed as they
// are.
var runtimeDirectives = []string{"run.oci.", "org.systemd.property.", "org.criu.", "module.wasm.image/"}

// labelAnnotations returns labels as spec annotations, without the keys
// runtimes act on.
func labelAnnotations(labels map[string]string) map[string]string {
	var out map[string]string
	for k, v := range labels {
		directive := false
		for _, p := range runtimeDirectives {
			if strings.HasPrefix(k, p) {
				directive = true
				break
			}
		}
		if directive {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(labels))
		}
		out[k] = v
	}
	return out
}
