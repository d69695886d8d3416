package tasks

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
)

// dnsNameRE is a DNS name as the embedded DNS answers it: labels of
// letters, digits, '-' and '_', dot-separated.
var dnsNameRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*$`)

// MaxServiceConnectServices bounds a service's Service Connect entries.
const MaxServiceConnectServices = 16

// ServiceConnectPort is the port mapping a Service Connect entry names:
// the container that serves it and its port there.
type ServiceConnectPort struct {
	Container     string
	ContainerPort int
}

// FindPortName returns the port mapping of td named name.
func FindPortName(td state.TaskDefinition, name string) (ServiceConnectPort, bool) {
	for _, c := range td.ContainerDefinitions {
		for _, p := range c.PortMappings {
			if p.Name == name {
				return ServiceConnectPort{Container: c.Name, ContainerPort: p.ContainerPort}, true
			}
		}
	}
	return ServiceConnectPort{}, false
}

// ValidateServiceConnect checks a service's Service Connect
// configuration against its task definition: every entry names a TCP
// port mapping of a container the mesh can reach from any node (bridge
// or host network mode: a host port; awsvpc: the task's own address on
// the cluster's task network) and has one client alias with a port;
// names are DNS names. It returns the configuration to record (nil when
// disabled).
func ValidateServiceConnect(sc *state.ServiceConnect, td state.TaskDefinition) (*state.ServiceConnect, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("serviceConnectConfiguration: "+format+": %w", append(a, errdefs.ErrInvalidArgument)...)
	}
	if sc == nil {
		return nil, nil
	}
	if !sc.Enabled {
		if len(sc.Services) > 0 || sc.Namespace != "" {
			return nil, bad("a disabled configuration takes no services and no namespace")
		}
		return nil, nil
	}
	if len(sc.Services) == 0 {
		return nil, bad("wharf implements Service Connect's server side only: give services (a client-only configuration has nothing to do, every container already resolves the services)")
	}
	if len(sc.Services) > MaxServiceConnectServices {
		return nil, bad("at most %d services", MaxServiceConnectServices)
	}
	if sc.Namespace != "" && (strings.HasPrefix(sc.Namespace, "arn:") || !dnsNameRE.MatchString(sc.Namespace) || len(sc.Namespace) > 200) {
		return nil, bad("namespace %q: give a DNS name (Cloud Map namespace ARNs are not supported)", sc.Namespace)
	}
	switch td.NetworkMode {
	case "", "bridge", "host", "awsvpc":
	default:
		return nil, bad("the routing mesh reaches tasks in bridge, host or awsvpc network mode only, not %s", td.NetworkMode)
	}
	hostPorts := map[int]bool{}
	for _, c := range td.ContainerDefinitions {
		for _, p := range c.PortMappings {
			if td.NetworkMode == "awsvpc" {
				// Bound on the task's own address, not the node's.
				continue
			}
			if p.HostPort != 0 {
				hostPorts[p.HostPort] = true
			} else if td.NetworkMode == "host" {
				hostPorts[p.ContainerPort] = true
			}
		}
	}
	seen := map[int]bool{}
	for i, s := range sc.Services {
		if s.PortName == "" {
			return nil, bad("services[%d].portName is required", i)
		}
		if _, ok := FindPortName(td, s.PortName); !ok {
			return nil, bad("portName %q is not the name of a port mapping of %s:%d", s.PortName, td.Family, td.Revision)
		}
		if proto := portProtocol(td, s.PortName); proto != "" && proto != "tcp" {
			return nil, bad("portName %q: the routing mesh forwards TCP only, not %s", s.PortName, proto)
		}
		if s.DiscoveryName != "" && (!dnsNameRE.MatchString(s.DiscoveryName) || strings.Contains(s.DiscoveryName, ".") || len(s.DiscoveryName) > 64) {
			return nil, bad("discoveryName %q: a DNS label (letters, digits, '-', at most 64)", s.DiscoveryName)
		}
		if !dnsNameRE.MatchString(s.Discovery()) || strings.Contains(s.Discovery(), ".") {
			return nil, bad("portName %q is no DNS label: give a discoveryName", s.PortName)
		}
		if len(s.ClientAliases) != 1 {
			return nil, bad("services[%d] needs exactly one clientAlias: its port is the one the routing mesh publishes on every node", i)
		}
		a := s.ClientAliases[0]
		if a.Port < 1 || a.Port > 65535 {
			return nil, bad("clientAliases port %d: want 1-65535", a.Port)
		}
		if seen[a.Port] {
			return nil, bad("clientAliases port %d is given twice", a.Port)
		}
		if hostPorts[a.Port] {
			return nil, bad("clientAliases port %d is a host port of the task definition: the mesh and a task would both bind it", a.Port)
		}
		seen[a.Port] = true
		if a.DNSName != "" && (!dnsNameRE.MatchString(strings.TrimSuffix(a.DNSName, ".")) || len(a.DNSName) > 253) {
			return nil, bad("clientAliases dnsName %q is no DNS name", a.DNSName)
		}
	}
	out := *sc
	out.Services = append([]state.ServiceConnectService(nil), sc.Services...)
	return &out, nil
}

func portProtocol(td state.TaskDefinition, name string) string {
	for _, c := range td.ContainerDefinitions {
		for _, p := range c.PortMappings {
			if p.Name == name {
				return strings.ToLower(p.Protocol)
			}
		}
	}
	return ""
}

// MeshPorts returns the ports a service's Service Connect configuration
// publishes on every node, and the DNS names it answers.
func MeshPorts(s state.Service) (ports []int, names []string) {
	sc := s.ServiceConnect
	if sc == nil || !sc.Enabled {
		return nil, nil
	}
	for _, e := range sc.Services {
		for _, a := range e.ClientAliases {
			ports = append(ports, a.Port)
			names = append(names, sc.Names(s.Cluster, e, a)...)
		}
	}
	return ports, names
}

// ServiceConnectConflict reports a port or a DNS name that s would share
// with another service that is not INACTIVE: the mesh publishes a port
// for one service only, on every node, and a name answers for one.
func ServiceConnectConflict(s state.Service, others []state.Service) error {
	ports, names := MeshPorts(s)
	if len(ports) == 0 {
		return nil
	}
	for _, o := range others {
		if o.Status == state.ServiceInactive || (o.Cluster == s.Cluster && o.Name == s.Name) {
			continue
		}
		ops, ons := MeshPorts(o)
		for _, p := range ports {
			for _, q := range ops {
				if p == q {
					return fmt.Errorf("serviceConnectConfiguration: port %d is published by service %s of cluster %s: %w", p, o.Name, o.Cluster, errdefs.ErrInvalidArgument)
				}
			}
		}
		for _, n := range names {
			for _, m := range ons {
				if n == m {
					return fmt.Errorf("serviceConnectConfiguration: the name %s is answered for service %s of cluster %s: %w", n, o.Name, o.Cluster, errdefs.ErrInvalidArgument)
				}
			}
		}
	}
	return nil
}

// checkServiceConnect checks s's Service Connect configuration against
// the other services of every cluster.
func (r *Runtime) checkServiceConnect(ctx context.Context, s state.Service) error {
	if s.ServiceConnect == nil {
		return nil
	}
	es, err := r.st.Services().List(ctx)
	if err != nil {
		return err
	}
	others := make([]state.Service, 0, len(es))
	for _, e := range es {
		others = append(others, e.Value)
	}
	return ServiceConnectConflict(s, others)
}

// updateServiceConnect applies UpdateService's serviceConnectConfiguration
// to s, and checks the configuration s keeps against a new task
// definition.
func (r *Runtime) updateServiceConnect(ctx context.Context, s *state.Service, u ServiceUpdate) error {
	sc := s.ServiceConnect
	if u.ServiceConnect != nil {
		sc = u.ServiceConnect
	}
	if sc == nil {
		return nil
	}
	var td state.TaskDefinition
	if u.TaskDef != nil {
		td = *u.TaskDef
	} else {
		cur, err := r.st.TaskDefs().Get(ctx, state.TaskDefKey(s.Family, s.Revision))
		if err != nil {
			return err
		}
		td = cur.Value
	}
	checked, err := ValidateServiceConnect(sc, td)
	if err != nil {
		return err
	}
	s.ServiceConnect = checked
	return r.checkServiceConnect(ctx, *s)
}
