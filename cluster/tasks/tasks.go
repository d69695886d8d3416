// Package tasks is the managers' side of the cluster's task runtime: it
// places and records tasks (Run, the API's RunTask and StartTask, and
// what a Batch scheduler calls), stops them, describes and lists them,
// waits for their end, keeps services (Create, Update, Delete) and runs
// the controller that reconciles services (controller.go).
//
// Decisions are sched's pure functions; this package reads the cluster's
// state, calls them with (state, clock) and writes their results with
// compare-and-set (state.Mutate), so that a write decided from a stale
// read is retried from a fresh one, never applied blindly.
//
// # Task records
//
// A task is created at placement, on its node, with desiredStatus
// RUNNING and lastStatus PROVISIONING; the node's agent (cluster/agent,
// runner.go) takes it from there and reports its lastStatus, containers,
// exit codes and health. A stop sets desiredStatus STOPPED (with ECS's
// stopCode and stoppedReason); the agent stops the containers and
// reports STOPPED. Tasks RunTask cannot place are not recorded: they are
// answered as failures with ECS's reason (RESOURCE:CPU, ...), as ECS
// answers RunTask on EC2 capacity. A service's task that cannot be
// placed is an "unable to place" event of the service, which keeps
// trying. STOPPED tasks stay describable for StoppedRetention, then the
// controller deletes them.
//
// # For a job scheduler (Batch)
//
// A scheduler that runs its jobs as tasks needs four calls of a Runtime
// (New over the cluster's state.Store):
//
//	res, err := rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td, Count: 1,
//		Overrides: &state.TaskOverrides{...}, StartedBy: "batch/<job id>", Group: "batch:<queue>"})
//	// res.Tasks[i].ID are the tasks; res.Failures those no node could take now
//	t, err := rt.Wait(ctx, id)   // returns once lastStatus is STOPPED: t.StopCode,
//	                             // t.StoppedReason, t.Containers[i].ExitCode
//	t, err = rt.Stop(ctx, id, "reason")   // desiredStatus STOPPED; Wait sees the end
//	ts, err := rt.List(ctx, tasks.Filter{StartedBy: "batch/<job id>"})  // after a restart
//
// td comes from Resolve(ctx, store, family, revision). A task whose node
// is lost is not moved (as ECS leaves standalone tasks); a scheduler that
// wants to retry it stops it and runs another.
package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
)

// StoppedRetention is how long a STOPPED task stays describable, as ECS
// keeps them for about an hour.
const StoppedRetention = time.Hour

// DefaultHeartbeatTimeout is how old a node's last heartbeat may be
// before the node is lost: its tasks are replaced and it takes no new
// ones. With heartbeats every 2 s, 5 s is two missed beats and leaves
// the rest of the 10 s the cluster promises for the replacement to
// start.
const DefaultHeartbeatTimeout = sched.DefaultHeartbeatTimeout

// MaxRunCount is ECS's limit on RunTask's count.
const MaxRunCount = 10

// Runtime records, places and stops tasks and services on the cluster's
// state.
//
// A Runtime keeps the task records in a cache (state.Cache), fed by one
// watch of the tasks bucket that starts at its first placement or
// controller pass: reading every record from the server at each of
// them cost O(records) each, quadratic over a Batch array. Close stops
// the watch.
type Runtime struct {
	st        *state.Store
	now       func() time.Time
	hbTimeout time.Duration
	log       *slog.Logger

	cacheOnce sync.Once
	cache     *state.Cache[state.Task]
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(r *Runtime) { r.now = now } }

// WithHeartbeatTimeout sets how old a heartbeat may be before its node
// is lost (DefaultHeartbeatTimeout).
func WithHeartbeatTimeout(d time.Duration) Option { return func(r *Runtime) { r.hbTimeout = d } }

// WithLogger sets the runtime's logger (slog.Default by default).
func WithLogger(l *slog.Logger) Option { return func(r *Runtime) { r.log = l } }

// New returns the runtime over st.
func New(st *state.Store, opts ...Option) *Runtime {
	r := &Runtime{st: st, now: time.Now, hbTimeout: DefaultHeartbeatTimeout, log: slog.Default()}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Close stops the runtime's watch of the task records. Placement and
// the controller still work after it, reading the records from the
// server at every read, as they did before the cache.
func (r *Runtime) Close() { r.taskCache().Close() }

// taskCache is the runtime's cache of the task records, created at its
// first use; its watch starts at the first Sync.
func (r *Runtime) taskCache() *state.Cache[state.Task] {
	r.cacheOnce.Do(func() { r.cache = state.NewCache(r.st.Tasks(), state.WithCacheLogger(r.log)) })
	return r.cache
}

// Store is the cluster state the runtime works on.
func (r *Runtime) Store() *state.Store { return r.st }

// Region and Account are what the ARNs of wharf's ECS resources carry.
const (
	Region  = "us-east-1"
	Account = "000000000000"
)

// TaskARN is a task's ARN, as ECS's long ARN format has it.
func TaskARN(cluster, id string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", Region, Account, cluster, id)
}

// NewID returns a task id as ECS's: 32 hex digits.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Snapshot is one read of what placement and reconciliation need.
type Snapshot struct {
	Nodes []NodeInput
	// Tasks are every task record with its key and revision.
	Tasks []state.Entry[state.Task]
}

// Read reads the nodes, their heartbeats and the tasks.
func (r *Runtime) Read(ctx context.Context) (Snapshot, error) {
	return r.read(ctx, selAll)
}

// readLive is Read without the STOPPED tasks, which placement does not
// count (View): on a cluster that ran thousands of tasks in the last
// hour (Batch arrays), they are most of the records.
func (r *Runtime) readLive(ctx context.Context) (Snapshot, error) {
	return r.read(ctx, selLive)
}

// taskSel chooses the task records a read returns: keep says it of a
// decoded value (the cache's), skip the opposite of a stored record's
// JSON without decoding it (a read of the server). The two agree on
// every record.
type taskSel struct {
	keep func(*state.Task) bool
	skip func(raw []byte) bool
}

var (
	// selAll is every task record.
	selAll = taskSel{}
	// selLive is the tasks not STOPPED.
	selLive = taskSel{keep: func(t *state.Task) bool { return t.LastStatus != string(sched.StatusStopped) }, skip: state.StoppedTaskRecord}
)

func (r *Runtime) read(ctx context.Context, sel taskSel) (Snapshot, error) {
	ns, err := r.st.Nodes().List(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	hbs, err := r.st.Heartbeats().List(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	last := map[string]time.Time{}
	for _, h := range hbs {
		last[h.Key] = h.Created
	}
	ts, err := r.readTasks(ctx, sel)
	if err != nil {
		return Snapshot{}, err
	}
	var snap Snapshot
	for _, n := range ns {
		snap.Nodes = append(snap.Nodes, NodeInput{Node: n.Value, LastHeartbeat: last[n.Key]})
	}
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].Node.ID < snap.Nodes[j].Node.ID })
	snap.Tasks = ts
	return snap, nil
}

// readTasks returns the task records sel chooses, by revision, as a
// read of the bucket returns them: from the cache once it has caught up
// with the bucket (state.Cache.Sync says why that is every record
// written before, by any manager, when the caller holds the placement
// lock), else from the server. The entries' values are the cache's:
// nobody changes them (every write reads its record afresh, Mutate).
func (r *Runtime) readTasks(ctx context.Context, sel taskSel) ([]state.Entry[state.Task], error) {
	c := r.taskCache()
	err := c.Sync(ctx)
	if err == nil {
		return c.Snapshot(sel.keep)
	}
	if ctx.Err() != nil {
		return nil, err
	}
	r.log.Debug("cluster tasks: the cache of the task records is behind, reading them from the server", "err", err)
	return r.st.Tasks().FindWhere(ctx, ">", sel.skip)
}

// values are the snapshot's task records.
func (s Snapshot) values() []state.Task {
	out := make([]state.Task, len(s.Tasks))
	for i, e := range s.Tasks {
		out[i] = e.Value
	}
	return out
}

// live is the scheduler's view of the nodes whose agents heartbeat.
func (r *Runtime) live(s Snapshot) []sched.Node {
	now := r.now()
	var in []NodeInput
	for _, n := range s.Nodes {
		if !n.LastHeartbeat.IsZero() && now.Sub(n.LastHeartbeat) <= r.hbTimeout {
			in = append(in, n)
		}
	}
	return View(in, s.values())
}

// Spec is a run of tasks of one task definition.
type Spec struct {
	Cluster string
	TaskDef state.TaskDefinition
	// Count is how many tasks (1 to MaxRunCount; 0 means 1).
	Count       int
	LaunchType  string
	Constraints []state.PlacementConstraint
	Strategies  []state.PlacementStrategy
	// Network is the run's networkConfiguration (nil: none); its
	// subnets constrain the placement.
	Network   *state.NetworkConfiguration
	Overrides *state.TaskOverrides
	StartedBy string
	// Group is the tasks' group ("family:<family>" when empty).
	Group string
	Tags  []state.Tag
	// Nodes, when set, are the nodes to start one task on each
	// (StartTask): no placement, but still within their capacity.
	Nodes []string
}

// RunResult is what Run recorded and what it could not place.
type RunResult struct {
	Tasks    []state.Task
	Failures []sched.Failure
}

// Validate checks a spec as ECS's RunTask checks its input.
func (sp *Spec) Validate() error {
	if sp.Count == 0 {
		sp.Count = 1
	}
	if sp.Count < 1 || sp.Count > MaxRunCount {
		return fmt.Errorf("count must be between 1 and %d: %w", MaxRunCount, errdefs.ErrInvalidArgument)
	}
	if sp.LaunchType == "" {
		sp.LaunchType = string(sched.LaunchEC2)
	}
	eff := Effective(sp.TaskDef, sp.Overrides)
	switch sched.LaunchType(sp.LaunchType) {
	case sched.LaunchEC2:
	case sched.LaunchFargate:
		if err := sched.ValidateFargate(SchedTaskDef(eff)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("launchType must be EC2 or FARGATE, not %q: %w", sp.LaunchType, errdefs.ErrInvalidArgument)
	}
	if sp.TaskDef.Status == state.TaskDefInactive {
		return fmt.Errorf("TaskDefinition is inactive: %w", errdefs.ErrInvalidArgument)
	}
	if sp.Group == "" {
		sp.Group = "family:" + sp.TaskDef.Family
	}
	if len(sp.StartedBy) > 128 || len(sp.Group) > 255 {
		return fmt.Errorf("startedBy is at most 128 characters and group at most 255: %w", errdefs.ErrInvalidArgument)
	}
	for _, co := range overrides(sp.Overrides) {
		found := false
		for _, c := range sp.TaskDef.ContainerDefinitions {
			found = found || c.Name == co.Name
		}
		if !found {
			return fmt.Errorf("Container Overrides contains a container name %q not in the task definition: %w", co.Name, errdefs.ErrInvalidArgument)
		}
	}
	r := sched.Request{LaunchType: sched.LaunchType(sp.LaunchType), Constraints: SchedConstraints(sp.Constraints), Strategies: SchedStrategies(sp.Strategies)}
	return r.Validate()
}

func overrides(o *state.TaskOverrides) []state.ContainerOverride {
	if o == nil {
		return nil
	}
	return o.ContainerOverrides
}

// Run places the spec's tasks and records them; the nodes' agents start
// them. Tasks that cannot be placed are failures with ECS's reason.
func (r *Runtime) Run(ctx context.Context, sp Spec) (RunResult, error) {
	if err := checkNames(sp.Cluster); err != nil {
		return RunResult{}, err
	}
	if err := sp.Validate(); err != nil {
		return RunResult{}, err
	}
	var res RunResult
	err := r.withPlacement(ctx, func() error {
		var err error
		res, err = r.run(ctx, sp)
		return err
	})
	return res, err
}

// run places and records, holding the placement lock.
func (r *Runtime) run(ctx context.Context, sp Spec) (RunResult, error) {
	snap, err := r.readLive(ctx)
	if err != nil {
		return RunResult{}, err
	}
	nodes := r.live(snap)
	eff := Effective(sp.TaskDef, sp.Overrides)
	req := sched.TaskRequirements(SchedTaskDef(eff))
	var res RunResult
	var placed []string
	if len(sp.Nodes) > 0 {
		placed, res.Failures = startOn(nodes, sp.Nodes, req)
	} else {
		pr, err := sched.Place(nodes, sched.Request{Group: sp.Group, Family: sp.TaskDef.Family, Requirements: req, Count: sp.Count,
			LaunchType: sched.LaunchType(sp.LaunchType), Constraints: SchedConstraints(sp.Constraints), Network: NetworkConstraints(nil, sp.Network), Strategies: SchedStrategies(sp.Strategies)},
			uint64(r.now().UnixNano()))
		if err != nil {
			return RunResult{}, err
		}
		for _, p := range pr.Placements {
			placed = append(placed, p.NodeID)
		}
		res.Failures = pr.Failures
	}
	now := r.now().UTC()
	for _, node := range placed {
		t := state.Task{ID: NewID(), Cluster: sp.Cluster, NodeID: node, Family: sp.TaskDef.Family, Revision: sp.TaskDef.Revision,
			LaunchType: sp.LaunchType, NetworkMode: sp.TaskDef.NetworkMode, Group: sp.Group, StartedBy: sp.StartedBy, Overrides: sp.Overrides,
			CPU: req.CPU, MemoryMiB: req.Memory, HostPorts: hostPorts(req.Ports),
			DesiredStatus: string(sched.StatusRunning), LastStatus: string(sched.StatusProvisioning), CreatedAt: now, Tags: sp.Tags,
			Containers: pendingContainers(eff)}
		if _, err := r.st.Tasks().Create(ctx, state.TaskKey(node, t.ID), t); err != nil {
			return res, err
		}
		res.Tasks = append(res.Tasks, t)
	}
	return res, nil
}

// pendingContainers are a new task's containers, PENDING, as RunTask
// answers them.
func pendingContainers(td state.TaskDefinition) []state.TaskContainer {
	out := make([]state.TaskContainer, 0, len(td.ContainerDefinitions))
	for _, c := range td.ContainerDefinitions {
		out = append(out, state.TaskContainer{Name: c.Name, Image: c.Image, Status: string(sched.ContainerPending)})
	}
	return out
}

// startOn checks each named node's room for one task, as StartTask does.
func startOn(nodes []sched.Node, ids []string, req sched.Requirements) ([]string, []sched.Failure) {
	var placed []string
	var fails []sched.Failure
	for _, id := range ids {
		var n *sched.Node
		for i := range nodes {
			if nodes[i].ID == id {
				n = &nodes[i]
			}
		}
		if n == nil {
			fails = append(fails, sched.Failure{Reason: "MISSING", NodeID: id})
			continue
		}
		pr, _ := sched.Place([]sched.Node{*n}, sched.Request{Group: "start", Requirements: req, Count: 1}, 0)
		if len(pr.Placements) == 0 {
			fails = append(fails, sched.Failure{Reason: pr.Failures[0].Reason, NodeID: id})
			continue
		}
		// The task now takes from the node for the next one.
		n.Remaining.CPU -= req.CPU
		n.Remaining.Memory -= req.Memory
		n.PortsInUse = append(n.PortsInUse, req.Ports...)
		placed = append(placed, id)
	}
	return placed, fails
}

// tokenRE is what a task id, node id, cluster or service name may be:
// one token of a KV key, so that no name can widen a key pattern
// ("*", ">") or reach another table's layout (".").
var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// ValidName reports whether s can name a task, node, cluster or service.
func ValidName(s string) bool { return tokenRE.MatchString(s) }

func checkNames(names ...string) error {
	for _, n := range names {
		if !ValidName(n) {
			return fmt.Errorf("%q is not a valid name (letters, digits, - and _, at most 255): %w", n, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// Find returns a task's record and key by id.
func (r *Runtime) Find(ctx context.Context, id string) (state.Entry[state.Task], error) {
	if !ValidName(id) {
		return state.Entry[state.Task]{}, fmt.Errorf("task %q not found: %w", id, errdefs.ErrNotFound)
	}
	es, err := r.st.Tasks().Find(ctx, "*."+id)
	if err != nil {
		return state.Entry[state.Task]{}, err
	}
	if len(es) == 0 {
		return state.Entry[state.Task]{}, fmt.Errorf("task %s not found: %w", id, errdefs.ErrNotFound)
	}
	return es[0], nil
}

// Get returns a task by id.
func (r *Runtime) Get(ctx context.Context, id string) (state.Task, error) {
	e, err := r.Find(ctx, id)
	return e.Value, err
}

// Stop asks for a task to stop (desiredStatus STOPPED) with ECS's
// UserInitiated code and reason; its agent stops its containers. A task
// already stopping keeps its first reason.
func (r *Runtime) Stop(ctx context.Context, id, reason string) (state.Task, error) {
	return r.stop(ctx, id, sched.StopUserInitiated, reason)
}

func (r *Runtime) stop(ctx context.Context, id string, code sched.StopCode, reason string) (state.Task, error) {
	e, err := r.Find(ctx, id)
	if err != nil {
		return state.Task{}, err
	}
	now := r.now().UTC()
	return state.Mutate(ctx, r.st.Tasks(), e.Key, func(t *state.Task) error {
		markStop(t, code, reason, now)
		return nil
	})
}

// markStop sets a task's desired status to STOPPED unless it is already.
func markStop(t *state.Task, code sched.StopCode, reason string, now time.Time) {
	if t.DesiredStatus == string(sched.StatusStopped) {
		return
	}
	t.DesiredStatus = string(sched.StatusStopped)
	if t.StopCode == "" {
		t.StopCode, t.StoppedReason = string(code), reason
	}
	if t.StoppingAt == nil {
		t.StoppingAt = &now
	}
}

// Filter selects tasks for List; empty fields match every task.
type Filter struct {
	Cluster       string
	Family        string
	Service       string
	StartedBy     string
	NodeID        string
	DesiredStatus string
}

// List returns the tasks that match f, newest first.
func (r *Runtime) List(ctx context.Context, f Filter) ([]state.Task, error) {
	pattern := ">"
	if f.NodeID != "" {
		if !ValidName(f.NodeID) {
			return nil, nil
		}
		pattern = f.NodeID + ".*"
	}
	es, err := r.st.Tasks().Find(ctx, pattern)
	if err != nil {
		return nil, err
	}
	var out []state.Task
	for _, e := range es {
		t := e.Value
		switch {
		case f.Cluster != "" && t.Cluster != f.Cluster,
			f.Family != "" && t.Family != f.Family,
			f.Service != "" && t.Service != f.Service,
			f.StartedBy != "" && t.StartedBy != f.StartedBy,
			f.DesiredStatus != "" && t.DesiredStatus != f.DesiredStatus:
			continue
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Wait returns a task once its lastStatus is STOPPED (its containers'
// exit codes are in it), or ctx's error. It watches the task's record,
// it does not poll.
func (r *Runtime) Wait(ctx context.Context, id string) (state.Task, error) {
	e, err := r.Find(ctx, id)
	if err != nil {
		return state.Task{}, err
	}
	return r.wait(ctx, id, e)
}

// WaitOn is Wait for a task whose node is known (as its placer knows
// it): its record is read by its key, not looked up by id among every
// node's tasks. That lookup is a watch of the keys matching `*.<id>`,
// and it once came back empty for a task created 14 ms before (a Batch
// child on a cluster with 10,000 task records), which Wait took for a
// deleted task.
func (r *Runtime) WaitOn(ctx context.Context, node, id string) (state.Task, error) {
	if !ValidName(id) || !ValidName(node) {
		return state.Task{}, fmt.Errorf("task %q on node %q not found: %w", id, node, errdefs.ErrNotFound)
	}
	e, err := r.st.Tasks().Get(ctx, state.TaskKey(node, id))
	if err != nil {
		return state.Task{}, err
	}
	return r.wait(ctx, id, e)
}

func (r *Runtime) wait(ctx context.Context, id string, e state.Entry[state.Task]) (state.Task, error) {
	if e.Value.LastStatus == string(sched.StatusStopped) {
		return e.Value, nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := r.st.Tasks().WatchKeys(wctx, e.Key)
	if err != nil {
		return state.Task{}, err
	}
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return state.Task{}, ctx.Err()
				}
				return state.Task{}, fmt.Errorf("the watch of task %s ended: %w", id, errdefs.ErrUnavailable)
			}
			if ev.Deleted {
				return state.Task{}, fmt.Errorf("task %s was deleted: %w", id, errdefs.ErrNotFound)
			}
			if ev.Value.LastStatus == string(sched.StatusStopped) {
				return ev.Value, nil
			}
		case <-ctx.Done():
			return state.Task{}, ctx.Err()
		}
	}
}

// Resolve finds a task definition: a revision, or (rev 0) the family's
// latest ACTIVE one.
func Resolve(ctx context.Context, st *state.Store, family string, rev int) (state.TaskDefinition, error) {
	if rev > 0 {
		e, err := st.TaskDefs().Get(ctx, state.TaskDefKey(family, rev))
		return e.Value, err
	}
	f, err := st.Families().Get(ctx, family)
	if err != nil {
		return state.TaskDefinition{}, err
	}
	for r := f.Value.LastRevision; r >= 1; r-- {
		e, err := st.TaskDefs().Get(ctx, state.TaskDefKey(family, r))
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return state.TaskDefinition{}, err
		}
		if e.Value.Status == state.TaskDefActive {
			return e.Value, nil
		}
	}
	return state.TaskDefinition{}, fmt.Errorf("no ACTIVE revision of %s: %w", family, errdefs.ErrNotFound)
}
