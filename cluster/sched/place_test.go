package sched

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func mkNode(id, zone string, cpu, mem int64) Node {
	return Node{
		ID: id, Status: NodeActive,
		Registered: Resources{cpu, mem}, Remaining: Resources{cpu, mem},
		Attributes:     map[string]string{AttrAvailabilityZone: zone, AttrInstanceType: "t3.large", AttrOSType: "linux"},
		AgentConnected: true,
	}
}

func counts(res Result) map[string]int {
	m := map[string]int{}
	for _, p := range res.Placements {
		m[p.NodeID]++
	}
	return m
}

func TestBinpackFillsTheFullestNodeFirst(t *testing.T) {
	nodes := []Node{mkNode("a", "z1", 4096, 8192), mkNode("b", "z1", 2048, 8192), mkNode("c", "z2", 3072, 8192)}
	res, err := Place(nodes, Request{Group: "service:web", Count: 5, Requirements: Requirements{Resources: Resources{1024, 512}},
		Strategies: []Strategy{{Binpack, "cpu"}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, p := range res.Placements {
		got = append(got, p.NodeID)
	}
	// b has least CPU left (2048): two tasks, then c (3072): three.
	if want := []string{"b", "b", "c", "c", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("placements %v, want %v", got, want)
	}
}

func TestBinpackTiesBrokenByTheNextStrategy(t *testing.T) {
	nodes := []Node{mkNode("a", "z1", 4096, 4096), mkNode("b", "z2", 4096, 4096), mkNode("d", "z1", 4096, 8192)}
	nodes[2].Tasks = []PlacedTask{{ID: "old", Group: "g"}}
	// a and b tie on memory; z1 already has a task of the group, so the
	// spread strategy picks b, whatever the seed.
	for seed := uint64(0); seed < 20; seed++ {
		res, err := Place(nodes, Request{Group: "g", Count: 1, Requirements: Requirements{Resources: Resources{0, 1024}},
			Strategies: []Strategy{{Binpack, "memory"}, {Spread, "attribute:" + AttrAvailabilityZone}}}, seed)
		if err != nil {
			t.Fatal(err)
		}
		if res.Placements[0].NodeID != "b" {
			t.Fatalf("seed %d: placed on %s, want b", seed, res.Placements[0].NodeID)
		}
	}
}

func TestSpreadOnAttributeBalances(t *testing.T) {
	var nodes []Node
	for i := 0; i < 7; i++ {
		nodes = append(nodes, mkNode(fmt.Sprintf("n%d", i), []string{"z1", "z2", "z3"}[i%3], 8192, 8192))
	}
	// One task of the group already runs in z1.
	nodes[0].Tasks = []PlacedTask{{ID: "old", Group: "service:web", Resources: Resources{256, 256}}}
	res, err := Place(nodes, Request{Group: "service:web", Count: 8, Requirements: Requirements{Resources: Resources{256, 256}},
		Strategies: []Strategy{{Spread, "attribute:" + AttrAvailabilityZone}, {Spread, "instanceId"}}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]int{"z1": 1}
	for _, p := range res.Placements {
		for _, n := range nodes {
			if n.ID == p.NodeID {
				zones[n.Attributes[AttrAvailabilityZone]]++
			}
		}
	}
	if zones["z1"] != 3 || zones["z2"] != 3 || zones["z3"] != 3 {
		t.Fatalf("zones %v, want 3 each", zones)
	}
}

func TestDistinctInstanceAndFailureReason(t *testing.T) {
	nodes := []Node{mkNode("a", "z1", 8192, 8192), mkNode("b", "z1", 8192, 8192), mkNode("c", "z1", 8192, 8192)}
	nodes[2].Tasks = []PlacedTask{{ID: "x", Group: "service:db"}}
	res, err := Place(nodes, Request{Group: "service:db", Count: 3, Requirements: Requirements{Resources: Resources{128, 128}},
		Constraints: []Constraint{{Type: DistinctInstance}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := counts(res)
	if c["a"] != 1 || c["b"] != 1 || c["c"] != 0 {
		t.Fatalf("placements %v", c)
	}
	if len(res.Failures) != 1 || res.Failures[0].Reason != ReasonDistinct {
		t.Fatalf("failures %+v", res.Failures)
	}
}

func TestMemberOfConstraint(t *testing.T) {
	nodes := []Node{mkNode("a", "z1", 8192, 8192), mkNode("b", "z2", 8192, 8192)}
	nodes[1].Attributes[AttrInstanceType] = "g4dn.xlarge"
	res, err := Place(nodes, Request{Group: "g", Count: 3, Requirements: Requirements{Resources: Resources{128, 128}},
		Constraints: []Constraint{{Type: MemberOf, Expression: "attribute:ecs.instance-type =~ g4dn.*"}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts(res); c["b"] != 3 {
		t.Fatalf("placements %v", c)
	}
	res, err = Place(nodes, Request{Group: "g", Count: 1, Requirements: Requirements{Resources: Resources{128, 128}},
		Constraints: []Constraint{{Type: MemberOf, Expression: "attribute:ecs.instance-type == p3.2xlarge"}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failures) != 1 || res.Failures[0].Reason != ReasonMemberOf {
		t.Fatalf("failures %+v", res.Failures)
	}
	_, err = Place(nodes, Request{Group: "g", Count: 1, Constraints: []Constraint{{Type: MemberOf, Expression: "attribute:x =="}}}, 1)
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("bad expression: %v", err)
	}
}

func TestResourceFailureReasons(t *testing.T) {
	base := []Node{mkNode("a", "z1", 1024, 1024), mkNode("b", "z1", 2048, 512)}
	base[1].PortsInUse = []HostPort{{80, TCP}}
	cases := []struct {
		req  Requirements
		want Failure
	}{
		{Requirements{Resources: Resources{4096, 128}}, Failure{ReasonCPU, "a"}},
		{Requirements{Resources: Resources{2048, 4096}}, Failure{ReasonMemory, "b"}},
		{Requirements{Resources: Resources{2048, 256}, Ports: []HostPort{{80, TCP}}}, Failure{ReasonPorts, "b"}},
	}
	for _, c := range cases {
		res, err := Place(base, Request{Group: "g", Count: 2, Requirements: c.req}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Placements) != 0 || len(res.Failures) != 2 || res.Failures[0] != c.want {
			t.Errorf("%+v: got %+v", c.req, res)
		}
	}
	// The same port on UDP is free.
	res, _ := Place(base, Request{Group: "g", Count: 1, Requirements: Requirements{Resources: Resources{2048, 256}, Ports: []HostPort{{80, UDP}}}}, 1)
	if len(res.Placements) != 1 {
		t.Fatalf("udp port: %+v", res)
	}
	// A fixed host port takes a node once per batch.
	res, _ = Place([]Node{mkNode("a", "z", 8192, 8192), mkNode("b", "z", 8192, 8192)},
		Request{Group: "g", Count: 3, Requirements: Requirements{Ports: []HostPort{{8080, TCP}}}}, 1)
	if c := counts(res); c["a"] != 1 || c["b"] != 1 || len(res.Failures) != 1 || res.Failures[0].Reason != ReasonPorts {
		t.Fatalf("ports batch: %+v", res)
	}
}

func TestDrainingAndEmptyClusters(t *testing.T) {
	n := mkNode("a", "z1", 8192, 8192)
	n.Status = NodeDraining
	res, _ := Place([]Node{n}, Request{Group: "g", Count: 1}, 1)
	if len(res.Failures) != 1 || res.Failures[0].Reason != ReasonNoInstances {
		t.Fatalf("draining only: %+v", res)
	}
	res, _ = Place(nil, Request{Group: "g", Count: 1}, 1)
	if len(res.Failures) != 1 || res.Failures[0].Reason != ReasonNoInstances {
		t.Fatalf("empty: %+v", res)
	}
	if ev := UnableToPlaceEvent("web", res.Failures[0]); !strings.HasSuffix(ev, "Reason: No Container Instances were found in your cluster.") {
		t.Fatalf("event %q", ev)
	}
	if ev := UnableToPlaceEvent("web", Failure{ReasonCPU, "abc"}); ev != "(service web) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance abc) has insufficient CPU units available. For more information, see the Troubleshooting section." {
		t.Fatalf("event %q", ev)
	}
}

func TestPlacementIsSeededAndRandomVaries(t *testing.T) {
	var nodes []Node
	for i := 0; i < 20; i++ {
		nodes = append(nodes, mkNode(fmt.Sprintf("n%d", i), "z", 8192, 8192))
	}
	req := Request{Group: "g", Count: 10, Strategies: []Strategy{{Type: Random}}}
	a, _ := Place(nodes, req, 42)
	b, _ := Place(nodes, req, 42)
	c, _ := Place(nodes, req, 43)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different placements")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same random placements")
	}
	if len(counts(a)) < 5 {
		t.Fatalf("random placement concentrated: %v", counts(a))
	}
}

func TestInvalidRequests(t *testing.T) {
	bad := []Request{
		{Strategies: []Strategy{{Binpack, "disk"}}},
		{Strategies: []Strategy{{Spread, "zone"}}},
		{Strategies: []Strategy{{Random, "cpu"}}},
		{Strategies: []Strategy{{"pack", ""}}},
		{Constraints: []Constraint{{Type: DistinctInstance, Expression: "x"}}},
		{Constraints: []Constraint{{Type: "sameInstance"}}},
		{LaunchType: LaunchFargate, Strategies: []Strategy{{Type: Random}}},
		{Strategies: make([]Strategy, 6)},
		{Count: -1},
	}
	for _, r := range bad {
		if _, err := Place(nil, r, 1); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: err %v", r, err)
		}
	}
}

func TestTaskRequirements(t *testing.T) {
	td := &TaskDef{NetworkMode: NetworkBridge, Containers: []ContainerDef{
		{Name: "a", CPU: 256, Memory: 512, PortMappings: []PortMapping{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81}}},
		{Name: "b", CPU: 128, MemoryReservation: 64, PortMappings: []PortMapping{{ContainerPort: 53, HostPort: 53, Protocol: UDP}}},
	}}
	r := TaskRequirements(td)
	want := Requirements{Resources{384, 576}, []HostPort{{8080, TCP}, {53, UDP}}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("bridge: %+v, want %+v", r, want)
	}
	td.NetworkMode = NetworkHost
	if r := TaskRequirements(td); !reflect.DeepEqual(r.Ports, []HostPort{{8080, TCP}, {81, TCP}, {53, UDP}}) {
		t.Fatalf("host ports %+v", r.Ports)
	}
	td.NetworkMode, td.CPU, td.Memory = NetworkAwsvpc, 1024, 2048
	if r := TaskRequirements(td); r.CPU != 1024 || r.Memory != 2048 || len(r.Ports) != 0 {
		t.Fatalf("awsvpc %+v", r)
	}
}

func TestValidateFargate(t *testing.T) {
	ok := [][2]int64{{256, 512}, {256, 2048}, {512, 4096}, {1024, 8192}, {2048, 16384}, {4096, 30720}, {8192, 20480}, {16384, 122880}}
	for _, s := range ok {
		if err := ValidateFargate(&TaskDef{NetworkMode: NetworkAwsvpc, CPU: s[0], Memory: s[1]}); err != nil {
			t.Errorf("%v: %v", s, err)
		}
	}
	bad := []struct {
		td  TaskDef
		msg string
	}{
		{TaskDef{NetworkMode: NetworkAwsvpc, CPU: 256, Memory: 4096}, "No Fargate configuration exists for given values: 256 CPU, 4096 memory."},
		{TaskDef{NetworkMode: NetworkAwsvpc, CPU: 512, Memory: 1536}, "No Fargate configuration exists"},
		{TaskDef{NetworkMode: NetworkAwsvpc, CPU: 8192, Memory: 17408}, "No Fargate configuration exists"}, // 4 GiB steps
		{TaskDef{NetworkMode: NetworkAwsvpc, CPU: 300, Memory: 1024}, "No Fargate configuration exists"},
		{TaskDef{NetworkMode: NetworkAwsvpc, Memory: 1024}, "Fargate requires that 'cpu' be defined at the task level."},
		{TaskDef{NetworkMode: NetworkAwsvpc, CPU: 256}, "Fargate requires that 'memory' be defined at the task level."},
		{TaskDef{NetworkMode: NetworkBridge, CPU: 256, Memory: 512}, "Fargate only supports network mode 'awsvpc'."},
	}
	for _, b := range bad {
		err := ValidateFargate(&b.td)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("%+v: %v, want %q", b.td, err, b.msg)
		}
	}
}

// A memberOf expression over the node's tasks sees the tasks the same
// batch placed before.
func TestMemberOfOverTasksSeesTheBatch(t *testing.T) {
	nodes := []Node{mkNode("a", "z1", 8192, 8192), mkNode("b", "z1", 8192, 8192), mkNode("c", "z1", 8192, 8192)}
	nodes[2].Tasks = []PlacedTask{{ID: "x", Group: "service:db"}}
	res, err := Place(nodes, Request{Group: "service:web", Count: 4, Requirements: Requirements{Resources: Resources{128, 128}},
		Constraints: []Constraint{{Type: MemberOf, Expression: "not(task:group == service:web) and runningTasksCount < 2"}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts(res); c["a"] != 1 || c["b"] != 1 || c["c"] != 1 || len(res.Failures) != 1 || res.Failures[0].Reason != ReasonMemberOf {
		t.Fatalf("placements %v failures %+v", c, res.Failures)
	}
}

// A network configuration's subnets place FARGATE tasks too (the
// platform spreads them over the nodes holding those subnets), while
// FARGATE still refuses placement constraints of the user's.
func TestFargateNetworkConstraints(t *testing.T) {
	nodes := []Node{mkNode("a", "z1", 4096, 8192), mkNode("b", "z2", 4096, 8192), mkNode("c", "z3", 4096, 8192)}
	for i, s := range []string{"subnet-0a000100", "subnet-0a000200", "subnet-0a000300"} {
		nodes[i].Attributes["ecs.subnet-id"] = s
	}
	net := []Constraint{{Type: MemberOf, Expression: `attribute:ecs.subnet-id in ["subnet-0a000200","subnet-0a000300"]`}}
	res, err := Place(nodes, Request{Group: "family:fg", Count: 4, LaunchType: LaunchFargate, Requirements: Requirements{Resources: Resources{256, 512}},
		Network: net}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts(res); len(res.Failures) != 0 || c["a"] != 0 || c["b"] != 2 || c["c"] != 2 {
		t.Fatalf("FARGATE placements in subnets b and c: %v, failures %+v", c, res.Failures)
	}
	if _, err := Place(nodes, Request{Count: 1, LaunchType: LaunchFargate, Network: net, Constraints: net}, 1); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("FARGATE with a constraint of the user's: %v", err)
	}
	if _, err := Place(nodes, Request{Count: 1, LaunchType: LaunchFargate, Network: []Constraint{{Type: DistinctInstance}}}, 1); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("a network constraint that is not memberOf: %v", err)
	}
}
