package spec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	seccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
)

// InitMountPath is where Options.InitPath is bind-mounted inside the
// container when Options.Init is set.
const InitMountPath = "/sbin/wharf-init"

// DefaultPathEnv is the PATH a container gets when its image sets none; it
// is Docker's default.
const DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Network modes understood by Generate.
const (
	// NetworkNone gives the container a new network namespace with only lo.
	NetworkNone = "none"
	// NetworkHost shares the host's network namespace.
	NetworkHost = "host"
)

// Seccomp profile names understood by Options.SeccompProfile.
const (
	// SeccompUnconfined runs the container without a seccomp filter.
	SeccompUnconfined = "unconfined"
)

// containerdNamespace is put into the context for containerd's spec
// generator when the caller has none: containerd requires one, and wharf
// uses a single namespace.
const containerdNamespace = "wharf"

// Options are a container's settings, in Docker's terms, from which Generate
// builds the OCI runtime spec. The zero value of every field means Docker's
// default.
type Options struct {
	// ID is the container's full ID; required.
	ID string
	// Rootfs is the absolute path of the already-mounted root filesystem
	// (the overlay's merged directory).
	Rootfs string
	// Image is the image's config: Entrypoint, Cmd, Env, WorkingDir, User.
	Image v1.Config

	// Entrypoint overrides the image's entrypoint when EntrypointSet, as
	// --entrypoint does; [""] or nil clears it. Overriding the entrypoint
	// also drops the image's Cmd, as in Docker.
	Entrypoint    []string
	EntrypointSet bool
	// Cmd overrides the image's Cmd when non-empty.
	Cmd []string
	// Env holds -e values; they override the image's by key. A bare "KEY"
	// without "=" removes KEY.
	Env []string
	// WorkingDir (-w) overrides the image's; it must be absolute. A missing
	// directory is created in the rootfs, as Docker does.
	WorkingDir string
	// User (-u) overrides the image's: "name", "uid", "uid:gid", "name:group".
	User string
	// Hostname defaults to the first 12 characters of ID, or to the host's
	// name with host networking.
	Hostname string

	// Tty allocates a terminal for the process (and sets TERM=xterm).
	Tty bool
	// OpenStdin keeps stdin open; it does not change the spec, the shim
	// acts on it, and it is here so that callers hand over one struct.
	OpenStdin bool

	// Memory is the memory limit in bytes; 0 means unlimited.
	Memory int64
	// MemorySwap is memory plus swap in bytes, as in Docker: -1 means
	// unlimited swap, 0 means twice Memory.
	MemorySwap int64
	// NanoCPUs is --cpus in billionths of a CPU, mapped to a CFS quota
	// over a 100ms period.
	NanoCPUs int64
	// CPUShares is the relative CPU weight (--cpu-shares).
	CPUShares int64
	// PidsLimit caps the number of tasks; 0 or negative means unlimited.
	PidsLimit int64
	// MemoryReservation is the soft memory limit (--memory-reservation).
	MemoryReservation int64
	// CPUPeriod and CPUQuota set the CFS period and quota in
	// microseconds (--cpu-period, --cpu-quota); NanoCPUs sets both.
	CPUPeriod, CPUQuota int64
	// CpusetCpus and CpusetMems pin the container to CPUs and memory
	// nodes ("0-2,4").
	CpusetCpus, CpusetMems string
	// BlkioWeight is the relative block I/O weight (10 to 1000).
	BlkioWeight uint16

	// ReadOnly mounts the root filesystem read-only (--read-only).
	ReadOnly bool
	// CapAdd and CapDrop tweak Docker's default capability set; names may
	// omit the "CAP_" prefix, and "ALL" stands for every capability.
	CapAdd, CapDrop []string
	// Privileged grants all capabilities and host devices and removes the
	// seccomp filter and the masked and read-only paths.
	Privileged bool
	// NoNewPrivileges sets no_new_privs on the container's processes.
	NoNewPrivileges bool
	// SeccompProfile is "" for Docker's default profile, "unconfined", a
	// profile in Docker's JSON format given inline (starting with "{"), or
	// the path of a file holding one.
	SeccompProfile string

	// Init runs InitPath as pid 1, which runs the command (--init).
	Init bool
	// InitPath is the host path of the init binary, bind-mounted read-only
	// at InitMountPath.
	InitPath string

	// Ulimits are resource limits for the container's processes. Nothing
	// else is imposed beyond what the runtime inherits.
	Ulimits []Ulimit

	// NetworkMode is "none" or "" (a new network namespace with only lo) or
	// "host" (no network namespace). Other modes need NetNSPath.
	NetworkMode string
	// NetNSPath is an existing network namespace to join (bridge networks,
	// container:<id>), prepared by the engine.
	NetNSPath string

	// CgroupsPath is the runtime's cgroupsPath (cgroupfs style); it
	// defaults to "/wharf/<ID>".
	CgroupsPath string
	// Mounts are added after the default mounts; one at the same
	// destination as a default mount replaces it.
	Mounts []specs.Mount
	// Annotations are copied into the spec.
	Annotations map[string]string
	// Host are the namespace and process settings of hostopts.go.
	Host HostOptions
	// UserNS, when set, runs the container in a user namespace of its
	// own with this mapping (userns.go); nil shares the host's.
	UserNS *IDMap
	// UserNSPath is an existing user namespace with the mapping UserNS
	// to join ("" for a new one): the one owning NetNSPath.
	UserNSPath string
}

// Generate builds the OCI runtime spec for a container from its options,
// with Docker's defaults and resolution rules (see the package doc).
// Invalid options are errdefs.ErrInvalidArgument.
func Generate(ctx context.Context, o *Options) (*specs.Spec, error) {
	if o == nil || o.ID == "" {
		return nil, fmt.Errorf("%w: container ID is required", errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(o.Rootfs) {
		return nil, fmt.Errorf("%w: rootfs %q must be an absolute path", errdefs.ErrInvalidArgument, o.Rootfs)
	}
	args, err := resolveArgs(o)
	if err != nil {
		return nil, err
	}
	if o.Init {
		if o.InitPath == "" {
			return nil, fmt.Errorf("%w: --init needs the path of an init binary", errdefs.ErrInvalidArgument)
		}
		args = append([]string{InitMountPath, "--"}, args...)
	}
	userSpec := o.User
	if userSpec == "" {
		userSpec = o.Image.User
	}
	usr, err := ResolveUser(o.Rootfs, userSpec)
	if err != nil {
		return nil, err
	}
	cwd, err := resolveCwd(o.Rootfs, o.WorkingDir, o.Image.WorkingDir)
	if err != nil {
		return nil, err
	}
	hostname, err := resolveHostname(o)
	if err != nil {
		return nil, err
	}
	rl, err := rlimits(o.Ulimits)
	if err != nil {
		return nil, err
	}
	res, err := resources(o)
	if err != nil {
		return nil, err
	}

	if _, ok := namespaces.Namespace(ctx); !ok {
		ctx = namespaces.WithNamespace(ctx, containerdNamespace)
	}
	opts := []oci.SpecOpts{
		oci.WithRootFSPath(o.Rootfs),
		oci.WithDefaultUnixDevices,
		// Docker does not put a tmpfs on /run: images may ship files there.
		oci.WithoutRunMount,
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}),
	}
	if o.ReadOnly {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	switch {
	case o.NetNSPath != "":
		if o.NetworkMode == NetworkHost {
			return nil, fmt.Errorf("%w: host networking cannot join network namespace %s", errdefs.ErrInvalidArgument, o.NetNSPath)
		}
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: o.NetNSPath}))
	case o.NetworkMode == NetworkHost:
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	case o.NetworkMode == "" || o.NetworkMode == NetworkNone:
		// containerd's default spec already has a new network namespace.
	default:
		return nil, fmt.Errorf("%w: network mode %q needs a prepared network namespace", errdefs.ErrInvalidArgument, o.NetworkMode)
	}
	if o.Privileged {
		// WithPrivileged grants the daemon's current capabilities, removes
		// masked and read-only paths, makes /sys writable and drops seccomp.
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
	}

	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: o.ID}, opts...)
	if err != nil {
		return nil, fmt.Errorf("generate default spec: %w", err)
	}

	p := s.Process
	p.Args = args
	p.Cwd = cwd
	p.Terminal = o.Tty
	p.User = specs.User{UID: usr.UID, GID: usr.GID, AdditionalGids: usr.AdditionalGids}
	p.Env = containerEnv(o, hostname, usr.Home)
	// containerd turns no_new_privs on by default; Docker leaves it to
	// --security-opt no-new-privileges, and setuid binaries (sudo, ping on
	// old images) need it off.
	p.NoNewPrivileges = o.NoNewPrivileges
	// containerd sets RLIMIT_NOFILE=1024; Docker imposes only what the user
	// asks for.
	p.Rlimits = rl
	// Reset the OOM score: a daemon that shields itself from the OOM killer
	// must not pass the shield on to its containers.
	zero := 0
	p.OOMScoreAdj = &zero

	if !o.Privileged {
		caps, err := tweakCaps(p.Capabilities.Bounding, o.CapAdd, o.CapDrop)
		if err != nil {
			return nil, err
		}
		p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	}

	s.Hostname = hostname
	s.Linux.CgroupsPath = o.CgroupsPath
	if s.Linux.CgroupsPath == "" {
		s.Linux.CgroupsPath = path.Join("/", containerdNamespace, o.ID)
	}
	s.Linux.Resources.Memory = res.Memory
	s.Linux.Resources.CPU = res.CPU
	s.Linux.Resources.Pids = res.Pids

	s.Mounts = mergeMounts(append(s.Mounts, cgroupMount(o.Privileged)), o.Mounts)
	s.Linux.RootfsPropagation = rootfsPropagation(s.Mounts)
	if o.Init {
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: InitMountPath,
			Type:        "bind",
			Source:      o.InitPath,
			Options:     []string{"rbind", "ro", "nosuid", "nodev"},
		})
	}

	if !o.Privileged {
		sc, err := seccompProfile(o.SeccompProfile, s)
		if err != nil {
			return nil, err
		}
		s.Linux.Seccomp = sc
	}

	if err := applyHostOptions(s, o.Rootfs, o.Host); err != nil {
		return nil, err
	}
	if o.UserNS != nil {
		if o.Privileged || o.Host.PidHost || o.NetworkMode == NetworkHost && o.NetNSPath == "" {
			return nil, fmt.Errorf("%w: a container in a user namespace cannot be privileged nor share the host's pid or network namespace", errdefs.ErrInvalidArgument)
		}
		if err := applyUserNS(s, o.UserNS, o.UserNSPath); err != nil {
			return nil, err
		}
	}
	if len(o.Annotations) > 0 {
		s.Annotations = make(map[string]string, len(o.Annotations))
		for k, v := range o.Annotations {
			s.Annotations[k] = v
		}
	}
	return s, nil
}

// resolveArgs applies Docker's rules for the process arguments: an
// overridden entrypoint drops the image's Cmd; otherwise the image's
// entrypoint is followed by the given Cmd or, if none, the image's.
func resolveArgs(o *Options) ([]string, error) {
	var ep, cmd []string
	if o.EntrypointSet {
		ep = o.Entrypoint
		if len(ep) == 1 && ep[0] == "" {
			ep = nil
		}
		cmd = o.Cmd
	} else {
		ep = o.Image.Entrypoint
		cmd = o.Cmd
		if len(cmd) == 0 {
			cmd = o.Image.Cmd
		}
	}
	args := append(append([]string{}, ep...), cmd...)
	if len(args) == 0 || args[0] == "" {
		return nil, fmt.Errorf("%w: no command specified", errdefs.ErrInvalidArgument)
	}
	return args, nil
}

// resolveCwd picks the working directory and, like Docker, creates it in the
// rootfs when it is missing (inside the root: a symlink in the image cannot
// make the daemon create directories on the host).
func resolveCwd(rootfs, override, image string) (string, error) {
	cwd := override
	if cwd == "" {
		cwd = image
	}
	if cwd == "" {
		return "/", nil
	}
	if !path.IsAbs(cwd) {
		return "", fmt.Errorf("%w: the working directory %q is invalid, it needs to be an absolute path", errdefs.ErrInvalidArgument, cwd)
	}
	cwd = path.Clean(cwd)
	if cwd != "/" {
		if err := pathrs.MkdirAll(rootfs, cwd, 0o755); err != nil {
			return "", fmt.Errorf("create working directory %s: %w", cwd, err)
		}
	}
	return cwd, nil
}

// resolveHostname applies Docker's default hostnames.
func resolveHostname(o *Options) (string, error) {
	if o.Hostname != "" {
		return o.Hostname, nil
	}
	if o.NetworkMode == NetworkHost && o.NetNSPath == "" || o.Host.UTSHost {
		// With the host's network the container looks like the host.
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("host name: %w", err)
		}
		return h, nil
	}
	if len(o.ID) > 12 {
		return o.ID[:12], nil
	}
	return o.ID, nil
}

// cgroupMount is Docker's /sys/fs/cgroup: the container's own cgroups (the
// runtime scopes them with the cgroup namespace), read-only unless
// privileged so that a process cannot raise its own limits.
func cgroupMount(privileged bool) specs.Mount {
	mode := "ro"
	if privileged {
		mode = "rw"
	}
	return specs.Mount{
		Destination: "/sys/fs/cgroup",
		Type:        "cgroup",
		Source:      "cgroup",
		Options:     []string{"nosuid", "noexec", "nodev", "relatime", mode},
	}
}

// mergeMounts adds the user's mounts to the defaults. A user mount replaces
// the default at the same destination, and a user mount on /dev replaces
// every default under /dev, as in Docker.
func mergeMounts(defaults, user []specs.Mount) []specs.Mount {
	dests := map[string]bool{}
	for _, m := range user {
		dests[path.Clean(m.Destination)] = true
	}
	out := make([]specs.Mount, 0, len(defaults)+len(user))
	for _, m := range defaults {
		if dests[m.Destination] || (dests["/dev"] && strings.HasPrefix(m.Destination, "/dev/")) {
			continue
		}
		out = append(out, m)
	}
	return append(out, user...)
}

// seccompProfile returns the seccomp filter for the profile option. The
// default profile is adjusted by moby's code to the spec's capabilities
// (e.g. CAP_SYS_ADMIN allows mount), so it must be computed after them.
func seccompProfile(profile string, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	switch {
	case profile == "":
		sc, err := seccomp.GetDefaultProfile(s)
		if err != nil {
			return nil, fmt.Errorf("default seccomp profile: %w", err)
		}
		return sc, nil
	case profile == SeccompUnconfined:
		return nil, nil
	}
	body := []byte(profile)
	if !strings.HasPrefix(strings.TrimSpace(profile), "{") {
		var err error
		body, err = os.ReadFile(profile)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%w: seccomp profile %s: %w", errdefs.ErrInvalidArgument, profile, err)
			}
			return nil, fmt.Errorf("seccomp profile: %w", err)
		}
	}
	sc, err := seccomp.LoadProfile(string(body), s)
	if err != nil {
		return nil, fmt.Errorf("%w: seccomp profile: %w", errdefs.ErrInvalidArgument, err)
	}
	return sc, nil
}

// rootfsPropagation is the propagation of the container's root mount:
// rslave, runc's default, which crun (whose own default is rprivate) must
// be told, so that a bind mount with slave propagation still receives the
// host's later mounts under it (a spare function sandbox's code); Docker
// sets it the same way. A bind asking for shared propagation needs a
// shared root, and gets the runtime's default as before.
func rootfsPropagation(mounts []specs.Mount) string {
	for _, m := range mounts {
		for _, o := range m.Options {
			if o == "shared" || o == "rshared" {
				return ""
			}
		}
	}
	return "rslave"
}
