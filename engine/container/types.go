// Package container is the container lifecycle of the wharf engine: create,
// start, stop, exec, remove, restart policies and re-adoption after a daemon
// restart. It knows no wire format; API servers translate to and from it.
//
// On-disk layout (under the daemon's root, <root>/containers/<id>/):
//
//	container.json   the Container record, rewritten atomically on change
//	config.json      the OCI bundle's runtime spec (bundle dir = this dir)
//	rootfs/          overlay mount point (merged view) while running
//	upper/, work/    the container's writable layer
//	hostname, hosts, resolv.conf   files bind-mounted into the container
//	<id>-json.log    the log of log driver json-file, written by the shim
//	                 (json-file format); rotated files <id>-json.log.1, .2, ...
//	local-logs/container.log  the log of log driver local (same format and
//	                 rotation, 5 × 20 MiB unless configured); none keeps no log
//	idmap/           a user namespace container's idmapped layers and bind
//	                 sources, attached only while a start mounts them
//	userns           the pinned user namespace owning a user namespace
//	                 container's network namespace, while it runs (userns.go)
//
// The runtime that runs the container (a task.Runtime; the daemon's is
// package ocishim) keeps its own state, under the exec-root; the root
// filesystem is mounted by a snapshot.Mounter (the kernel's overlayfs).
//
// While the daemon holds a container frozen for a copy into it, the file
// frozen-for-copy marks its directory (archive.go); <root>/fsviews/ (0700)
// holds the private mounts of stopped containers' filesystems while a copy,
// export or stat uses them (fsview_linux.go).
//
// State machine (State.Status):
//
//	created ──start──▶ running ──exit──▶ exited ──start──▶ running
//	running ──pause──▶ paused ──unpause──▶ running
//	exited ──restart policy──▶ restarting ──▶ running
//	any ──rm──▶ removing ──▶ (gone)
package container

import (
	"fmt"
	"time"

	units "github.com/docker/go-units"

	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/runtime/spec"
)

// Config is the portable configuration of a container (docker's
// container.Config without the wire details).
type Config struct {
	Hostname      string
	User          string
	Tty           bool
	OpenStdin     bool
	StdinOnce     bool
	Env           []string
	Cmd           []string
	Image         string
	WorkingDir    string
	Entrypoint    []string
	EntrypointSet bool
	Labels        map[string]string
	StopSignal    string
	StopTimeout   *int
	ExposedPorts  map[string]struct{}
	Volumes       map[string]struct{}
	// Healthcheck is the container's check, merged with the image's
	// HEALTHCHECK at create (health.go).
	Healthcheck *HealthConfig `json:",omitempty"`
	// Shell runs the CMD-SHELL form of a healthcheck (default
	// /bin/sh -c).
	Shell []string `json:",omitempty"`
}

// RestartPolicy says when a container that exited is started again.
type RestartPolicy struct {
	Name              string // "no", "always", "on-failure", "unless-stopped"
	MaximumRetryCount int
}

// Ulimit is one resource limit of the container's processes.
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

// HostConfig is the host-dependent configuration of a container.
type HostConfig struct {
	NetworkMode    string
	RestartPolicy  RestartPolicy
	AutoRemove     bool
	CapAdd         []string
	CapDrop        []string
	Privileged     bool
	ReadonlyRootfs bool
	SecurityOpt    []string
	Init           bool
	Runtime        string
	Memory         int64
	MemorySwap     int64
	NanoCPUs       int64
	CPUShares      int64
	PidsLimit      int64
	// MemoryReservation, CPUPeriod, CPUQuota, CpusetCpus, CpusetMems and
	// BlkioWeight are the rest of Docker's cgroup limits (resources.go).
	MemoryReservation      int64  `json:",omitempty"`
	CPUPeriod, CPUQuota    int64  `json:",omitempty"`
	CpusetCpus, CpusetMems string `json:",omitempty"`
	BlkioWeight            uint16 `json:",omitempty"`
	Ulimits                []Ulimit
	// PortBindings publish container ports on the host (-p); with
	// PublishAllPorts (-P) every exposed port gets a random host port too.
	PortBindings    []network.PortBinding `json:",omitempty"`
	PublishAllPorts bool                  `json:",omitempty"`
	// Mounts are the bind, volume and tmpfs mounts asked for (-v, --mount,
	// --tmpfs); VolumesFrom names containers whose mounts are shared
	// ("name[:ro|rw]").
	Mounts      []volume.Mount `json:",omitempty"`
	VolumesFrom []string       `json:",omitempty"`
	// Links are legacy links on the default bridge network (links.go).
	Links []Link `json:",omitempty"`
	// LogConfig is the log driver and its options, with the daemon's
	// defaults merged in at create (logconfig.go).
	LogConfig LogConfig
	// Tmpfs are the --tmpfs mounts as given (they are in Mounts too).
	Tmpfs map[string]string `json:",omitempty"`
	// PrivateUserns runs the container in a user namespace of its own,
	// with a range of host ids that is not root's (userns.go). It is an
	// engine option that no API request sets: the cluster agent sets it
	// for Fargate tasks.
	PrivateUserns bool `json:",omitempty"`
	// UsernsShare runs the container in the engine's shared user
	// namespace of this name (Engine.SharedUserns, usernsshare.go)
	// instead of one of its own; it implies PrivateUserns. No API
	// request sets it: the cluster agent runs a FARGATE task's
	// containers in one.
	UsernsShare string `json:",omitempty"`
	// CgroupParent puts the container's cgroup under this path ("/a/b")
	// instead of /wharf; the cluster agent groups a task's containers
	// under a cgroup carrying the task's limits. No API request sets it.
	CgroupParent string `json:",omitempty"`
	HostOptions
}

// Status values of State.Status.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusPaused     = "paused"
	StatusRestarting = "restarting"
	StatusRemoving   = "removing"
	StatusExited     = "exited"
	StatusDead       = "dead"
)

// State is a container's lifecycle state.
type State struct {
	Status     string
	Pid        int
	ExitCode   int
	OOMKilled  bool
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	// ManuallyStopped is set by stop/kill from a user: unless-stopped and
	// always policies do not bring such a container back on daemon start
	// (unless-stopped) or on its exit.
	ManuallyStopped bool
	// Health is the healthcheck's state, once a container with one has
	// started (health.go).
	Health *Health `json:",omitempty"`
}

// HealthStatus is the status the health filter matches: none for a
// container that never ran a check.
func (s *State) HealthStatus() string {
	if s.Health == nil {
		return HealthNone
	}
	return s.Health.Status
}

// Running reports whether the container has live processes.
func (s *State) Running() bool {
	return s.Status == StatusRunning || s.Status == StatusPaused
}

// StatusText renders the state as docker's `ps` STATUS column.
func (s *State) StatusText(now time.Time) string {
	switch s.Status {
	case StatusRunning:
		up := "Up " + units.HumanDuration(now.Sub(s.StartedAt))
		switch {
		case s.Health == nil:
		case s.Health.Status == HealthStarting:
			up += " (health: starting)"
		default:
			up += " (" + s.Health.Status + ")"
		}
		return up
	case StatusPaused:
		return "Up " + units.HumanDuration(now.Sub(s.StartedAt)) + " (Paused)"
	case StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, units.HumanDuration(now.Sub(s.FinishedAt)))
	case StatusExited:
		if s.FinishedAt.IsZero() {
			return "Created"
		}
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, units.HumanDuration(now.Sub(s.FinishedAt)))
	case StatusCreated:
		return "Created"
	case StatusRemoving:
		return "Removal In Progress"
	}
	return s.Status
}

// Container is the persistent record of one container.
type Container struct {
	ID           string
	Name         string // without the leading "/"
	Created      time.Time
	ImageID      string
	Config       Config
	HostConfig   HostConfig
	Path         string
	Args         []string
	State        State
	RestartCount int
	Runtime      string // the runtime actually used
	ExecIDs      []string
	// NetworkSettings are the container's networks and, while it runs,
	// its addresses and published ports.
	NetworkSettings NetworkSettings
	// MountPoints are the container's resolved mounts.
	MountPoints []MountPoint `json:",omitempty"`
	// IDMap is the host id range of a container in a user namespace of
	// its own (HostConfig.PrivateUserns), given at create and kept.
	IDMap *spec.IDMap `json:",omitempty"`
	// Warnings are what Create warned about (dockerd's), not kept.
	Warnings []string `json:"-"`
}

// CreateOptions is what a user asks for at create time.
type CreateOptions struct {
	Name       string
	Config     Config
	HostConfig HostConfig
	// Endpoints are per-network settings (--ip, --network-alias) by
	// network name; the network of HostConfig.NetworkMode is joined
	// whether listed or not, and any other listed network too.
	Endpoints map[string]EndpointOptions
	// Links are the "name[:alias]" links asked for (--link); Create
	// makes them legacy links or, on a user-defined network, links of
	// the endpoint (links.go).
	Links []string
}
