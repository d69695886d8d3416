package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/network/portspec"
	"github.com/wharf-dev/wharf/engine/volume/mountspec"
)

// minMemory is the smallest memory limit docker accepts; below it a
// container cannot even start its runtime.
const minMemory = 6 * 1024 * 1024

// createOptions holds the flags of run and create. The typed flag values
// validate at parse time so that errors read exactly like docker's
// (`invalid argument "10x" for "-m, --memory" flag: invalid size: '10x'`).
type createOptions struct {
	detach, interactive, tty, autoRemove bool
	detachKeys                           string
	name, workdir, user, entrypoint      string
	env, envFiles, labels                []string
	memory, memorySwap                   memBytes
	cpus                                 nanoCPUs
	cpuShares, pidsLimit                 int64
	readOnly, privileged, init           bool
	capAdd, capDrop, securityOpt         []string
	ulimits                              ulimitList
	runtime, restart, network, hostname  string
	stopSignal                           string
	stopTimeout                          int
	publish, expose                      []string
	publishAll                           bool
	ip                                   string
	aliases                              []string
	volumes, mounts, tmpfs, volumesFrom  []string
	logDriver                            string
	logOpts                              []string
	health                               healthOptions
}

// healthOptions are the --health-* flags.
type healthOptions struct {
	cmd                                           string
	interval, timeout, startPeriod, startInterval time.Duration
	retries                                       int
	none                                          bool
}

// healthConfig is the healthcheck the flags ask for, as the docker CLI
// builds it: nil to keep the image's, ["NONE"] for --no-healthcheck.
func (h *healthOptions) healthConfig() (*wharf.HealthConfig, error) {
	set := h.cmd != "" || h.interval != 0 || h.timeout != 0 || h.startPeriod != 0 || h.retries != 0 || h.startInterval != 0
	if h.none {
		if set {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &wharf.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !set {
		return nil, nil
	}
	for _, d := range []struct {
		name string
		neg  bool
	}{{"interval", h.interval < 0}, {"timeout", h.timeout < 0}, {"retries", h.retries < 0}, {"start-period", h.startPeriod < 0}, {"start-interval", h.startInterval < 0}} {
		if d.neg {
			return nil, fmt.Errorf("--health-%s cannot be negative", d.name)
		}
	}
	hc := &wharf.HealthConfig{Interval: h.interval, Timeout: h.timeout, StartPeriod: h.startPeriod, StartInterval: h.startInterval, Retries: h.retries}
	if h.cmd != "" {
		hc.Test = []string{"CMD-SHELL", h.cmd}
	}
	return hc, nil
}

// addCreateFlags registers docker's run/create flags on fs.
func addCreateFlags(fs *pflag.FlagSet, o *createOptions) {
	fs.SetInterspersed(false) // `run IMG sh -c ...`: everything after IMG is the command
	// -h is --hostname, as in docker; defining --help first keeps cobra
	// from claiming -h for it.
	fs.Bool("help", false, "Print usage")
	fs.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVar(&o.autoRemove, "rm", false, "Automatically remove the container when it exits")
	fs.StringVar(&o.name, "name", "", "Assign a name to the container")
	fs.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&o.envFiles, "env-file", nil, "Read in a file of environment variables")
	fs.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.VarP(&o.memory, "memory", "m", "Memory limit")
	fs.Var(&memSwapBytes{&o.memorySwap}, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fs.Var(&o.cpus, "cpus", "Number of CPUs")
	fs.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.StringArrayVar(&o.capAdd, "cap-add", nil, "Add Linux capabilities")
	fs.StringArrayVar(&o.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	fs.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	fs.StringArrayVar(&o.securityOpt, "security-opt", nil, "Security Options")
	fs.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	fs.Var(&o.ulimits, "ulimit", "Ulimit options")
	fs.StringVar(&o.runtime, "runtime", "", "Runtime to use for this container")
	fs.StringVar(&o.restart, "restart", "no", "Restart policy to apply when a container exits")
	fs.StringVar(&o.network, "network", "", "Connect a container to a network")
	fs.StringVar(&o.network, "net", "", "Connect a container to a network")
	_ = fs.MarkHidden("net")
	fs.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	fs.StringArrayVarP(&o.labels, "label", "l", nil, "Set meta data on a container")
	fs.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	fs.StringArrayVarP(&o.publish, "publish", "p", nil, "Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])")
	fs.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	fs.StringArrayVar(&o.expose, "expose", nil, "Expose a port or a range of ports")
	fs.StringVar(&o.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringArrayVar(&o.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	fs.StringArrayVarP(&o.volumes, "volume", "v", nil, "Bind mount a volume")
	fs.StringArrayVar(&o.mounts, "mount", nil, "Attach a filesystem mount to the container")
	fs.StringArrayVar(&o.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	fs.StringArrayVar(&o.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s)")
	fs.StringVar(&o.logDriver, "log-driver", "", "Logging driver for the container (json-file, local, none)")
	fs.StringArrayVar(&o.logOpts, "log-opt", nil, "Log driver options (max-size, max-file)")
	fs.StringVar(&o.health.cmd, "health-cmd", "", "Command to run to check health")
	fs.DurationVar(&o.health.interval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	fs.DurationVar(&o.health.timeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	fs.DurationVar(&o.health.startPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	fs.DurationVar(&o.health.startInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	fs.IntVar(&o.health.retries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	fs.BoolVar(&o.health.none, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
}

// envSource gives buildCreateRequest access to the outside world (the CLI's
// environment and files) so that the conversion stays testable.
type envSource struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
}

var osEnv = envSource{lookupEnv: os.LookupEnv, readFile: os.ReadFile}

// buildCreateRequest turns parsed run/create flags and the positional
// arguments (IMAGE [COMMAND [ARG...]]) into the create request. changed
// reports whether a flag was given explicitly, for flags whose zero value
// means "image default" rather than "off".
func buildCreateRequest(o *createOptions, args []string, changed func(string) bool, src envSource) (*wharf.CreateRequest, error) {
	if len(args) == 0 {
		return nil, errors.New(`"run"/"create" requires at least 1 argument: IMAGE [COMMAND] [ARG...]`)
	}
	if o.memory > 0 && o.memory < minMemory {
		return nil, errors.New("Minimum memory limit allowed is 6MB")
	}
	if o.memorySwap > 0 && o.memory > 0 && o.memorySwap < o.memory {
		return nil, errors.New("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if o.memorySwap != 0 && o.memory == 0 {
		return nil, errors.New("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	restart, err := parseRestartPolicy(o.restart)
	if err != nil {
		return nil, err
	}
	if o.autoRemove && restart.Name != "" && restart.Name != "no" {
		return nil, errors.New("Conflicting options: --restart and --rm")
	}
	env, err := buildEnv(o.envFiles, o.env, src)
	if err != nil {
		return nil, err
	}
	secOpts, err := parseSecurityOpts(o.securityOpt, src.readFile)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for _, l := range o.labels {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid label %q: empty name", l)
		}
		labels[k] = v
	}
	req := &wharf.CreateRequest{
		Config: wharf.Config{
			Hostname:     o.hostname,
			User:         o.user,
			AttachStdin:  o.interactive && !o.detach,
			AttachStdout: !o.detach,
			AttachStderr: !o.detach,
			Tty:          o.tty,
			OpenStdin:    o.interactive,
			StdinOnce:    o.interactive && !o.detach,
			Env:          env,
			Cmd:          args[1:],
			Image:        args[0],
			WorkingDir:   o.workdir,
			StopSignal:   o.stopSignal,
		},
		HostConfig: &wharf.HostConfig{
			NetworkMode:    o.network,
			RestartPolicy:  restart,
			AutoRemove:     o.autoRemove,
			CapAdd:         o.capAdd,
			CapDrop:        o.capDrop,
			Privileged:     o.privileged,
			ReadonlyRootfs: o.readOnly,
			SecurityOpt:    secOpts,
			Runtime:        o.runtime,
			Memory:         int64(o.memory),
			MemorySwap:     int64(o.memorySwap),
			NanoCPUs:       int64(o.cpus),
			CPUShares:      o.cpuShares,
			Ulimits:        o.ulimits,
		},
	}
	if len(req.Cmd) == 0 {
		req.Cmd = nil // image default
	}
	if len(labels) > 0 {
		req.Labels = labels
	}
	if changed("entrypoint") {
		// An explicit empty --entrypoint clears the image's entrypoint.
		req.Entrypoint = []string{}
		if o.entrypoint != "" {
			req.Entrypoint = []string{o.entrypoint}
		}
	}
	if changed("init") {
		b := o.init
		req.HostConfig.Init = &b
	}
	if changed("pids-limit") {
		p := o.pidsLimit
		req.HostConfig.PidsLimit = &p
	}
	if changed("stop-timeout") {
		t := o.stopTimeout
		req.StopTimeout = &t
	}
	if req.HostConfig.LogConfig, err = logConfig(o.logDriver, o.logOpts); err != nil {
		return nil, err
	}
	if req.Healthcheck, err = o.health.healthConfig(); err != nil {
		return nil, err
	}
	if err := addNetworkAndStorage(req, o); err != nil {
		return nil, err
	}
	return req, nil
}

// addNetworkAndStorage puts the port, network and mount flags into req.
// Values are checked here with the daemon's own parsers so that a typo
// fails before anything is created, as docker's CLI does.
func addNetworkAndStorage(req *wharf.CreateRequest, o *createOptions) error {
	h := req.HostConfig
	for _, p := range o.publish {
		bs, err := portspec.ParsePortSpec(p)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if h.PortBindings == nil {
				h.PortBindings = map[string][]wharf.PortBinding{}
			}
			ip := ""
			if b.HostIP.IsValid() {
				ip = b.HostIP.String()
			}
			h.PortBindings[b.Key()] = append(h.PortBindings[b.Key()], wharf.PortBinding{HostIP: ip, HostPort: b.HostPortString()})
		}
	}
	h.PublishAllPorts = o.publishAll
	for _, e := range o.expose {
		proto, start, end, err := portspec.ParsePortKey(e)
		if err != nil {
			return err
		}
		if req.ExposedPorts == nil {
			req.ExposedPorts = map[string]struct{}{}
		}
		for p := int(start); p <= int(end); p++ {
			req.ExposedPorts[strconv.Itoa(p)+"/"+proto] = struct{}{}
		}
	}
	if o.ip != "" || len(o.aliases) > 0 {
		name := o.network
		if name == "" || name == "default" {
			name = "bridge"
		}
		es := &wharf.EndpointSettings{Aliases: o.aliases}
		if o.ip != "" {
			es.IPAMConfig = &wharf.EndpointIPAMConfig{IPv4Address: o.ip}
		}
		req.NetworkingConfig = &wharf.NetworkingConfig{EndpointsConfig: map[string]*wharf.EndpointSettings{name: es}}
	}
	for _, v := range o.volumes {
		if _, err := mountspec.ParseVolumeSpec(v); err != nil {
			return err
		}
		h.Binds = append(h.Binds, v)
	}
	for _, m := range o.mounts {
		mt, err := mountspec.ParseMountSpec(m)
		if err != nil {
			return err
		}
		wm := wharf.Mount{Type: mt.Type, Source: mt.Source, Target: mt.Target, ReadOnly: mt.ReadOnly}
		if mt.Propagation != "" {
			wm.BindOptions = &wharf.BindOptions{Propagation: mt.Propagation}
		}
		if mt.NoCopy {
			wm.VolumeOptions = &wharf.VolumeOptions{NoCopy: true}
		}
		if mt.TmpfsSize != 0 || mt.TmpfsMode != 0 {
			wm.TmpfsOptions = &wharf.TmpfsOptions{SizeBytes: mt.TmpfsSize, Mode: mt.TmpfsMode}
		}
		h.Mounts = append(h.Mounts, wm)
	}
	for _, t := range o.tmpfs {
		if _, err := mountspec.ParseTmpfs(t); err != nil {
			return err
		}
		path, opts, _ := strings.Cut(t, ":")
		if h.Tmpfs == nil {
			h.Tmpfs = map[string]string{}
		}
		h.Tmpfs[path] = opts
	}
	h.VolumesFrom = o.volumesFrom
	return nil
}

// parseRestartPolicy parses no|always|unless-stopped|on-failure[:N].
func parseRestartPolicy(s string) (wharf.RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := wharf.RestartPolicy{Name: name}
	switch name {
	case "", "no", "always", "unless-stopped":
		if hasCount {
			return p, fmt.Errorf("invalid restart policy %q: maximum retry count can only be used with 'on-failure'", s)
		}
		return p, nil
	case "on-failure":
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return p, fmt.Errorf("invalid restart policy %q: maximum retry count must be a non-negative integer", s)
			}
			p.MaximumRetryCount = n
		}
		return p, nil
	}
	return p, fmt.Errorf("invalid restart policy %q: must be one of no, always, unless-stopped, on-failure[:max-retries]", s)
}

// buildEnv merges --env-file files and -e values, in that order as docker
// does. A bare KEY takes its value from the CLI's environment; when unset
// it is passed as is, which makes the daemon drop it.
func buildEnv(files, vars []string, src envSource) ([]string, error) {
	var env []string
	for _, f := range files {
		data, err := src.readFile(f)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", f, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		line := 0
		for sc.Scan() {
			line++
			l := strings.TrimLeft(sc.Text(), " \t")
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			v, err := envValue(l, src)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", f, line, err)
			}
			env = append(env, v)
		}
	}
	for _, e := range vars {
		v, err := envValue(e, src)
		if err != nil {
			return nil, err
		}
		env = append(env, v)
	}
	return env, nil
}

func envValue(s string, src envSource) (string, error) {
	k, _, hasValue := strings.Cut(s, "=")
	if k == "" {
		return "", fmt.Errorf("invalid environment variable: %s", s)
	}
	if strings.ContainsAny(k, " \t") {
		return "", fmt.Errorf("variable '%s' contains whitespaces", k)
	}
	if hasValue {
		return s, nil
	}
	if v, ok := src.lookupEnv(k); ok {
		return k + "=" + v, nil
	}
	return k, nil
}

// parseSecurityOpts validates --security-opt values. A seccomp profile
// given as a path is read here and sent inline, because the daemon may not
// see the CLI's filesystem; this is what docker does.
func parseSecurityOpts(opts []string, readFile func(string) ([]byte, error)) ([]string, error) {
	out := make([]string, 0, len(opts))
	for _, opt := range opts {
		k, v, ok := strings.Cut(opt, "=")
		if !ok && k != "no-new-privileges" {
			k, v, ok = strings.Cut(opt, ":")
		}
		if (!ok || v == "") && k != "no-new-privileges" {
			return nil, fmt.Errorf("Invalid --security-opt: %q", opt)
		}
		if k == "seccomp" && v != "unconfined" && !strings.HasPrefix(strings.TrimSpace(v), "{") {
			data, err := readFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %v", v, err)
			}
			var b bytes.Buffer
			if err := json.Compact(&b, data); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %v", v, err)
			}
			opt = "seccomp=" + b.String()
		}
		out = append(out, opt)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// memBytes is a pflag value for sizes like "512m", parsed as docker does.
type memBytes int64

// String implements pflag.Value.
func (m *memBytes) String() string {
	if *m == 0 {
		return ""
	}
	return units.BytesSize(float64(*m))
}

// Set implements pflag.Value.
func (m *memBytes) Set(s string) error {
	v, err := units.RAMInBytes(s)
	if err != nil {
		// go-units words some failures "invalid suffix"; docker's users
		// (and scripts) know the message in this form.
		return fmt.Errorf("invalid size: '%s'", s)
	}
	*m = memBytes(v)
	return nil
}

// Type implements pflag.Value.
func (m *memBytes) Type() string { return "bytes" }

// memSwapBytes is --memory-swap: a size, or -1 for unlimited swap.
type memSwapBytes struct{ m *memBytes }

// String implements pflag.Value.
func (s *memSwapBytes) String() string { return s.m.String() }

// Set implements pflag.Value.
func (s *memSwapBytes) Set(v string) error {
	if v == "-1" {
		*s.m = -1
		return nil
	}
	return s.m.Set(v)
}

// Type implements pflag.Value.
func (s *memSwapBytes) Type() string { return "bytes" }

// nanoCPUs is --cpus, a decimal number of CPUs kept in billionths.
type nanoCPUs int64

// String implements pflag.Value.
func (n *nanoCPUs) String() string {
	if *n == 0 {
		return ""
	}
	return big.NewRat(int64(*n), 1e9).FloatString(3)
}

// Set implements pflag.Value.
func (n *nanoCPUs) Set(s string) error {
	cpu, ok := new(big.Rat).SetString(s)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", s)
	}
	if cpu.Sign() < 0 {
		return fmt.Errorf("the number of CPUs must be positive")
	}
	nano := cpu.Mul(cpu, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return fmt.Errorf("value is too precise")
	}
	*n = nanoCPUs(nano.Num().Int64())
	return nil
}

// Type implements pflag.Value.
func (n *nanoCPUs) Type() string { return "decimal" }

// ulimitList is the repeatable --ulimit name=soft[:hard].
type ulimitList []wharf.Ulimit

// String implements pflag.Value.
func (l *ulimitList) String() string {
	parts := make([]string, len(*l))
	for i, u := range *l {
		parts[i] = fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Set implements pflag.Value.
func (l *ulimitList) Set(s string) error {
	u, err := units.ParseUlimit(s)
	if err != nil {
		return err
	}
	*l = append(*l, wharf.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	return nil
}

// Type implements pflag.Value.
func (l *ulimitList) Type() string { return "ulimit" }

// newCreateCommand is `wharf create`: create a container and print its id.
func newCreateCommand() *cobra.Command {
	o := &createOptions{detach: true}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := createContainer(cmd, o, args)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	addCreateFlags(cmd.Flags(), o)
	cmd.SetFlagErrorFunc(flagErr125)
	return cmd
}

// newRunCommand is `wharf run`: create, attach and start, as docker run.
func newRunCommand() *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runContainer(cmd, o, args)
		},
	}
	cmd.Flags().BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	cmd.Flags().StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	addCreateFlags(cmd.Flags(), o)
	cmd.SetFlagErrorFunc(flagErr125)
	return cmd
}

// logConfig turns --log-driver and --log-opt into the request's log
// configuration as docker's CLI does: "key=value" options (a bare key has
// an empty value), none of them for driver none. The daemon checks the
// rest.
func logConfig(driver string, opts []string) (wharf.LogConfig, error) {
	lc := wharf.LogConfig{Type: driver}
	if driver == "none" && len(opts) > 0 {
		return lc, fmt.Errorf("invalid logging opts for driver %s", driver)
	}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		if lc.Config == nil {
			lc.Config = map[string]string{}
		}
		lc.Config[k] = v
	}
	return lc, nil
}
