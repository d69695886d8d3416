package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/functions/runtimeapi"
)

// ContainerSpec is the container a sandbox runs in, in engine-neutral
// terms (the daemon adapts it to its container engine).
type ContainerSpec struct {
	Name        string
	Image       string
	Entrypoint  []string // nil: the image's
	Env         []string
	User        string
	MemoryBytes int64
	CPUShares   int64
	NanoCPUs    int64
	// PidsLimit caps the processes and threads in the container (0: no
	// limit).
	PidsLimit int64
	// NetNSPath is the network namespace to join (the sandbox's, holding
	// the Runtime API listener).
	NetNSPath string
	Binds     []Bind
	// Tmpfs maps mount points to mount options ("size=512m").
	Tmpfs          map[string]string
	ReadonlyRootfs bool
	Labels         map[string]string
	// WorkingDir is the process's working directory ("": the image's).
	WorkingDir string
}

// Bind is a host directory mounted into the container.
type Bind struct {
	Source, Target string
	ReadOnly       bool
	// Propagation is the mount's propagation ("": rprivate).
	Propagation string
}

// ContainerRuntime is what sandboxes need of the container engine.
type ContainerRuntime interface {
	// Run creates and starts a container whose stdout and stderr go to out,
	// and returns its ID.
	Run(ctx context.Context, c ContainerSpec, out io.Writer) (string, error)
	// Exited is closed when the container's process has exited.
	Exited(id string) <-chan struct{}
	// Remove kills and deletes the container.
	Remove(ctx context.Context, id string) error
	// CgroupPath is the container's cgroup path below each hierarchy.
	CgroupPath(id string) string
	// FlushOutput returns once everything the container's process wrote
	// to stdout and stderr before the call has been written to the out
	// given to Run, or the container's output has ended (Sandbox's
	// FlushOutput).
	FlushOutput(ctx context.Context, id string) error
}

// Label marks containers that are function sandboxes, so a daemon
// start can remove those of a previous run.
const Label = "wharf.function"

// BaseImage is the root filesystem of zip functions: an empty Lambda-like
// layout (/var/task, /opt, /tmp, /etc) with no programs, since a custom
// runtime's bootstrap brings everything it needs.
const BaseImage = "wharf/lambda-base:1"

// sandboxUser is the unprivileged user Lambda runs functions as.
const sandboxUser = "993:990"

// PidsLimit caps the processes and threads of every sandbox (zip,
// spare and image functions alike), of the order of Lambda's own limit
// of 1024 per execution environment: a function that forks without end
// gets EAGAIN at the cap, and the host's PIDs are not exhausted.
const PidsLimit = 1024

// ContainerLauncher runs sandboxes as engine containers: own namespaces,
// memory limit and CPU share in proportion to it, PidsLimit
// processes, the code read-only at
// /var/task, a read-only root with a sized tmpfs /tmp, and no network but
// loopback, where the Runtime API waits.
type ContainerLauncher struct {
	rt    ContainerRuntime
	nsDir string

	// Spare sandboxes (spare_linux.go); spares is nil without them.
	spareN         int
	spareIdle      time.Duration
	lastUse        atomic.Int64 // UnixNano of the last launch, 0: none yet
	self, spareDir string
	log            *slog.Logger
	spares         chan *spare
	refill         chan struct{}
	stopSpares     context.CancelFunc
	spareWG        sync.WaitGroup
}

// NewContainerLauncher returns a launcher over rt that pins sandbox
// namespaces under nsDir. With WithSpares it starts its spare sandboxes
// at once; Close removes them.
func NewContainerLauncher(rt ContainerRuntime, nsDir string, opts ...LauncherOption) *ContainerLauncher {
	cl := &ContainerLauncher{rt: rt, nsDir: nsDir}
	for _, o := range opts {
		o(cl)
	}
	cl.startSpares()
	return cl
}

// Close removes the launcher's spare sandboxes. Sandboxes it launched are
// the engine's to close.
func (cl *ContainerLauncher) Close() { cl.closeSpares() }

type containerSandbox struct {
	rt      ContainerRuntime
	api     *runtimeapi.Server
	srv     *http.Server
	id      string
	nsPath  string
	cgroup  string
	exited  <-chan struct{}
	closeMu sync.Once
	// netnsTook and runTook are how long the namespace and the container
	// took to start (for the engine's debug log of a cold start); claimed
	// says it was a spare.
	netnsTook, runTook time.Duration
	claimed            bool
	// cleanup runs last in Close (a spare's staging mounts).
	cleanup func()

	// memFD is the memory cgroup's high-water-mark file, kept open: every
	// REPORT line reads it, and opening a cgroup file costs more than
	// reading it. -1 until opened (or when there is none).
	memMu     sync.Mutex
	memFD     int
	memOpened bool
	memClosed bool

	// frzFD is the freezer's state file, kept open for the same reason
	// (a freeze or thaw is then one write, not open, write and close),
	// and frzV2 says whether it is cgroup v2's cgroup.freeze. Guarded by
	// memMu; -1 until opened or after Close.
	frzFD     int
	frzV2     bool
	frzOpened bool
}

// lambdaCPUShares gives CPU in proportion to memory as Lambda does (one
// full vCPU at 1769 MB) as a weight, not a cap: an idle host lets a small
// function's init run at full speed, a busy one shares by memory size.
func lambdaCPUShares(memoryMB int) int64 {
	s := int64(memoryMB) * 1024 / 1769
	if s < 2 {
		s = 2
	}
	return s
}

// Launch starts a sandbox for spec: a spare one claimed if there is one,
// else a new container.
func (cl *ContainerLauncher) Launch(ctx context.Context, spec Spec) (Sandbox, error) {
	if spec.CodeDir != "" {
		cl.used() // spares serve zip functions only
	}
	t := time.Now()
	sb, err := cl.claim(spec)
	if sb != nil {
		sb.claimed, sb.runTook = true, time.Since(t)
		return sb, nil
	}
	if err != nil {
		cl.log.Warn("claiming a spare sandbox failed; starting one", "function", spec.Function, "err", err)
	}
	name := sandboxName("fn-" + spec.Function)
	nsPath := filepath.Join(cl.nsDir, name)
	t0 := time.Now()
	api, srv, err := serveRuntimeAPI(nsPath, func(api *runtimeapi.Server) http.Handler { return api })
	if err != nil {
		return nil, err
	}
	fail := func(err error) (Sandbox, error) {
		stopRuntimeAPI(api, srv, nsPath)
		return nil, err
	}
	cs := ContainerSpec{
		Name:           name,
		Env:            append(append([]string{}, spec.Env...), runtimeAPIEnv),
		MemoryBytes:    int64(spec.MemoryMB) << 20,
		CPUShares:      lambdaCPUShares(spec.MemoryMB),
		PidsLimit:      PidsLimit,
		NetNSPath:      nsPath,
		Tmpfs:          map[string]string{"/tmp": fmt.Sprintf("size=%dm,mode=1777", spec.EphemeralMB)},
		ReadonlyRootfs: true,
		Labels:         map[string]string{Label: spec.Function, "wharf.function.version": spec.Version},
	}
	if spec.CodeDir != "" {
		cs.Image = BaseImage
		cs.Entrypoint = []string{"/var/task/bootstrap"}
		cs.User = sandboxUser
		cs.Binds = []Bind{{Source: spec.CodeDir, Target: "/var/task", ReadOnly: true}}
	} else {
		imageContainer(&cs, spec)
	}
	t1 := time.Now()
	id, err := cl.rt.Run(ctx, cs, spec.Output)
	if err != nil {
		return fail(err)
	}
	return &containerSandbox{rt: cl.rt, api: api, srv: srv, id: id, nsPath: nsPath, cgroup: cl.rt.CgroupPath(id), exited: cl.rt.Exited(id),
		netnsTook: t1.Sub(t0), runTook: time.Since(t1)}, nil
}

// runtimeAPIEnv points a sandbox's runtime at its Runtime API.
const runtimeAPIEnv = "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"

// sandboxName is prefix with a random suffix.
func sandboxName(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// serveRuntimeAPI creates the network namespace at nsPath and serves a new
// Runtime API in it at 127.0.0.1:9001, through the handler handler builds
// around it.
func serveRuntimeAPI(nsPath string, handler func(*runtimeapi.Server) http.Handler) (*runtimeapi.Server, *http.Server, error) {
	l, err := sandboxNetNS(nsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox network namespace: %w", err)
	}
	api := runtimeapi.New()
	return api, api.Serve(l, handler(api)), nil
}

// stopRuntimeAPI undoes serveRuntimeAPI.
func stopRuntimeAPI(api *runtimeapi.Server, srv *http.Server, nsPath string) {
	api.Close()
	_ = srv.Close()
	_ = removeNetNS(nsPath)
}

// LaunchPhases implements Phased: the steps of the launch and their
// durations.
func (s *containerSandbox) LaunchPhases() []any {
	return []any{"netns", s.netnsTook, "container", s.runTook, "spare", s.claimed}
}

func (s *containerSandbox) Runtime() *runtimeapi.Server { return s.api }
func (s *containerSandbox) Exited() <-chan struct{}     { return s.exited }

// FlushOutput implements Sandbox through the container engine.
func (s *containerSandbox) FlushOutput(ctx context.Context) error {
	return s.rt.FlushOutput(ctx, s.id)
}

// Freeze and Thaw write the cgroup freezer directly: a runtime's
// pause/resume costs a process start, far more than a warm invoke.
func (s *containerSandbox) Freeze() error { return s.setFrozen(true) }
func (s *containerSandbox) Thaw() error   { return s.setFrozen(false) }

func (s *containerSandbox) setFrozen(frozen bool) error {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	if !s.frzOpened {
		s.frzOpened, s.frzFD = true, -1
		v1 := filepath.Join("/sys/fs/cgroup/freezer", s.cgroup, "freezer.state")
		v2 := filepath.Join("/sys/fs/cgroup", s.cgroup, "cgroup.freeze")
		fd, err := unix.Open(v1, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			s.frzV2 = true
			if fd, err = unix.Open(v2, unix.O_WRONLY|unix.O_CLOEXEC, 0); err != nil {
				return fmt.Errorf("opening the sandbox's freezer: %w", err)
			}
		}
		s.frzFD = fd
	}
	if s.frzFD < 0 {
		return fmt.Errorf("the sandbox's freezer is not available: %w", os.ErrNotExist)
	}
	var state string
	switch {
	case s.frzV2 && frozen:
		state = "1"
	case s.frzV2:
		state = "0"
	case frozen:
		state = "FROZEN"
	default:
		state = "THAWED"
	}
	_, err := unix.Pwrite(s.frzFD, []byte(state), 0)
	return err
}

// MaxMemory reads the memory cgroup's high-water mark.
func (s *containerSandbox) MaxMemory() uint64 {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	if s.memClosed {
		return 0
	}
	if !s.memOpened {
		s.memOpened, s.memFD = true, -1
		for _, p := range []string{
			filepath.Join("/sys/fs/cgroup/memory", s.cgroup, "memory.max_usage_in_bytes"),
			filepath.Join("/sys/fs/cgroup", s.cgroup, "memory.peak"),
		} {
			if fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
				s.memFD = fd
				break
			}
		}
	}
	if s.memFD < 0 {
		return 0
	}
	var buf [32]byte
	n, err := unix.Pread(s.memFD, buf[:], 0)
	if err != nil || n <= 0 {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
	return v
}

func (s *containerSandbox) closeMem() {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	if s.memOpened && s.memFD >= 0 {
		_ = unix.Close(s.memFD)
	}
	s.memClosed = true
}

// closeFreezer closes the freezer's file (after the last thaw).
func (s *containerSandbox) closeFreezer() {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	if s.frzOpened && s.frzFD >= 0 {
		_ = unix.Close(s.frzFD)
	}
	s.frzOpened, s.frzFD = true, -1
}

// OOMKilled reads the memory cgroup's OOM-kill counter.
func (s *containerSandbox) OOMKilled() bool {
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup/memory", s.cgroup, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", s.cgroup, "memory.events"),
	} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
				return true
			}
		}
	}
	return false
}

func (s *containerSandbox) Close(ctx context.Context) error {
	var err error
	s.closeMu.Do(func() {
		s.api.Close()
		s.closeMem()
		// A frozen container cannot die; thaw it before the kill.
		_ = s.Thaw()
		s.closeFreezer()
		err = s.rt.Remove(ctx, s.id)
		_ = s.srv.Close()
		if rerr := removeNetNS(s.nsPath); rerr != nil && err == nil {
			err = rerr
		}
		if s.cleanup != nil {
			s.cleanup()
		}
	})
	return err
}

// CleanupNamespaces removes sandbox namespaces left by a previous daemon
// (their containers are gone with it or removed by label).
func CleanupNamespaces(nsDir string) error {
	return forEachEntry(nsDir, func(p string) { _ = removeNetNS(p) })
}

// forEachEntry calls fn with the path of each entry of dir; a missing dir
// has none.
func forEachEntry(dir string, fn func(path string)) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		fn(filepath.Join(dir, e.Name()))
	}
	return nil
}
