package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// The task runner runs, on every node, the tasks the cluster assigned to
// the node. It watches the node's tasks ("<node>.*" in the tasks table)
// and the engine's event bus (the start, exit and health of the tasks'
// containers), and after each change asks sched.ReconcileTask what the
// task needs next: pull its images (PROVISIONING), create and start the
// containers whose dependsOn conditions hold (PENDING), stop them in
// dependency order (STOPPING), remove them (DEPROVISIONING). It writes
// what it saw — lastStatus, each container's status, exit code and
// health, the task's health — into the task record.
//
// Each task's containers are engine containers named
// ecs-<family>-<revision>-<container>-<task id> and labelled as the ECS
// agent labels them (com.amazonaws.ecs.cluster, .task-arn,
// .container-name, .task-definition-family, .task-definition-version)
// plus LabelTaskID, which is how the runner finds them again: after a
// daemon restart (kill -9 included) the engine re-adopts the running
// containers and the runner, reading the records and the labels, takes
// the tasks up where they are, creating nothing twice.
//
// A node cut off from the managers keeps its containers running: the
// runner only stops a container when a record it has read says so, or
// when a full read of the node's tasks (not a failed one) no longer
// lists its task. When the node comes back, the tasks the controller
// replaced meanwhile are desired STOPPED (and STOPPED) and their
// containers are stopped and removed here.

// LabelTaskID is the label carrying the task id on a task's containers.
const LabelTaskID = "wharf.task-id"

// The ECS agent's labels on a task's containers.
const (
	LabelCluster       = "com.amazonaws.ecs.cluster"
	LabelTaskARN       = "com.amazonaws.ecs.task-arn"
	LabelContainerName = "com.amazonaws.ecs.container-name"
	LabelFamily        = "com.amazonaws.ecs.task-definition-family"
	LabelVersion       = "com.amazonaws.ecs.task-definition-version"
)

// DefaultStopTimeout is how long a container has to exit after SIGTERM
// before it is killed, when its definition sets no stopTimeout (ECS's
// ECS_CONTAINER_STOP_TIMEOUT default).
const DefaultStopTimeout = 30

// resyncEvery is how often the runner re-reads all the node's tasks, to
// recover from a watch that missed something (a reconnection) and to
// find orphaned containers.
const resyncEvery = 10 * time.Second

// Engine is what the runner needs of the node's container engine
// (container.Engine). Create records a container, Start runs it, Stop
// waits for its exit, Remove deletes it; List returns every container.
type Engine interface {
	Create(ctx context.Context, o container.CreateOptions) (*container.Container, error)
	Start(ctx context.Context, ref string) error
	Stop(ctx context.Context, ref string, timeout *int, signal string) error
	Remove(ctx context.Context, ref string, o container.RemoveOptions) error
	List(ctx context.Context) []*container.Container
	// Logs reads a container's log (tasklogs.go ships it).
	Logs(ctx context.Context, ref string, o container.LogsOptions, emit func(logfile.Entry) error) error
}

// Images finds and pulls the tasks' images (the engine's image store).
type Images interface {
	Get(ctx context.Context, ref string) (*store.Image, error)
	Pull(ctx context.Context, ref string, progress func(store.Progress)) (*store.Image, error)
}

// Events is the engine's event bus.
type Events interface {
	Subscribe(o events.SubscribeOptions) (*events.Subscription, error)
}

// Runner runs the node's tasks.
type Runner struct {
	st     *state.Store
	node   string
	engine Engine
	images Images
	events Events
	log    *slog.Logger
	now    func() time.Time

	mu    sync.Mutex
	busy  map[string]bool
	dirty map[string]bool
	keys  map[string]string // task id → key, as last read
	tds   map[string]state.TaskDefinition

	// secrets, secretsDir and volumes serve the tasks' secrets and
	// volumes (taskres.go).
	secrets    Secrets
	secretsDir string
	volumes    Volumes
	// network is the network bridge-mode task containers join (""
	// : the default bridge); see mesh.go.
	network string

	// fargateRuntime is the runtime of FARGATE tasks (taskiso.go).
	fargateRuntime string

	// tasknet and tasknets put awsvpc tasks on the cluster's task
	// network (awsvpc.go); nil: awsvpc tasks run on the task network.
	tasknet  *TaskNet
	tasknets TaskNetworks
}

// NewRunner returns the runner of node's tasks.
func NewRunner(st *state.Store, node string, engine Engine, images Images, ev Events, log *slog.Logger, opts ...RunnerOption) *Runner {
	r := &Runner{st: st, node: node, engine: engine, images: images, events: ev, log: log, now: time.Now,
		busy: map[string]bool{}, dirty: map[string]bool{}, keys: map[string]string{}, tds: map[string]state.TaskDefinition{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Run runs until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	sub, err := r.events.Subscribe(events.SubscribeOptions{Internal: true, Filter: func(ev events.Event) bool {
		return ev.Type == events.TypeContainer && ev.Actor.Attributes[LabelTaskID] != ""
	}})
	if err != nil {
		r.log.Error("cluster: the task runner cannot follow the engine's events", "err", err)
		return
	}
	go r.followEvents(ctx, sub)
	go r.watch(ctx)
	t := time.NewTicker(resyncEvery)
	defer t.Stop()
	for {
		r.resync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// followEvents kicks a task when one of its containers starts, exits or
// changes health.
func (r *Runner) followEvents(ctx context.Context, sub *events.Subscription) {
	for {
		ev, err := sub.Next(ctx)
		var lost *events.LostError
		switch {
		case errors.As(err, &lost):
			r.resync(ctx)
			continue
		case err != nil:
			return
		}
		switch a := ev.Action; {
		case a == "start", a == "die", a == "oom", a == "destroy", strings.HasPrefix(a, "health_status"):
			r.kick(ctx, ev.Actor.Attributes[LabelTaskID])
		}
	}
}

// watch kicks a task on every change of its record.
func (r *Runner) watch(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := r.st.Tasks().WatchKeys(ctx, r.node+".*")
		if err == nil {
			for e := range ch {
				_, id := state.TaskKeyID(e.Key)
				r.mu.Lock()
				if e.Deleted {
					delete(r.keys, id)
				} else {
					r.keys[id] = e.Key
				}
				r.mu.Unlock()
				r.kick(ctx, id)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// resync reads every task of the node, kicks each, and stops and
// removes the containers of tasks no longer recorded.
func (r *Runner) resync(ctx context.Context) {
	// STOPPED tasks are not read (a node that ran a Batch array keeps
	// thousands for an hour): one that still has a container here is
	// found below, by that container.
	es, err := r.st.Tasks().FindWhere(ctx, r.node+".*", state.StoppedTaskRecord)
	if err != nil {
		// Cut off from the managers: the tasks keep running.
		return
	}
	known := map[string]bool{}
	r.mu.Lock()
	for _, e := range es {
		known[e.Value.ID] = true
		r.keys[e.Value.ID] = e.Key
	}
	r.mu.Unlock()
	for _, e := range es {
		r.kick(ctx, e.Value.ID)
	}
	for _, c := range r.engine.List(ctx) {
		id := c.Config.Labels[LabelTaskID]
		if id == "" || known[id] {
			continue
		}
		if r.adopt(ctx, id) {
			known[id] = true
			continue
		}
		r.log.Info("cluster: removing the container of a task the cluster no longer has", "task", id, "container", c.ID)
		r.removeContainer(ctx, c, DefaultStopTimeout)
		r.releaseTask(ctx, id)
	}
	r.sweepTaskSandboxes(ctx, known)
	r.sweepSecrets(ctx, known)
}

// adopt kicks a task that something of it on the node (a container, an
// address) shows and that resync's read of the live tasks did not give,
// if its record is still there: STOPPED (its reconciliation removes what
// is left of it), or placed after the read began. It reports whether it
// was; if not, what is left is a leftover.
func (r *Runner) adopt(ctx context.Context, id string) bool {
	if !r.stillRecorded(ctx, id) {
		return false
	}
	r.mu.Lock()
	r.keys[id] = state.TaskKey(r.node, id)
	r.mu.Unlock()
	r.kick(ctx, id)
	return true
}

// stillRecorded says whether the task id of this node is in the
// cluster's state after all (or cannot be told): a task placed after
// resync's read of the node's tasks began and started before its read of
// the engine's containers is not in that read, and its container must
// not be taken for a leftover.
func (r *Runner) stillRecorded(ctx context.Context, id string) bool {
	_, err := r.st.Tasks().Get(ctx, state.TaskKey(r.node, id))
	return !errdefs.IsNotFound(err)
}

// kick has a task reconciled: now, or again once its current
// reconciliation ends.
func (r *Runner) kick(ctx context.Context, id string) {
	if id == "" {
		return
	}
	r.mu.Lock()
	if r.busy[id] {
		r.dirty[id] = true
		r.mu.Unlock()
		return
	}
	r.busy[id] = true
	r.mu.Unlock()
	go func() {
		for {
			if err := r.reconcile(ctx, id); err != nil && ctx.Err() == nil {
				r.log.Debug("cluster: task", "task", id, "err", err)
			}
			r.mu.Lock()
			if r.dirty[id] && ctx.Err() == nil {
				delete(r.dirty, id)
				r.mu.Unlock()
				continue
			}
			delete(r.busy, id)
			delete(r.dirty, id)
			r.mu.Unlock()
			return
		}
	}()
}

// containersOf returns the engine containers of a task by container
// name.
func (r *Runner) containersOf(ctx context.Context, id string) map[string]*container.Container {
	out := map[string]*container.Container{}
	for _, c := range r.engine.List(ctx) {
		if c.Config.Labels[LabelTaskID] == id {
			out[c.Config.Labels[LabelContainerName]] = c
		}
	}
	return out
}

func (r *Runner) taskDef(ctx context.Context, family string, rev int) (state.TaskDefinition, error) {
	key := state.TaskDefKey(family, rev)
	r.mu.Lock()
	td, ok := r.tds[key]
	r.mu.Unlock()
	if ok {
		return td, nil
	}
	e, err := r.st.TaskDefs().Get(ctx, key)
	if err != nil {
		return td, err
	}
	r.mu.Lock()
	r.tds[key] = e.Value
	r.mu.Unlock()
	return e.Value, nil
}

// maxSteps bounds one reconciliation: a task goes through at most eight
// statuses, each a step or two.
const maxSteps = 24

// reconcile takes a task as far as it can go now.
func (r *Runner) reconcile(ctx context.Context, id string) error {
	r.mu.Lock()
	key := r.keys[id]
	r.mu.Unlock()
	if key == "" {
		return nil
	}
	for step := 0; step < maxSteps; step++ {
		e, err := r.st.Tasks().Get(ctx, key)
		if errdefs.IsNotFound(err) {
			// Deleted: the resync removes its containers.
			return nil
		}
		if err != nil {
			return err
		}
		t := e.Value
		cs := r.containersOf(ctx, id)
		td, err := r.taskDef(ctx, t.Family, t.Revision)
		if err != nil {
			return err
		}
		if t.LastStatus == string(sched.StatusStopped) {
			// Replaced while the node was away, or done: nothing of it
			// runs here.
			for name, c := range cs {
				r.removeContainer(ctx, c, stopTimeout(td, name))
			}
			if len(cs) > 0 {
				r.releaseTask(ctx, id)
				r.releaseTaskResources(ctx, t, td)
			}
			r.releaseTaskSandbox(ctx, id)
			return nil
		}
		eff := tasks.Effective(td, t.Overrides)
		progressed, err := r.step(ctx, key, t, eff, cs)
		if err != nil || !progressed {
			return err
		}
	}
	return nil
}

// step runs one sched.ReconcileTask decision and records the result. It
// reports whether anything changed (another step may follow).
func (r *Runner) step(ctx context.Context, key string, t state.Task, td state.TaskDefinition, cs map[string]*container.Container) (bool, error) {
	states := containerStates(t, td, cs, ReasonContainerGone)
	ti := sched.TaskInstance{TaskDef: tasks.SchedTaskDef(td), LastStatus: sched.TaskStatus(t.LastStatus), DesiredStatus: sched.TaskStatus(t.DesiredStatus),
		Provisioned: t.Provisioned, Activated: t.Activated, Deactivated: t.Deactivated, Deprovisioned: t.Deprovisioned}
	for _, s := range states {
		ti.Containers = append(ti.Containers, sched.ContainerState{Name: s.Name, Status: sched.ContainerStatus(s.Status), ExitCode: s.ExitCode,
			Health: sched.Health(s.Health), Started: s.Started})
	}
	st, err := sched.ReconcileTask(ti)
	if err != nil {
		return false, err
	}
	next := t
	now := r.now().UTC()
	acted := false
	failed := map[string]string{} // container → why it could not start
	switch {
	case st.Provision:
		acted = true
		next.PullStartedAt = &now
		if err := r.pull(ctx, td); err != nil {
			next.DesiredStatus = string(sched.StatusStopped)
			next.StopCode = string(sched.StopTaskFailedToStart)
			next.StoppedReason = "CannotPullContainerError: " + err.Error()
			if next.StoppingAt == nil {
				next.StoppingAt = &now
			}
		} else if why, err := r.provisionTask(ctx, t, td); err != nil {
			next.DesiredStatus = string(sched.StatusStopped)
			next.StopCode = string(sched.StopTaskFailedToStart)
			next.StoppedReason = why
			if next.StoppingAt == nil {
				next.StoppingAt = &now
			}
		} else {
			done := r.now().UTC()
			next.PullStoppedAt = &done
			next.Provisioned = true
		}
	case st.Activate:
		// Nothing to register yet: service discovery is not built, so
		// the task is reachable once its containers run.
		acted, next.Activated = true, true
	case st.Deactivate:
		acted, next.Deactivated = true, true
	case st.Deprovision:
		acted = true
		for _, c := range cs {
			r.shipLogs(ctx, t, td, c)
			r.removeContainer(ctx, c, stopTimeout(td, c.Config.Labels[LabelContainerName]))
		}
		r.releaseTask(ctx, t.ID)
		r.releaseTaskResources(ctx, t, td)
		r.releaseTaskSandbox(ctx, t.ID)
		if next.Attachment != nil {
			a := *next.Attachment
			a.Status = state.AttachmentDeleted
			next.Attachment = &a
		}
		next.Deprovisioned = true
	}
	for _, name := range st.Start {
		acted = true
		if err := r.startContainer(ctx, t, td, name, cs[name]); err != nil {
			r.log.Info("cluster: a task's container did not start", "task", t.ID, "container", name, "err", err)
			failed[name] = "CannotStartContainerError: " + err.Error()
		}
	}
	for _, name := range st.Stop {
		if c := cs[name]; c != nil {
			acted = true
			timeout := stopTimeout(td, name)
			if err := r.engine.Stop(ctx, c.ID, &timeout, ""); err != nil && !errdefs.IsNotFound(err) {
				r.log.Info("cluster: stopping a task's container", "task", t.ID, "container", name, "err", err)
			}
		}
	}
	gone := ReasonContainerGone
	if acted {
		// What the actions changed is read back from the engine.
		cs = r.containersOf(ctx, t.ID)
		if st.Deprovision {
			cs, gone = map[string]*container.Container{}, ""
		}
	}
	if r.awsvpc(t, td) && !st.Deprovision && !next.Deprovisioned && r.tasknetUp() {
		// (Before the node's task network is up again after a restart,
		// the record keeps what it had.)
		if sb, ok := r.tasknets.Sandbox(TaskSandboxID(t.ID)); ok {
			next.Attachment = r.attachment(t, sb)
		}
	}
	next.Containers = containerStates(next, td, cs, gone)
	for i := range next.Containers {
		if why, ok := failed[next.Containers[i].Name]; ok && next.Containers[i].Status != "RUNNING" {
			next.Containers[i].Status, next.Containers[i].Reason = string(sched.ContainerStopped), why
		}
	}
	next.LastStatus = string(st.LastStatus)
	next.Health = string(st.Health)
	if st.DesiredStatus == sched.StatusStopped && next.DesiredStatus != string(sched.StatusStopped) {
		next.DesiredStatus = string(sched.StatusStopped)
		next.StopCode, next.StoppedReason = string(st.StopCode), st.StoppedReason
		next.StoppingAt = &now
	}
	if next.LastStatus == string(sched.StatusRunning) && next.StartedAt == nil {
		next.StartedAt = &now
	}
	switch sched.TaskStatus(next.LastStatus) {
	case sched.StatusStopping, sched.StatusDeprovisioning, sched.StatusStopped:
		if next.ExecutionStopAt == nil {
			next.ExecutionStopAt = &now
		}
	}
	if next.LastStatus == string(sched.StatusStopped) && next.StoppedAt == nil {
		next.StoppedAt = &now
	}
	if !acted && sameTask(t, next) {
		return false, nil
	}
	_, err = state.Mutate(ctx, r.st.Tasks(), key, func(cur *state.Task) error {
		if cur.LastStatus == string(sched.StatusStopped) {
			// The controller settled it (its node was lost): never move
			// a task back.
			return nil
		}
		agentFields(cur, next)
		return nil
	})
	return true, err
}

// agentFields copies the fields the agent owns from src onto dst, and a
// stop the agent decided when dst has none.
func agentFields(dst *state.Task, src state.Task) {
	dst.LastStatus, dst.Health, dst.Containers = src.LastStatus, src.Health, src.Containers
	dst.Provisioned, dst.Activated, dst.Deactivated, dst.Deprovisioned = src.Provisioned, src.Activated, src.Deactivated, src.Deprovisioned
	dst.Attachment = src.Attachment
	dst.PullStartedAt, dst.PullStoppedAt, dst.StartedAt, dst.ExecutionStopAt, dst.StoppedAt = src.PullStartedAt, src.PullStoppedAt, src.StartedAt, src.ExecutionStopAt, src.StoppedAt
	if src.DesiredStatus == string(sched.StatusStopped) && dst.DesiredStatus != string(sched.StatusStopped) {
		dst.DesiredStatus, dst.StopCode, dst.StoppedReason, dst.StoppingAt = src.DesiredStatus, src.StopCode, src.StoppedReason, src.StoppingAt
	}
}

func sameTask(a, b state.Task) bool {
	if a.LastStatus != b.LastStatus || a.Health != b.Health || a.DesiredStatus != b.DesiredStatus || len(a.Containers) != len(b.Containers) {
		return false
	}
	if (a.Attachment == nil) != (b.Attachment == nil) || a.Attachment != nil && *a.Attachment != *b.Attachment {
		return false
	}
	for i := range a.Containers {
		x, y := a.Containers[i], b.Containers[i]
		if x.Status != y.Status || x.Health != y.Health || x.Started != y.Started || x.EngineID != y.EngineID || x.Reason != y.Reason ||
			(x.ExitCode == nil) != (y.ExitCode == nil) || (x.ExitCode != nil && *x.ExitCode != *y.ExitCode) || len(x.NetworkBindings) != len(y.NetworkBindings) {
			return false
		}
	}
	return true
}

// ReasonContainerGone is a task container's reason when its engine
// container disappeared from under a task that had not stopped it.
const ReasonContainerGone = "CannotInspectContainerError: the container is no longer on its node"

// containerStates are the task's containers as the engine has them, and
// as the record last had them for those the engine no longer has; one
// made and now gone is STOPPED, with the reason gone (the agent removing
// them itself at deprovisioning gives none).
func containerStates(t state.Task, td state.TaskDefinition, cs map[string]*container.Container, gone string) []state.TaskContainer {
	prev := map[string]state.TaskContainer{}
	for _, c := range t.Containers {
		prev[c.Name] = c
	}
	out := make([]state.TaskContainer, 0, len(td.ContainerDefinitions))
	for _, def := range td.ContainerDefinitions {
		c := cs[def.Name]
		if c == nil {
			p, ok := prev[def.Name]
			if !ok {
				p = state.TaskContainer{Name: def.Name, Image: def.Image, Status: string(sched.ContainerPending)}
			} else if p.EngineID != "" && p.Status != string(sched.ContainerStopped) {
				// Its container was made and is no longer on the node
				// (removed behind the agent's back, or lost with the
				// engine's state): it runs no more, and a task kept
				// RUNNING for it would hold its resources for ever.
				p.Status, p.ExitCode, p.NetworkBindings = string(sched.ContainerStopped), nil, nil
				if p.Reason == "" {
					p.Reason = gone
				}
			}
			out = append(out, p)
			continue
		}
		tc := state.TaskContainer{Name: def.Name, EngineID: c.ID, Image: def.Image, Health: healthOf(c), Started: !c.State.StartedAt.IsZero()}
		switch c.State.Status {
		case container.StatusCreated:
			tc.Status = string(sched.ContainerCreated)
		case container.StatusRunning, container.StatusPaused, container.StatusRestarting:
			tc.Status = string(sched.ContainerRunning)
			tc.Started = true
		default:
			tc.Status = string(sched.ContainerStopped)
			code := c.State.ExitCode
			if tc.Started {
				tc.ExitCode = &code
			}
			if c.State.OOMKilled {
				tc.Reason = "OutOfMemoryError: Container killed due to memory usage"
			} else if c.State.Error != "" {
				tc.Reason = c.State.Error
			}
		}
		if tc.Status == string(sched.ContainerRunning) {
			for _, p := range c.NetworkSettings.Ports {
				ip := "0.0.0.0"
				if p.HostIP.IsValid() {
					ip = p.HostIP.String()
				}
				tc.NetworkBindings = append(tc.NetworkBindings, state.NetworkBinding{BindIP: ip,
					ContainerPort: int(p.ContainerPort), HostPort: int(p.HostPort), Protocol: p.Proto})
			}
		}
		out = append(out, tc)
	}
	return out
}

func healthOf(c *container.Container) string {
	switch c.State.HealthStatus() {
	case container.HealthHealthy:
		return string(sched.HealthHealthy)
	case container.HealthUnhealthy:
		return string(sched.HealthUnhealthy)
	case container.HealthNone:
		return ""
	}
	return string(sched.HealthUnknown)
}

// pull makes sure every container's image is on the node.
func (r *Runner) pull(ctx context.Context, td state.TaskDefinition) error {
	for _, c := range td.ContainerDefinitions {
		if _, err := r.images.Get(ctx, c.Image); err == nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		_, err := r.images.Pull(pctx, c.Image, nil)
		cancel()
		if err != nil {
			return fmt.Errorf("pull image %s: %w", c.Image, err)
		}
	}
	return nil
}

func stopTimeout(td state.TaskDefinition, name string) int {
	for _, c := range td.ContainerDefinitions {
		if c.Name == name && c.StopTimeout != nil {
			return *c.StopTimeout
		}
	}
	return DefaultStopTimeout
}

func (r *Runner) removeContainer(ctx context.Context, c *container.Container, timeout int) {
	if c.State.Running() {
		if err := r.engine.Stop(ctx, c.ID, &timeout, ""); err != nil && !errdefs.IsNotFound(err) {
			r.log.Info("cluster: stopping a task's container", "container", c.ID, "err", err)
		}
	}
	if err := r.engine.Remove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
		r.log.Info("cluster: removing a task's container", "container", c.ID, "err", err)
	}
}

// ContainerName is the engine name of a task's container.
func ContainerName(t state.Task, container string) string {
	return fmt.Sprintf("ecs-%s-%d-%s-%s", t.Family, t.Revision, container, t.ID)
}

// startContainer creates (unless it exists) and starts a container of a
// task.
func (r *Runner) startContainer(ctx context.Context, t state.Task, td state.TaskDefinition, name string, c *container.Container) error {
	var sb *network.Sandbox
	if r.awsvpc(t, td) {
		// The task's namespace, set up again if it went (the node
		// restarted while none of the task's containers ran): the
		// containers join it by a path that does not change.
		var err error
		if sb, err = r.ensureTaskSandbox(ctx, t); err != nil {
			return fmt.Errorf("the task's network interface: %w", err)
		}
	}
	if c == nil {
		o, err := CreateOptions(t, td, name)
		if err != nil {
			return err
		}
		for i := range td.ContainerDefinitions {
			if td.ContainerDefinitions[i].Name == name {
				if err := r.addTaskResources(ctx, t, td, &td.ContainerDefinitions[i], &o); err != nil {
					return err
				}
			}
		}
		if sb != nil {
			r.onAwsvpc(sb, &o)
		} else {
			r.onTaskNetwork(&o)
		}
		if err := r.isolate(t, td, &o); err != nil {
			return err
		}
		c, err = r.engine.Create(ctx, o)
		if err != nil {
			return err
		}
	}
	return r.engine.Start(ctx, c.ID)
}

// CreateOptions is the engine container of one container definition of
// a task: its image, command, entry point, environment, labels, limits
// (cpu units as CPU shares, memory and memoryReservation in MiB), port
// mappings (bridge: published; host: the host's network), health check
// and stop timeout, with no restart policy (the service replaces a task
// whose essential container exits, as ECS does).
func CreateOptions(t state.Task, td state.TaskDefinition, name string) (container.CreateOptions, error) {
	var def *state.ContainerDefinition
	for i := range td.ContainerDefinitions {
		if td.ContainerDefinitions[i].Name == name {
			def = &td.ContainerDefinitions[i]
		}
	}
	if def == nil {
		return container.CreateOptions{}, fmt.Errorf("container %s is not in %s:%d: %w", name, td.Family, td.Revision, errdefs.ErrNotFound)
	}
	labels := map[string]string{}
	for k, v := range def.DockerLabels {
		labels[k] = v
	}
	labels[LabelTaskID] = t.ID
	labels[LabelCluster] = t.Cluster
	labels[LabelTaskARN] = tasks.TaskARN(t.Cluster, t.ID)
	labels[LabelContainerName] = name
	labels[LabelFamily] = td.Family
	labels[LabelVersion] = strconv.Itoa(td.Revision)
	cfg := container.Config{Image: def.Image, Cmd: def.Command, Entrypoint: def.EntryPoint, EntrypointSet: len(def.EntryPoint) > 0,
		WorkingDir: def.WorkingDirectory, User: def.User, Hostname: def.Hostname, Labels: labels, StopTimeout: def.StopTimeout}
	for _, kv := range def.Environment {
		cfg.Env = append(cfg.Env, kv.Name+"="+kv.Value)
	}
	hc := container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "no"}, LogConfig: container.DefaultLogConfig()}
	switch td.NetworkMode {
	case "host":
		hc.NetworkMode = "host"
	case "none":
		hc.NetworkMode = "none"
	default:
		// bridge; and awsvpc, which the runner moves into the task's
		// namespace on the cluster's task network (awsvpc.go) where the
		// node has one.
		hc.NetworkMode = "bridge"
	}
	if def.Cpu > 0 {
		hc.CPUShares = int64(def.Cpu)
	}
	if def.Memory != nil {
		hc.Memory = int64(*def.Memory) << 20
	}
	if def.MemoryReservation != nil {
		hc.MemoryReservation = int64(*def.MemoryReservation) << 20
	}
	if def.Privileged != nil {
		hc.Privileged = *def.Privileged
	}
	if def.ReadonlyRootFS != nil {
		hc.ReadonlyRootfs = *def.ReadonlyRootFS
	}
	if len(def.PortMappings) > 0 {
		cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range def.PortMappings {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		cfg.ExposedPorts[strconv.Itoa(p.ContainerPort)+"/"+proto] = struct{}{}
		if hc.NetworkMode == "bridge" && td.NetworkMode != "awsvpc" {
			hc.PortBindings = append(hc.PortBindings, portBinding(proto, p.ContainerPort, p.HostPort))
		}
	}
	if h := def.HealthCheck; h != nil && len(h.Command) > 0 {
		cfg.Healthcheck = &container.HealthConfig{Test: h.Command, Interval: time.Duration(h.Interval) * time.Second,
			Timeout: time.Duration(h.Timeout) * time.Second, Retries: h.Retries, StartPeriod: time.Duration(h.StartPeriod) * time.Second}
	}
	return container.CreateOptions{Name: ContainerName(t, name), Config: cfg, HostConfig: hc}, nil
}

func portBinding(proto string, containerPort, hostPort int) network.PortBinding {
	return network.PortBinding{Proto: proto, ContainerPort: uint16(containerPort), HostPort: uint16(hostPort)}
}
