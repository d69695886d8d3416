package state

import "strings"

// ServiceConnect is a service's serviceConnectConfiguration, as ECS's
// Service Connect has it, with the parts wharf implements: every entry
// names a port mapping of the task definition (PortName); its
// DiscoveryName (default: PortName) and its client alias's DNS name are
// answered by the embedded DNS of every node, and its client alias's
// port is published by the routing mesh on every node (cluster/mesh).
type ServiceConnect struct {
	Enabled bool `json:"enabled"`
	// Namespace is the namespace of the DNS names ("" : the cluster's,
	// <cluster>.wharf).
	Namespace string                  `json:"namespace,omitempty"`
	Services  []ServiceConnectService `json:"services,omitempty"`
}

// ServiceConnectService is one port of a service made reachable through
// Service Connect.
type ServiceConnectService struct {
	PortName      string                 `json:"portName"`
	DiscoveryName string                 `json:"discoveryName,omitempty"`
	ClientAliases []ServiceConnectClient `json:"clientAliases,omitempty"`
}

// ServiceConnectClient is a client alias: the port (and DNS name) that
// clients use.
type ServiceConnectClient struct {
	Port    int    `json:"port"`
	DNSName string `json:"dnsName,omitempty"`
}

// DNSNamespace returns the DNS namespace of sc's names in cluster: its own,
// or <cluster>.wharf.
func (sc *ServiceConnect) DNSNamespace(cluster string) string {
	if sc.Namespace != "" {
		return sc.Namespace
	}
	return cluster + ".wharf"
}

// Discovery is the entry's discovery name: DiscoveryName, or the port
// mapping's name.
func (s ServiceConnectService) Discovery() string {
	if s.DiscoveryName != "" {
		return s.DiscoveryName
	}
	return s.PortName
}

// Names are the DNS names a client alias is answered under: the entry's
// discovery name, <discovery>.<namespace> and the alias's DNS name
// (default <discovery>.<namespace>, as ECS's), lower case, without
// duplicates.
func (sc *ServiceConnect) Names(cluster string, s ServiceConnectService, a ServiceConnectClient) []string {
	d := strings.ToLower(s.Discovery())
	full := d + "." + strings.ToLower(sc.DNSNamespace(cluster))
	out := []string{d, full}
	if n := strings.ToLower(strings.TrimSuffix(a.DNSName, ".")); n != "" && n != d && n != full {
		out = append(out, n)
	}
	return out
}
