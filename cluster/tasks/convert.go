package tasks

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
)

// AttrSubnetID is the node attribute naming its task subnet, as ECS's
// container instances have it.
const AttrSubnetID = "ecs.subnet-id"

// ParseCPU reads a task-level cpu: CPU units ("1024") or vCPUs ("1 vCPU");
// 0 when empty or unreadable (the API validated it at registration).
func ParseCPU(s string) int64 {
	s = strings.TrimSpace(s)
	if v, ok := strings.CutSuffix(strings.ToLower(s), "vcpu"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			return 0
		}
		return int64(f * 1024)
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return max(n, 0)
}

// ParseMemory reads a task-level memory: MiB ("512") or GB ("2 GB").
func ParseMemory(s string) int64 {
	s = strings.TrimSpace(s)
	if v, ok := strings.CutSuffix(strings.ToLower(s), "gb"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			return 0
		}
		return int64(f * 1024)
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return max(n, 0)
}

// Effective is a task definition with a run's overrides applied: the
// containers' command, environment (added to and over the definition's),
// cpu and memory, and the task-level sizes.
func Effective(td state.TaskDefinition, ov *state.TaskOverrides) state.TaskDefinition {
	if ov == nil {
		return td
	}
	out := td
	out.ContainerDefinitions = append([]state.ContainerDefinition(nil), td.ContainerDefinitions...)
	if ov.Cpu != "" {
		out.Cpu = ov.Cpu
	}
	if ov.Memory != "" {
		out.Memory = ov.Memory
	}
	for _, co := range ov.ContainerOverrides {
		for i := range out.ContainerDefinitions {
			c := &out.ContainerDefinitions[i]
			if c.Name != co.Name {
				continue
			}
			if len(co.Command) > 0 {
				c.Command = co.Command
			}
			if len(co.Environment) > 0 {
				env := append([]state.KeyValue(nil), c.Environment...)
				for _, kv := range co.Environment {
					replaced := false
					for j := range env {
						if env[j].Name == kv.Name {
							env[j].Value, replaced = kv.Value, true
						}
					}
					if !replaced {
						env = append(env, kv)
					}
				}
				c.Environment = env
			}
			if co.Cpu != nil {
				c.Cpu = *co.Cpu
			}
			if co.Memory != nil {
				c.Memory = co.Memory
			}
			if co.MemoryReservation != nil {
				c.MemoryReservation = co.MemoryReservation
			}
		}
	}
	return out
}

// SchedTaskDef is the part of a task definition the scheduler reads.
func SchedTaskDef(td state.TaskDefinition) *sched.TaskDef {
	out := &sched.TaskDef{Family: td.Family, Revision: td.Revision, NetworkMode: sched.NetworkMode(td.NetworkMode),
		CPU: ParseCPU(td.Cpu), Memory: ParseMemory(td.Memory)}
	if out.NetworkMode == "" {
		out.NetworkMode = sched.NetworkBridge
	}
	for _, c := range td.ContainerDefinitions {
		cd := sched.ContainerDef{Name: c.Name, CPU: int64(c.Cpu), Essential: c.Essential == nil || *c.Essential,
			HealthCheck: c.HealthCheck != nil && len(c.HealthCheck.Command) > 0 && c.HealthCheck.Command[0] != "NONE"}
		if c.Memory != nil {
			cd.Memory = int64(*c.Memory)
		}
		if c.MemoryReservation != nil {
			cd.MemoryReservation = int64(*c.MemoryReservation)
		}
		for _, p := range c.PortMappings {
			proto := sched.Protocol(p.Protocol)
			if proto == "" {
				proto = sched.TCP
			}
			cd.PortMappings = append(cd.PortMappings, sched.PortMapping{ContainerPort: uint16(p.ContainerPort), HostPort: uint16(p.HostPort), Protocol: proto})
		}
		for _, d := range c.DependsOn {
			cd.DependsOn = append(cd.DependsOn, sched.Dependency{ContainerName: d.ContainerName, Condition: sched.DependencyCondition(d.Condition)})
		}
		out.Containers = append(out.Containers, cd)
	}
	return out
}

// SchedConstraints and SchedStrategies convert ECS's placement rules.
func SchedConstraints(cs []state.PlacementConstraint) []sched.Constraint {
	out := make([]sched.Constraint, 0, len(cs))
	for _, c := range cs {
		out = append(out, sched.Constraint{Type: sched.ConstraintType(c.Type), Expression: c.Expression})
	}
	return out
}

// NetworkConstraints adds to cs the constraint a network configuration
// makes: its tasks go to the nodes whose task subnet it lists.
func NetworkConstraints(cs []sched.Constraint, nc *state.NetworkConfiguration) []sched.Constraint {
	ids := nc.SubnetIDs()
	if len(ids) == 0 {
		return cs
	}
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = strconv.Quote(id)
	}
	return append(cs, sched.Constraint{Type: sched.MemberOf, Expression: "attribute:" + AttrSubnetID + " in [" + strings.Join(q, ",") + "]"})
}

// SchedStrategies converts ECS's placement strategies.
func SchedStrategies(ss []state.PlacementStrategy) []sched.Strategy {
	out := make([]sched.Strategy, 0, len(ss))
	for _, s := range ss {
		out = append(out, sched.Strategy{Type: sched.StrategyType(s.Type), Field: s.Field})
	}
	return out
}

// hostPorts converts the scheduler's host ports for the task record.
func hostPorts(ps []sched.HostPort) []state.HostPort {
	out := make([]state.HostPort, 0, len(ps))
	for _, p := range ps {
		out = append(out, state.HostPort{Port: int(p.Port), Protocol: string(p.Protocol)})
	}
	return out
}

// NodeInput is what View reads of one node.
type NodeInput struct {
	Node state.Node
	// LastHeartbeat is the server's time of the node's last heartbeat
	// (zero: never).
	LastHeartbeat time.Time
}

// View is the scheduler's view of the nodes: each node's registration
// and attributes, and what the tasks placed on it and not yet STOPPED
// take from it. Remaining never goes below zero.
func View(nodes []NodeInput, tasks []state.Task) []sched.Node {
	byNode := map[string][]state.Task{}
	for _, t := range tasks {
		if t.LastStatus == string(sched.StatusStopped) {
			continue
		}
		byNode[t.NodeID] = append(byNode[t.NodeID], t)
	}
	out := make([]sched.Node, 0, len(nodes))
	for _, in := range nodes {
		n := in.Node
		sn := sched.Node{ID: n.ID, Status: sched.NodeActive, Registered: sched.Resources{CPU: int64(n.CPU), Memory: int64(n.MemoryMiB)},
			Attributes:   map[string]string{sched.AttrOSType: n.Attributes["os"], "ecs.cpu-architecture": n.Attributes["arch"]},
			AgentVersion: n.EngineVersion, RegisteredAt: n.RegisteredAt, LastHeartbeat: in.LastHeartbeat, AgentConnected: !in.LastHeartbeat.IsZero()}
		if n.Availability == state.AvailabilityDrain {
			sn.Status = sched.NodeDraining
		}
		for k, v := range n.Labels {
			sn.Attributes[k] = v
		}
		if p, err := netip.ParsePrefix(n.TaskSubnet); err == nil {
			// ECS's attribute of the subnet an instance's tasks get
			// addresses in (RunTask's awsvpcConfiguration.subnets).
			sn.Attributes[AttrSubnetID] = state.SubnetID(p)
		}
		rem := sn.Registered
		for _, t := range byNode[n.ID] {
			rem.CPU -= t.CPU
			rem.Memory -= t.MemoryMiB
			pt := sched.PlacedTask{ID: t.ID, Family: t.Family, Group: t.Group, Resources: sched.Resources{CPU: t.CPU, Memory: t.MemoryMiB}}
			for _, p := range t.HostPorts {
				hp := sched.HostPort{Port: uint16(p.Port), Protocol: sched.Protocol(p.Protocol)}
				pt.Ports = append(pt.Ports, hp)
				sn.PortsInUse = append(sn.PortsInUse, hp)
			}
			// A task on its way out still holds its resources and ports
			// until it has stopped, but no longer counts for spread and
			// distinctInstance: its replacement must be free to go
			// where it was.
			if t.DesiredStatus != string(sched.StatusStopped) {
				sn.Tasks = append(sn.Tasks, pt)
			}
		}
		sn.Remaining = sched.Resources{CPU: max(rem.CPU, 0), Memory: max(rem.Memory, 0)}
		out = append(out, sn)
	}
	return out
}

// SchedTask is a service task as ReconcileService reads it.
func SchedTask(t state.Task) sched.Task {
	st := sched.Task{ID: t.ID, DeploymentID: t.DeploymentID, NodeID: t.NodeID, LastStatus: sched.TaskStatus(t.LastStatus),
		DesiredStatus: sched.TaskStatus(t.DesiredStatus), Health: sched.Health(t.Health), StopCode: sched.StopCode(t.StopCode),
		StoppedReason: t.StoppedReason}
	if st.Health == "" {
		st.Health = sched.HealthUnknown
	}
	if t.StartedAt != nil {
		st.StartedAt = *t.StartedAt
	}
	return st
}
