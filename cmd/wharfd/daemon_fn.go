package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	units "github.com/docker/go-units"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions/async"
	"github.com/wharf-dev/wharf/functions/invoke"
	"github.com/wharf-dev/wharf/functions/sandbox"
	"github.com/wharf-dev/wharf/functions/trigger"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/server/fnapi"
	"github.com/wharf-dev/wharf/server/lambdaapi"
	wstream "github.com/wharf-dev/wharf/stream"
)

// fnConfig holds the daemon's functions flags.
type fnConfig struct {
	// wharfBinary is the lean binary a spare sandbox runs (not a flag of
	// its own: the daemon's --wharf-binary).
	wharfBinary string
	// runtimeName is the OCI runtime sandboxes run with (not a flag: the
	// daemon's choice from --fn-runtime, chooseFnRuntime).
	runtimeName string

	runtime     string
	httpAddr    string
	idleTimeout time.Duration
	concurrency int
	ackWait     time.Duration
	spares      int
	logMaxSize  string
	logMaxFiles int

	// ecr, when set, serves ECR's API on --http beside Lambda's (the
	// calls ecrapi.Matches; not a flag: the registry's).
	ecr http.Handler
	// obs, when set, adds the probes, CloudWatch Logs' API and request
	// metrics to --http (daemon_obs.go).
	obs *observability
	// ecs, when set, serves ECS's API on --http (the calls ecsapi.Matches;
	// not a flag: the cluster's).
	ecs http.Handler
	// batch, when set, serves Batch's API on --http (the calls
	// batchapi.Matches).
	batch http.Handler
	// console, when set, serves the web console under /console/ on
	// --http (daemon_console.go; not a flag: on with --http).
	console http.Handler
}

func addFunctionFlags(f *pflag.FlagSet, c *fnConfig) {
	// auto: crun where it works, also with a hybrid layout's cgroup2
	// mount hidden from it; its container start is most of a cold start.
	f.StringVar(&c.runtime, "fn-runtime", "auto", "OCI runtime of function sandboxes: runc, crun, or auto (the fastest that works here: crun, also with a hybrid cgroup layout's cgroup2 mount hidden from it)")
	f.StringVar(&c.httpAddr, "http", "127.0.0.1:9280", "address of the Lambda-shaped API, function HTTP routes and /metrics (empty: off)")
	f.DurationVar(&c.idleTimeout, "fn-idle-timeout", 5*time.Minute, "how long a warm function sandbox may idle before it is reaped")
	f.IntVar(&c.concurrency, "fn-concurrency", 100, "concurrency of functions without reserved concurrency")
	f.DurationVar(&c.ackWait, "fn-async-ack-wait", 30*time.Second, "how soon an async event is retried after the daemon died while running it")
	f.StringVar(&c.logMaxSize, "fn-log-max-size", "10MiB", "size at which a function's log is rotated (0: never)")
	f.IntVar(&c.logMaxFiles, "fn-log-max-file", invoke.DefaultLogLimits.MaxFiles, "how many files a function's log keeps, the current one included")
	f.IntVar(&c.spares, "fn-spare-sandboxes", 1, "empty sandboxes kept started, while functions are in use, for the cold starts of zip functions (0: none; needs a static wharf binary)")
}

// fnRuntime is the running functions side of the daemon.
type fnRuntime struct {
	engine   *invoke.Engine
	queue    *async.Queue
	table    *trigger.Table
	keys     *identity.Keys
	http     *http.Server
	cancel   context.CancelFunc
	adapter  *engineContainers
	launcher *sandbox.ContainerLauncher
}

// startFunctions opens the function store, starts the async queue on the
// daemon's NATS connection nc, the scheduler and the HTTP listener.
func startFunctions(ctx context.Context, root, execRoot string, c fnConfig, ce *container.Engine, images *store.Store, nc *nats.Conn, keys *identity.Keys, reg *prometheus.Registry, log *slog.Logger) (*fnRuntime, error) {
	fnRoot := filepath.Join(root, "functions")
	adapter := &engineContainers{e: ce, runtime: c.runtimeName, waits: map[string]chan struct{}{}, streams: map[string]*outStream{}}
	// Sandboxes of a previous daemon are not re-adopted: their pools
	// lived in its memory. Remove them and their namespaces.
	for _, ct := range ce.List(ctx) {
		if _, ok := ct.Config.Labels[sandbox.Label]; ok {
			_ = ce.Remove(ctx, ct.ID, container.RemoveOptions{Force: true})
		}
	}
	nsDir := filepath.Join(execRoot, "fnns")
	_ = sandbox.CleanupNamespaces(nsDir)
	spareDir := filepath.Join(execRoot, "fnspare")
	_ = sandbox.CleanupSpares(spareDir)
	if _, err := images.Get(ctx, sandbox.BaseImage); errdefs.IsNotFound(err) {
		if _, err := images.Import(ctx, strings.NewReader(string(sandbox.BaseImageTar())), sandbox.BaseImage, nil); err != nil {
			return nil, fmt.Errorf("function base image: %w", err)
		}
	}
	logMax, err := units.RAMInBytes(c.logMaxSize)
	if err != nil || logMax < 0 || c.logMaxFiles < 1 {
		return nil, fmt.Errorf("--fn-log-max-size %q, --fn-log-max-file %d: want a size and a count of at least 1", c.logMaxSize, c.logMaxFiles)
	}
	queue, err := async.Open(ctx, nc, async.WithAckWait(c.ackWait), async.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("the queue of async invocations: %w", err)
	}
	launcher := sandbox.NewContainerLauncher(adapter, nsDir, spareOption(c.spares, c.wharfBinary, spareDir, c.idleTimeout, log))
	eng, err := invoke.New(fnRoot, launcher,
		invoke.WithIdleTimeout(c.idleTimeout), invoke.WithDefaultConcurrency(c.concurrency),
		invoke.WithLogger(log), invoke.WithRegisterer(reg), invoke.WithImages(images), invoke.WithQueue(queue),
		invoke.WithLogLimits(logfile.Limits{MaxSize: logMax, MaxFiles: c.logMaxFiles}))
	if err != nil {
		launcher.Close()
		return nil, err
	}
	// Images pinned by function versions are kept as a container's are.
	ce.AddImageUser(eng.ImageInUse)
	rctx, cancel := context.WithCancel(context.Background())
	fr := &fnRuntime{engine: eng, queue: queue, cancel: cancel, adapter: adapter, launcher: launcher, keys: keys}
	if err := queue.Start(eng); err != nil {
		fr.close()
		return nil, err
	}
	if fr.table, err = trigger.Open(filepath.Join(fnRoot, "triggers.json"), trigger.WithLogger(log)); err != nil {
		fr.close()
		return nil, err
	}
	go fr.table.RunScheduler(rctx, eng, time.Now, log)
	if c.httpAddr != "" {
		l, err := net.Listen("tcp", c.httpAddr)
		if err != nil {
			fr.close()
			return nil, fmt.Errorf("--http %s: %w", c.httpAddr, err)
		}
		spool := filepath.Join(fnRoot, "spool")
		if err := os.MkdirAll(spool, 0o700); err != nil {
			fr.close()
			return nil, err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(reg))
		lambda := lambdaapi.New(eng, fr.keys, lambdaapi.WithLogger(log), lambdaapi.WithSpoolDir(spool))
		var rest http.Handler = withBatch(c.batch, withECS(c.ecs, withECR(c.ecr, fr.table.Router(eng, lambda))))
		if c.obs != nil {
			if rest, err = c.obs.mountHTTP(mux, rest, lambda, c.ecr, fr.table, eng); err != nil {
				l.Close()
				fr.close()
				return nil, err
			}
		}
		if c.console != nil {
			mux.Handle("/console/", c.console)
			mux.Handle("GET /console", c.console)
		}
		mux.Handle("/", rest)
		// Bodies get per-request deadlines (lambdaapi, trigger): a
		// ReadTimeout or WriteTimeout here would cut the responses of
		// synchronous invocations, which run for up to 15 minutes.
		fr.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		go func() { _ = fr.http.Serve(l) }()
		log.Info("functions API listening", "addr", l.Addr().String())
	}
	return fr, nil
}

// nativeHandler serves `wharf keys` and `wharf fn` administration on the
// daemon's unix socket.
func (fr *fnRuntime) nativeHandler() http.Handler {
	mux := http.NewServeMux()
	keys := lambdaapi.KeysHandler(fr.keys)
	mux.Handle(wharf.Prefix+"/keys", keys)
	mux.Handle(wharf.Prefix+"/keys/", keys)
	mux.Handle(wharf.Prefix+"/functions/", fnapi.Handler(wharf.Prefix, fr.engine, fr.table))
	return mux
}

func (fr *fnRuntime) close() {
	fr.cancel()
	if fr.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = fr.http.Shutdown(sctx)
		cancel()
	}
	// The queue's workers invoke the engine: they stop first.
	fr.queue.Close()
	fr.engine.Close()
	fr.launcher.Close()
}

// chooseFnRuntime picks the OCI runtime of function sandboxes among the
// probed container runtimes cands: with mode "auto" the first usable one
// (crun before runc), also when it works only with mounts hidden from it,
// since its start is every cold start's; otherwise the runtime named,
// which must be usable. It returns the name and why.
func chooseFnRuntime(mode string, cands []oci.Candidate) (string, string, error) {
	if mode == "" || mode == "auto" {
		c, why, err := oci.SelectAny(cands)
		if err != nil {
			return "", "", err
		}
		return c.Name, why, nil
	}
	for _, c := range cands {
		if c.Name != mode {
			continue
		}
		if !c.Usable {
			return "", "", fmt.Errorf("--fn-runtime %s is not usable on this host: %s", mode, c.Reason)
		}
		return c.Name, "chosen with --fn-runtime", nil
	}
	return "", "", fmt.Errorf("--fn-runtime %q: auto or one of the probed runtimes (crun, runc)", mode)
}

// spareOption enables spare sandboxes when the lean wharf binary, self,
// can run inside one (it must be static: the base image has no libc).
func spareOption(n int, self, dir string, idle time.Duration, log *slog.Logger) sandbox.LauncherOption {
	if n <= 0 {
		return sandbox.WithSpares(0, "", dir, idle, log)
	}
	static, err := sandbox.StaticBinary(self)
	if err == nil && !static {
		err = errors.New("it is dynamically linked (build it with `make build` or CGO_ENABLED=0)")
	}
	if err != nil {
		log.Warn("no spare function sandboxes: the wharf binary cannot run inside one", "err", err)
		return sandbox.WithSpares(0, "", dir, idle, log)
	}
	return sandbox.WithSpares(n, self, dir, idle, log)
}

// engineContainers adapts the container engine to what function sandboxes
// need.
type engineContainers struct {
	e *container.Engine
	// runtime is the OCI runtime of sandboxes ("": the engine's default).
	runtime string
	mu      sync.Mutex
	waits   map[string]chan struct{}
	// streams are the sandboxes' output streams, where the marks of
	// their flushes arrive (fnoutput.go).
	streams map[string]*outStream
	tokens  atomic.Uint64
}

// Run creates the sandbox container, attaches its output, starts it.
func (a *engineContainers) Run(ctx context.Context, s sandbox.ContainerSpec, out io.Writer) (string, error) {
	mounts := make([]volume.Mount, 0, len(s.Binds)+len(s.Tmpfs))
	for _, b := range s.Binds {
		mounts = append(mounts, volume.Mount{Type: "bind", Source: b.Source, Target: b.Target, ReadOnly: b.ReadOnly, Propagation: b.Propagation})
	}
	for target, opts := range s.Tmpfs {
		m := volume.Mount{Type: "tmpfs", Target: target, TmpfsMode: 0o1777}
		for _, o := range strings.Split(opts, ",") {
			if v, ok := strings.CutPrefix(o, "size="); ok {
				var n int64
				if _, err := fmt.Sscanf(v, "%dm", &n); err == nil {
					m.TmpfsSize = n << 20
				}
			}
		}
		mounts = append(mounts, m)
	}
	o := container.CreateOptions{
		Name: s.Name,
		Config: container.Config{
			Image: s.Image, Env: s.Env, User: s.User, Labels: s.Labels,
			Entrypoint: s.Entrypoint, EntrypointSet: s.Entrypoint != nil, WorkingDir: s.WorkingDir,
		},
		HostConfig: container.HostConfig{
			Runtime:     a.runtime,
			NetworkMode: "ns:" + s.NetNSPath, Memory: s.MemoryBytes, MemorySwap: s.MemoryBytes,
			CPUShares: s.CPUShares, NanoCPUs: s.NanoCPUs, PidsLimit: s.PidsLimit, ReadonlyRootfs: s.ReadonlyRootfs, Mounts: mounts,
			CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges"},
			// The function's log (functions/invoke/funclog.go) records the
			// output; a second copy in the sandbox's own would only
			// cost a write per line.
			LogConfig: container.LogConfig{Type: container.LogDriverNone},
		},
	}
	c, err := a.e.Create(ctx, o)
	if err != nil {
		return "", err
	}
	// Attach before start so no byte of the runtime's init output is lost.
	// The stream takes marks: FlushOutput waits for them.
	st := newOutStream()
	a.mu.Lock()
	a.streams[c.ID] = st
	a.mu.Unlock()
	registered := make(chan struct{})
	go func() {
		pr, pw := io.Pipe()
		go func() {
			_ = wstream.DemuxMarks(out, out, pr, st.mark)
			st.end()
			_, _ = io.Copy(io.Discard, pr)
		}()
		_ = a.e.Attach(context.Background(), c.ID, container.AttachOptions{
			Stdout: true, Stderr: true, Marks: true, Stream: rwPair{w: pw}, Registered: func() { close(registered) },
		})
		pw.Close()
	}()
	select {
	case <-registered:
	case <-time.After(5 * time.Second):
		a.forgetStream(c.ID)
		_ = a.e.Remove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		return "", errors.New("attaching to the sandbox timed out")
	}
	if err := a.e.Start(ctx, c.ID); err != nil {
		a.forgetStream(c.ID)
		_ = a.e.Remove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		return "", err
	}
	done := make(chan struct{})
	a.mu.Lock()
	a.waits[c.ID] = done
	a.mu.Unlock()
	go func() {
		_, _ = a.e.Wait(context.Background(), c.ID, container.WaitNotRunning, nil)
		close(done)
	}()
	return c.ID, nil
}

// rwPair is a write-only stream for an attach without stdin.
type rwPair struct{ w io.Writer }

func (p rwPair) Read([]byte) (int, error)    { return 0, io.EOF }
func (p rwPair) Write(b []byte) (int, error) { return p.w.Write(b) }

func (a *engineContainers) Exited(id string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ch, ok := a.waits[id]; ok {
		return ch
	}
	ch := make(chan struct{})
	close(ch)
	return ch
}

func (a *engineContainers) Remove(ctx context.Context, id string) error {
	a.mu.Lock()
	delete(a.waits, id)
	delete(a.streams, id)
	a.mu.Unlock()
	return a.e.Remove(ctx, id, container.RemoveOptions{Force: true})
}

func (a *engineContainers) CgroupPath(id string) string { return a.e.CgroupsPath(id) }
