package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/errdefs"
)

// The cluster's task network on a node: awsvpc tasks get addresses of
// their own that route between the nodes, as tasks in a VPC do.
//
// At start the node leases its subnet of the cluster's task CIDR
// (state.LeaseSubnet: a compare-and-set create, so that two nodes never
// share one, and a node that comes back keeps its own), records it in
// its node record (Node.TaskSubnet), and creates the engine network
// AwsvpcNetwork on it: a bridge, routed (network.CreateOptions.Routed)
// so that its traffic into the task CIDR is forwarded unmasqueraded. It
// turns forwarding on on its uplink, the interface that holds the node's
// address, so that the other nodes' packets reach its tasks.
//
// Routes: every node routes each other node's task subnet via that
// node's address (TaskRoutes, a pure function of the node records). The
// agent watches the node records and adds a route as a node leases, and
// removes it when the node's record goes (`wharf node rm`). The routes
// carry the protocol number RouteProtocol, by which the agent finds its
// own again (after a restart too) and leaves every other route alone.
// The nodes must reach each other's addresses directly, on one link:
// there is no overlay (VXLAN) yet.

// AwsvpcNetwork is the engine network of a node's awsvpc tasks.
const AwsvpcNetwork = "wharf-awsvpc"

// RouteProtocol marks the routes the agent adds (rtnetlink's protocol
// field, which the kernel keeps but does not interpret).
const RouteProtocol = 212

// TaskRoutes are the routes a node needs to the other nodes' task
// subnets: each subnet a node of nodes (other than self) leased, via
// that node's address. A subnet two records claim (which the leases
// prevent) goes to the node with the lower id, and a node whose subnet
// or address does not parse, or whose subnet overlaps self's, gets none.
func TaskRoutes(self string, nodes []state.Node) map[netip.Prefix]netip.Addr {
	var mine netip.Prefix
	for _, n := range nodes {
		if n.ID == self {
			mine, _ = netip.ParsePrefix(n.TaskSubnet)
		}
	}
	sorted := append([]state.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	out := map[netip.Prefix]netip.Addr{}
	for _, n := range sorted {
		if n.ID == self || n.TaskSubnet == "" {
			continue
		}
		p, err := netip.ParsePrefix(n.TaskSubnet)
		if err != nil || p.Masked() != p {
			continue
		}
		via, err := netip.ParseAddr(n.Addr)
		if err != nil || !via.Is4() {
			continue
		}
		if mine.IsValid() && mine.Overlaps(p) {
			continue
		}
		if _, taken := out[p]; taken {
			continue
		}
		out[p] = via.Unmap()
	}
	return out
}

// RouteDiff is what changes a node's routes into want: the routes to
// add or replace, and the destinations to delete (have, the routes the
// agent holds, by destination).
func RouteDiff(have, want map[netip.Prefix]netip.Addr) (set map[netip.Prefix]netip.Addr, del []netip.Prefix) {
	set = map[netip.Prefix]netip.Addr{}
	for p, via := range want {
		if have[p] != via {
			set[p] = via
		}
	}
	for p := range have {
		if _, ok := want[p]; !ok {
			del = append(del, p)
		}
	}
	sort.Slice(del, func(i, j int) bool { return del[i].String() < del[j].String() })
	return set, del
}

// Router reads and changes the node's routes to other nodes' task
// subnets (netlink on Linux, tasknet_linux.go). List returns those the
// agent added inside cidr.
type Router interface {
	List(cidr netip.Prefix) (map[netip.Prefix]netip.Addr, error)
	Replace(dst netip.Prefix, via netip.Addr) error
	Delete(dst netip.Prefix) error
	// Forward turns IPv4 forwarding on on the interface holding addr.
	Forward(addr netip.Addr) error
}

// TaskNetworks is what the cluster's task network needs of the node's
// network driver (network.Manager): its engine network, and each awsvpc
// task's sandbox, a network namespace with the task's address that the
// task's containers join by path.
type TaskNetworks interface {
	Inspect(ctx context.Context, ref string) (*network.Network, error)
	Create(ctx context.Context, o network.CreateOptions) (*network.Network, error)
	Remove(ctx context.Context, ref string) error
	Setup(ctx context.Context, c network.SandboxConfig) (*network.Sandbox, error)
	Teardown(ctx context.Context, containerID string) error
	Sandbox(containerID string) (*network.Sandbox, bool)
}

// TaskNet is a node's part of the cluster's task network.
type TaskNet struct {
	st     *state.Store
	self   string
	addr   netip.Addr
	nets   TaskNetworks
	router Router
	log    *slog.Logger
	// initial is the task network --cluster-init set, which this node
	// records unless the cluster has one.
	initial state.TaskNetConfig
	manager bool
	started time.Time

	mu     sync.Mutex
	cfg    state.TaskNetConfig
	cidr   netip.Prefix
	subnet netip.Prefix
	ready  chan struct{}
}

// legacyAfter is how long a manager waits for the cluster's task network
// to be recorded before it records the default (a cluster created before
// the task network has none).
const legacyAfter = 30 * time.Second

// NewTaskNet returns the task network of node self, whose address is
// addr. initial is the task network --cluster-init set (only the first
// manager has one), which it records unless the cluster has one; the
// other nodes wait for it.
func NewTaskNet(st *state.Store, self string, addr netip.Addr, manager bool, initial state.TaskNetConfig, nets TaskNetworks, router Router, log *slog.Logger) *TaskNet {
	return &TaskNet{st: st, self: self, addr: addr, manager: manager, initial: initial, nets: nets, router: router, log: log,
		ready: make(chan struct{}), started: time.Now()}
}

// Ready is closed once the node's task network is up.
func (tn *TaskNet) Ready() <-chan struct{} { return tn.ready }

// Subnet returns the node's task subnet and the cluster's task CIDR
// (invalid before Ready).
func (tn *TaskNet) Subnet() (subnet, cidr netip.Prefix) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.subnet, tn.cidr
}

// Run sets the node's task network up (retrying until the cluster's
// state answers), then keeps the routes to the other nodes current until
// ctx ends.
func (tn *TaskNet) Run(ctx context.Context) {
	for {
		err := tn.setup(ctx)
		if err == nil {
			break
		}
		tn.log.Warn("cluster: the task network (awsvpc) is not up yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * Interval):
		}
	}
	close(tn.ready)
	sub, cidr := tn.Subnet()
	tn.log.Info("cluster: task network up", "subnet", sub, "cidr", cidr, "network", AwsvpcNetwork)
	for ctx.Err() == nil {
		tn.follow(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// setup leases the subnet, records it, creates the engine network and
// opens the uplink.
func (tn *TaskNet) setup(ctx context.Context) error {
	cfg, err := tn.st.GetTaskNet(ctx)
	switch {
	case !errdefs.IsNotFound(err):
	case tn.initial.CIDR != "":
		// The manager that created the cluster records what it was told.
		cfg, err = tn.st.InitTaskNet(ctx, tn.initial)
	case tn.manager && time.Since(tn.started) > legacyAfter:
		// A cluster created before the task network: its managers
		// record the default once the first manager had its chance.
		cfg, err = tn.st.InitTaskNet(ctx, state.TaskNetConfig{CIDR: state.DefaultTaskCIDR, SubnetBits: state.DefaultSubnetBits})
	}
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("the cluster has no task network recorded yet (a manager records it): %w", err)
	}
	if err != nil {
		return err
	}
	if tn.initial.CIDR != "" && tn.initial != cfg {
		tn.log.Warn("cluster: the cluster's task network was set when it was created; --cluster-task-cidr is ignored", "cidr", cfg.CIDR, "bits", cfg.SubnetBits)
	}
	cidr, err := state.ParseTaskNet(cfg)
	if err != nil {
		return err
	}
	if cidr.Contains(tn.addr) {
		return fmt.Errorf("the node's address %s lies inside the cluster's task network %s: the nodes' network and the task network must not overlap: %w", tn.addr, cidr, errdefs.ErrConflict)
	}
	sub, err := tn.st.LeaseSubnet(ctx, cfg, tn.self)
	if err != nil {
		return err
	}
	if _, err := state.Mutate(ctx, tn.st.Nodes(), tn.self, func(n *state.Node) error {
		n.TaskSubnet = sub.String()
		return nil
	}); err != nil {
		return fmt.Errorf("recording the node's task subnet: %w", err)
	}
	if err := tn.ensureNetwork(ctx, sub, cidr); err != nil {
		return err
	}
	if err := tn.router.Forward(tn.addr); err != nil {
		return fmt.Errorf("forwarding on the node's uplink: %w", err)
	}
	tn.mu.Lock()
	tn.cfg, tn.cidr, tn.subnet = cfg, cidr, sub
	tn.mu.Unlock()
	return nil
}

// ensureNetwork makes sure the engine network AwsvpcNetwork bridges sub,
// routed to cidr; one left on another subnet (the cluster's state was
// reset) is replaced while no task uses it.
func (tn *TaskNet) ensureNetwork(ctx context.Context, sub, cidr netip.Prefix) error {
	n, err := tn.nets.Inspect(ctx, AwsvpcNetwork)
	if err == nil {
		if n.Pool != nil && n.Pool.Subnet == sub && n.Routed == cidr {
			return nil
		}
		if len(n.Containers) > 0 {
			return fmt.Errorf("network %s is on another subnet than the node's task subnet %s and tasks use it: %w", AwsvpcNetwork, sub, errdefs.ErrConflict)
		}
		if err := tn.nets.Remove(ctx, AwsvpcNetwork); err != nil {
			return err
		}
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	_, err = tn.nets.Create(ctx, network.CreateOptions{Name: AwsvpcNetwork, Driver: network.DriverBridge, Subnet: sub.String(), Routed: cidr,
		Labels: map[string]string{"com.wharf.cluster": "awsvpc"}})
	if errdefs.IsConflict(err) {
		return nil
	}
	return err
}

// follow watches the node records and applies the routes they call for
// after every change, until the watch ends.
func (tn *TaskNet) follow(ctx context.Context) {
	ch, err := tn.st.Nodes().Watch(ctx)
	if err != nil {
		return
	}
	nodes := map[string]state.Node{}
	// The watch sends every record first; the routes are applied once
	// the records stop coming for a moment.
	const settle = 100 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			if e.Deleted {
				delete(nodes, e.Key)
			} else {
				nodes[e.Key] = e.Value
			}
			timer.Reset(settle)
		case <-timer.C:
			list := make([]state.Node, 0, len(nodes))
			for _, n := range nodes {
				list = append(list, n)
			}
			tn.apply(TaskRoutes(tn.self, list))
		case <-ctx.Done():
			return
		}
	}
}

// apply makes the node's routes want.
func (tn *TaskNet) apply(want map[netip.Prefix]netip.Addr) {
	_, cidr := tn.Subnet()
	have, err := tn.router.List(cidr)
	if err != nil {
		tn.log.Warn("cluster: reading the task network's routes", "err", err)
		return
	}
	for p := range want {
		if !cidr.Contains(p.Addr()) {
			delete(want, p)
		}
	}
	set, del := RouteDiff(have, want)
	for p, via := range set {
		if err := tn.router.Replace(p, via); err != nil {
			tn.log.Warn("cluster: routing a node's task subnet", "subnet", p, "via", via, "err", err)
			continue
		}
		tn.log.Info("cluster: task subnet routed", "subnet", p, "via", via)
	}
	for _, p := range del {
		if err := tn.router.Delete(p); err != nil {
			tn.log.Warn("cluster: removing the route of a node's task subnet", "subnet", p, "err", err)
			continue
		}
		tn.log.Info("cluster: task subnet route removed", "subnet", p)
	}
}
