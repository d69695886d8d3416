package state

import (
	"bytes"
	"strings"
	"time"
)

const (
	bucketTasks    = "tasks"
	bucketServices = "services"
)

// Task is one ECS task: where it runs, what it runs (a task definition
// revision and the run's overrides), what is wanted of it and what its
// agent last saw. Its key is TaskKey(NodeID, ID): a task never moves, a
// replacement is another task.
//
// Two writers share the record and each owns its fields, so that their
// read-modify-write cycles (Mutate) never undo each other's decisions:
//
//   - the controller and the API (RunTask, StopTask, the service
//     controller) own DesiredStatus, StopCode, StoppedReason, StoppingAt
//     and Accounted;
//   - the node's agent owns LastStatus, Health, Containers, the
//     Provisioned..Deprovisioned steps and the other times, and may set
//     StopCode and StoppedReason when it decides the stop itself (an
//     essential container exited).
type Task struct {
	ID      string `json:"id"`
	Cluster string `json:"cluster"`
	NodeID  string `json:"nodeId"`
	// Family and Revision name the task definition.
	Family     string `json:"family"`
	Revision   int    `json:"revision"`
	LaunchType string `json:"launchType"`
	// NetworkMode is the task definition's, copied at placement (the API
	// shows an awsvpc task's attachment from the start).
	NetworkMode string `json:"networkMode,omitempty"`
	// Group is ECS's task group: "service:<name>" or "family:<family>"
	// unless the caller set one.
	Group     string `json:"group"`
	StartedBy string `json:"startedBy,omitempty"`
	// Service and DeploymentID are set on a service's tasks.
	Service      string         `json:"service,omitempty"`
	DeploymentID string         `json:"deploymentId,omitempty"`
	Overrides    *TaskOverrides `json:"overrides,omitempty"`
	// CPU (units), MemoryMiB and HostPorts are what the task takes from
	// its node, computed once at placement.
	CPU       int64      `json:"cpu"`
	MemoryMiB int64      `json:"memoryMiB"`
	HostPorts []HostPort `json:"hostPorts,omitempty"`

	DesiredStatus string `json:"desiredStatus"`
	LastStatus    string `json:"lastStatus"`
	StopCode      string `json:"stopCode,omitempty"`
	StoppedReason string `json:"stoppedReason,omitempty"`
	// Accounted is set on a STOPPED service task once its service's
	// controller has counted it (for the circuit breaker); it is kept,
	// describable, until it is collected.
	Accounted bool `json:"accounted,omitempty"`

	Health        string          `json:"health,omitempty"`
	Containers    []TaskContainer `json:"containers,omitempty"`
	Provisioned   bool            `json:"provisioned,omitempty"`
	Activated     bool            `json:"activated,omitempty"`
	Deactivated   bool            `json:"deactivated,omitempty"`
	Deprovisioned bool            `json:"deprovisioned,omitempty"`
	// Attachment is an awsvpc task's address on the cluster's task
	// network, as its agent set it up (the agent owns it).
	Attachment *Attachment `json:"attachment,omitempty"`

	CreatedAt       time.Time  `json:"createdAt"`
	PullStartedAt   *time.Time `json:"pullStartedAt,omitempty"`
	PullStoppedAt   *time.Time `json:"pullStoppedAt,omitempty"`
	StartedAt       *time.Time `json:"startedAt,omitempty"`
	StoppingAt      *time.Time `json:"stoppingAt,omitempty"`
	ExecutionStopAt *time.Time `json:"executionStoppedAt,omitempty"`
	StoppedAt       *time.Time `json:"stoppedAt,omitempty"`
	Tags            []Tag      `json:"tags,omitempty"`
}

// Attachment is an awsvpc task's network interface: ECS's ENI
// attachment. Status is ATTACHED while the task's network namespace has
// the address, DELETED once the task released it.
type Attachment struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	SubnetID string `json:"subnetId"`
	// Subnet is the node's task subnet (CIDR), IPv4 the task's address in
	// it, MAC its interface's.
	Subnet string `json:"subnet"`
	IPv4   string `json:"ipv4"`
	MAC    string `json:"mac"`
	// Interface names the task's interface on the node (its network
	// sandbox), as ECS's networkInterfaceId names the ENI.
	Interface string `json:"interface"`
}

// Attachment statuses (ECS's).
const (
	AttachmentPrecreated = "PRECREATED"
	AttachmentAttached   = "ATTACHED"
	AttachmentDeleted    = "DELETED"
)

// HostPort is a host port a task binds on its node.
type HostPort struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
}

// TaskContainer is one container of a task as its agent reports it.
type TaskContainer struct {
	Name string `json:"name"`
	// EngineID is the engine container's id on the node.
	EngineID string `json:"engineId,omitempty"`
	Image    string `json:"image,omitempty"`
	// Status is PENDING, CREATED, RUNNING or STOPPED.
	Status   string `json:"status"`
	ExitCode *int   `json:"exitCode,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Health   string `json:"health,omitempty"`
	Started  bool   `json:"started,omitempty"`
	// NetworkBindings are the host ports the engine bound.
	NetworkBindings []NetworkBinding `json:"networkBindings,omitempty"`
}

// NetworkBinding is a published port of a running container.
type NetworkBinding struct {
	BindIP        string `json:"bindIP"`
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol"`
}

// TaskOverrides are RunTask's and StartTask's overrides.
type TaskOverrides struct {
	ContainerOverrides []ContainerOverride `json:"containerOverrides,omitempty"`
	Cpu                string              `json:"cpu,omitempty"`
	Memory             string              `json:"memory,omitempty"`
}

// ContainerOverride changes one container of a run.
type ContainerOverride struct {
	Name              string     `json:"name"`
	Command           []string   `json:"command,omitempty"`
	Environment       []KeyValue `json:"environment,omitempty"`
	Cpu               *int       `json:"cpu,omitempty"`
	Memory            *int       `json:"memory,omitempty"`
	MemoryReservation *int       `json:"memoryReservation,omitempty"`
}

// TaskKey is the key of a task on a node.
func TaskKey(node, id string) string { return node + "." + id }

// TaskKeyID splits a task key into its node and task id.
func TaskKeyID(key string) (node, id string) {
	node, id, _ = strings.Cut(key, ".")
	return node, id
}

// stoppedJSON is how a STOPPED task's record says so in its stored JSON
// (encoding/json writes no space; a string value cannot hold it
// unescaped).
var stoppedJSON = []byte(`"lastStatus":"STOPPED"`)

// StoppedTaskRecord says whether a task's stored record (its JSON) is
// STOPPED, without decoding it: readers of many tasks that count only
// live ones skip the others with it (Table.FindWhere).
func StoppedTaskRecord(raw []byte) bool { return bytes.Contains(raw, stoppedJSON) }

// Tasks is the table of tasks, by TaskKey.
func (s *Store) Tasks() Table[Task] { return Table[Task]{s: s, name: bucketTasks} }

// Service statuses, as ECS's.
const (
	ServiceActive   = "ACTIVE"
	ServiceDraining = "DRAINING"
	ServiceInactive = "INACTIVE"
)

// Service is an ECS service: its configuration, its deployments (the
// PRIMARY one and those still being replaced), its event log and the
// task starts its controller decided and has not yet seen through.
type Service struct {
	Name         string `json:"name"`
	Cluster      string `json:"cluster"`
	Status       string `json:"status"`
	DesiredCount int    `json:"desiredCount"`
	LaunchType   string `json:"launchType"`
	// Family and Revision are the task definition of the PRIMARY
	// deployment, as UpdateService last set it.
	Family                string                `json:"family"`
	Revision              int                   `json:"revision"`
	MinimumHealthyPercent int                   `json:"minimumHealthyPercent"`
	MaximumPercent        int                   `json:"maximumPercent"`
	CircuitBreaker        *CircuitBreaker       `json:"circuitBreaker,omitempty"`
	Constraints           []PlacementConstraint `json:"placementConstraints,omitempty"`
	Strategies            []PlacementStrategy   `json:"placementStrategy,omitempty"`
	// Network is the service's networkConfiguration (awsvpc), as given.
	Network *NetworkConfiguration `json:"networkConfiguration,omitempty"`
	// ServiceConnect makes the service discoverable and publishes its
	// ports on every node (nil: neither).
	ServiceConnect *ServiceConnect `json:"serviceConnect,omitempty"`
	Deployments    []Deployment    `json:"deployments"`
	LastCompleted  *Deployment     `json:"lastCompleted,omitempty"`
	Steady         bool            `json:"steady,omitempty"`
	Events         []ServiceEvent  `json:"events,omitempty"`
	// Launching are starts decided with the revision of this record:
	// whoever reads them creates their task records (creating an
	// existing one is a no-op) before it decides anything else, so that
	// a start is decided once even if two managers act.
	Launching []Launch  `json:"launching,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
	Tags      []Tag     `json:"tags,omitempty"`
}

// NetworkConfiguration is RunTask's and CreateService's
// networkConfiguration. Its subnets are the cluster's task subnets
// (state.SubnetID) the tasks may go to; wharf has no security groups
// and no public addresses, which the API refuses.
type NetworkConfiguration struct {
	AwsvpcConfiguration *AwsvpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

// AwsvpcConfiguration is ECS's awsvpcConfiguration.
type AwsvpcConfiguration struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	AssignPublicIp string   `json:"assignPublicIp,omitempty"`
}

// SubnetIDs are the subnets a network configuration limits tasks to (none:
// any).
func (n *NetworkConfiguration) SubnetIDs() []string {
	if n == nil || n.AwsvpcConfiguration == nil {
		return nil
	}
	return n.AwsvpcConfiguration.Subnets
}

// CircuitBreaker is a service's deploymentCircuitBreaker.
type CircuitBreaker struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

// PlacementConstraint is ECS's placement constraint.
type PlacementConstraint struct {
	Type       string `json:"type"`
	Expression string `json:"expression,omitempty"`
}

// PlacementStrategy is ECS's placement strategy.
type PlacementStrategy struct {
	Type  string `json:"type"`
	Field string `json:"field,omitempty"`
}

// Deployment is one deployment of a service.
type Deployment struct {
	ID                 string    `json:"id"`
	Status             string    `json:"status"`
	RolloutState       string    `json:"rolloutState"`
	RolloutStateReason string    `json:"rolloutStateReason,omitempty"`
	Family             string    `json:"family"`
	Revision           int       `json:"revision"`
	FailedTasks        int       `json:"failedTasks"`
	Rollback           bool      `json:"rollback,omitempty"`
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

// ServiceEvent is one line of a service's event log.
type ServiceEvent struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message"`
}

// MaxServiceEvents bounds a service's event log (ECS shows the last 100).
const MaxServiceEvents = 100

// Launch is a task start a service's controller decided.
type Launch struct {
	ID           string `json:"id"`
	NodeID       string `json:"nodeId"`
	DeploymentID string `json:"deploymentId"`
}

// ServiceKey is the key of a service in a cluster.
func ServiceKey(cluster, name string) string { return cluster + "." + name }

// Services is the table of services, by ServiceKey.
func (s *Store) Services() Table[Service] { return Table[Service]{s: s, name: bucketServices} }

const bucketLocks = "locks"

// Lock is a held lock: who holds it. The entry's Created time (the
// server's clock) is when it was taken.
type Lock struct {
	Holder string `json:"holder"`
}

// Locks is the table of cluster-wide locks, by name ("placement").
func (s *Store) Locks() Table[Lock] { return Table[Lock]{s: s, name: bucketLocks} }
