// Package wharf holds the wire types of wharf's native API (/wharf/v1) and
// a client for it. It contains no logic beyond encoding and transport.
//
// The JSON shapes follow Docker's Engine API field names wherever Docker has
// an equivalent (ContainerJSON.State.Pid, HostConfig.Memory, ...), so that
// `wharf inspect --format` templates written for docker work unchanged.
package wharf

import "time"

// APIVersion is the version of the native API served under /wharf/v1.
const APIVersion = "1"

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
}

// RuntimeInfo describes one OCI runtime the daemon found on the host.
type RuntimeInfo struct {
	Path    string
	Version string `json:",omitempty"`
	Usable  bool
	Reason  string `json:",omitempty"`
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
}

// CreateRequest is the body of POST /containers/create.
type CreateRequest struct {
	Config
	HostConfig *HostConfig `json:",omitempty"`
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

// MountPoint is one mount in a container (none yet besides the rootfs).
type MountPoint struct {
	Type        string
	Source      string
	Destination string
	RW          bool
}

// NetworkSettings is the networking part of ContainerJSON.
type NetworkSettings struct {
	SandboxKey string
	Networks   map[string]*EndpointSettings
}

// EndpointSettings is one network attachment.
type EndpointSettings struct {
	NetworkID string
	IPAddress string
	Gateway   string
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
