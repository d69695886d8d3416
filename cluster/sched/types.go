package sched

import "time"

// Resources is an amount of what a node offers and a task consumes. CPU is
// in ECS's units (1024 per vCPU), memory in MiB.
type Resources struct {
	CPU    int64
	Memory int64
}

// Protocol of a host port.
type Protocol string

// The protocols a port mapping may use.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// HostPort is a port a task binds on its node.
type HostPort struct {
	Port     uint16
	Protocol Protocol
}

// NodeStatus is a container instance's status as ECS names it.
type NodeStatus string

// Node statuses. Only ACTIVE nodes receive tasks; DRAINING nodes have
// their service tasks moved elsewhere.
const (
	NodeActive   NodeStatus = "ACTIVE"
	NodeDraining NodeStatus = "DRAINING"
)

// Well-known attribute names, as the ECS agent reports them.
const (
	AttrAvailabilityZone = "ecs.availability-zone"
	AttrInstanceType     = "ecs.instance-type"
	AttrOSType           = "ecs.os-type"
)

// Node is a container instance as the agent last reported it.
type Node struct {
	// ID is the container instance id; it is also what the query
	// language's ec2InstanceId and instanceId subjects match.
	ID     string
	Status NodeStatus
	// Registered is the node's total capacity; Remaining what is left
	// after the tasks it runs, as the agent reports it. Placement trusts
	// Remaining and never exceeds it.
	Registered Resources
	Remaining  Resources
	// PortsInUse are the host ports already bound on the node.
	PortsInUse []HostPort
	// Attributes are ECS attributes (ecs.availability-zone,
	// ecs.instance-type, ecs.os-type) and the node's labels.
	Attributes map[string]string
	// Tasks are the tasks placed on the node that are not STOPPED.
	Tasks []PlacedTask

	AgentConnected bool
	AgentVersion   string
	RegisteredAt   time.Time
	// LastHeartbeat is when the node's agent last reported; the service
	// reconciler considers the node lost once it is older than its
	// timeout.
	LastHeartbeat time.Time
}

// PlacedTask is what placement needs to know of a task already on a node.
type PlacedTask struct {
	ID     string
	Family string
	// Group is ECS's task group: "service:web" for a service's tasks,
	// "family:x" by default for standalone tasks.
	Group     string
	Resources Resources
	Ports     []HostPort
}

// NetworkMode of a task definition.
type NetworkMode string

// Network modes. Only bridge and host bind host ports.
const (
	NetworkBridge NetworkMode = "bridge"
	NetworkHost   NetworkMode = "host"
	NetworkAwsvpc NetworkMode = "awsvpc"
	NetworkNone   NetworkMode = "none"
)

// LaunchType of a task.
type LaunchType string

// Launch types.
const (
	LaunchEC2     LaunchType = "EC2"
	LaunchFargate LaunchType = "FARGATE"
)

// PortMapping of a container definition.
type PortMapping struct {
	ContainerPort uint16
	// HostPort 0 in bridge mode asks for a dynamic port, which takes no
	// fixed port on the node.
	HostPort uint16
	Protocol Protocol
}

// DependencyCondition of a container's dependsOn entry.
type DependencyCondition string

// The dependsOn conditions ECS defines.
const (
	CondStart    DependencyCondition = "START"
	CondComplete DependencyCondition = "COMPLETE"
	CondSuccess  DependencyCondition = "SUCCESS"
	CondHealthy  DependencyCondition = "HEALTHY"
)

// Dependency is one dependsOn entry.
type Dependency struct {
	ContainerName string
	Condition     DependencyCondition
}

// ContainerDef is the part of a container definition the scheduler reads.
type ContainerDef struct {
	Name              string
	CPU               int64
	Memory            int64 // hard limit, MiB; 0 if unset
	MemoryReservation int64 // soft limit, MiB; 0 if unset
	PortMappings      []PortMapping
	// Essential is ECS's flag; the task stops when an essential
	// container exits.
	Essential bool
	// HealthCheck says the container has a healthCheck, so that the
	// task's health depends on it.
	HealthCheck bool
	DependsOn   []Dependency
}

// TaskDef is the part of a task definition revision the scheduler reads.
type TaskDef struct {
	Family      string
	Revision    int
	NetworkMode NetworkMode
	// CPU and Memory are the task-level sizes, 0 when unset.
	CPU        int64
	Memory     int64
	Containers []ContainerDef
}

// Requirements is what a task needs from a node.
type Requirements struct {
	Resources
	Ports []HostPort
}

// TaskRequirements computes what a task of td needs from a node: the
// task-level cpu and memory when set, otherwise the sum over containers
// (a container's memory is its hard limit, or its reservation when it has
// none), and the fixed host ports its port mappings bind in bridge and
// host mode (awsvpc and none bind none on the host).
func TaskRequirements(td *TaskDef) Requirements {
	var r Requirements
	var cpu, mem int64
	for _, c := range td.Containers {
		cpu += c.CPU
		if c.Memory > 0 {
			mem += c.Memory
		} else {
			mem += c.MemoryReservation
		}
		for _, pm := range c.PortMappings {
			proto := pm.Protocol
			if proto == "" {
				proto = TCP
			}
			switch td.NetworkMode {
			case NetworkHost:
				// In host mode the container's port is the host's.
				p := pm.HostPort
				if p == 0 {
					p = pm.ContainerPort
				}
				r.Ports = append(r.Ports, HostPort{Port: p, Protocol: proto})
			case NetworkBridge, "":
				if pm.HostPort != 0 {
					r.Ports = append(r.Ports, HostPort{Port: pm.HostPort, Protocol: proto})
				}
			}
		}
	}
	r.CPU, r.Memory = cpu, mem
	if td.CPU > 0 {
		r.CPU = td.CPU
	}
	if td.Memory > 0 {
		r.Memory = td.Memory
	}
	return r
}
