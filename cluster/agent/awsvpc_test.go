package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/errdefs"
)

// fakeTaskNets is a network driver that keeps sandboxes in memory and
// hands out the addresses of one subnet in order.
type fakeTaskNets struct {
	mu   sync.Mutex
	sbs  map[string]*network.Sandbox
	next netip.Addr
	fail bool
	// setups counts Setup calls per sandbox id.
	setups map[string]int
}

func (f *fakeTaskNets) Inspect(_ context.Context, ref string) (*network.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := &network.Network{Name: ref, Containers: map[string]network.Endpoint{}}
	for id, sb := range f.sbs {
		n.Containers[id] = *sb.Endpoints[0]
	}
	return n, nil
}

func (f *fakeTaskNets) Create(context.Context, network.CreateOptions) (*network.Network, error) {
	return nil, errdefs.ErrNotImplemented
}

func (f *fakeTaskNets) Remove(context.Context, string) error { return errdefs.ErrNotImplemented }

func (f *fakeTaskNets) Setup(_ context.Context, c network.SandboxConfig) (*network.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, fmt.Errorf("no address left: %w", errdefs.ErrUnavailable)
	}
	f.next = f.next.Next()
	sb := &network.Sandbox{ContainerID: c.ContainerID, NetNS: "/run/fake/" + c.ContainerID, Endpoints: []*network.Endpoint{
		{NetworkName: c.Networks[0].Network, IP: f.next, MAC: "02:42:0a:00:00:01", DNS: netip.MustParseAddr("10.218.3.1")}}}
	f.sbs[c.ContainerID] = sb
	f.setups[c.ContainerID]++
	return sb, nil
}

func (f *fakeTaskNets) Teardown(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sbs, id)
	return nil
}

func (f *fakeTaskNets) Sandbox(id string) (*network.Sandbox, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb, ok := f.sbs[id]
	return sb, ok
}

// readyTaskNet is a node's task network that is up on subnet.
func readyTaskNet(subnet string) *TaskNet {
	tn := &TaskNet{ready: make(chan struct{}), subnet: netip.MustParsePrefix(subnet), cidr: netip.MustParsePrefix("10.218.0.0/16")}
	close(tn.ready)
	return tn
}

// An awsvpc task's containers join one namespace of the agent's, with
// the task's address: no port is published, the task network's DNS
// answers them; the record carries the attachment; a container that
// exits leaves the address to the others; the stopped task's address is
// released and its attachment DELETED. A namespace that cannot be set
// up fails the task to start; a FARGATE task stays on the bridge.
func TestRunnerAwsvpc(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := st.Nodes().Create(ctx, "n1", state.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, Availability: state.AvailabilityActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Heartbeats().Put(ctx, "n1", state.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
	mem := 64
	no := false
	td, err := st.RegisterTaskDef(ctx, state.TaskDefinition{Family: "vpc", NetworkMode: "awsvpc", Cpu: "256", Memory: "512", ContainerDefinitions: []state.ContainerDefinition{
		{Name: "app", Image: "busybox", Memory: &mem, PortMappings: []state.PortMapping{{ContainerPort: 80, HostPort: 80, Protocol: "tcp"}}},
		{Name: "side", Image: "busybox", Memory: &mem, Essential: &no},
	}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	eng := newFakeEngine(t)
	nets := &fakeTaskNets{sbs: map[string]*network.Sandbox{}, next: netip.MustParseAddr("10.218.3.1"), setups: map[string]int{}}
	go NewRunner(st, "n1", eng, &fakeImages{have: map[string]bool{}}, eng.bus, slog.New(slog.DiscardHandler),
		WithTaskNetwork(TaskNetwork), WithTaskNet(readyTaskNet("10.218.3.0/24"), nets)).Run(ctx)
	rt := tasks.New(st)
	res, err := rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td})
	if err != nil || len(res.Tasks) != 1 || res.Tasks[0].NetworkMode != "awsvpc" {
		t.Fatalf("run: %+v %v", res, err)
	}
	id := res.Tasks[0].ID
	x := waitTask(t, ctx, rt, id, "RUNNING with its attachment", func(x state.Task) bool {
		return x.LastStatus == "RUNNING" && x.Attachment != nil
	})
	want := state.Attachment{ID: state.AttachmentID(id), Status: state.AttachmentAttached, SubnetID: "subnet-0ada0300", Subnet: "10.218.3.0/24",
		IPv4: "10.218.3.2", MAC: "02:42:0a:00:00:01", Interface: "eni-" + id[:17]}
	if *x.Attachment != want {
		t.Fatalf("attachment %+v, want %+v", *x.Attachment, want)
	}
	ns := "ns:/run/fake/" + TaskSandboxID(id)
	cs := map[string]*container.Container{}
	for _, c := range eng.List(ctx) {
		cs[c.Config.Labels[LabelContainerName]] = c
	}
	for _, name := range []string{"app", "side"} {
		c := cs[name]
		if c == nil || c.HostConfig.NetworkMode != ns || len(c.HostConfig.PortBindings) != 0 || len(c.HostConfig.Dns) != 1 || c.HostConfig.Dns[0] != "10.218.3.1" {
			t.Fatalf("container %s: %+v", name, c)
		}
	}
	// The non-essential container exits: the task keeps its address.
	eng.exit(cs["side"].ID, 0)
	time.Sleep(300 * time.Millisecond)
	if x, _ := rt.Get(ctx, id); x.Attachment == nil || x.Attachment.Status != state.AttachmentAttached || nets.setups[TaskSandboxID(id)] != 1 {
		t.Fatalf("after a container exited: %+v, %d setups", x.Attachment, nets.setups[TaskSandboxID(id)])
	}
	if _, ok := nets.Sandbox(TaskSandboxID(id)); !ok {
		t.Fatal("the task's namespace went with one container")
	}
	if _, err := rt.Stop(ctx, id, "done"); err != nil {
		t.Fatal(err)
	}
	x = waitTask(t, ctx, rt, id, "STOPPED", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if x.Attachment == nil || x.Attachment.Status != state.AttachmentDeleted || x.Attachment.IPv4 != "10.218.3.2" {
		t.Fatalf("stopped task's attachment: %+v", x.Attachment)
	}
	if _, ok := nets.Sandbox(TaskSandboxID(id)); ok {
		t.Fatal("the stopped task's address was not released")
	}

	// No address: the task fails to start, saying why.
	nets.mu.Lock()
	nets.fail = true
	nets.mu.Unlock()
	res, err = rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td})
	if err != nil {
		t.Fatal(err)
	}
	x = waitTask(t, ctx, rt, res.Tasks[0].ID, "failed to start", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if x.StopCode != "TaskFailedToStart" || x.Attachment != nil || len(eng.List(ctx)) != 0 {
		t.Fatalf("a task without an address: %+v", x)
	}
	t.Log(x.StoppedReason)

	// FARGATE: on the task bridge, as before.
	res, err = rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td, LaunchType: "FARGATE"})
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, ctx, rt, res.Tasks[0].ID, "FARGATE RUNNING", func(x state.Task) bool { return x.LastStatus == "RUNNING" })
	for _, c := range eng.List(ctx) {
		if c.HostConfig.NetworkMode != TaskNetwork {
			t.Fatalf("FARGATE container on %q", c.HostConfig.NetworkMode)
		}
	}
}
