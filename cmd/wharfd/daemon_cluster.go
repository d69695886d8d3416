package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wharf-dev/wharf/cluster/agent"
	"github.com/wharf-dev/wharf/cluster/member"
	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/cluster/stack"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/clusterapi"
	"github.com/wharf-dev/wharf/server/ecsapi"
	"github.com/wharf-dev/wharf/server/smapi"
)

// clusterConfig holds the daemon's cluster flags. Without any (and
// without a membership on disk) the daemon is in no cluster and pays
// nothing for it: no listener, no connection.
type clusterConfig struct {
	init     bool
	listen   string
	managers int
	join     string
	token    string
	manager  bool
	nodeName string
	labels   []string
	// taskCIDR and taskSubnetBits are the cluster's task network
	// (--cluster-init only).
	taskCIDR       string
	taskSubnetBits int
}

func addClusterFlags(f *pflag.FlagSet, c *clusterConfig) {
	f.BoolVar(&c.init, "cluster-init", false, "create a cluster with this node its first manager (needs --cluster-listen)")
	f.StringVar(&c.listen, "cluster-listen", "", "a manager's cluster address IP:PORT: joins on PORT, agents on PORT+1, managers' routes on PORT+2")
	f.IntVar(&c.managers, "cluster-managers", 1, "with --cluster-init: the cluster's manager count, 1 or 3 (three survive the loss of one)")
	f.StringVar(&c.join, "join", "", "join the cluster of the manager at IP:PORT (needs --cluster-token)")
	f.StringVar(&c.token, "cluster-token", "", "join token (`wharf cluster token` on a manager)")
	f.BoolVar(&c.manager, "manager", false, "with --join: join as a manager (a manager token, and --cluster-listen)")
	f.StringVar(&c.nodeName, "node-name", "", "this node's name in the cluster (default: the host name)")
	f.StringArrayVar(&c.labels, "node-label", nil, "a label of this node, key=value (repeatable)")
	f.StringVar(&c.taskCIDR, "cluster-task-cidr", "", "with --cluster-init: the cluster's task network, where awsvpc tasks get their addresses (default "+state.DefaultTaskCIDR+")")
	f.IntVar(&c.taskSubnetBits, "cluster-task-subnet-bits", 0, "with --cluster-init: the prefix length of each node's subnet of the task network (default "+strconv.Itoa(state.DefaultSubnetBits)+")")
}

// clusterRuntime is the daemon's running membership.
type clusterRuntime struct {
	node    *member.Node
	store   *state.Store
	nodes   *agent.Nodes
	tasks   *tasks.Runtime
	secrets *secrets.Store
	cancel  context.CancelFunc
}

func (c *clusterRuntime) close() {
	if c == nil {
		return
	}
	c.cancel()
	// The task cache's watch ends before the connection it reads from.
	c.tasks.Close()
	c.node.Close()
}

// handler is the native API's cluster paths (served, with an error
// saying so, on a daemon in no cluster too).
func (c *clusterRuntime) handler() http.Handler {
	if c == nil {
		return clusterapi.New(nil, nil, "")
	}
	return clusterapi.New(c.nodes, c.node.Tokens, c.node.M.NodeID, clusterapi.WithServices(c.tasks), clusterapi.WithSecrets(c.secrets),
		clusterapi.WithStacks(stack.NewDeployer(c.store, c.tasks, validateTaskDef)))
}

// startCluster starts the node's membership, its agent and task runner
// and, on a manager, the controller of services (it acts while this
// manager leads), or returns nil when the daemon is in no cluster.
func startCluster(ctx context.Context, cfg daemonConfig, engine *container.Engine, images agent.Images, ev agent.Events, nets meshNetworks, tnets agent.TaskNetworks, vols agent.Volumes, log *slog.Logger) (*clusterRuntime, error) {
	c := cfg.clusterCfg
	switch {
	case c.init && c.join != "":
		return nil, fmt.Errorf("--cluster-init and --join: a node creates a cluster or joins one")
	case c.manager && c.join == "":
		return nil, fmt.Errorf("--manager goes with --join")
	case c.init && c.listen == "":
		return nil, fmt.Errorf("--cluster-init needs --cluster-listen IP:PORT")
	case !c.init && (c.taskCIDR != "" || c.taskSubnetBits != 0):
		return nil, fmt.Errorf("--cluster-task-cidr and --cluster-task-subnet-bits go with --cluster-init: the task network is the cluster's")
	}
	taskNet := state.TaskNetConfig{CIDR: c.taskCIDR, SubnetBits: c.taskSubnetBits}
	if c.init {
		if taskNet.CIDR == "" {
			taskNet.CIDR = state.DefaultTaskCIDR
		}
		if taskNet.SubnetBits == 0 {
			taskNet.SubnetBits = state.DefaultSubnetBits
		}
		if _, err := state.ParseTaskNet(taskNet); err != nil {
			return nil, fmt.Errorf("--cluster-task-cidr: %w", err)
		}
	}
	labels := map[string]string{}
	for _, l := range c.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--node-label %q: want key=value", l)
		}
		labels[k] = v
	}
	n, err := member.Start(ctx, member.Config{Root: cfg.root, Init: c.init, Managers: c.managers, Listen: c.listen,
		Join: c.join, Token: c.token, Manager: c.manager, TaskCIDR: taskNet.CIDR, TaskSubnetBits: taskNet.SubnetBits, Log: log})
	if err != nil || n == nil {
		return nil, err
	}
	replicas := 1
	if n.M.Managers >= 3 {
		replicas = 3
	}
	st, err := state.New(n.Conn, replicas)
	if err != nil {
		n.Close()
		return nil, err
	}
	name := c.nodeName
	if name == "" {
		name, _ = os.Hostname()
	}
	addr := n.M.Self.JoinAddr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	self := agent.Self{ID: n.M.NodeID, Name: name, Addr: addr, Manager: n.M.Manager, Labels: labels, Version: version}
	if n.M.Manager {
		self.RouteAddr, self.ClientAddr, self.JoinAddr = n.M.Self.RouteAddr, n.M.Self.ClientAddr, n.M.Self.JoinAddr
	}
	actx, cancel := context.WithCancel(context.Background())
	probe := &nodeProbe{n: n, engine: engine}
	go agent.New(st, self, probe, log, agent.WithManagers(func(ms []state.Node) {
		if err := n.UpdatePeers(managerPeers(ms)); err != nil {
			log.Warn("cluster: keeping the managers' addresses", "err", err)
		}
	})).Run(actx)
	rt := tasks.New(st)
	sec := clusterSecrets(cfg.root, st, log)
	opts := append(startMesh(actx, st, nets, log), agent.WithSecrets(sec, filepath.Join(cfg.execRoot, "task-secrets")), agent.WithVolumes(vols))
	if ip, err := netip.ParseAddr(addr); err != nil {
		log.Error("cluster: awsvpc tasks stay on the task bridge: the node's address does not parse", "addr", addr, "err", err)
	} else {
		// The cluster's task network: awsvpc tasks' own addresses.
		initial := state.TaskNetConfig{CIDR: n.M.TaskCIDR, SubnetBits: n.M.TaskSubnetBits}
		tn := agent.NewTaskNet(st, n.M.NodeID, ip, n.M.Manager, initial, tnets, agent.NetlinkRouter{}, log)
		go tn.Run(actx)
		opts = append(opts, agent.WithTaskNet(tn, tnets))
	}
	go agent.NewRunner(st, n.M.NodeID, engine, images, ev, log, opts...).WithFargateRuntime(cfg.fargateRuntime).Run(actx)
	if n.M.Manager {
		go tasks.NewController(rt, probe.Leader, log).Run(actx)
	}
	return &clusterRuntime{node: n, store: st, nodes: agent.NewNodes(st), tasks: rt, secrets: sec, cancel: cancel}, nil
}

// dataKey is the cluster's data key on this node (nil outside a cluster
// or without one).
func (c *clusterRuntime) dataKey() *secrets.Key {
	if c == nil || c.secrets == nil {
		return nil
	}
	return c.secrets.DataKey()
}

// clusterSecrets is the cluster's secrets with this node's data key
// (package secrets says where it lives); a node without one (a cluster
// created before secrets) lists and removes secrets but neither
// creates nor delivers them, and says so.
func clusterSecrets(root string, st *state.Store, log *slog.Logger) *secrets.Store {
	key, err := secrets.LoadKey(member.Dir(root))
	if err != nil {
		log.Warn("cluster: secrets cannot be created or delivered on this node", "err", err)
		key = nil
	}
	return secrets.New(st, key)
}

// validateTaskDef is ECS's RegisterTaskDefinition check for the task
// definitions a stack deploy registers.
func validateTaskDef(td *state.TaskDefinition) error {
	if err := ecsapi.Validate(td); err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

func managerPeers(ms []state.Node) []member.Peer {
	out := make([]member.Peer, 0, len(ms))
	for _, m := range ms {
		if m.ClientAddr != "" && m.RouteAddr != "" {
			out = append(out, member.Peer{ID: m.ID, JoinAddr: m.JoinAddr, ClientAddr: m.ClientAddr, RouteAddr: m.RouteAddr})
		}
	}
	return out
}

// nodeProbe is what the heartbeat reports of this node.
type nodeProbe struct {
	n      *member.Node
	engine *container.Engine
}

func (p *nodeProbe) Leader() bool {
	if !p.n.M.Manager {
		return false
	}
	if p.n.M.Managers == 1 {
		return true
	}
	return p.n.Box.Server().JetStreamIsLeader()
}

func (p *nodeProbe) RunningContainers(ctx context.Context) int {
	n := 0
	for _, c := range p.engine.List(ctx) {
		if c.State.Status == container.StatusRunning {
			n++
		}
	}
	return n
}

// withCluster routes the native API's cluster paths to cl.
func withCluster(next, cl http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, clusterapi.Prefix) {
			cl.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ecsHandler is ECS's API over the cluster's state, and Secrets
// Manager's over its secrets, for --http (an answer saying so when the
// daemon is in no cluster).
func (c *clusterRuntime) ecsHandler(keys *identity.Keys, log *slog.Logger) http.Handler {
	if c == nil {
		return ecsapi.NoCluster()
	}
	ecs := ecsapi.New(c.store, c.nodes, keys, ecsapi.WithLogger(log), ecsapi.WithTasks(c.tasks))
	sm := smapi.New(c.secrets, keys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if smapi.Matches(r) {
			sm.ServeHTTP(w, r)
			return
		}
		ecs.ServeHTTP(w, r)
	})
}

// withECS sends ECS's calls (by their X-Amz-Target) to ecs.
func withECS(ecs, next http.Handler) http.Handler {
	if ecs == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ecsapi.Matches(r) || smapi.Matches(r) {
			ecs.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
