// Package wharf holds the wire types of wharf's native API (/wharf/v1) and
// a client for it. It contains no logic beyond encoding and transport.
//
// The JSON shapes follow Docker's Engine API field names wherever Docker has
// an equivalent (ContainerJSON.State.Pid, HostConfig.Memory, ...), so that
// `wharf inspect --format` templates written for docker work unchanged.
package wharf

import "time"

// APIVersion is the version of the native API served under /wharf/v1,
// "1.<n>": n grows whenever the daemon learns a request or a parameter
// that a CLI may send, so that a CLI newer than its daemon can tell what
// the daemon lacks instead of misreading the answer (a 404 for a request
// the daemon does not know reads as "No such image"). The daemon sends it
// in the VersionHeader of every answer and in GET /version.
//
//	1.0  daemons from before versioning: no VersionHeader, /version says "1"
//	1.1  the VersionHeader; import's message parameter; container prune's
//	     SpaceReclaimed
const APIVersion = "1.1"

// VersionHeader carries the daemon's APIVersion on every native answer.
const VersionHeader = "Wharf-Api-Version"

// LegacyAPIVersion is the version of a daemon that sends no
// VersionHeader (its /version says "1").
const LegacyAPIVersion = "1.0"

// Prefix is the path prefix of every native API endpoint.
const Prefix = "/wharf/v1"

// Version answers GET /version.
type Version struct {
	Version       string
	APIVersion    string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string
	GitCommit     string `json:",omitempty"`
}

// Info answers GET /info.
type Info struct {
	ID                 string
	Containers         int
	ContainersRunning  int
	ContainersPaused   int
	ContainersStopped  int
	Images             int
	DockerRootDir      string
	ExecRoot           string
	KernelVersion      string
	OperatingSystem    string
	NCPU               int
	MemTotal           int64
	CgroupDriver       string
	CgroupVersion      string
	DefaultRuntime     string
	RuntimeReason      string
	Runtimes           map[string]RuntimeInfo
	SecurityOptions    []string
	ServerVersion      string
	InsecureRegistries []string
	// LoggingDriver is the log driver of containers created without one.
	LoggingDriver string `json:",omitempty"`
	// FunctionRuntime is the OCI runtime of function sandboxes, and
	// FunctionRuntimeReason why it was chosen.
	FunctionRuntime       string `json:",omitempty"`
	FunctionRuntimeReason string `json:",omitempty"`
}

// RuntimeInfo describes one OCI runtime the daemon found on the host.
type RuntimeInfo struct {
	Path    string
	Version string `json:",omitempty"`
	Usable  bool
	Reason  string `json:",omitempty"`
	// Hides lists the mounts the runtime runs without (each of its
	// commands in a mount namespace of its own where they are detached).
	Hides []string `json:",omitempty"`
}

// Config is the portable part of a container's configuration (Docker's
// container.Config).
type Config struct {
	Hostname     string              `json:",omitempty"`
	User         string              `json:",omitempty"`
	AttachStdin  bool                `json:",omitempty"`
	AttachStdout bool                `json:",omitempty"`
	AttachStderr bool                `json:",omitempty"`
	ExposedPorts map[string]struct{} `json:",omitempty"`
	Tty          bool                `json:",omitempty"`
	OpenStdin    bool                `json:",omitempty"`
	StdinOnce    bool                `json:",omitempty"`
	Env          []string            `json:",omitempty"`
	Cmd          []string            `json:",omitempty"`
	Image        string
	Volumes      map[string]struct{} `json:",omitempty"`
	WorkingDir   string              `json:",omitempty"`
	Entrypoint   []string            // nil: image default; empty non-nil: cleared (--entrypoint "")
	Labels       map[string]string   `json:",omitempty"`
	StopSignal   string              `json:",omitempty"`
	StopTimeout  *int                `json:",omitempty"`
	Healthcheck  *HealthConfig       `json:",omitempty"`
	Shell        []string            `json:",omitempty"`
}

// HealthConfig is a container's healthcheck, as Docker's: Test is
// ["NONE"], ["CMD", args...] or ["CMD-SHELL", command]; durations are in
// nanoseconds, 0 for the default.
type HealthConfig struct {
	Test          []string      `json:",omitempty"`
	Interval      time.Duration `json:",omitempty"`
	Timeout       time.Duration `json:",omitempty"`
	StartPeriod   time.Duration `json:",omitempty"`
	StartInterval time.Duration `json:",omitempty"`
	Retries       int           `json:",omitempty"`
}

// Health is a container's health state: Status is starting, healthy or
// unhealthy; Log holds the last probes' results.
type Health struct {
	Status        string
	FailingStreak int
	Log           []HealthcheckResult
}

// HealthcheckResult is one probe's result.
type HealthcheckResult struct {
	Start    time.Time
	End      time.Time
	ExitCode int
	Output   string
}

// RestartPolicy says when the daemon restarts a container that exited.
type RestartPolicy struct {
	Name              string // "", "no", "always", "on-failure", "unless-stopped"
	MaximumRetryCount int    `json:",omitempty"`
}

// Ulimit is one --ulimit value.
type Ulimit struct {
	Name string
	Soft int64
	Hard int64
}

// HostConfig is the non-portable part of a container's configuration
// (Docker's container.HostConfig).
type HostConfig struct {
	NetworkMode    string        `json:",omitempty"`
	RestartPolicy  RestartPolicy `json:",omitempty"`
	AutoRemove     bool          `json:",omitempty"`
	CapAdd         []string      `json:",omitempty"`
	CapDrop        []string      `json:",omitempty"`
	Privileged     bool          `json:",omitempty"`
	ReadonlyRootfs bool          `json:",omitempty"`
	SecurityOpt    []string      `json:",omitempty"`
	Init           *bool         `json:",omitempty"`
	Runtime        string        `json:",omitempty"`
	Memory         int64         `json:",omitempty"`
	MemorySwap     int64         `json:",omitempty"`
	NanoCPUs       int64         `json:",omitempty"`
	CPUShares      int64         `json:",omitempty"`
	PidsLimit      *int64        `json:",omitempty"`
	Ulimits        []Ulimit      `json:",omitempty"`
	// The rest of Docker's cgroup limits.
	MemoryReservation int64  `json:",omitempty"`
	CPUPeriod         int64  `json:",omitempty"`
	CPUQuota          int64  `json:",omitempty"`
	CpusetCpus        string `json:",omitempty"`
	CpusetMems        string `json:",omitempty"`
	BlkioWeight       uint16 `json:",omitempty"`
	// PortBindings maps "80/tcp" to host bindings (-p).
	PortBindings    map[string][]PortBinding `json:",omitempty"`
	PublishAllPorts bool                     `json:",omitempty"`
	// Binds are -v values ("name:/ctr[:ro]", "/host:/ctr[:ro]", "/ctr").
	Binds []string `json:",omitempty"`
	// Mounts are --mount values.
	Mounts []Mount `json:",omitempty"`
	// Tmpfs maps a path to its mount options (--tmpfs /run:size=64m).
	Tmpfs       map[string]string `json:",omitempty"`
	VolumesFrom []string          `json:",omitempty"`
	// LogConfig is the log driver and its options (--log-driver,
	// --log-opt); an empty Type takes the daemon's default.
	LogConfig LogConfig
}

// UpdateConfig is the body of POST /containers/{id}/update: the limits
// to change (zero keeps the current value; PidsLimit when set, 0 or -1
// for unlimited) and the restart policy when its Name is set.
type UpdateConfig struct {
	Memory            int64         `json:",omitempty"`
	MemorySwap        int64         `json:",omitempty"`
	MemoryReservation int64         `json:",omitempty"`
	NanoCPUs          int64         `json:",omitempty"`
	CPUShares         int64         `json:",omitempty"`
	CPUPeriod         int64         `json:",omitempty"`
	CPUQuota          int64         `json:",omitempty"`
	CpusetCpus        string        `json:",omitempty"`
	CpusetMems        string        `json:",omitempty"`
	BlkioWeight       uint16        `json:",omitempty"`
	PidsLimit         *int64        `json:",omitempty"`
	RestartPolicy     RestartPolicy `json:",omitempty"`
}

// UpdateResponse answers an update with dockerd's warnings.
type UpdateResponse struct {
	Warnings []string
}

// LogConfig is a container's log driver ("json-file", "local", "none")
// and its options (max-size, max-file, ...), as in Docker.
type LogConfig struct {
	Type   string            `json:",omitempty"`
	Config map[string]string `json:",omitempty"`
}

// PortBinding is one host side of a published port; an empty HostPort
// asks for a random port, a range ("8000-8010") for the first free one.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

// Mount is one --mount (Docker's mount.Mount).
type Mount struct {
	Type          string // bind, volume, tmpfs
	Source        string `json:",omitempty"`
	Target        string
	ReadOnly      bool           `json:",omitempty"`
	BindOptions   *BindOptions   `json:",omitempty"`
	VolumeOptions *VolumeOptions `json:",omitempty"`
	TmpfsOptions  *TmpfsOptions  `json:",omitempty"`
}

// BindOptions are the options of a bind mount.
type BindOptions struct {
	Propagation string `json:",omitempty"`
}

// VolumeOptions are the options of a volume mount.
type VolumeOptions struct {
	NoCopy bool `json:",omitempty"`
}

// TmpfsOptions are the options of a tmpfs mount.
type TmpfsOptions struct {
	SizeBytes int64  `json:",omitempty"`
	Mode      uint32 `json:",omitempty"`
}

// NetworkingConfig is the networking part of a create request.
type NetworkingConfig struct {
	EndpointsConfig map[string]*EndpointSettings
}

// CreateRequest is the body of POST /containers/create.
type CreateRequest struct {
	Config
	HostConfig       *HostConfig       `json:",omitempty"`
	NetworkingConfig *NetworkingConfig `json:",omitempty"`
}

// CreateResponse answers POST /containers/create.
type CreateResponse struct {
	ID       string `json:"Id"`
	Warnings []string
}

// State is a container's runtime state as docker reports it.
type State struct {
	Status     string // "created", "running", "paused", "restarting", "removing", "exited", "dead"
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  string
	FinishedAt string
	Health     *Health `json:",omitempty"`
}

// ContainerJSON answers GET /containers/{id}/json.
type ContainerJSON struct {
	ID              string `json:"Id"`
	Created         string
	Path            string
	Args            []string
	State           *State
	Image           string
	ResolvConfPath  string
	HostnamePath    string
	HostsPath       string
	LogPath         string
	Name            string
	RestartCount    int
	Driver          string
	Platform        string
	MountLabel      string
	ProcessLabel    string
	AppArmorProfile string
	ExecIDs         []string
	HostConfig      *HostConfig
	GraphDriver     GraphDriver
	Mounts          []MountPoint
	Config          *Config
	NetworkSettings *NetworkSettings
}

// GraphDriver names the storage driver and its directories.
type GraphDriver struct {
	Name string
	Data map[string]string
}

// MountPoint is one mount of a container.
type MountPoint struct {
	Type        string
	Name        string `json:",omitempty"`
	Source      string
	Destination string
	Driver      string `json:",omitempty"`
	Mode        string
	RW          bool
	Propagation string
}

// NetworkSettings is the networking part of ContainerJSON.
type NetworkSettings struct {
	SandboxKey string
	// Ports maps "80/tcp" to its host bindings (null when exposed only).
	Ports map[string][]PortBinding
	// IPAddress, IPPrefixLen, Gateway and MacAddress are those of the
	// default bridge network, as docker reports them.
	IPAddress   string
	IPPrefixLen int
	Gateway     string
	MacAddress  string
	Networks    map[string]*EndpointSettings
}

// EndpointIPAMConfig is a requested address.
type EndpointIPAMConfig struct {
	IPv4Address string `json:",omitempty"`
}

// EndpointSettings is one network attachment.
type EndpointSettings struct {
	IPAMConfig  *EndpointIPAMConfig `json:",omitempty"`
	Aliases     []string
	NetworkID   string
	EndpointID  string
	Gateway     string
	IPAddress   string
	IPPrefixLen int
	MacAddress  string
	DNSNames    []string
}

// IPAMConfig is one address pool of a network.
type IPAMConfig struct {
	Subnet  string `json:",omitempty"`
	IPRange string `json:",omitempty"`
	Gateway string `json:",omitempty"`
}

// IPAM is a network's address management.
type IPAM struct {
	Driver  string
	Config  []IPAMConfig
	Options map[string]string `json:",omitempty"`
}

// NetworkResource answers GET /networks/{id} (Docker's shape).
type NetworkResource struct {
	Name       string
	ID         string `json:"Id"`
	Created    string
	Scope      string
	Driver     string
	EnableIPv6 bool
	IPAM       IPAM
	Internal   bool
	Attachable bool
	Containers map[string]NetworkEndpoint
	Options    map[string]string
	Labels     map[string]string
}

// NetworkEndpoint is one container of a network in NetworkResource.
type NetworkEndpoint struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string
	IPv6Address string
}

// NetworkCreateRequest is the body of POST /networks/create.
type NetworkCreateRequest struct {
	Name     string
	Driver   string            `json:",omitempty"`
	Internal bool              `json:",omitempty"`
	IPAM     *IPAM             `json:",omitempty"`
	Options  map[string]string `json:",omitempty"`
	Labels   map[string]string `json:",omitempty"`
}

// NetworkCreateResponse answers POST /networks/create.
type NetworkCreateResponse struct {
	ID      string `json:"Id"`
	Warning string
}

// NetworkConnectRequest is the body of POST /networks/{id}/connect.
type NetworkConnectRequest struct {
	Container      string
	EndpointConfig *EndpointSettings `json:",omitempty"`
}

// NetworkDisconnectRequest is the body of POST /networks/{id}/disconnect.
type NetworkDisconnectRequest struct {
	Container string
	Force     bool
}

// NetworkPruneReport answers POST /networks/prune.
type NetworkPruneReport struct {
	NetworksDeleted []string
}

// Volume is a volume as docker reports it.
type Volume struct {
	Name       string
	Driver     string
	Mountpoint string
	CreatedAt  string
	Labels     map[string]string
	Scope      string
	Options    map[string]string
	UsageData  *VolumeUsage `json:",omitempty"`
}

// VolumeUsage says how many containers refer to a volume.
type VolumeUsage struct {
	RefCount int64
	Size     int64
}

// VolumeCreateRequest is the body of POST /volumes/create.
type VolumeCreateRequest struct {
	Name       string
	Driver     string            `json:",omitempty"`
	DriverOpts map[string]string `json:",omitempty"`
	Labels     map[string]string `json:",omitempty"`
}

// VolumeListResponse answers GET /volumes.
type VolumeListResponse struct {
	Volumes  []*Volume
	Warnings []string
}

// VolumePruneReport answers POST /volumes/prune.
type VolumePruneReport struct {
	VolumesDeleted []string
	SpaceReclaimed uint64
}

// Container is one row of GET /containers/json.
type Container struct {
	ID      string `json:"Id"`
	Names   []string
	Image   string
	ImageID string
	Command string
	Created int64
	State   string
	Status  string
	Labels  map[string]string
	// Ports are the published ports (and exposed ones without a
	// binding), as docker lists them.
	Ports []Port
}

// Port is one port of a container in the list.
type Port struct {
	IP          string `json:",omitempty"`
	PrivatePort uint16
	PublicPort  uint16 `json:",omitempty"`
	Type        string
}

// WaitResponse answers POST /containers/{id}/wait.
type WaitResponse struct {
	StatusCode int
	Error      *struct{ Message string } `json:",omitempty"`
}

// TopResponse answers GET /containers/{id}/top.
type TopResponse struct {
	Titles    []string
	Processes [][]string
}

// Stats is one sample of GET /containers/{id}/stats, read from the cgroup.
type Stats struct {
	Read        time.Time
	ID          string `json:"id"`
	Name        string `json:"name"`
	CPUUsage    uint64 // total CPU time in ns
	SystemUsage uint64 // host CPU time in ns, for percentages
	OnlineCPUs  int
	MemoryUsage uint64
	MemoryLimit uint64
	MemoryCache uint64
	PidsCurrent uint64
	PidsLimit   uint64
}

// ExecConfig is the body of POST /containers/{id}/exec.
type ExecConfig struct {
	User         string   `json:",omitempty"`
	Privileged   bool     `json:",omitempty"`
	Tty          bool     `json:",omitempty"`
	AttachStdin  bool     `json:",omitempty"`
	AttachStdout bool     `json:",omitempty"`
	AttachStderr bool     `json:",omitempty"`
	Detach       bool     `json:",omitempty"`
	Env          []string `json:",omitempty"`
	WorkingDir   string   `json:",omitempty"`
	Cmd          []string
	ConsoleSize  *[2]uint `json:",omitempty"` // height, width
	// DetachKeys let a client on the exec's terminal go (default
	// ctrl-p,ctrl-q).
	DetachKeys string `json:",omitempty"`
}

// ExecStartRequest is the body of POST /exec/{id}/start.
type ExecStartRequest struct {
	Detach      bool     `json:",omitempty"`
	Tty         bool     `json:",omitempty"`
	ConsoleSize *[2]uint `json:",omitempty"`
}

// IDResponse carries the id of a created object.
type IDResponse struct {
	ID string `json:"Id"`
}

// ExecInspect answers GET /exec/{id}/json.
type ExecInspect struct {
	ID            string
	ContainerID   string
	Running       bool
	ExitCode      *int
	Pid           int
	ProcessConfig struct {
		Entrypoint string
		Arguments  []string
		Tty        bool
		User       string
	}
}

// ImageSummary is one row of GET /images/json.
type ImageSummary struct {
	ID          string `json:"Id"`
	RepoTags    []string
	RepoDigests []string
	Created     int64
	Size        int64
	Containers  int
}

// ImageInspect answers GET /images/{name}/json.
type ImageInspect struct {
	ID           string `json:"Id"`
	RepoTags     []string
	RepoDigests  []string
	Created      string
	Size         int64
	Architecture string
	Os           string
	Config       *ImageConfig
	RootFS       struct {
		Type   string
		Layers []string
	}
}

// ImageConfig is the runnable configuration stored in an image.
type ImageConfig struct {
	User         string              `json:",omitempty"`
	ExposedPorts map[string]struct{} `json:",omitempty"`
	Env          []string            `json:",omitempty"`
	Entrypoint   []string            `json:",omitempty"`
	Cmd          []string            `json:",omitempty"`
	Volumes      map[string]struct{} `json:",omitempty"`
	WorkingDir   string              `json:",omitempty"`
	Labels       map[string]string   `json:",omitempty"`
	StopSignal   string              `json:",omitempty"`
}

// ImageHistory is one row of GET /images/{name}/history.
type ImageHistory struct {
	ID        string `json:"Id"`
	Created   int64
	CreatedBy string
	Size      int64
	Comment   string
}

// ImageDeleteItem is one row of DELETE /images/{name} and image prune.
type ImageDeleteItem struct {
	Untagged string `json:",omitempty"`
	Deleted  string `json:",omitempty"`
}

// ImagePruneReport answers POST /images/prune.
type ImagePruneReport struct {
	ImagesDeleted  []ImageDeleteItem
	SpaceReclaimed uint64
}

// ContainerPruneReport answers POST /containers/prune.
type ContainerPruneReport struct {
	ContainersDeleted []string
	SpaceReclaimed    uint64
}

// ProgressMessage is one line of the JSON stream of pull and push (the same
// shape as Docker's jsonmessage, so the CLI can render bars per layer).
type ProgressMessage struct {
	ID             string          `json:"id,omitempty"`
	Status         string          `json:"status,omitempty"`
	ProgressDetail *ProgressDetail `json:"progressDetail,omitempty"`
	Error          string          `json:"error,omitempty"`
}

// ProgressDetail carries byte counts of a ProgressMessage.
type ProgressDetail struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Message string `json:"message"`
	// ExitCode is docker's exit code for a container that could not
	// start (127 not found, 126 not runnable, 125 otherwise).
	ExitCode int `json:",omitempty"`
}

// LoadResponse answers POST /images/load.
type LoadResponse struct {
	Images []string // the loaded images' tags, or IDs when untagged
}

// ImportResponse answers POST /images/import.
type ImportResponse struct {
	ID string `json:"Id"`
}

// SystemPruneReport answers POST /system/prune.
type SystemPruneReport struct {
	Containers ContainerPruneReport
	Images     ImagePruneReport
}
