package wharf

import "time"

// ClusterNode is a node of the cluster as GET /cluster/nodes lists it.
type ClusterNode struct {
	ID            string            `json:"ID"`
	Name          string            `json:"Name"`
	Addr          string            `json:"Addr"`
	Status        string            `json:"Status"`       // READY or DOWN
	Availability  string            `json:"Availability"` // ACTIVE or DRAINING
	Manager       bool              `json:"Manager"`
	Leader        bool              `json:"Leader"`
	CPU           int               `json:"CPU"`       // CPU units, 1024 per core
	MemoryMiB     int               `json:"MemoryMiB"` // MiB
	Attributes    map[string]string `json:"Attributes,omitempty"`
	Labels        map[string]string `json:"Labels,omitempty"`
	LastHeartbeat time.Time         `json:"LastHeartbeat"`
	Self          bool              `json:"Self,omitempty"`
}

// ClusterNodeUpdate is POST /cluster/nodes/{ref}/update.
type ClusterNodeUpdate struct {
	Availability string            `json:"Availability,omitempty"`
	LabelAdd     map[string]string `json:"LabelAdd,omitempty"`
	LabelRm      []string          `json:"LabelRm,omitempty"`
}

// ClusterTokens are a manager's join tokens (GET /cluster/tokens).
type ClusterTokens struct {
	Worker  string `json:"Worker"`
	Manager string `json:"Manager"`
}

// ClusterService is a service as GET /cluster/services lists it.
type ClusterService struct {
	Name           string              `json:"Name"`
	Cluster        string              `json:"Cluster"`
	Status         string              `json:"Status"`
	TaskDefinition string              `json:"TaskDefinition"` // family:revision
	LaunchType     string              `json:"LaunchType"`
	DesiredCount   int                 `json:"DesiredCount"`
	RunningCount   int                 `json:"RunningCount"`
	PendingCount   int                 `json:"PendingCount"`
	Deployments    []ClusterDeployment `json:"Deployments"`
}

// ClusterDeployment is one deployment of a service.
type ClusterDeployment struct {
	ID             string `json:"ID"`
	Status         string `json:"Status"`
	RolloutState   string `json:"RolloutState"`
	TaskDefinition string `json:"TaskDefinition"`
	Running        int    `json:"Running"`
	Pending        int    `json:"Pending"`
	Failed         int    `json:"Failed"`
}

// ClusterTask is a task as GET /cluster/services/{name}/tasks lists it.
type ClusterTask struct {
	ID             string                 `json:"ID"`
	Service        string                 `json:"Service,omitempty"`
	TaskDefinition string                 `json:"TaskDefinition"`
	NodeID         string                 `json:"NodeID"`
	Node           string                 `json:"Node"` // the node's name
	DesiredStatus  string                 `json:"DesiredStatus"`
	LastStatus     string                 `json:"LastStatus"`
	Health         string                 `json:"Health"`
	StoppedReason  string                 `json:"StoppedReason,omitempty"`
	CreatedAt      time.Time              `json:"CreatedAt"`
	StartedAt      *time.Time             `json:"StartedAt,omitempty"`
	Containers     []ClusterTaskContainer `json:"Containers"`
}

// ClusterTaskContainer is one container of a task.
type ClusterTaskContainer struct {
	Name     string `json:"Name"`
	Status   string `json:"Status"`
	ExitCode *int   `json:"ExitCode,omitempty"`
	Health   string `json:"Health,omitempty"`
}

// ClusterSecret is a secret as the cluster shows it: never its value
// (GET /cluster/secrets, GET /cluster/secrets/{name}).
type ClusterSecret struct {
	Name      string    `json:"Name"`
	Size      int       `json:"Size"`
	CreatedAt time.Time `json:"CreatedAt"`
	UpdatedAt time.Time `json:"UpdatedAt"`
}

// ClusterSecretCreate creates a secret (POST /cluster/secrets): Data is
// its value (base64 in JSON).
type ClusterSecretCreate struct {
	Name string `json:"Name"`
	Data []byte `json:"Data"`
}

// StackFile is one compose file of a stack.
type StackFile struct {
	Filename string `json:"Filename"`
	Content  []byte `json:"Content"`
}

// StackDeploy deploys a stack (POST /cluster/stacks/{name}): the compose
// files, the client's working directory, the .env file beside the first
// compose file and the client's environment variables the files name.
type StackDeploy struct {
	Files      []StackFile       `json:"Files"`
	WorkingDir string            `json:"WorkingDir"`
	DotEnv     []byte            `json:"DotEnv,omitempty"`
	Env        map[string]string `json:"Env,omitempty"`
}

// StackChange is what a deploy did to one service: created, updated (a
// new task definition revision, rolled out), scaled, unchanged or
// removed.
type StackChange struct {
	Service        string `json:"Service"`
	TaskDefinition string `json:"TaskDefinition,omitempty"`
	Action         string `json:"Action"`
}

// StackDeployResult is a deploy's answer.
type StackDeployResult struct {
	Changes  []StackChange `json:"Changes"`
	Warnings []string      `json:"Warnings,omitempty"`
}

// ClusterStack is a stack as GET /cluster/stacks lists it.
type ClusterStack struct {
	Name     string   `json:"Name"`
	Services []string `json:"Services"`
}
