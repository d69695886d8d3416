package sched

import (
	"fmt"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// ConstraintType of a placement constraint.
type ConstraintType string

// The placement constraints ECS defines.
const (
	// DistinctInstance places each task of the group on a node that runs
	// no other task of the group.
	DistinctInstance ConstraintType = "distinctInstance"
	// MemberOf places tasks only on nodes that match an expression of
	// the cluster query language.
	MemberOf ConstraintType = "memberOf"
)

// Constraint is a placement constraint.
type Constraint struct {
	Type       ConstraintType
	Expression string
}

// StrategyType of a placement strategy.
type StrategyType string

// The placement strategies ECS defines.
const (
	Binpack StrategyType = "binpack"
	Spread  StrategyType = "spread"
	Random  StrategyType = "random"
)

// Strategy is a placement strategy: binpack on "cpu" or "memory", spread
// on "instanceId" (or "host") or "attribute:<name>", random.
type Strategy struct {
	Type  StrategyType
	Field string
}

// ECS's limits on a task's constraints and a service's strategies.
const (
	maxConstraints = 10
	maxStrategies  = 5
)

// The reasons ECS gives for a task it cannot place, in RunTask's
// failures[].reason and in service events.
const (
	ReasonCPU         = "RESOURCE:CPU"
	ReasonMemory      = "RESOURCE:MEMORY"
	ReasonPorts       = "RESOURCE:PORTS"
	ReasonMemberOf    = "MemberOf placement constraint unsatisfied"
	ReasonDistinct    = "DistinctInstance placement constraint unsatisfied"
	ReasonNoInstances = "No Container Instances were found in your cluster."
)

// Request asks for Count tasks of one group to be placed.
type Request struct {
	// Group is the tasks' group ("service:web", "family:batch"), which
	// distinctInstance, spread and task:group refer to.
	Group        string
	Family       string
	Requirements Requirements
	Count        int
	LaunchType   LaunchType
	Constraints  []Constraint
	Strategies   []Strategy
	// Network are the memberOf constraints the tasks' network
	// configuration makes (the nodes holding its subnets): they hold for
	// every launch type, FARGATE's too, which refuses Constraints.
	Network []Constraint
}

// Placement is one placed task.
type Placement struct {
	NodeID string
}

// Failure is a task that could not be placed, with ECS's reason and the
// closest node (empty when there is none).
type Failure struct {
	Reason string
	NodeID string
}

// Result of a placement request: one entry per placed task, in order,
// and one failure per task left unplaced.
type Result struct {
	Placements []Placement
	Failures   []Failure
}

// placeNode is the placer's working copy of a node.
type placeNode struct {
	Node
	rem   Resources
	ports map[HostPort]struct{}
}

// Placer places tasks on a set of nodes, remembering what it placed, so
// that a batch (or several requests in one reconciliation) never counts
// the same capacity twice. It does not modify the nodes it is given.
type Placer struct {
	nodes  []placeNode
	seed   uint64
	placed uint64 // placements made, varying the tie-break per task
	active int
	// groupCnt caches, per group, the group's tasks on each node, kept
	// up to date as tasks are placed, so that a request costs O(nodes)
	// to prepare however many tasks the cluster runs.
	groupCnt map[string][]int
}

// NewPlacer makes a placer over a copy of the nodes. The seed makes ties
// (and the random strategy) reproducible.
func NewPlacer(nodes []Node, seed uint64) *Placer {
	p := &Placer{nodes: make([]placeNode, len(nodes)), seed: seed}
	for i := range nodes {
		pn := &p.nodes[i]
		pn.Node = nodes[i]
		pn.Tasks = append([]PlacedTask(nil), nodes[i].Tasks...)
		pn.rem = nodes[i].Remaining
		if len(nodes[i].PortsInUse) > 0 {
			pn.ports = make(map[HostPort]struct{}, len(nodes[i].PortsInUse))
			for _, hp := range nodes[i].PortsInUse {
				pn.ports[hp] = struct{}{}
			}
		}
		if pn.Status == NodeActive {
			p.active++
		}
	}
	return p
}

// Place places tasks on nodes; see Placer.Place.
func Place(nodes []Node, req Request, seed uint64) (Result, error) {
	return NewPlacer(nodes, seed).Place(req)
}

// Remaining returns what the placer considers left on a node after the
// placements it made.
func (p *Placer) Remaining(nodeID string) (Resources, bool) {
	for i := range p.nodes {
		if p.nodes[i].ID == nodeID {
			return p.nodes[i].rem, true
		}
	}
	return Resources{}, false
}

// compiled is a request checked and prepared for the hot loop.
type compiled struct {
	req       *Request
	memberOf  []*Query
	distinct  bool
	strats    []Strategy
	spreadIDs [][]int32 // per spread-on-attribute strategy: node → value id
	spreadCnt [][]int   // per spread-on-attribute strategy: value id → tasks of the group
	groupCnt  []int     // node → tasks of the group on it
	// memberOK caches, per node, whether every memberOf expression
	// holds; expressions that read the node's tasks are re-evaluated for
	// the one node a task was just placed on.
	memberOK      []bool
	memberDynamic bool
}

// Validate checks a request's constraints and strategies as ECS does
// (errdefs.ErrInvalidArgument) without placing anything.
func (r *Request) Validate() error {
	_, err := r.compileRules()
	return err
}

func (r *Request) compileRules() (*compiled, error) {
	c := &compiled{req: r}
	for _, k := range r.Network {
		if k.Type != MemberOf {
			return nil, fmt.Errorf("%w: a network configuration's placement constraint must be memberOf, not %q", errdefs.ErrInvalidArgument, k.Type)
		}
		q, err := ParseQuery(k.Expression)
		if err != nil {
			return nil, err
		}
		c.memberOf = append(c.memberOf, q)
	}
	if r.LaunchType == LaunchFargate {
		if len(r.Constraints) > 0 || len(r.Strategies) > 0 {
			return nil, fmt.Errorf("%w: Task placement constraints and strategies are not supported for the FARGATE launch type.", errdefs.ErrInvalidArgument)
		}
		// Fargate picks the node: spread across zones, then nodes.
		c.strats = []Strategy{{Spread, "attribute:" + AttrAvailabilityZone}, {Spread, "instanceId"}}
		return c, nil
	}
	if len(r.Constraints) > maxConstraints {
		return nil, fmt.Errorf("%w: at most %d placement constraints are allowed", errdefs.ErrInvalidArgument, maxConstraints)
	}
	if len(r.Strategies) > maxStrategies {
		return nil, fmt.Errorf("%w: at most %d placement strategies are allowed", errdefs.ErrInvalidArgument, maxStrategies)
	}
	for _, k := range r.Constraints {
		switch k.Type {
		case DistinctInstance:
			if k.Expression != "" {
				return nil, fmt.Errorf("%w: distinctInstance constraints do not take an expression", errdefs.ErrInvalidArgument)
			}
			c.distinct = true
		case MemberOf:
			q, err := ParseQuery(k.Expression)
			if err != nil {
				return nil, err
			}
			c.memberOf = append(c.memberOf, q)
		default:
			return nil, fmt.Errorf("%w: unknown placement constraint type %q", errdefs.ErrInvalidArgument, k.Type)
		}
	}
	for _, s := range r.Strategies {
		switch s.Type {
		case Binpack:
			f := strings.ToLower(s.Field)
			if f != "cpu" && f != "memory" {
				return nil, fmt.Errorf("%w: binpack field must be cpu or memory, not %q", errdefs.ErrInvalidArgument, s.Field)
			}
			c.strats = append(c.strats, Strategy{Binpack, f})
		case Spread:
			f := s.Field
			switch {
			case strings.EqualFold(f, "instanceId"), strings.EqualFold(f, "host"):
				f = "instanceId"
			case strings.HasPrefix(f, "attribute:") && len(f) > len("attribute:"):
			default:
				return nil, fmt.Errorf("%w: spread field must be instanceId or attribute:<name>, not %q", errdefs.ErrInvalidArgument, s.Field)
			}
			c.strats = append(c.strats, Strategy{Spread, f})
		case Random:
			if s.Field != "" {
				return nil, fmt.Errorf("%w: random placement does not take a field", errdefs.ErrInvalidArgument)
			}
			c.strats = append(c.strats, Strategy{Random, ""})
		default:
			return nil, fmt.Errorf("%w: unknown placement strategy type %q", errdefs.ErrInvalidArgument, s.Type)
		}
	}
	return c, nil
}

// Place places req.Count tasks one after another: each goes on the best
// ACTIVE node that satisfies every constraint and has room, by the
// strategies in order, and the node's remaining resources, ports and
// tasks are updated before the next. Tasks no node can take are returned
// as failures with ECS's reason. An invalid request (unknown constraint
// or strategy, bad expression) is an errdefs.ErrInvalidArgument error.
func (p *Placer) Place(req Request) (Result, error) {
	c, err := req.compileRules()
	if err != nil {
		return Result{}, err
	}
	if req.Count < 0 {
		return Result{}, fmt.Errorf("%w: negative task count", errdefs.ErrInvalidArgument)
	}
	p.prepare(c)
	var res Result
	for k := 0; k < req.Count; k++ {
		best := p.best(c)
		if best < 0 {
			f := p.explain(c)
			// Nothing changes between tasks once one fails, so the rest
			// fail for the same reason.
			for ; k < req.Count; k++ {
				res.Failures = append(res.Failures, f)
			}
			break
		}
		p.commit(c, best)
		res.Placements = append(res.Placements, Placement{NodeID: p.nodes[best].ID})
	}
	return res, nil
}

// prepare counts the group's tasks per node and per spread value once per
// request, so that the per-task loop only reads arrays.
func (p *Placer) prepare(c *compiled) {
	c.memberOK = make([]bool, len(p.nodes))
	for _, q := range c.memberOf {
		c.memberDynamic = c.memberDynamic || q.dependsOnTasks()
	}
	for i := range p.nodes {
		c.memberOK[i] = p.matchMemberOf(c, i)
	}
	if p.groupCnt == nil {
		p.groupCnt = map[string][]int{}
	}
	c.groupCnt = p.groupCnt[c.req.Group]
	if c.groupCnt == nil {
		c.groupCnt = make([]int, len(p.nodes))
		for i := range p.nodes {
			for j := range p.nodes[i].Tasks {
				if p.nodes[i].Tasks[j].Group == c.req.Group {
					c.groupCnt[i]++
				}
			}
		}
		p.groupCnt[c.req.Group] = c.groupCnt
	}
	for _, s := range c.strats {
		if s.Type != Spread || s.Field == "instanceId" {
			continue
		}
		attr := s.Field[len("attribute:"):]
		ids := make([]int32, len(p.nodes))
		index := map[string]int32{}
		var cnt []int
		for i := range p.nodes {
			v, ok := p.nodes[i].Attributes[attr]
			if !ok {
				// Nodes without the attribute form a value of their own.
				v = "\x00missing"
			}
			id, seen := index[v]
			if !seen {
				id = int32(len(cnt))
				index[v] = id
				cnt = append(cnt, 0)
			}
			ids[i] = id
			cnt[id] += c.groupCnt[i]
		}
		c.spreadIDs = append(c.spreadIDs, ids)
		c.spreadCnt = append(c.spreadCnt, cnt)
	}
}

// fits reports the first check node i fails for the request (0 if none);
// the order is the order in which explain ranks closeness.
func (p *Placer) matchMemberOf(c *compiled, i int) bool {
	for _, q := range c.memberOf {
		if !q.Match(&p.nodes[i].Node) {
			return false
		}
	}
	return true
}

func (p *Placer) fits(c *compiled, i int) int {
	n := &p.nodes[i]
	if !c.memberOK[i] {
		return stageMemberOf
	}
	if c.distinct && c.groupCnt[i] > 0 {
		return stageDistinct
	}
	r := &c.req.Requirements
	if r.CPU > n.rem.CPU {
		return stageCPU
	}
	if r.Memory > n.rem.Memory {
		return stageMemory
	}
	for j, hp := range r.Ports {
		if _, used := n.ports[hp]; used {
			return stagePorts
		}
		// A task cannot bind the same port twice either.
		for _, other := range r.Ports[:j] {
			if other == hp {
				return stagePorts
			}
		}
	}
	return 0
}

// The checks a node can fail, from farthest to closest.
const (
	stageMemberOf = 1 + iota
	stageDistinct
	stageCPU
	stageMemory
	stagePorts
)

var stageReason = map[int]string{
	stageMemberOf: ReasonMemberOf,
	stageDistinct: ReasonDistinct,
	stageCPU:      ReasonCPU,
	stageMemory:   ReasonMemory,
	stagePorts:    ReasonPorts,
}

// best returns the index of the node the next task goes on, or -1.
func (p *Placer) best(c *compiled) int {
	best := -1
	var bestKeys [maxStrategies + 2]int64
	var keys [maxStrategies + 2]int64
	nk := len(c.strats) + 1
	round := mix(p.seed ^ (p.placed * 0x9e3779b97f4a7c15))
	for i := range p.nodes {
		if p.nodes[i].Status != NodeActive || p.fits(c, i) != 0 {
			continue
		}
		p.keys(c, i, round, keys[:nk])
		if best < 0 || lessKeys(keys[:nk], bestKeys[:nk]) {
			best = i
			bestKeys = keys
		}
	}
	return best
}

// keys fills the node's sort keys, smaller first: one per strategy, then
// the seeded tie-break.
func (p *Placer) keys(c *compiled, i int, round uint64, keys []int64) {
	spread := 0
	n := &p.nodes[i]
	for k, s := range c.strats {
		switch s.Type {
		case Binpack:
			// Least remaining of the resource after the task, first.
			if s.Field == "cpu" {
				keys[k] = n.rem.CPU - c.req.Requirements.CPU
			} else {
				keys[k] = n.rem.Memory - c.req.Requirements.Memory
			}
		case Spread:
			if s.Field == "instanceId" {
				keys[k] = int64(c.groupCnt[i])
			} else {
				keys[k] = int64(c.spreadCnt[spread][c.spreadIDs[spread][i]])
				spread++
			}
		case Random:
			keys[k] = int64(mix(round^uint64(i)*0xbf58476d1ce4e5b9) >> 1)
		}
	}
	keys[len(c.strats)] = int64(mix(round+uint64(i)) >> 1)
}

func lessKeys(a, b []int64) bool {
	for k := range a {
		if a[k] != b[k] {
			return a[k] < b[k]
		}
	}
	return false
}

// mix is splitmix64's finaliser: a cheap, well-spread hash for seeded
// choices.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// commit records a task of the request on node i.
func (p *Placer) commit(c *compiled, i int) {
	n := &p.nodes[i]
	r := &c.req.Requirements
	n.rem.CPU -= r.CPU
	n.rem.Memory -= r.Memory
	if len(r.Ports) > 0 {
		if n.ports == nil {
			n.ports = make(map[HostPort]struct{}, len(r.Ports))
		}
		for _, hp := range r.Ports {
			n.ports[hp] = struct{}{}
		}
	}
	n.Tasks = append(n.Tasks, PlacedTask{Family: c.req.Family, Group: c.req.Group, Resources: r.Resources, Ports: r.Ports})
	c.groupCnt[i]++
	if c.memberDynamic {
		c.memberOK[i] = p.matchMemberOf(c, i)
	}
	for k := range c.spreadIDs {
		c.spreadCnt[k][c.spreadIDs[k][i]]++
	}
	p.placed++
}

// explain finds why no node takes the task: the reason of the node that
// passed the most checks (the first such node in input order), as ECS
// reports the closest matching container instance.
func (p *Placer) explain(c *compiled) Failure {
	if p.active == 0 {
		return Failure{Reason: ReasonNoInstances}
	}
	bestStage, bestNode := 0, ""
	for i := range p.nodes {
		if p.nodes[i].Status != NodeActive {
			continue
		}
		if s := p.fits(c, i); s > bestStage {
			bestStage, bestNode = s, p.nodes[i].ID
		}
	}
	return Failure{Reason: stageReason[bestStage], NodeID: bestNode}
}

// UnableToPlaceEvent is the service event ECS writes when a service's
// task cannot be placed.
func UnableToPlaceEvent(service string, f Failure) string {
	base := fmt.Sprintf("(service %s) was unable to place a task because no container instance met all of its requirements.", service)
	var why string
	switch f.Reason {
	case ReasonCPU:
		why = "has insufficient CPU units available."
	case ReasonMemory:
		why = "has insufficient memory available."
	case ReasonPorts:
		why = "is already using a port required by your task."
	case ReasonNoInstances:
		return base + " Reason: No Container Instances were found in your cluster."
	}
	if why == "" || f.NodeID == "" {
		return base
	}
	return fmt.Sprintf("%s The closest matching (container-instance %s) %s For more information, see the Troubleshooting section.", base, f.NodeID, why)
}
