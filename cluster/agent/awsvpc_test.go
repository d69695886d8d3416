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
	// setups counts Setup calls per sandbox id; from is the NetNSFrom
	// each was set up with.
	setups map[string]int
	from   map[string]string
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
	if f.from == nil {
		f.from = map[string]string{}
	}
	f.from[c.ContainerID] = c.NetNSFrom
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

// The node's engine gives a FARGATE task its user namespace.
var _ TaskUserns = (*container.Engine)(nil)

// usernsEngine is the fake engine with shared user namespaces, as the
// engine keeps them: a release is refused while a container names the
// share.
type usernsEngine struct {
	*fakeEngine
	umu    sync.Mutex
	shares map[string]bool
	// made counts the namespaces made per share.
	made map[string]int
}

func newUsernsEngine(t *testing.T) *usernsEngine {
	return &usernsEngine{fakeEngine: newFakeEngine(t), shares: map[string]bool{}, made: map[string]int{}}
}

func (u *usernsEngine) SharedUsernsNetNS(_ context.Context, name string) (string, func(), error) {
	u.umu.Lock()
	defer u.umu.Unlock()
	u.shares[name] = true
	u.made[name]++
	return "/proc/4242/ns/net#" + name, func() {}, nil
}

func (u *usernsEngine) ReleaseSharedUserns(ctx context.Context, name string) error {
	for _, c := range u.List(ctx) {
		if c.HostConfig.UsernsShare == name {
			return fmt.Errorf("used by %s: %w", c.ID, errdefs.ErrConflict)
		}
	}
	u.umu.Lock()
	defer u.umu.Unlock()
	if !u.shares[name] {
		return errdefs.ErrNotFound
	}
	delete(u.shares, name)
	return nil
}

func (u *usernsEngine) SharedUsernses() []string {
	u.umu.Lock()
	defer u.umu.Unlock()
	var out []string
	for n := range u.shares {
		out = append(out, n)
	}
	return out
}

func (u *usernsEngine) hasShare(name string) bool {
	u.umu.Lock()
	defer u.umu.Unlock()
	return u.shares[name]
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
// up fails the task to start. A FARGATE task is on it too, its
// containers in the task's user namespace, which its sandbox was made in;
// both are released when it stops.
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
	eng := newUsernsEngine(t)
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

	// FARGATE: on the task network too, its containers in the task's
	// one user namespace, which owns the task's network namespace.
	nets.mu.Lock()
	nets.fail = false
	nets.mu.Unlock()
	res, err = rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td, LaunchType: "FARGATE"})
	if err != nil {
		t.Fatal(err)
	}
	fid := res.Tasks[0].ID
	x = waitTask(t, ctx, rt, fid, "FARGATE RUNNING with its attachment", func(x state.Task) bool { return x.LastStatus == "RUNNING" && x.Attachment != nil })
	if x.Attachment.Status != state.AttachmentAttached || x.Attachment.SubnetID != "subnet-0ada0300" || x.Attachment.IPv4 == "" {
		t.Fatalf("FARGATE attachment %+v", x.Attachment)
	}
	share := TaskUsernsName(fid)
	nets.mu.Lock()
	from := nets.from[TaskSandboxID(fid)]
	nets.mu.Unlock()
	eng.umu.Lock()
	made := eng.made[share]
	eng.umu.Unlock()
	if from != "/proc/4242/ns/net#"+share || made != 1 {
		t.Fatalf("the FARGATE task's sandbox was made from %q (%d namespaces), want the task's user namespace's", from, made)
	}
	fns := "ns:/run/fake/" + TaskSandboxID(fid)
	n := 0
	for _, c := range eng.List(ctx) {
		if c.Config.Labels[LabelTaskID] != fid {
			continue
		}
		n++
		if c.HostConfig.NetworkMode != fns || c.HostConfig.UsernsShare != share || !c.HostConfig.PrivateUserns {
			t.Fatalf("FARGATE container: %+v", c.HostConfig)
		}
	}
	if n != 2 {
		t.Fatalf("%d containers of the FARGATE task", n)
	}
	if _, err := rt.Stop(ctx, fid, "done"); err != nil {
		t.Fatal(err)
	}
	x = waitTask(t, ctx, rt, fid, "FARGATE STOPPED", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if x.Attachment == nil || x.Attachment.Status != state.AttachmentDeleted {
		t.Fatalf("stopped FARGATE task's attachment: %+v", x.Attachment)
	}
	if _, ok := nets.Sandbox(TaskSandboxID(fid)); ok || eng.hasShare(share) {
		t.Fatalf("the stopped FARGATE task kept its sandbox or its user namespace (%v)", eng.SharedUsernses())
	}
}

// A task's user namespace that no task of the cluster has any more (the
// node was away when it was stopped and removed) is released by the
// resync.
func TestRunnerSweepsTaskUserns(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng := newUsernsEngine(t)
	if _, _, err := eng.SharedUsernsNetNS(ctx, TaskUsernsName("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	// Not a task's: left alone.
	if _, _, err := eng.SharedUsernsNetNS(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	nets := &fakeTaskNets{sbs: map[string]*network.Sandbox{}, next: netip.MustParseAddr("10.218.3.1"), setups: map[string]int{}}
	go NewRunner(st, "n1", eng, &fakeImages{have: map[string]bool{}}, eng.bus, slog.New(slog.DiscardHandler),
		WithTaskNet(readyTaskNet("10.218.3.0/24"), nets)).Run(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for eng.hasShare(TaskUsernsName("0123456789abcdef0123456789abcdef")) {
		if time.Now().After(deadline) {
			t.Fatal("the leftover task user namespace was not released")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !eng.hasShare("other") {
		t.Fatal("a user namespace that is no task's was released")
	}
}
