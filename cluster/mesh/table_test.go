package mesh

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
)

func webDef(rev int, health bool) state.TaskDefinition {
	c := state.ContainerDefinition{Name: "web", Image: "busybox", PortMappings: []state.PortMapping{{ContainerPort: 80, Name: "http"}}}
	if health {
		c.HealthCheck = &state.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
	}
	return state.TaskDefinition{Family: "web", Revision: rev, ContainerDefinitions: []state.ContainerDefinition{c}}
}

func webService(name string, port int, created time.Time) state.Service {
	return state.Service{Name: name, Cluster: "default", Status: state.ServiceActive, CreatedAt: created,
		ServiceConnect: &state.ServiceConnect{Enabled: true, Services: []state.ServiceConnectService{{PortName: "http",
			DiscoveryName: name, ClientAliases: []state.ServiceConnectClient{{Port: port}}}}}}
}

// runningTask is a task of service svc on node whose container web
// publishes port 80 on hostPort.
func runningTask(id, svc, node string, rev, hostPort int) state.Task {
	return state.Task{ID: id, Cluster: "default", Service: svc, NodeID: node, Family: "web", Revision: rev,
		DesiredStatus: "RUNNING", LastStatus: "RUNNING", Health: "UNKNOWN",
		Containers: []state.TaskContainer{{Name: "web", Status: "RUNNING", NetworkBindings: []state.NetworkBinding{
			{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: hostPort, Protocol: "tcp"}}}}}
}

func nodes() map[string]state.Node {
	return map[string]state.Node{"n1": {ID: "n1", Addr: "10.0.0.1"}, "n2": {ID: "n2", Addr: "10.0.0.2"}}
}

func addrs(r *Route) []string {
	var out []string
	if r == nil {
		return out
	}
	for _, b := range r.Backends {
		out = append(out, b.Addr.String())
	}
	return out
}

func TestBuildBackends(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stopping := runningTask("t3", "web", "n1", 1, 32003)
	stopping.DesiredStatus = "STOPPED"
	pending := runningTask("t4", "web", "n2", 1, 32004)
	pending.LastStatus = "PENDING"
	noBinding := runningTask("t5", "web", "n2", 1, 0)
	noBinding.Containers[0].NetworkBindings = nil
	lost := runningTask("t6", "web", "n9", 1, 32006) // node not registered
	other := runningTask("t7", "api", "n1", 1, 32007)
	in := Input{
		Services: []state.Service{webService("web", 8080, t0)},
		Tasks: []state.Task{runningTask("t2", "web", "n2", 1, 32002), runningTask("t1", "web", "n1", 1, 32001),
			stopping, pending, noBinding, lost, other},
		TaskDefs: map[string]state.TaskDefinition{"web.1": webDef(1, false)},
		Nodes:    nodes(),
	}
	tb := Build(in)
	if got, want := addrs(tb.Routes[8080]), []string{"10.0.0.1:32001", "10.0.0.2:32002"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("backends %v, want %v", got, want)
	}
	for _, n := range []string{"web", "web.default.wharf"} {
		if tb.Names[n] != 8080 {
			t.Errorf("name %s: %v", n, tb.Names)
		}
	}
	if len(tb.Names) != 2 {
		t.Errorf("names %v", tb.Names)
	}

	// A health check on the essential container: only HEALTHY tasks.
	in.TaskDefs["web.1"] = webDef(1, true)
	in.Tasks[0].Health = "HEALTHY"
	in.Tasks[1].Health = "UNHEALTHY"
	if got, want := addrs(Build(in).Routes[8080]), []string{"10.0.0.2:32002"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("health-checked backends %v, want %v", got, want)
	}
	// A task definition not read yet: its tasks wait.
	delete(in.TaskDefs, "web.1")
	if got := addrs(Build(in).Routes[8080]); len(got) != 0 {
		t.Fatalf("backends without their task definition: %v", got)
	}
	// No tasks: the port stays published, the names known, the set empty.
	in.Tasks = nil
	tb = Build(in)
	if r := tb.Routes[8080]; r == nil || len(r.Backends) != 0 || tb.Names["web"] != 8080 {
		t.Fatalf("a service without tasks: %+v", tb)
	}
	// Deleted (DRAINING) or Service Connect turned off: no port, no name.
	in.Services[0].Status = state.ServiceDraining
	if tb := Build(in); len(tb.Routes) != 0 || len(tb.Names) != 0 {
		t.Fatalf("a draining service: %+v", tb)
	}
	in.Services[0].Status = state.ServiceActive
	in.Services[0].ServiceConnect = nil
	if tb := Build(in); len(tb.Routes) != 0 || len(tb.Names) != 0 {
		t.Fatalf("a service without Service Connect: %+v", tb)
	}
}

func TestBuildHostModeAndRevisions(t *testing.T) {
	host := webDef(2, false)
	host.NetworkMode = "host"
	old := webDef(1, false)
	old.ContainerDefinitions[0].PortMappings[0].Name = "" // the port had no name then
	ht := runningTask("h", "web", "n2", 2, 0)
	ht.Containers[0].NetworkBindings = nil
	in := Input{
		Services: []state.Service{webService("web", 9000, time.Time{})},
		Tasks:    []state.Task{runningTask("o", "web", "n1", 1, 32001), ht},
		TaskDefs: map[string]state.TaskDefinition{"web.1": old, "web.2": host},
		Nodes:    nodes(),
	}
	if got, want := addrs(Build(in).Routes[9000]), []string{"10.0.0.2:80"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("backends %v, want %v", got, want)
	}
}

func TestBuildConflictsAndNames(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	older := webService("web", 8080, t0)
	older.ServiceConnect.Namespace = "corp.internal"
	older.ServiceConnect.Services[0].ClientAliases[0].DNSName = "Front.Example."
	newer := webService("api", 8080, t0.Add(time.Minute)) // same port
	same := webService("web", 8081, t0.Add(2*time.Minute))
	same.Cluster = "other" // same discovery name, another cluster
	tb := Build(Input{Services: []state.Service{same, newer, older}})
	if tb.Routes[8080] == nil || tb.Routes[8080].Service != "default.web" {
		t.Fatalf("port 8080 went to %+v, want the older service", tb.Routes[8080])
	}
	want := map[string]int{"web": 8080, "web.corp.internal": 8080, "front.example": 8080, "web.other.wharf": 8081}
	if !reflect.DeepEqual(tb.Names, want) {
		t.Fatalf("names %v, want %v", tb.Names, want)
	}
	if len(tb.Conflicts) != 2 {
		t.Fatalf("conflicts %v, want the port of api and the name web of other.web", tb.Conflicts)
	}
}

func TestLookup(t *testing.T) {
	m := New(nil, nil)
	gw := netip.MustParseAddr("10.99.0.1")
	if _, ok := m.Lookup("web", gw); ok {
		t.Fatal("answered before the first build")
	}
	in := Input{Services: []state.Service{webService("web", 8080, time.Time{})},
		Tasks: []state.Task{runningTask("t1", "web", "n1", 1, 32001)}, TaskDefs: map[string]state.TaskDefinition{"web.1": webDef(1, false)}, Nodes: nodes()}
	m.table.Store(Build(in))
	// The port does not listen on this node (taken by another program):
	// the node's address would not answer, so none is given.
	if a, ok := m.Lookup("web", gw); !ok || len(a) != 0 {
		t.Fatalf("lookup with the port not listening: %v %v", a, ok)
	}
	m.live.Store(&map[int]bool{8080: true})
	if a, ok := m.Lookup("WEB.default.wharf.", gw); !ok || len(a) != 1 || a[0] != gw {
		t.Fatalf("lookup: %v %v", a, ok)
	}
	if _, ok := m.Lookup("nosuch", gw); ok {
		t.Fatal("answered an unknown name")
	}
	in.Tasks = nil
	m.table.Store(Build(in))
	if a, ok := m.Lookup("web", gw); !ok || len(a) != 0 {
		t.Fatalf("a service without tasks: %v %v", a, ok)
	}
}

// An awsvpc task is reached at its own address and container port, once
// its node recorded the attachment and while the container runs; a
// released attachment or a stopped container serves nothing.
func TestBuildAwsvpcBackends(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	td := webDef(1, false)
	td.NetworkMode = "awsvpc"
	vpc := func(id, node, ip, status string) state.Task {
		tk := runningTask(id, "web", node, 1, 0)
		tk.Containers[0].NetworkBindings = nil
		tk.NetworkMode = "awsvpc"
		if ip != "" {
			tk.Attachment = &state.Attachment{ID: "a-" + id, Status: status, IPv4: ip}
		}
		return tk
	}
	stopped := vpc("t4", "n1", "10.218.0.4", state.AttachmentAttached)
	stopped.Containers[0].Status = "STOPPED"
	in := Input{
		Services: []state.Service{webService("web", 8080, t0)},
		Tasks: []state.Task{vpc("t1", "n1", "10.218.0.2", state.AttachmentAttached), vpc("t2", "n2", "10.218.1.2", state.AttachmentAttached),
			vpc("t3", "n2", "", ""), vpc("t5", "n2", "10.218.1.5", state.AttachmentDeleted), stopped},
		TaskDefs: map[string]state.TaskDefinition{"web.1": td},
		Nodes:    nodes(),
	}
	if got, want := addrs(Build(in).Routes[8080]), []string{"10.218.0.2:80", "10.218.1.2:80"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("backends %v, want %v", got, want)
	}
}
