package ecsapi

import (
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
)

// FuzzRegisterInput decodes a RegisterTaskDefinition body as the API
// does and validates it: no input may panic, and what passes has what
// the cluster relies on (a family, containers with names and images,
// one essential).
func FuzzRegisterInput(f *testing.F) {
	f.Add([]byte(`{"family":"web","containerDefinitions":[{"name":"web","image":"busybox","memory":64}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var in registerIn
		if decode(body, &in) != nil {
			return
		}
		td := in.TaskDefinition
		if Validate(&td) != nil {
			return
		}
		if td.Family == "" || len(td.ContainerDefinitions) == 0 {
			t.Fatalf("accepted without family or containers: %s", body)
		}
		essential := false
		for _, c := range td.ContainerDefinitions {
			if c.Name == "" || c.Image == "" || c.Essential == nil {
				t.Fatalf("accepted a container without name, image or essential: %s", body)
			}
			essential = essential || *c.Essential
		}
		if !essential {
			t.Fatalf("accepted without an essential container: %s", body)
		}
		_ = state.TaskDefKey(td.Family, 1)
	})
}

// FuzzParseRef must not panic and only yields valid families.
func FuzzParseRef(f *testing.F) {
	f.Add("web:1")
	f.Fuzz(func(t *testing.T, ref string) {
		fam, rev, err := parseRef(ref)
		if err == nil && (!familyRE.MatchString(fam) || rev < 0) {
			t.Fatalf("%q -> %q %d", ref, fam, rev)
		}
	})
}

// FuzzRefs: the ids and names the task and service calls read from
// ARNs never reach the cluster's state unless they are one key token (no
// ".", "*" or ">" that would widen a key pattern).
func FuzzRefs(f *testing.F) {
	for _, s := range []string{"arn:aws:ecs:us-east-1:000000000000:task/default/0123abcd", "*", "a.>", "arn:aws:ecs:r:a:service/c/web", "x/y.*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		for _, got := range []string{taskID(ref), nodeID(ref), serviceName(ref), clusterName(ref)} {
			if tasks.ValidName(got) && strings.ContainsAny(got, ".*> ") {
				t.Fatalf("%q -> %q passes as a name", ref, got)
			}
		}
	})
}

// FuzzServiceConnect decodes a serviceConnectConfiguration as
// CreateService does and checks it against a task definition: no input
// may panic, and what passes publishes ports in range and answers only
// DNS names (no empty label, no space, no wildcard).
func FuzzServiceConnect(f *testing.F) {
	for _, s := range []string{
		`{"enabled":true,"services":[{"portName":"http","clientAliases":[{"port":8080}]}]}`,
		`{"enabled":true,"namespace":"corp.internal","services":[{"portName":"http","discoveryName":"web","clientAliases":[{"port":80,"dnsName":"Web.Example."}]}]}`,
		`{"enabled":true,"services":[{"portName":"http","clientAliases":[{"port":0}]}]}`,
		`{"enabled":false,"services":[]}`,
		`{"enabled":true,"namespace":"a..b","services":[{"portName":"http","clientAliases":[{"port":65536,"dnsName":"*"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	td := state.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []state.ContainerDefinition{{Name: "web", Image: "busybox",
		PortMappings: []state.PortMapping{{ContainerPort: 80, Name: "http"}}}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in serviceConnectIn
		if decode(body, &in) != nil {
			return
		}
		sc, err := in.serviceConnect()
		if err != nil {
			return
		}
		checked, err := tasks.ValidateServiceConnect(sc, td)
		if err != nil || checked == nil {
			return
		}
		ports, names := tasks.MeshPorts(state.Service{Cluster: "default", Name: "web", ServiceConnect: checked})
		for _, p := range ports {
			if p < 1 || p > 65535 {
				t.Fatalf("port %d accepted: %s", p, body)
			}
		}
		for _, n := range names {
			if n == "" || strings.Contains(n, "..") || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".") || strings.ContainsAny(n, " *\t\n") {
				t.Fatalf("name %q accepted: %s", n, body)
			}
		}
	})
}
