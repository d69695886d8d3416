package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
)

// The controller runs on every manager and acts on the one that leads
// the JetStream meta group (Leader): Raft elects exactly one meta leader
// per term, and the leader is the manager whose state is current, so it
// needs no lease of its own. Two managers may still both believe they
// lead for an instant around an election; every write of a pass is a
// compare-and-set on what the pass read (the service record at its
// revision, each task with Mutate), and the starts a pass decides are
// written into the service record (Launching) by that same
// compare-and-set before any task record exists, so a second controller
// either loses the race or finishes the same starts, with the same ids:
// no start is decided twice.
//
// A pass runs on every change of the services, tasks and nodes tables
// (watches) and at least every Tick, because some decisions depend on
// the time alone: a node is lost once its last heartbeat is older than
// the heartbeat timeout, a deployment completes once its tasks have run
// for StableFor.

// DefaultTick is how often the controller runs a pass without changes.
const DefaultTick = time.Second

// Controller reconciles the cluster's services.
type Controller struct {
	rt        *Runtime
	leader    func() bool
	log       *slog.Logger
	tick      time.Duration
	stableFor time.Duration

	mu  sync.Mutex
	tds map[string]state.TaskDefinition

	// lastFull is when a pass last read every task record (see pass).
	lastFull time.Time
}

// fullReadEvery is how often a pass reads the STOPPED records of tasks
// outside services too: only the retention needs them, and the passes
// in between (one per burst of changes, many a second while a Batch
// array runs) leave them out of what they go through. (The records come
// from the runtime's cache, decoded once per change, so the full read
// costs no more of the server than the others.)
const fullReadEvery = 30 * time.Second

var serviceJSON = []byte(`"service":`)

// stoppedStandalone says whether a stored task record is a STOPPED task
// of no service (RunTask's, Batch's): no service's reconciliation reads
// it. A record that merely might hold a service is decoded.
func stoppedStandalone(raw []byte) bool {
	return state.StoppedTaskRecord(raw) && !bytes.Contains(raw, serviceJSON)
}

// selPass is what the passes between full reads read: every task but the
// STOPPED ones of no service (stoppedStandalone).
var selPass = taskSel{
	keep: func(t *state.Task) bool { return t.LastStatus != string(sched.StatusStopped) || t.Service != "" },
	skip: stoppedStandalone,
}

// ControllerOption configures a Controller.
type ControllerOption func(*Controller)

// WithTick sets the pass interval (DefaultTick).
func WithTick(d time.Duration) ControllerOption { return func(c *Controller) { c.tick = d } }

// WithStableFor sets how long a deployment's tasks must have run before
// it completes (sched.DefaultStableFor).
func WithStableFor(d time.Duration) ControllerOption { return func(c *Controller) { c.stableFor = d } }

// NewController returns a controller over rt that acts while leader
// answers true.
func NewController(rt *Runtime, leader func() bool, log *slog.Logger, opts ...ControllerOption) *Controller {
	c := &Controller{rt: rt, leader: leader, log: log, tick: DefaultTick, tds: map[string]state.TaskDefinition{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Run runs passes until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	poke := make(chan struct{}, 1)
	go watchTable(ctx, c.rt.st.Services(), poke)
	go watchTable(ctx, c.rt.st.Tasks(), poke)
	go watchTable(ctx, c.rt.st.Nodes(), poke)
	t := time.NewTicker(c.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-poke:
		}
		if !c.leader() {
			continue
		}
		again, err := c.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Debug("cluster controller: pass", "err", err)
		}
		if again {
			select {
			case poke <- struct{}{}:
			default:
			}
		}
		// Changes come in bursts (an agent's writes, a pass's own):
		// one pass covers them.
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// watchTable pokes on every change of a table, re-watching when a watch
// ends (a reconnection).
func watchTable[T any](ctx context.Context, t state.Table[T], poke chan<- struct{}) {
	for ctx.Err() == nil {
		ch, err := t.Watch(ctx)
		if err == nil {
			for range ch {
				select {
				case poke <- struct{}{}:
				default:
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// taskDef returns a task definition revision, from a cache: revisions
// are immutable but for their status, which the controller does not
// read.
func (c *Controller) taskDef(ctx context.Context, family string, rev int) (state.TaskDefinition, error) {
	key := state.TaskDefKey(family, rev)
	c.mu.Lock()
	td, ok := c.tds[key]
	c.mu.Unlock()
	if ok {
		return td, nil
	}
	e, err := c.rt.st.TaskDefs().Get(ctx, key)
	if err != nil {
		return td, err
	}
	c.mu.Lock()
	c.tds[key] = e.Value
	c.mu.Unlock()
	return e.Value, nil
}

// Pass reads the state once and reconciles every service from it. It
// reports whether it wrote something another pass should follow up at
// once (new task records, a lost race).
func (c *Controller) Pass(ctx context.Context) (bool, error) {
	var again bool
	err := c.rt.withPlacement(ctx, func() error {
		var err error
		again, err = c.pass(ctx)
		return err
	})
	return again, err
}

// pass is Pass holding the placement lock.
func (c *Controller) pass(ctx context.Context) (bool, error) {
	now := c.rt.now()
	full := now.Sub(c.lastFull) >= fullReadEvery
	sel := selPass
	if full {
		sel = selAll
	}
	snap, err := c.rt.read(ctx, sel)
	if err != nil {
		return false, err
	}
	if full {
		c.lastFull = now
	}
	again := c.settleLost(ctx, snap, now)
	svcs, err := c.rt.st.Services().List(ctx)
	if err != nil {
		return again, err
	}
	nodes := View(snap.Nodes, snap.values())
	var firstErr error
	for _, e := range svcs {
		if e.Value.Status == state.ServiceInactive {
			continue
		}
		a, err := c.reconcile(ctx, e, snap, nodes, now)
		again = again || a
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return again, firstErr
}

// settleLost marks STOPPED the tasks asked to stop on nodes that are
// lost (their agents cannot report it), and deletes STOPPED tasks older
// than StoppedRetention.
func (c *Controller) settleLost(ctx context.Context, snap Snapshot, now time.Time) bool {
	lost := map[string]bool{}
	for _, n := range snap.Nodes {
		if n.LastHeartbeat.IsZero() || now.Sub(n.LastHeartbeat) > c.rt.hbTimeout {
			lost[n.Node.ID] = true
		}
	}
	known := map[string]bool{}
	for _, n := range snap.Nodes {
		known[n.Node.ID] = true
	}
	wrote := false
	for _, e := range snap.Tasks {
		t := e.Value
		switch {
		case t.LastStatus != string(sched.StatusStopped) && t.DesiredStatus == string(sched.StatusStopped) && (lost[t.NodeID] || !known[t.NodeID]):
			stamp := now.UTC()
			_, err := state.Mutate(ctx, c.rt.st.Tasks(), e.Key, func(t *state.Task) error {
				if t.LastStatus == string(sched.StatusStopped) || t.DesiredStatus != string(sched.StatusStopped) {
					return nil
				}
				t.LastStatus = string(sched.StatusStopped)
				t.StoppedAt = &stamp
				if t.ExecutionStopAt == nil {
					t.ExecutionStopAt = &stamp
				}
				return nil
			})
			if err == nil {
				wrote = true
			}
		case t.LastStatus == string(sched.StatusStopped) && t.StoppedAt != nil && now.Sub(*t.StoppedAt) > StoppedRetention && (t.Service == "" || t.Accounted):
			_ = c.rt.st.Tasks().Delete(ctx, e.Key, e.Revision)
		}
	}
	return wrote
}

// reconcile takes one service one step: it finishes the starts an
// earlier pass decided, then asks sched.ReconcileService for the next
// step and applies it.
func (c *Controller) reconcile(ctx context.Context, e state.Entry[state.Service], snap Snapshot, nodes []sched.Node, now time.Time) (bool, error) {
	svc := e.Value
	key := e.Key
	if len(svc.Launching) > 0 {
		return true, c.launch(ctx, key, svc, svc.Launching)
	}
	tds := map[string]*sched.TaskDef{}
	defs := map[string]state.TaskDefinition{}
	add := func(d state.Deployment) error {
		k := state.TaskDefKey(d.Family, d.Revision)
		if _, ok := tds[k]; ok {
			return nil
		}
		td, err := c.taskDef(ctx, d.Family, d.Revision)
		if err != nil {
			return err
		}
		defs[k], tds[k] = td, SchedTaskDef(td)
		return nil
	}
	for _, d := range svc.Deployments {
		if err := add(d); err != nil {
			return false, err
		}
	}
	if svc.LastCompleted != nil {
		if err := add(*svc.LastCompleted); err != nil {
			return false, err
		}
	}
	keys := map[string]string{}
	var mine []sched.Task
	live := 0
	for _, te := range snap.Tasks {
		t := te.Value
		if t.Cluster != svc.Cluster || t.Service != svc.Name || t.Accounted {
			continue
		}
		keys[t.ID] = te.Key
		mine = append(mine, SchedTask(t))
		if t.LastStatus != string(sched.StatusStopped) {
			live++
		}
	}
	plan, err := sched.ReconcileService(sched.ServiceState{Service: schedService(svc, tds), Tasks: mine, Nodes: nodes}, now,
		sched.ServiceOptions{HeartbeatTimeout: c.rt.hbTimeout, StableFor: c.stableFor, Seed: uint64(now.UnixNano())})
	if err != nil {
		return false, err
	}

	next := copyService(svc)
	stamp := now.UTC()
	for _, ch := range plan.Deployments {
		for i := range next.Deployments {
			d := &next.Deployments[i]
			if d.ID != ch.ID {
				continue
			}
			d.Status, d.RolloutState, d.FailedTasks = string(ch.Status), string(ch.RolloutState), ch.FailedTasks
			if ch.RolloutStateReason != "" {
				d.RolloutStateReason = ch.RolloutStateReason
			}
			d.UpdatedAt = stamp
			if ch.RolloutState == sched.RolloutCompleted && ch.Status == sched.DeploymentPrimary {
				lc := *d
				next.LastCompleted = &lc
			}
		}
	}
	kept := next.Deployments[:0]
	for _, d := range next.Deployments {
		if d.Status != string(sched.DeploymentInactive) {
			kept = append(kept, d)
		}
	}
	next.Deployments = kept
	if nd := plan.NewDeployment; nd != nil {
		next.Deployments = append(next.Deployments, state.Deployment{ID: NewDeploymentID(), Status: string(sched.DeploymentPrimary),
			RolloutState: string(sched.RolloutInProgress), Family: nd.TaskDef.Family, Revision: nd.TaskDef.Revision,
			Rollback: nd.Rollback, CreatedAt: stamp, UpdatedAt: stamp})
		next.Family, next.Revision = nd.TaskDef.Family, nd.TaskDef.Revision
	}
	var ids []string
	for _, st := range plan.Start {
		l := state.Launch{ID: NewID(), NodeID: st.NodeID, DeploymentID: st.DeploymentID}
		next.Launching = append(next.Launching, l)
		ids = append(ids, l.ID)
	}
	events := plan.Events
	if len(ids) > 0 {
		events = append(events, sched.StartedEvent(svc.Name, ids))
	}
	addEvents(&next, events, stamp)
	next.Steady = plan.Steady
	if svc.Status == state.ServiceDraining && live == 0 && len(plan.Start) == 0 {
		next.Status = state.ServiceInactive
	}
	if !sameJSON(svc, next) {
		if _, err := c.rt.st.Services().Update(ctx, key, next, e.Revision); err != nil {
			if errdefs.IsConflict(err) {
				return true, nil
			}
			return false, err
		}
	}
	for _, st := range plan.Stop {
		k, ok := keys[st.TaskID]
		if !ok {
			continue
		}
		_, err := state.Mutate(ctx, c.rt.st.Tasks(), k, func(t *state.Task) error {
			markStop(t, st.Code, st.Reason, stamp)
			return nil
		})
		if err != nil && !errdefs.IsNotFound(err) {
			return true, err
		}
	}
	for _, id := range plan.Forget {
		if k, ok := keys[id]; ok {
			_, _ = state.Mutate(ctx, c.rt.st.Tasks(), k, func(t *state.Task) error { t.Accounted = true; return nil })
		}
	}
	if len(next.Launching) > 0 {
		return true, c.launch(ctx, key, next, next.Launching)
	}
	return len(plan.Stop) > 0, nil
}

// launch creates the task records of decided starts (an existing one is
// left as it is) and then removes the starts from the service record.
func (c *Controller) launch(ctx context.Context, key string, svc state.Service, ls []state.Launch) error {
	for _, l := range ls {
		var dep *state.Deployment
		for i := range svc.Deployments {
			if svc.Deployments[i].ID == l.DeploymentID {
				dep = &svc.Deployments[i]
			}
		}
		if dep == nil {
			continue
		}
		td, err := c.taskDef(ctx, dep.Family, dep.Revision)
		if err != nil {
			return err
		}
		req := sched.TaskRequirements(SchedTaskDef(td))
		t := state.Task{ID: l.ID, Cluster: svc.Cluster, NodeID: l.NodeID, Family: td.Family, Revision: td.Revision,
			LaunchType: svc.LaunchType, NetworkMode: td.NetworkMode, Group: "service:" + svc.Name, StartedBy: dep.ID, Service: svc.Name, DeploymentID: dep.ID,
			CPU: req.CPU, MemoryMiB: req.Memory, HostPorts: hostPorts(req.Ports),
			DesiredStatus: string(sched.StatusRunning), LastStatus: string(sched.StatusProvisioning), CreatedAt: c.rt.now().UTC(),
			Containers: pendingContainers(td)}
		if _, err := c.rt.st.Tasks().Create(ctx, state.TaskKey(l.NodeID, l.ID), t); err != nil && !errdefs.IsConflict(err) {
			return err
		}
	}
	done := map[string]bool{}
	for _, l := range ls {
		done[l.ID] = true
	}
	_, err := state.Mutate(ctx, c.rt.st.Services(), key, func(s *state.Service) error {
		keep := s.Launching[:0]
		for _, l := range s.Launching {
			if !done[l.ID] {
				keep = append(keep, l)
			}
		}
		s.Launching = keep
		if len(s.Launching) == 0 {
			s.Launching = nil
		}
		return nil
	})
	return err
}

// sameJSON reports whether two records would be stored alike.
func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// copyService is a deep copy of a service record.
func copyService(s state.Service) state.Service {
	data, _ := json.Marshal(s)
	var out state.Service
	_ = json.Unmarshal(data, &out)
	return out
}

// eventRepeat is how long an event that repeats (a task that cannot be
// placed, a stuck deployment) is kept from being written again.
const eventRepeat = time.Minute

// addEvents appends events, but not one that repeats an event of the
// last eventRepeat: the controller decides the same thing every pass
// while nothing changes.
func addEvents(s *state.Service, msgs []string, at time.Time) {
	var fresh []string
	for _, m := range msgs {
		dup := false
		for _, e := range s.Events {
			if at.Sub(e.CreatedAt) > eventRepeat {
				break
			}
			if e.Message == m {
				dup = true
				break
			}
		}
		if !dup {
			fresh = append(fresh, m)
		}
	}
	appendEvents(s, fresh, at)
}
