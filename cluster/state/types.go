package state

import (
	"time"
)

const (
	bucketNodes      = "nodes"
	bucketHeartbeats = "heartbeats"
	bucketTaskDefs   = "taskdefs"
	bucketFamilies   = "families"
	bucketClusters   = "clusters"
)

// Node availability, as swarm's (ACTIVE: takes tasks; DRAIN: takes none,
// its tasks move elsewhere).
const (
	AvailabilityActive = "ACTIVE"
	AvailabilityDrain  = "DRAINING"
)

// Node status, derived from the heartbeat's age (NodeStatus).
const (
	StatusReady = "READY"
	StatusDown  = "DOWN"
)

// Node is a node's registration. The node's agent writes it at start
// (keeping Availability and the labels set through the API); operators
// change Availability and Labels.
type Node struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Manager bool   `json:"manager"`
	// RouteAddr and ClientAddr are a manager's NATS addresses (joiners
	// and restarted nodes find the managers here).
	RouteAddr  string `json:"routeAddr,omitempty"`
	ClientAddr string `json:"clientAddr,omitempty"`
	JoinAddr   string `json:"joinAddr,omitempty"`
	// CPU is in ECS's CPU units (1024 per core), MemoryMiB in MiB.
	CPU           int               `json:"cpu"`
	MemoryMiB     int               `json:"memoryMiB"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Availability  string            `json:"availability"`
	EngineVersion string            `json:"engineVersion,omitempty"`
	RegisteredAt  time.Time         `json:"registeredAt"`
	// TaskSubnet is the node's subnet of the cluster's task network
	// (tasknet.go), routed to via Addr by the other nodes; its agent sets
	// it once it leased it.
	TaskSubnet string `json:"taskSubnet,omitempty"`
}

// Heartbeat is what a node's agent rewrites every few seconds. The
// entry's Created time (the server's clock) is the node's last contact:
// nodes' clocks may disagree, a server's is one clock.
type Heartbeat struct {
	// Leader is set by a manager that leads the JetStream meta group.
	Leader bool `json:"leader,omitempty"`
	// RunningTasks is how many of the node's containers run.
	RunningContainers int `json:"runningContainers"`
}

// NodeStatus is a node's status at now, given when its last heartbeat
// was written (zero: never) and how old a heartbeat may get.
func NodeStatus(last, now time.Time, downAfter time.Duration) string {
	if last.IsZero() || now.Sub(last) > downAfter {
		return StatusDown
	}
	return StatusReady
}

// Nodes is the table of node registrations.
func (s *Store) Nodes() Table[Node] { return Table[Node]{s: s, name: bucketNodes} }

// Heartbeats is the table of the nodes' last heartbeats.
func (s *Store) Heartbeats() Table[Heartbeat] { return Table[Heartbeat]{s: s, name: bucketHeartbeats} }

// TaskDefs is the table of task definitions, by TaskDefKey.
func (s *Store) TaskDefs() Table[TaskDefinition] {
	return Table[TaskDefinition]{s: s, name: bucketTaskDefs}
}

// Families is the table of task definition families, by family name.
func (s *Store) Families() Table[Family] { return Table[Family]{s: s, name: bucketFamilies} }

// Cluster is an ECS cluster: a name tasks and services are grouped
// under. "default" always exists.
type Cluster struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	Tags      []Tag     `json:"tags,omitempty"`
}

// Clusters is the table of ECS clusters, by name.
func (s *Store) Clusters() Table[Cluster] { return Table[Cluster]{s: s, name: bucketClusters} }
