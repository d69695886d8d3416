package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/functions/sandbox"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/reaper"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/ocishim"
	"github.com/wharf-dev/wharf/server/dockerapi"
	"github.com/wharf-dev/wharf/server/nativeapi"
)

// daemonConfig holds the daemon's flags.
type daemonConfig struct {
	root, execRoot string
	runtime        string
	// sandboxRuntime is auto (probe runsc for FARGATE tasks) or off;
	// fargateRuntime is what the probe found ("" for none).
	sandboxRuntime, fargateRuntime string
	insecure                       []string
	logLevel                       string
	shimDormant                    time.Duration
	execWarm                       time.Duration
	logDriver                      string
	logOpts                        []string
	netCfg                         netDaemonConfig
	fnCfg                          fnConfig
	natsCfg                        natsConfig
	batchCfg                       batchConfig
	tlsCfg                         tlsConfig
	registryCfg                    registryFlags
	clusterCfg                     clusterConfig

	// wharfBinary is the lean wharf binary that shims, wharf-init and
	// spare sandboxes run; `wharf daemon` passes its own path.
	wharfBinary string

	// shimForwardDelay slows every shim's forwarding of output (tests
	// only: output in flight as on a loaded host).
	shimForwardDelay time.Duration
}

func newDaemonCommand() *cobra.Command {
	var cfg daemonConfig
	cmd := &cobra.Command{
		// Users run it as `wharf daemon`, which executes this binary.
		Use:           "wharf daemon",
		Short:         "Run the wharf daemon",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("log-opt") && cfg.logDriver == container.LogDriverJSONFile {
				cfg.logOpts = defaultLogOpts()
			}
			return runDaemon(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.wharfBinary, "wharf-binary", "", "the lean wharf binary that runs shims, wharf-init and spare sandboxes (set by `wharf daemon`)")
	_ = f.MarkHidden("wharf-binary")
	f.StringVar(&cfg.root, "root", wharf.DefaultRoot, "directory for images, containers and state")
	f.StringVar(&cfg.execRoot, "exec-root", "/run/wharf", "directory for the API socket, shim sockets and runtime state")
	f.StringVar(&cfg.runtime, "default-runtime", "auto", "OCI runtime for new containers: auto (crun where it works with the host's mounts as they are, else runc), crun or runc")
	f.StringVar(&cfg.sandboxRuntime, "sandbox-runtime", "auto", "gVisor for FARGATE tasks: auto (runsc where it is installed and works here) or off")
	f.StringSliceVar(&cfg.insecure, "insecure-registry", nil, "registry host[:port] to reach over plain HTTP (repeatable)")
	f.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&cfg.shimDormant, "shim-dormant-after", time.Second, "a container's shim sleeps in a process of a few pages after this long without output, requests or attached streams (0: never)")
	f.DurationVar(&cfg.shimForwardDelay, "test-shim-forward-delay", 0, "shims wait this long before forwarding each read of output (tests only)")
	_ = f.MarkHidden("test-shim-forward-delay")
	f.DurationVar(&cfg.execWarm, "exec-warm-for", 10*time.Second, "when execs into a container come within this of each other, keep the runtime's next exec started and waiting this long (0: never)")
	f.StringVar(&cfg.logDriver, "log-driver", container.LogDriverJSONFile, "default log driver of containers: json-file, local or none")
	f.StringArrayVar(&cfg.logOpts, "log-opt", nil, "default log driver option of containers, key=value (repeatable; json-file without any: max-size=10m, max-file=3)")
	addFunctionFlags(f, &cfg.fnCfg)
	addNATSFlags(f, &cfg.natsCfg)
	addBatchFlags(f, &cfg.batchCfg)
	addTLSFlags(f, &cfg.tlsCfg)
	addNetDaemonFlags(f, &cfg.netCfg)
	addRegistryFlags(f, &cfg.registryCfg)
	addClusterFlags(f, &cfg.clusterCfg)
	return cmd
}

// daemon implements nativeapi.System.
type daemon struct {
	cfg       daemonConfig
	engine    *container.Engine
	images    *store.Store
	cands     []oci.Candidate
	defRT     string
	rtReason  string
	startedAt time.Time
	networks  *network.Manager
	volumes   *volume.Store
	// events is the engine's event bus; the stores below publish to it
	// through these wrappers, which the APIs and the engine are given.
	events    *events.Bus
	pubImages *events.Images
	pubNets   *events.Networks
	pubVols   *events.Volumes
	// fnRT is the runtime of function sandboxes, and fnRTReason why.
	fnRT, fnRTReason string
}

func runDaemon(ctx context.Context, cfg daemonConfig) error {
	if os.Geteuid() != 0 {
		return errors.New("the daemon needs root (namespaces, cgroups, mounts)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	for _, d := range []string{cfg.root, cfg.execRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	dumpStacksOnSignal(cfg.execRoot, log)
	sock := filepath.Join(cfg.execRoot, "wharf.sock")
	if conn, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("another daemon is already serving %s", sock)
	}
	_ = os.Remove(sock)

	// Terminal exec processes are started by a runtime that detaches; the
	// daemon adopts them to read their exit status.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("becoming a child subreaper: %w", err)
	}
	// Every other orphan that comes to it is reaped (internal/reaper): a
	// zombie left in a container's pid namespace would keep the
	// container's exit from ever being seen.
	rp, err := reaper.Start(reaper.WithLogger(log))
	if err != nil {
		log.Warn("orphans adopted by the daemon are not reaped", "err", err)
	}
	defer rp.Close()
	self, err := leanBinary(cfg.wharfBinary)
	if err != nil {
		return err
	}
	cfg.fnCfg.wharfBinary = self
	d := &daemon{cfg: cfg, startedAt: time.Now()}
	scratch := filepath.Join(cfg.execRoot, "probe")
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return err
	}
	runtimes := map[string]*oci.Runtime{}
	for _, name := range []string{"crun", "runc"} {
		c := oci.Probe(ctx, name, scratch)
		d.cands = append(d.cands, c)
		log.Info("runtime probed", "runtime", name, "usable", c.Usable, "reason", c.Reason)
		if c.Usable {
			runtimes[name] = &oci.Runtime{Name: name, Path: c.Path, Root: filepath.Join(cfg.execRoot, "runtime", name), Hide: c.Hide}
		}
	}
	// Function sandboxes take the fastest usable runtime, hidden mounts
	// or not (daemon_fn.go), from the same candidates.
	d.fnRT, d.fnRTReason, err = chooseFnRuntime(cfg.fnCfg.runtime, d.cands)
	if err != nil {
		return err
	}
	cfg.fnCfg.runtimeName = d.fnRT
	switch cfg.runtime {
	case "auto", "":
		chosen, why, err := oci.Select(d.cands)
		if err != nil {
			return err
		}
		d.defRT, d.rtReason = chosen.Name, why
	default:
		if runtimes[cfg.runtime] == nil {
			return fmt.Errorf("--default-runtime %s is not usable on this host (see the probe lines above)", cfg.runtime)
		}
		d.defRT, d.rtReason = cfg.runtime, "chosen with --default-runtime"
	}
	sb, fargateRT, err := probeSandbox(ctx, cfg.sandboxRuntime, scratch, cfg.execRoot, runtimes, log)
	if err != nil {
		return err
	}
	d.cands = append(d.cands, sb)
	cfg.fargateRuntime = fargateRT
	_ = os.RemoveAll(scratch)

	// One metrics registry for the daemon, one key store for every API.
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewGoCollector(), metrics.NewProcessCollector())
	obs := newObservability(reg)
	cfg.fnCfg.obs = obs
	keys, tokens, err := openIdentity(cfg.root, log)
	if err != nil {
		return fmt.Errorf("access keys: %w", err)
	}
	rg, err := startRegistry(ctx, cfg.root, cfg.registryCfg, tokens, reg, log)
	if err != nil {
		return err
	}
	if rg != nil {
		defer rg.Close()
		cfg.fnCfg.ecr = ecrHandler(rg, keys, tokens, log)
		obs.watchRegistry(rg.Addr())
	}

	// Credentials a Docker API request carries (X-Registry-Auth) come
	// before the daemon's own Docker config.
	storeOpts := []store.Option{store.WithInsecureRegistries(cfg.insecure...),
		store.WithKeychain(dockerapi.Keychain(authn.DefaultKeychain)),
		// The root filesystem of zip functions is the daemon's, not the
		// user's: not listed, pruned or removable (image/store/internal.go).
		store.WithInternalRefs(sandbox.BaseImage)}
	if rg != nil {
		// Pulls from our own registry read its storage (image/store/local.go).
		storeOpts = append(storeOpts, store.WithLocalRegistry(rg.Addr(), rg))
	}
	d.images, err = store.New(filepath.Join(cfg.root, "image"), storeOpts...)
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	d.events, err = events.New(events.WithLog(filepath.Join(cfg.root, "events"), 0), events.WithLogger(log))
	if err != nil {
		return err
	}
	defer d.events.Close()
	d.pubImages = events.PublishImages(d.images, d.events)
	obs.watchEvents(d.events)
	obs.watchImages(d.images)
	netOpts, err := d.setupNetworksAndVolumes(log)
	if err != nil {
		return err
	}
	defer d.networks.Close()
	logDefault, err := daemonLogConfig(cfg.logDriver, cfg.logOpts)
	if err != nil {
		return err
	}
	rts, err := ocishim.NewSet(self, cfg.execRoot, runtimes, ocishim.WithLogger(log), ocishim.WithShimDormantAfter(cfg.shimDormant), ocishim.WithExecWarmFor(cfg.execWarm), ocishim.WithShimForwardDelay(cfg.shimForwardDelay),
		ocishim.WithSeccompCache(filepath.Join(cfg.execRoot, "seccomp")),
		ocishim.WithAdopter(func() (func(int), func()) { a := rp.Expect(); return a.Claim, a.Done }))
	if err != nil {
		return err
	}
	d.engine, err = container.New(cfg.root, d.pubImages, rts, d.defRT, self, append([]container.Option{container.WithLogger(log), container.WithLogDefault(logDefault), container.WithEvents(d.events), container.WithStartObserver(obs.observeStart)}, netOpts...)...)
	if err != nil {
		return err
	}
	if err := d.engine.Restore(ctx); err != nil {
		return fmt.Errorf("restoring containers: %w", err)
	}
	builder, err := newBuilder(ctx, cfg.root, d.images, d.engine, log)
	if err != nil {
		return err
	}
	obs.watchEngine(d.engine, cfg.execRoot)
	obs.enableLogs(cfg.root, keys, d.engine, log)

	nb, err := startNATS(cfg.root, cfg.natsCfg, log)
	if err != nil {
		return fmt.Errorf("NATS: %w", err)
	}
	defer nb.Close()
	obs.watchNATS(nb.Conn())
	cl, err := startCluster(ctx, cfg, d.engine, d.pubImages, d.events, d.pubNets, d.networks, d.pubVols, log)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer cl.close()
	if dk := cl.dataKey(); dk != nil {
		// Keys created from now on are the cluster's, verified by every
		// node, sealed with the cluster's data key.
		keys.Share(ctx, newClusterKeys(cl.store, dk, log))
	} else if cl != nil {
		log.Warn("cluster: access keys made on this node stay its own: it has no data key to seal them with in the cluster's state (a cluster created before secrets, or the key file is gone)")
	}
	cfg.fnCfg.ecs = cl.ecsHandler(keys, log)
	br, err := startBatch(ctx, cfg.root, cfg.batchCfg, nb.Conn(), cl, d.engine, d.events, d.images, keys, log)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	defer br.close()
	cfg.fnCfg.batch = br.api
	if cl != nil {
		// In a cluster, Batch's group is one of those the tasks ship to.
		obs.addLogSource(clusterLogSource{st: cl.store})
	} else {
		obs.addLogSource(br.logSource(cfg.root))
	}
	var consoleMount *lateHandler
	if cfg.fnCfg.httpAddr != "" {
		consoleMount = &lateHandler{}
		cfg.fnCfg.console = consoleMount
	}
	fr, err := startFunctions(ctx, cfg.root, cfg.execRoot, cfg.fnCfg, d.engine, d.images, nb.Conn(), keys, reg, log)
	if err != nil {
		return fmt.Errorf("functions: %w", err)
	}
	defer fr.close()

	var tl net.Listener
	if cfg.tlsCfg.addr != "" {
		if tl, err = listenTLS(cfg.tlsCfg); err != nil {
			return err
		}
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	_ = os.Chmod(sock, 0o660)
	_ = os.WriteFile(filepath.Join(cfg.execRoot, "wharf.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	metered := meteredImages{d.pubImages, obs}
	docker := dockerapi.New(d.engine, metered, d, dockerapi.WithLogger(log), dockerapi.WithNetworks(d.pubNets, d.engine), dockerapi.WithVolumes(d.pubVols),
		dockerapi.WithEvents(d.events), dockerapi.WithBuilder(builder))
	defer docker.Close()
	native := nativeapi.New(d.engine, metered, d, log, nativeapi.WithNetworks(d.pubNets, d.engine), nativeapi.WithVolumes(d.pubVols),
		nativeapi.WithEvents(d.events), nativeapi.WithBuilder(builder))
	var links http.Handler
	if consoleMount != nil {
		// The console reads the registry, the cluster and Batch as the
		// CLI does, through the socket's handlers.
		nativeReads := withCluster(withRegistry(withBatchNative(br.nativeHandler(), native), rg, tokens), cl.handler())
		con := newConsole(cfg.fnCfg.httpAddr, keys, docker, nativeReads, d.engine, fr, d.events, reg, log)
		defer con.Close()
		consoleMount.set(con)
		links = con.LinkHandler()
	}
	srv := &http.Server{Handler: obs.api.Wrap(socketRoutes(native, docker), apiMux(withConsole(withCluster(withRegistry(withFunctions(withBatchNative(br.nativeHandler(), native), fr.nativeHandler()), rg, tokens), cl.handler()), links), docker)), ReadHeaderTimeout: 10 * time.Second}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		log.Info("shutting down; containers keep running", "signal", s.String())
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if tl != nil {
		go func() { _ = srv.Serve(tl) }()
		log.Info("serving the APIs over TLS with client authentication", "addr", tl.Addr().String())
	}
	log.Info("wharf daemon ready", "socket", sock, "root", cfg.root, "runtime", d.defRT)
	err = srv.Serve(l)
	d.engine.Close()
	_ = os.Remove(sock)
	_ = os.Remove(filepath.Join(cfg.execRoot, "wharf.pid"))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// withFunctions routes the native API's key and function administration
// paths to the functions side, everything else to the engine's handler.
func withFunctions(native, fn http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == wharf.Prefix+"/keys" || strings.HasPrefix(p, wharf.Prefix+"/keys/") || strings.HasPrefix(p, wharf.Prefix+"/functions/") {
			fn.ServeHTTP(w, r)
			return
		}
		native.ServeHTTP(w, r)
	})
}

// apiMux serves both APIs on one socket: the native API under
// /wharf/v1, the Docker Engine API everywhere else (/_ping, /version,
// /v1.44/containers/..., unversioned paths).
func apiMux(native, docker http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, wharf.Prefix+"/") {
			native.ServeHTTP(w, r)
			return
		}
		docker.ServeHTTP(w, r)
	})
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// gitCommit is the commit the daemon was built from, as the go command
// stamped it (vcs.revision, shortened as docker shows it; "-dirty" when
// the tree had changes), or "unknown" for a build outside a checkout.
var gitCommit = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
})

// Version implements nativeapi.System.
func (d *daemon) Version() wharf.Version {
	return wharf.Version{
		Version: version, APIVersion: wharf.APIVersion, GitCommit: gitCommit(), GoVersion: runtime.Version(),
		Os: runtime.GOOS, Arch: runtime.GOARCH, KernelVersion: kernelVersion(),
	}
}

// Info implements nativeapi.System.
func (d *daemon) Info(ctx context.Context) wharf.Info {
	info := wharf.Info{
		DockerRootDir: d.cfg.root, ExecRoot: d.cfg.execRoot, KernelVersion: kernelVersion(),
		OperatingSystem: osName(), NCPU: runtime.NumCPU(), CgroupDriver: "cgroupfs",
		CgroupVersion: "1", DefaultRuntime: d.defRT, RuntimeReason: d.rtReason,
		FunctionRuntime: d.fnRT, FunctionRuntimeReason: d.fnRTReason,
		Runtimes: map[string]wharf.RuntimeInfo{}, ServerVersion: version,
		SecurityOptions:    []string{"name=seccomp,profile=builtin", "name=no-new-privileges-available"},
		InsecureRegistries: d.cfg.insecure,
		LoggingDriver:      d.cfg.logDriver,
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		info.CgroupVersion = "2"
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		info.MemTotal = int64(si.Totalram) * int64(si.Unit)
	}
	for _, c := range d.cands {
		info.Runtimes[c.Name] = wharf.RuntimeInfo{Path: c.Path, Version: c.Version, Usable: c.Usable, Reason: c.Reason, Hides: c.Hide}
	}
	for _, c := range d.engine.List(ctx) {
		info.Containers++
		switch c.State.Status {
		case container.StatusRunning:
			info.ContainersRunning++
		case container.StatusPaused:
			info.ContainersPaused++
		default:
			info.ContainersStopped++
		}
	}
	if imgs, err := d.images.List(ctx); err == nil {
		info.Images = len(imgs)
	}
	return info
}

func osName() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

// defaultLogOpts are the options of the json-file driver on a daemon
// started without --log-opt: bounded, unlike dockerd's default.
func defaultLogOpts() []string {
	var out []string
	for k, v := range container.DefaultLogConfig().Config {
		out = append(out, k+"="+v)
	}
	return out
}

// daemonLogConfig checks --log-driver and --log-opt as dockerd checks its
// log-driver and log-opts.
func daemonLogConfig(driver string, opts []string) (container.LogConfig, error) {
	lc := container.LogConfig{Type: driver, Config: map[string]string{}}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return lc, fmt.Errorf("--log-opt %q: want key=value", o)
		}
		lc.Config[k] = v
	}
	if err := container.ValidateLogConfig(lc); err != nil {
		return lc, fmt.Errorf("failed to set log opts: %w", err)
	}
	return lc, nil
}
