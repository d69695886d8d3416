package sandbox

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/functions/runtimeapi"
	"github.com/wharf-dev/wharf/functions/spareproc"
)

// Spare sandboxes.
//
// Creating a sandbox's container (namespaces, cgroups, the seccomp filter,
// mounts: the OCI runtime's work) is most of a cold start. A launcher with
// spares keeps a few containers of the zip-function base image started
// ahead, empty: their process is wharf-spare (the static wharf binary),
// waiting on the sandbox's own Runtime API listener, and their /var/task
// and /tmp are slave mounts of staging directories on the host. A cold
// start of a zip function claims one: the host mounts the function's code
// (read-only) and a sized tmpfs onto the staging directories, which
// propagate into the sandbox, sets the function's memory limit and CPU
// weight on its cgroup, and answers the waiting process, which execs
// /var/task/bootstrap with the function's environment. The function's own
// init still runs in full on every cold start and is reported as Init
// Duration; only the container creation is off the request's path. A
// claimed spare belongs to that function until it is reaped; it never
// serves another. The launcher then starts a new spare in the background.
//
// The wharf binary reaches the spare the same way, through a staging
// directory mounted at /var/runtime: the host bind-mounts it (read-only)
// there before the container starts, and unmounts and deletes it as soon
// as wharf-spare is running and waiting, which it no longer needs the
// file for. The unmount propagates into the sandbox, so no function ever
// sees the daemon's binary.
//
// On disk: <spare dir>/<sandbox name>/{task,tmp,runtime}, each a shared
// bind mount of itself, plus the code and tmpfs mounted on task and tmp
// once claimed, and the binary on runtime/wharf-spare until the spare
// waits. The spare dir and each sandbox's directory are 0700, as are task
// and tmp beneath the code and tmpfs: no user of the host but root reaches
// a function's code or /tmp through them (the tmpfs itself is 1777 for
// the sandbox, as Lambda's /tmp is).

// SpareLabel marks a sandbox container started as a spare.
const SpareLabel = "wharf.function.spare"

// spareBinDir is where a spare's runtime staging directory is mounted,
// and spareBinPath the wharf binary in it, which acts as wharf-spare by
// that name.
const (
	spareBinDir  = "/var/runtime"
	spareBinPath = spareBinDir + "/wharf-spare"
)

// spareMemoryMB is a spare's memory limit until it is claimed (the least
// a function may have).
const spareMemoryMB = 128

// LauncherOption configures a ContainerLauncher.
type LauncherOption func(*ContainerLauncher)

// WithSpares keeps n spare sandboxes for zip functions while functions are
// in use: from the first launch until no launch came for idle (as warm
// sandboxes scale to zero, so do the spares). self is the wharf binary (it
// must be statically linked: it runs inside the empty base image), dir
// holds their staging mounts. n <= 0 keeps none.
func WithSpares(n int, self, dir string, idle time.Duration, log *slog.Logger) LauncherOption {
	return func(cl *ContainerLauncher) {
		cl.spareN, cl.self, cl.spareDir, cl.spareIdle, cl.log = n, self, dir, idle, log
	}
}

// StaticBinary reports whether the ELF file at path needs no dynamic
// loader, so that it runs in an image without a libc.
func StaticBinary(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// spare is a started, unclaimed sandbox.
type spare struct {
	sb      *containerSandbox
	stage   string
	out     *switchWriter
	order   chan []byte   // the start order, sent once on claim
	waiting chan struct{} // closed when wharf-spare asks for its order
	once    sync.Once
	taken   atomic.Bool
}

// spareHandler serves the Runtime API of a spare sandbox and, before it
// is claimed, the waiting process's start order.
type spareHandler struct {
	api http.Handler
	sp  *spare
}

func (h spareHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != spareproc.StartPath {
		h.api.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet || h.sp.taken.Load() {
		http.NotFound(w, r)
		return
	}
	h.sp.once.Do(func() { close(h.sp.waiting) })
	select {
	case b := <-h.sp.order:
		h.sp.taken.Store(true)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	case <-r.Context().Done():
	}
}

// switchWriter sends a spare's output nowhere until it is claimed, then to
// the function's log.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	if w == nil {
		return len(p), nil
	}
	return w.Write(p)
}

// startSpares starts the goroutine that keeps the spares filled.
func (cl *ContainerLauncher) startSpares() {
	if cl.spareN <= 0 {
		return
	}
	if cl.log == nil {
		cl.log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if cl.spareIdle <= 0 {
		cl.spareIdle = 5 * time.Minute
	}
	cl.spares = make(chan *spare, cl.spareN)
	cl.refill = make(chan struct{}, 1)
	cl.stopSpares = cancel
	cl.spareWG.Add(1)
	go cl.fillSpares(ctx)
}

// used records a launch: spares are kept from now until spareIdle passes
// without one.
func (cl *ContainerLauncher) used() {
	if cl.spares == nil {
		return
	}
	cl.lastUse.Store(time.Now().UnixNano())
	select {
	case cl.refill <- struct{}{}:
	default:
	}
}

// drainSpares removes the unclaimed spares.
func (cl *ContainerLauncher) drainSpares() {
	for {
		select {
		case sp := <-cl.spares:
			_ = sp.sb.Close(context.Background())
		default:
			return
		}
	}
}

// fillSpares keeps spareN spares while functions are in use (see used),
// starting them again after each claim, and removes them when functions
// have been idle for spareIdle. Failures back off; the launcher works
// without spares meanwhile.
func (cl *ContainerLauncher) fillSpares(ctx context.Context) {
	defer cl.spareWG.Done()
	backoff := time.Second
	for {
		idleFor := time.Duration(time.Now().UnixNano() - cl.lastUse.Load())
		inUse := cl.lastUse.Load() != 0 && idleFor < cl.spareIdle
		if !inUse {
			cl.drainSpares()
		}
		for inUse && len(cl.spares) < cl.spareN && ctx.Err() == nil {
			sp, err := cl.newSpare(ctx)
			if err != nil {
				if ctx.Err() == nil {
					cl.log.Warn("starting a spare function sandbox", "err", err, "retry", backoff)
				}
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, time.Minute)
				continue
			}
			backoff = time.Second
			select {
			case cl.spares <- sp:
			default:
				_ = sp.sb.Close(context.Background())
			}
		}
		var idleTimer <-chan time.Time
		if inUse {
			idleTimer = time.After(cl.spareIdle - idleFor)
		}
		select {
		case <-ctx.Done():
			cl.drainSpares()
			return
		case <-idleTimer:
		case <-cl.refill:
			// Let the cold start that took the spare run its init first.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// stageDirs are a spare's staging directories and their modes: task and
// tmp are covered by the code and the tmpfs once claimed; runtime holds
// the binary until the spare waits, and the sandbox user must traverse it
// to start it.
var stageDirs = []struct {
	name string
	mode os.FileMode
}{{"task", 0o700}, {"tmp", 0o700}, {"runtime", 0o711}}

// newStage makes a spare's staging directories, each a shared mount of
// itself so that what the host mounts on them propagates into the sandbox,
// with the binary mounted in runtime/.
func (cl *ContainerLauncher) newStage(name string) (string, error) {
	if err := privateDir(cl.spareDir); err != nil {
		return "", err
	}
	stage := filepath.Join(cl.spareDir, name)
	if err := os.Mkdir(stage, 0o700); err != nil {
		return "", err
	}
	for _, sub := range stageDirs {
		d := filepath.Join(stage, sub.name)
		if err := os.Mkdir(d, sub.mode); err != nil {
			removeStage(stage)
			return "", err
		}
		if err := os.Chmod(d, sub.mode); err != nil { // past the umask
			removeStage(stage)
			return "", err
		}
		if err := unix.Mount(d, d, "", unix.MS_BIND, ""); err != nil {
			removeStage(stage)
			return "", fmt.Errorf("staging mount: %w", err)
		}
		if err := unix.Mount("", d, "", unix.MS_SHARED, ""); err != nil {
			removeStage(stage)
			return "", fmt.Errorf("staging mount: %w", err)
		}
	}
	bin := filepath.Join(stage, "runtime", filepath.Base(spareBinPath))
	if err := os.WriteFile(bin, nil, 0o500); err != nil {
		removeStage(stage)
		return "", err
	}
	if err := mountReadOnly(cl.self, bin); err != nil {
		removeStage(stage)
		return "", fmt.Errorf("mounting the wharf binary: %w", err)
	}
	return stage, nil
}

// hideBinary takes the wharf binary out of a spare whose process has
// started: the unmount propagates into the sandbox, and the mount point
// goes with the file.
func hideBinary(stage string) error {
	bin := filepath.Join(stage, "runtime", filepath.Base(spareBinPath))
	if err := unix.Unmount(bin, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting the wharf binary from the spare: %w", err)
	}
	if err := os.Remove(bin); err != nil {
		return fmt.Errorf("removing the wharf binary's mount point from the spare: %w", err)
	}
	return nil
}

// newSpare starts one spare and waits until its process waits.
func (cl *ContainerLauncher) newSpare(ctx context.Context) (*spare, error) {
	name := sandboxName("fn-spare")
	stage, err := cl.newStage(name)
	if err != nil {
		return nil, err
	}
	nsPath := filepath.Join(cl.nsDir, name)
	sp := &spare{stage: stage, out: &switchWriter{}, order: make(chan []byte, 1), waiting: make(chan struct{})}
	api, srv, err := serveRuntimeAPI(nsPath, func(api *runtimeapi.Server) http.Handler { return spareHandler{api: api, sp: sp} })
	if err != nil {
		removeStage(stage)
		return nil, err
	}
	cs := ContainerSpec{
		Name:        name,
		Image:       BaseImage,
		Entrypoint:  []string{spareBinPath},
		User:        sandboxUser,
		Env:         []string{runtimeAPIEnv},
		MemoryBytes: spareMemoryMB << 20,
		CPUShares:   lambdaCPUShares(spareMemoryMB),
		PidsLimit:   PidsLimit,
		NetNSPath:   nsPath,
		Binds: []Bind{
			{Source: filepath.Join(stage, "task"), Target: "/var/task", ReadOnly: true, Propagation: "rslave"},
			{Source: filepath.Join(stage, "tmp"), Target: "/tmp", Propagation: "rslave"},
			{Source: filepath.Join(stage, "runtime"), Target: spareBinDir, ReadOnly: true, Propagation: "rslave"},
		},
		ReadonlyRootfs: true,
		Labels:         map[string]string{Label: "", SpareLabel: "1"},
	}
	id, err := cl.rt.Run(ctx, cs, sp.out)
	if err != nil {
		stopRuntimeAPI(api, srv, nsPath)
		removeStage(stage)
		return nil, err
	}
	sp.sb = &containerSandbox{rt: cl.rt, api: api, srv: srv, id: id, nsPath: nsPath, cgroup: cl.rt.CgroupPath(id), exited: cl.rt.Exited(id),
		cleanup: func() { removeStage(stage) }}
	select {
	case <-sp.waiting:
		// The process runs from its mapping of the binary now; the file
		// goes before any function can be given the sandbox.
		if err = hideBinary(stage); err == nil {
			return sp, nil
		}
	case <-sp.sb.exited:
		err = errors.New("its process exited before it waited (is the wharf binary static?)")
	case <-time.After(10 * time.Second):
		err = errors.New("its process did not ask for work within 10s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = sp.sb.Close(context.Background())
	return nil, err
}

// claim gives a spare, if there is one, to the zip function spec
// describes and starts its runtime there. It returns nil, nil when there
// is no spare.
func (cl *ContainerLauncher) claim(spec Spec) (*containerSandbox, error) {
	if cl.spares == nil || spec.CodeDir == "" {
		return nil, nil
	}
	var sp *spare
	select {
	case sp = <-cl.spares:
	default:
		return nil, nil
	}
	fail := func(err error) (*containerSandbox, error) {
		_ = sp.sb.Close(context.Background())
		return nil, err
	}
	select {
	case <-sp.sb.exited:
		return fail(errors.New("the spare sandbox had exited"))
	default:
	}
	if err := mountReadOnly(spec.CodeDir, filepath.Join(sp.stage, "task")); err != nil {
		return fail(fmt.Errorf("mounting the code: %w", err))
	}
	tmpOpts := fmt.Sprintf("size=%dm,mode=1777", spec.EphemeralMB)
	if err := unix.Mount("tmpfs", filepath.Join(sp.stage, "tmp"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, tmpOpts); err != nil {
		return fail(fmt.Errorf("mounting /tmp: %w", err))
	}
	if err := setSandboxLimits(sp.sb.cgroup, int64(spec.MemoryMB)<<20, lambdaCPUShares(spec.MemoryMB)); err != nil {
		return fail(err)
	}
	sp.out.set(spec.Output)
	order, err := json.Marshal(spareproc.Start{
		Args: []string{"/var/task/bootstrap"},
		Env:  append(append([]string{}, spec.Env...), runtimeAPIEnv),
	})
	if err != nil {
		return fail(err)
	}
	sp.order <- order
	return sp.sb, nil
}

// closeSpares stops refilling and removes the unclaimed spares.
func (cl *ContainerLauncher) closeSpares() {
	if cl.stopSpares == nil {
		return
	}
	cl.stopSpares()
	cl.spareWG.Wait()
}

// mountReadOnly mounts a read-only copy of the tree at src on dst. The
// copy is made read-only before it is attached, so that what propagates
// from dst (a shared mount) is read-only too.
func mountReadOnly(src, dst string) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", src, err)
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount to %s: %w", dst, err)
	}
	return nil
}

// setSandboxLimits gives a claimed spare's cgroup the function's memory
// limit (no swap) and CPU weight, and resets its memory high-water mark so
// that the REPORT's Max Memory Used is the function's alone.
func setSandboxLimits(cgroup string, memory, shares int64) error {
	mem := strconv.FormatInt(memory, 10)
	if v1 := filepath.Join("/sys/fs/cgroup/memory", cgroup); exists(v1) {
		limit, memsw := filepath.Join(v1, "memory.limit_in_bytes"), filepath.Join(v1, "memory.memsw.limit_in_bytes")
		// The limit may not exceed memory+swap: when raising, that goes
		// first.
		if err := writeCgroup(limit, mem); err != nil {
			if err := writeCgroup(memsw, mem); err != nil {
				return err
			}
			if err := writeCgroup(limit, mem); err != nil {
				return err
			}
		}
		if exists(memsw) {
			if err := writeCgroup(memsw, mem); err != nil {
				return err
			}
		}
		_ = writeCgroup(filepath.Join(v1, "memory.max_usage_in_bytes"), "0")
		if err := writeCgroup(filepath.Join("/sys/fs/cgroup/cpu", cgroup, "cpu.shares"), strconv.FormatInt(shares, 10)); err != nil {
			return err
		}
		return nil
	}
	v2 := filepath.Join("/sys/fs/cgroup", cgroup)
	if err := writeCgroup(filepath.Join(v2, "memory.max"), mem); err != nil {
		return err
	}
	_ = writeCgroup(filepath.Join(v2, "memory.swap.max"), "0")
	_ = writeCgroup(filepath.Join(v2, "memory.peak"), "reset")
	weight := 1 + ((shares-2)*9999)/262142
	return writeCgroup(filepath.Join(v2, "cpu.weight"), strconv.FormatInt(weight, 10))
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func writeCgroup(path, v string) error {
	if err := os.WriteFile(path, []byte(v), 0); err != nil {
		return fmt.Errorf("setting the sandbox's limits: %w", err)
	}
	return nil
}

// removeStage unmounts a spare's staging directories (the code, tmpfs and
// binary on them, and the shared bind mounts beneath) and removes them.
func removeStage(stage string) {
	_ = unix.Unmount(filepath.Join(stage, "runtime", filepath.Base(spareBinPath)), unix.MNT_DETACH)
	for _, sub := range stageDirs {
		d := filepath.Join(stage, sub.name)
		for i := 0; i < 4 && unix.Unmount(d, unix.MNT_DETACH) == nil; i++ {
		}
	}
	_ = os.RemoveAll(stage)
}

// CleanupSpares removes the staging directories a previous daemon left
// (its spare containers are removed by label).
func CleanupSpares(dir string) error {
	return forEachEntry(dir, func(p string) { removeStage(p) })
}
