// Package mesh is the cluster's service discovery and routing mesh, run
// by every node's agent.
//
// A service opts in with ECS's Service Connect configuration
// (state.ServiceConnect): each entry names a port mapping of the task
// definition and has one client alias port. On every node the mesh
//
//   - listens on each client alias port (TCP, all the node's addresses)
//     and forwards every connection to a healthy task of the service on
//     any node, round robin, at <task's node address>:<the host port its
//     container port is published on> (host network mode: the container
//     port; awsvpc: the task's own address on the cluster's task network
//     and the container port, as the agent recorded the attachment). A connection whose backend does not answer is tried on the
//     next one; a backend that failed is skipped for a few seconds.
//   - answers, through the embedded DNS server of every user-defined
//     network of the node (network.Discovery), the entry's names —
//     <discoveryName>, <discoveryName>.<namespace> (default namespace
//     <cluster>.wharf) and the alias's dnsName — with the asking
//     network's gateway, which is the node itself: the client connects
//     to the local mesh listener, the one address that routes from a
//     container on any node (a task's bridge address routes only on its
//     own node). A service with no healthy task answers no address.
//
// Tasks' containers in bridge mode join the node's "wharf-tasks"
// network (agent.WithTaskNetwork) so that they use an embedded DNS
// server.
//
// The mesh follows the cluster's services, tasks and nodes tables with
// watches (no polling): Build, a pure function of those records, gives
// the names, the ports and each port's healthy backends; a task enters a
// port's set when it is RUNNING (desired RUNNING) and HEALTHY, or has no
// health check on an essential container, and leaves it as soon as it
// is desired STOPPED, stops or turns unhealthy. A service's ports close
// when it is deleted (DRAINING) or drops Service Connect.
package mesh

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
)

// Backend is a healthy task's address for one published port.
type Backend struct {
	Task string
	Node string
	Addr netip.AddrPort
}

// Route is one published port: the service it belongs to and the
// backends it forwards to.
type Route struct {
	// Service is the service's key (<cluster>.<name>).
	Service  string
	Port     int
	Backends []Backend
}

// Table is what the mesh serves at one moment.
type Table struct {
	// Names are the DNS names answered, lower case, with the port whose
	// backends decide whether they have an address.
	Names map[string]int
	// Routes are the published ports.
	Routes map[int]*Route
	// Conflicts say which ports and names a service could not have
	// because an older service has them.
	Conflicts []string
}

// Input are the records the table is built from. TaskDefs are by
// state.TaskDefKey; Nodes by node id.
type Input struct {
	Services []state.Service
	Tasks    []state.Task
	TaskDefs map[string]state.TaskDefinition
	Nodes    map[string]state.Node
}

// Build computes the table from the records: the ACTIVE services with
// Service Connect, oldest first (a port or name two services claim is the
// older one's), and for each alias port the backends of the service's
// healthy running tasks, by task id.
func Build(in Input) *Table {
	t := &Table{Names: map[string]int{}, Routes: map[int]*Route{}}
	svcs := make([]state.Service, 0, len(in.Services))
	for _, s := range in.Services {
		if s.Status == state.ServiceActive && s.ServiceConnect != nil && s.ServiceConnect.Enabled {
			svcs = append(svcs, s)
		}
	}
	sort.Slice(svcs, func(i, j int) bool {
		a, b := svcs[i], svcs[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return state.ServiceKey(a.Cluster, a.Name) < state.ServiceKey(b.Cluster, b.Name)
	})
	byService := map[string][]state.Task{}
	for _, tk := range in.Tasks {
		if tk.Service == "" {
			continue
		}
		k := state.ServiceKey(tk.Cluster, tk.Service)
		byService[k] = append(byService[k], tk)
	}
	for _, s := range svcs {
		key := state.ServiceKey(s.Cluster, s.Name)
		sc := s.ServiceConnect
		for _, e := range sc.Services {
			for _, a := range e.ClientAliases {
				if r := t.Routes[a.Port]; r != nil {
					t.Conflicts = append(t.Conflicts, "port "+strconv.Itoa(a.Port)+" of service "+key+" is "+r.Service+"'s")
					continue
				}
				r := &Route{Service: key, Port: a.Port, Backends: backends(byService[key], e.PortName, in)}
				t.Routes[a.Port] = r
				for _, n := range sc.Names(s.Cluster, e, a) {
					if p, taken := t.Names[n]; taken && t.Routes[p].Service != key {
						t.Conflicts = append(t.Conflicts, "name "+n+" of service "+key+" is "+t.Routes[p].Service+"'s")
						continue
					} else if taken {
						continue
					}
					t.Names[n] = a.Port
				}
			}
		}
	}
	return t
}

// backends are the addresses of the tasks ts that serve portName now.
func backends(ts []state.Task, portName string, in Input) []Backend {
	var out []Backend
	for _, tk := range ts {
		if tk.DesiredStatus != string(sched.StatusRunning) || tk.LastStatus != string(sched.StatusRunning) {
			continue
		}
		td, ok := in.TaskDefs[state.TaskDefKey(tk.Family, tk.Revision)]
		if !ok {
			continue
		}
		if healthChecked(td) && tk.Health != string(sched.HealthHealthy) {
			continue
		}
		pm, ok := tasks.FindPortName(td, portName)
		if !ok {
			// An older revision without the port (a rolling update).
			continue
		}
		if a := tk.Attachment; td.NetworkMode == "awsvpc" && a != nil && a.Status == state.AttachmentAttached {
			// The task's own address on the cluster's task network,
			// which routes from every node, at its container port.
			ip, err := netip.ParseAddr(a.IPv4)
			if err != nil || !running(tk, pm.Container) {
				continue
			}
			out = append(out, Backend{Task: tk.ID, Node: tk.NodeID, Addr: netip.AddrPortFrom(ip.Unmap(), uint16(pm.ContainerPort))})
			continue
		}
		node, ok := in.Nodes[tk.NodeID]
		if !ok {
			continue
		}
		ip, err := netip.ParseAddr(node.Addr)
		if err != nil {
			continue
		}
		port := hostPort(tk, td, pm)
		if port == 0 {
			continue
		}
		out = append(out, Backend{Task: tk.ID, Node: tk.NodeID, Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	return out
}

// hostPort is the node port the task serves pm on: the container port in
// host network mode, else the host port its running container's binding
// of the container port has (0: none yet).
func hostPort(tk state.Task, td state.TaskDefinition, pm tasks.ServiceConnectPort) int {
	for _, c := range tk.Containers {
		if c.Name != pm.Container || c.Status != string(sched.ContainerRunning) {
			continue
		}
		if td.NetworkMode == "host" {
			return pm.ContainerPort
		}
		for _, b := range c.NetworkBindings {
			if b.ContainerPort == pm.ContainerPort && (b.Protocol == "" || strings.EqualFold(b.Protocol, "tcp")) && b.HostPort > 0 {
				return b.HostPort
			}
		}
	}
	return 0
}

// running reports whether the task's container name runs.
func running(tk state.Task, name string) bool {
	for _, c := range tk.Containers {
		if c.Name == name && c.Status == string(sched.ContainerRunning) {
			return true
		}
	}
	return false
}

// healthChecked reports whether an essential container of td has a
// health check: then only a HEALTHY task serves.
func healthChecked(td state.TaskDefinition) bool {
	for _, c := range td.ContainerDefinitions {
		essential := c.Essential == nil || *c.Essential
		if essential && c.HealthCheck != nil && len(c.HealthCheck.Command) > 0 && c.HealthCheck.Command[0] != "NONE" {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
