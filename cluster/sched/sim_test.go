package sched

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"
)

// world is a simulated cluster that applies service plans the way the
// runtime does and moves tasks along as agents would, so that tests can
// run the reconciler in a loop and check every step.
type world struct {
	t     *testing.T
	seed  int64
	rng   *rand.Rand
	now   time.Time
	svc   *Service
	tasks map[string]*Task
	nodes []Node
	dead  map[string]time.Time // node → when it stopped heartbeating
	// bad marks task definitions whose tasks never get healthy.
	bad    map[*TaskDef]bool
	tds    map[string]*TaskDef // deployment id → task definition
	nextID int
	opts   ServiceOptions
	events []string
	// checkStep, when set, runs on every step's state and plan.
	checkStep func(st ServiceState, plan ServicePlan)
}

func newWorld(t *testing.T, seed int64, nodes []Node, svc *Service) *world {
	w := &world{
		t: t, seed: seed, rng: rand.New(rand.NewSource(seed)),
		now:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		svc:   svc,
		tasks: map[string]*Task{}, nodes: nodes,
		dead: map[string]time.Time{}, bad: map[*TaskDef]bool{}, tds: map[string]*TaskDef{},
		opts: ServiceOptions{HeartbeatTimeout: 5 * time.Second, Seed: uint64(seed)},
	}
	return w
}

func (w *world) id(prefix string) string {
	w.nextID++
	return fmt.Sprintf("%s-%04d", prefix, w.nextID)
}

func (w *world) depByID(id string) *Deployment {
	for i := range w.svc.Deployments {
		if w.svc.Deployments[i].ID == id {
			return &w.svc.Deployments[i]
		}
	}
	return nil
}

// state builds what the runtime would read from the KV: nodes with the
// remaining capacity their agents report (registered minus every task not
// yet STOPPED) and the service's tasks.
func (w *world) state() ServiceState {
	nodes := make([]Node, len(w.nodes))
	for i, n := range w.nodes {
		n.Tasks = nil
		n.PortsInUse = nil
		n.Remaining = n.Registered
		if at, ok := w.dead[n.ID]; ok {
			n.LastHeartbeat = at
		} else {
			n.LastHeartbeat = w.now
		}
		nodes[i] = n
	}
	idx := map[string]int{}
	for i := range nodes {
		idx[nodes[i].ID] = i
	}
	var tasks []Task
	for _, id := range w.sortedTaskIDs() {
		t := w.tasks[id]
		tasks = append(tasks, *t)
		if t.LastStatus == StatusStopped {
			continue
		}
		n := &nodes[idx[t.NodeID]]
		req := TaskRequirements(w.depByIDOrAny(t.DeploymentID))
		n.Remaining.CPU -= req.CPU
		n.Remaining.Memory -= req.Memory
		n.PortsInUse = append(n.PortsInUse, req.Ports...)
		n.Tasks = append(n.Tasks, PlacedTask{ID: t.ID, Group: w.svc.Group(), Resources: req.Resources, Ports: req.Ports})
	}
	return ServiceState{Service: w.svc, Tasks: tasks, Nodes: nodes}
}

// depByIDOrAny returns a deployment's task definition, even after the
// deployment is gone, as a task record carries its definition's ARN.
func (w *world) depByIDOrAny(depID string) *TaskDef {
	return w.tds[depID]
}

func (w *world) sortedTaskIDs() []string {
	ids := make([]string, 0, len(w.tasks))
	for id := range w.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// deploy makes a new PRIMARY deployment of td, as UpdateService does.
func (w *world) deploy(td *TaskDef, rollback bool) string {
	for i := range w.svc.Deployments {
		if w.svc.Deployments[i].Status == DeploymentPrimary {
			w.svc.Deployments[i].Status = DeploymentActive
		}
	}
	id := w.id("ecs-svc/dep")
	w.tds[id] = td
	w.svc.Deployments = append(w.svc.Deployments, Deployment{ID: id, Status: DeploymentPrimary,
		RolloutState: RolloutInProgress, TaskDef: td, Rollback: rollback, CreatedAt: w.now})
	w.svc.Steady = false
	return id
}

// step reconciles once, checks the plan, applies it and lets a second
// pass. It returns the plan.
func (w *world) step() ServicePlan {
	w.t.Helper()
	st := w.state()
	plan, err := ReconcileService(st, w.now, w.opts)
	if err != nil {
		w.t.Fatalf("seed %d: ReconcileService: %v", w.seed, err)
	}
	w.checkPlan(st, plan)
	if w.checkStep != nil {
		w.checkStep(st, plan)
	}
	w.apply(plan)
	w.advance()
	return plan
}

// checkPlan asserts the invariants every plan must keep.
func (w *world) checkPlan(st ServiceState, plan ServicePlan) {
	w.t.Helper()
	b := ServiceBounds(w.svc.DesiredCount, w.svc.Config)
	lost := map[string]bool{}
	nodes := map[string]*Node{}
	for i := range st.Nodes {
		n := &st.Nodes[i]
		nodes[n.ID] = n
		if w.now.Sub(n.LastHeartbeat) > w.opts.HeartbeatTimeout {
			lost[n.ID] = true
		}
	}
	healthy, notStopped := 0, 0
	isHealthy := map[string]bool{}
	for i := range st.Tasks {
		t := &st.Tasks[i]
		if t.LastStatus == StatusStopped || lost[t.NodeID] {
			continue
		}
		notStopped++
		if taskHealthy(t, hasHealthCheck(w.depByIDOrAny(t.DeploymentID))) {
			healthy++
			isHealthy[t.ID] = true
		}
	}
	healthyStops := 0
	for _, s := range plan.Stop {
		if isHealthy[s.TaskID] {
			healthyStops++
		}
	}
	if allowed := max(0, healthy-b.MinHealthy); healthyStops > allowed {
		w.t.Fatalf("seed %d at %s: plan stops %d healthy tasks of %d with minHealthy %d", w.seed, w.now, healthyStops, healthy, b.MinHealthy)
	}
	if len(plan.Start) > 0 && notStopped+len(plan.Start) > b.MaxRunning {
		w.t.Fatalf("seed %d at %s: %d tasks running + %d starts > maxRunning %d", w.seed, w.now, notStopped, len(plan.Start), b.MaxRunning)
	}
	used := map[string]Resources{}
	ports := map[string]map[HostPort]bool{}
	for _, s := range plan.Start {
		n := nodes[s.NodeID]
		if n == nil || n.Status != NodeActive || lost[n.ID] {
			w.t.Fatalf("seed %d: task started on node %s which is missing, draining or lost", w.seed, s.NodeID)
		}
		r := TaskRequirements(s.TaskDef)
		u := used[n.ID]
		u.CPU += r.CPU
		u.Memory += r.Memory
		used[n.ID] = u
		if u.CPU > n.Remaining.CPU || u.Memory > n.Remaining.Memory {
			w.t.Fatalf("seed %d: starts use %+v on node %s with %+v remaining", w.seed, u, n.ID, n.Remaining)
		}
		if ports[n.ID] == nil {
			ports[n.ID] = map[HostPort]bool{}
			for _, p := range n.PortsInUse {
				ports[n.ID][p] = true
			}
		}
		for _, p := range r.Ports {
			if ports[n.ID][p] {
				w.t.Fatalf("seed %d: port %v used twice on %s", w.seed, p, n.ID)
			}
			ports[n.ID][p] = true
		}
	}
}

// apply does what the runtime does with a plan.
func (w *world) apply(plan ServicePlan) {
	for _, c := range plan.Deployments {
		d := w.depByID(c.ID)
		completes := c.RolloutState == RolloutCompleted && d.RolloutState != RolloutCompleted
		d.Status, d.RolloutState, d.FailedTasks = c.Status, c.RolloutState, c.FailedTasks
		if completes {
			cp := *d
			w.svc.LastCompleted = &cp
		}
	}
	kept := w.svc.Deployments[:0]
	for _, d := range w.svc.Deployments {
		if d.Status != DeploymentInactive {
			kept = append(kept, d)
		}
	}
	w.svc.Deployments = kept
	if plan.NewDeployment != nil {
		w.deploy(plan.NewDeployment.TaskDef, plan.NewDeployment.Rollback)
	}
	for _, s := range plan.Stop {
		t := w.tasks[s.TaskID]
		t.DesiredStatus, t.StopCode, t.StoppedReason = StatusStopped, s.Code, s.Reason
	}
	for _, id := range plan.Forget {
		delete(w.tasks, id)
	}
	for _, s := range plan.Start {
		id := w.id("task")
		w.tasks[id] = &Task{ID: id, DeploymentID: s.DeploymentID, NodeID: s.NodeID,
			LastStatus: StatusPending, DesiredStatus: StatusRunning, Health: HealthUnknown}
	}
	w.svc.Steady = plan.Steady
	w.events = append(w.events, plan.Events...)
}

// advance moves time by a second and each task, with some chance, one
// step along its life: stops complete, pending tasks run, running ones
// get their health. Tasks on dead nodes are frozen, since nobody reports
// for them; the scheduler stops them by its own decision.
func (w *world) advance() {
	w.now = w.now.Add(time.Second)
	for _, id := range w.sortedTaskIDs() {
		t := w.tasks[id]
		if _, dead := w.dead[t.NodeID]; dead {
			if t.DesiredStatus == StatusStopped {
				t.LastStatus = StatusStopped
			}
			continue
		}
		td := w.depByIDOrAny(t.DeploymentID)
		bad := w.bad[td]
		if bad && !hasHealthCheck(td) && t.LastStatus == StatusRunning && t.DesiredStatus == StatusRunning {
			// A crashing revision without health checks dies right
			// after it starts.
			t.LastStatus, t.DesiredStatus, t.StopCode = StatusStopped, StatusStopped, StopEssentialExited
			continue
		}
		if w.rng.Intn(3) == 0 {
			continue // this agent is slow this time
		}
		switch {
		case t.LastStatus == StatusStopped:
		case t.DesiredStatus == StatusStopped:
			t.LastStatus = StatusStopped
		case t.LastStatus == StatusPending:
			if bad && w.rng.Intn(2) == 0 {
				t.LastStatus, t.DesiredStatus, t.StopCode = StatusStopped, StatusStopped, StopEssentialExited
				t.StoppedReason = "Essential container in task exited"
				continue
			}
			t.LastStatus, t.StartedAt = StatusRunning, w.now
		case t.LastStatus == StatusRunning && t.Health == HealthUnknown && hasHealthCheck(td):
			if bad {
				t.Health = HealthUnhealthy
			} else {
				t.Health = HealthHealthy
			}
		}
	}
}

// live counts the tasks of each deployment that serve, and all tasks not
// STOPPED.
func (w *world) live() (healthyByDep map[string]int, notStopped int) {
	healthyByDep = map[string]int{}
	for _, t := range w.tasks {
		if t.LastStatus == StatusStopped {
			continue
		}
		notStopped++
		if taskHealthy(t, hasHealthCheck(w.depByIDOrAny(t.DeploymentID))) {
			healthyByDep[t.DeploymentID]++
		}
	}
	return
}

// runUntil steps until done says so, failing after limit steps.
func (w *world) runUntil(limit int, what string, done func() bool) {
	w.t.Helper()
	for i := 0; i < limit; i++ {
		w.step()
		if done() {
			return
		}
	}
	h, n := w.live()
	w.t.Fatalf("seed %d: %s not reached in %d steps: desired %d, healthy by deployment %v, %d not stopped, deployments %+v, last events %q",
		w.seed, what, limit, w.svc.DesiredCount, h, n, w.svc.Deployments, lastN(w.events, 4))
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// steadyOn reports whether the service runs exactly its desired count of
// healthy tasks of the deployment, COMPLETED, with nothing else left.
func (w *world) steadyOn(depID string) bool {
	h, n := w.live()
	d := w.depByID(depID)
	return d != nil && d.Status == DeploymentPrimary && d.RolloutState == RolloutCompleted &&
		h[depID] == w.svc.DesiredCount && n == w.svc.DesiredCount && len(w.svc.Deployments) == 1
}
