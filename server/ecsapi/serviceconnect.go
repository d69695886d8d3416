package ecsapi

import (
	"encoding/json"

	"github.com/wharf-dev/wharf/cluster/state"
)

// serviceConnectIn is ECS's ServiceConnectConfiguration as CreateService
// and UpdateService take it. The fields wharf does not implement are
// decoded only to be refused, never dropped.
type serviceConnectIn struct {
	Enabled          bool                    `json:"enabled"`
	Namespace        string                  `json:"namespace"`
	Services         []serviceConnectService `json:"services"`
	LogConfiguration json.RawMessage         `json:"logConfiguration"`
	AccessLogConfig  json.RawMessage         `json:"accessLogConfiguration"`
}

type serviceConnectService struct {
	PortName            string          `json:"portName"`
	DiscoveryName       string          `json:"discoveryName"`
	ClientAliases       []clientAliasIn `json:"clientAliases"`
	IngressPortOverride *int            `json:"ingressPortOverride"`
	Timeout             json.RawMessage `json:"timeout"`
	TLS                 json.RawMessage `json:"tls"`
}

type clientAliasIn struct {
	Port             *int            `json:"port"`
	DNSName          string          `json:"dnsName"`
	TestTrafficRules json.RawMessage `json:"testTrafficRules"`
}

func present(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }

// serviceConnect converts the wire configuration, refusing what wharf
// does not implement (nil in, nil out).
func (in *serviceConnectIn) serviceConnect() (*state.ServiceConnect, error) {
	if in == nil {
		return nil, nil
	}
	if present(in.LogConfiguration) || present(in.AccessLogConfig) {
		return nil, invalidParam("serviceConnectConfiguration: wharf's routing mesh has no proxy logs to configure; logConfiguration and accessLogConfiguration are not supported.")
	}
	out := &state.ServiceConnect{Enabled: in.Enabled, Namespace: in.Namespace}
	for _, s := range in.Services {
		if s.IngressPortOverride != nil || present(s.Timeout) || present(s.TLS) {
			return nil, invalidParam("serviceConnectConfiguration: ingressPortOverride, timeout and tls are not supported by wharf's routing mesh.")
		}
		e := state.ServiceConnectService{PortName: s.PortName, DiscoveryName: s.DiscoveryName}
		for _, a := range s.ClientAliases {
			if a.Port == nil {
				return nil, invalidParam("serviceConnectConfiguration: clientAliases port is required.")
			}
			if present(a.TestTrafficRules) {
				return nil, invalidParam("serviceConnectConfiguration: testTrafficRules are not supported.")
			}
			e.ClientAliases = append(e.ClientAliases, state.ServiceConnectClient{Port: *a.Port, DNSName: a.DNSName})
		}
		out.Services = append(out.Services, e)
	}
	return out, nil
}

// serviceConnectOut is a deployment's serviceConnectConfiguration as
// DescribeServices shows it.
type serviceConnectOut struct {
	Enabled   bool                   `json:"enabled"`
	Namespace string                 `json:"namespace,omitempty"`
	Services  []serviceConnectSvcOut `json:"services,omitempty"`
}

type serviceConnectSvcOut struct {
	PortName      string           `json:"portName"`
	DiscoveryName string           `json:"discoveryName,omitempty"`
	ClientAliases []clientAliasOut `json:"clientAliases,omitempty"`
}

type clientAliasOut struct {
	Port    int    `json:"port"`
	DNSName string `json:"dnsName,omitempty"`
}

func renderServiceConnect(svc state.Service) *serviceConnectOut {
	sc := svc.ServiceConnect
	if sc == nil {
		return nil
	}
	out := &serviceConnectOut{Enabled: sc.Enabled, Namespace: sc.DNSNamespace(svc.Cluster)}
	for _, s := range sc.Services {
		o := serviceConnectSvcOut{PortName: s.PortName, DiscoveryName: s.Discovery()}
		for _, a := range s.ClientAliases {
			dns := a.DNSName
			if dns == "" {
				dns = s.Discovery() + "." + sc.DNSNamespace(svc.Cluster)
			}
			o.ClientAliases = append(o.ClientAliases, clientAliasOut{Port: a.Port, DNSName: dns})
		}
		out.Services = append(out.Services, o)
	}
	return out
}

// refuseUnimplemented refuses the service fields that ask for AWS
// resources wharf has not: Elastic Load Balancing and Cloud Map
// registries (the routing mesh and Service Connect do their work).
func refuseUnimplemented(loadBalancers, registries json.RawMessage) error {
	if present(loadBalancers) && string(loadBalancers) != "[]" {
		return invalidParam("loadBalancers are not supported: wharf has no Elastic Load Balancing; publish the port on every node with serviceConnectConfiguration (a clientAlias port) instead.")
	}
	if present(registries) && string(registries) != "[]" {
		return invalidParam("serviceRegistries are not supported: wharf has no Cloud Map; use serviceConnectConfiguration, whose names every container resolves.")
	}
	return nil
}
