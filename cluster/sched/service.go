package sched

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// ServiceOptions tune ReconcileService.
type ServiceOptions struct {
	// HeartbeatTimeout after which a node that has not reported is lost
	// and its tasks are replaced (default 5 s, so that replacement
	// starts well within the 10 s the cluster promises).
	HeartbeatTimeout time.Duration
	// StableFor is how long every task of the primary deployment must
	// have been RUNNING before the deployment is COMPLETED and the
	// service steady (default 5 s): a revision that crashes right after
	// it starts would otherwise complete between two crashes and escape
	// the circuit breaker.
	StableFor time.Duration
	// Seed for placement ties and the random strategy.
	Seed uint64
}

// DefaultStableFor is ServiceOptions.StableFor's default.
const DefaultStableFor = 5 * time.Second

// DefaultHeartbeatTimeout is ServiceOptions.HeartbeatTimeout's default.
const DefaultHeartbeatTimeout = 5 * time.Second

// StartTask asks for one task of a deployment on a node.
type StartTask struct {
	DeploymentID string
	NodeID       string
	TaskDef      *TaskDef
}

// StopTask asks for a task to be stopped, with ECS's stopCode and
// stoppedReason.
type StopTask struct {
	TaskID string
	Code   StopCode
	Reason string
}

// DeploymentChange sets a deployment's status, rollout state and failure
// count. When RolloutState becomes COMPLETED the runtime also records the
// deployment as the service's LastCompleted.
type DeploymentChange struct {
	ID                 string
	Status             DeploymentStatus
	RolloutState       RolloutState
	RolloutStateReason string
	FailedTasks        int
}

// NewDeployment asks for a deployment to be created as the service's
// PRIMARY, IN_PROGRESS; the runtime gives it an id.
type NewDeployment struct {
	TaskDef  *TaskDef
	Rollback bool
}

// ServicePlan is what ReconcileService decided. The runtime applies it in
// order: deployment changes and the new deployment, stops, forgets,
// starts; then it appends the events to the service's event log.
type ServicePlan struct {
	Start         []StartTask
	Stop          []StopTask
	Forget        []string // STOPPED tasks now accounted for; drop them
	Deployments   []DeploymentChange
	NewDeployment *NewDeployment
	Failures      []Failure
	Events        []string
	// Steady is the service's new Steady flag.
	Steady bool
}

// Bounds are a service's rolling-update bounds for its desired count.
type Bounds struct {
	MinHealthy int
	MaxRunning int
}

// ServiceBounds computes the bounds as ECS rounds them: the minimum
// healthy count rounds up, the maximum running count rounds down.
func ServiceBounds(desired int, c DeploymentConfig) Bounds {
	min, max := c.MinimumHealthyPercent, c.MaximumPercent
	return Bounds{
		MinHealthy: (desired*min + 99) / 100,
		MaxRunning: desired * max / 100,
	}
}

// FailureThreshold is the circuit breaker's threshold for a desired count:
// half of it (rounded up), at least 3 and at most 200.
func FailureThreshold(desired int) int {
	t := (desired + 1) / 2
	if t < 3 {
		t = 3
	}
	if t > 200 {
		t = 200
	}
	return t
}

// ValidateService checks what ECS's CreateService and UpdateService
// check of the parts the reconciler relies on.
func ValidateService(s *Service) error {
	if s.DesiredCount < 0 {
		return fmt.Errorf("%w: desiredCount must be at least 0", errdefs.ErrInvalidArgument)
	}
	c := s.Config
	if c.MinimumHealthyPercent < 0 || c.MinimumHealthyPercent > 100 {
		return fmt.Errorf("%w: minimumHealthyPercent must be between 0 and 100", errdefs.ErrInvalidArgument)
	}
	if c.MaximumPercent < 100 {
		return fmt.Errorf("%w: maximumPercent must be at least 100", errdefs.ErrInvalidArgument)
	}
	r := Request{LaunchType: s.LaunchType, Constraints: s.Constraints, Strategies: s.Strategies, Network: s.Network}
	return r.Validate()
}

// hasHealthCheck reports whether a task of td has a health status of its
// own: ECS derives a task's health from its essential containers' checks.
func hasHealthCheck(td *TaskDef) bool {
	if td == nil {
		return false
	}
	for _, c := range td.Containers {
		if c.Essential && c.HealthCheck {
			return true
		}
	}
	return false
}

// taskHealthy reports whether a task serves: RUNNING, and HEALTHY when its
// definition has health checks.
func taskHealthy(t *Task, checked bool) bool {
	if t.LastStatus != StatusRunning || t.DesiredStatus != StatusRunning {
		return false
	}
	if checked {
		return t.Health == HealthHealthy
	}
	return t.Health != HealthUnhealthy
}

// failedStop reports whether a stopped task counts as a failure.
func failedStop(t *Task) bool {
	return t.StopCode == StopTaskFailedToStart || t.StopCode == StopEssentialExited
}

// candidate is a live task the reconciler may stop.
type candidate struct {
	task    *Task
	healthy bool
	reason  string
}

// ReconcileService decides the next step for a service from its state and
// the time. It never stops a healthy task when that would leave fewer
// than the minimum healthy count, never starts one that would make more
// than the maximum running count, and replaces lost and unhealthy tasks
// at once. The state is not modified.
func ReconcileService(st ServiceState, now time.Time, opts ServiceOptions) (ServicePlan, error) {
	svc := st.Service
	if err := ValidateService(svc); err != nil {
		return ServicePlan{}, err
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if opts.StableFor <= 0 {
		opts.StableFor = DefaultStableFor
	}
	var plan ServicePlan
	name := svc.Name
	D := svc.DesiredCount
	bounds := ServiceBounds(D, svc.Config)

	var primary *Deployment
	deps := map[string]*Deployment{}
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		deps[d.ID] = d
		if d.Status == DeploymentPrimary {
			if primary != nil {
				return ServicePlan{}, fmt.Errorf("%w: service %s has two PRIMARY deployments", errdefs.ErrConflict, name)
			}
			primary = d
		}
	}
	if primary == nil {
		return ServicePlan{}, fmt.Errorf("%w: service %s has no PRIMARY deployment", errdefs.ErrConflict, name)
	}

	nodes := map[string]*Node{}
	lost := map[string]bool{}
	var usable []Node
	for i := range st.Nodes {
		n := &st.Nodes[i]
		nodes[n.ID] = n
		if now.Sub(n.LastHeartbeat) > opts.HeartbeatTimeout {
			lost[n.ID] = true
			continue
		}
		usable = append(usable, *n)
	}

	failed := map[string]int{} // new failures per deployment
	var stopped []string
	var keep []*Task        // live tasks of the primary on usable ACTIVE nodes
	var replace []candidate // live tasks that must move or go
	notStopped := 0         // tasks that may still run, lost nodes aside
	healthy := 0            // tasks serving now
	pending := 0            // tasks in transition (not yet serving, or stopping)

	tasks := make([]*Task, len(st.Tasks))
	for i := range st.Tasks {
		tasks[i] = &st.Tasks[i]
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].ID < tasks[j].ID })

	for _, t := range tasks {
		d := deps[t.DeploymentID]
		inProgress := d != nil && d.RolloutState == RolloutInProgress
		if t.LastStatus == StatusStopped {
			plan.Forget = append(plan.Forget, t.ID)
			if inProgress && failedStop(t) {
				failed[d.ID]++
			}
			continue
		}
		if lost[t.NodeID] || nodes[t.NodeID] == nil {
			if t.DesiredStatus != StatusStopped {
				plan.Stop = append(plan.Stop, StopTask{t.ID, StopSchedulerInitiated,
					fmt.Sprintf("Container instance (container-instance %s) was lost: no heartbeat for %s", t.NodeID, opts.HeartbeatTimeout)})
				stopped = append(stopped, t.ID)
			}
			continue
		}
		notStopped++
		if t.DesiredStatus == StatusStopped {
			pending++
			continue
		}
		if t.LastStatus == StatusRunning && t.Health == HealthUnhealthy {
			plan.Stop = append(plan.Stop, StopTask{t.ID, StopSchedulerInitiated, "Task failed container health checks"})
			stopped = append(stopped, t.ID)
			if inProgress {
				failed[d.ID]++
			}
			pending++
			continue
		}
		ok := taskHealthy(t, hasHealthCheck(depTaskDef(d)))
		if ok {
			healthy++
		} else {
			pending++
		}
		switch {
		case d != primary:
			reason := fmt.Sprintf("Scaling activity initiated by (deployment %s)", primary.ID)
			replace = append(replace, candidate{t, ok, reason})
		case nodes[t.NodeID].Status != NodeActive:
			reason := fmt.Sprintf("Container instance (container-instance %s) is DRAINING", t.NodeID)
			replace = append(replace, candidate{t, ok, reason})
		default:
			keep = append(keep, t)
		}
	}

	// The circuit breaker, on the primary deployment only while it rolls
	// out.
	rolledBack := false
	for id, n := range failed {
		d := deps[id]
		count := d.FailedTasks + n
		change := DeploymentChange{ID: id, Status: d.Status, RolloutState: d.RolloutState, FailedTasks: count}
		if d == primary && svc.Config.CircuitBreaker.Enable && count >= FailureThreshold(D) {
			change.RolloutState = RolloutFailed
			change.RolloutStateReason = "ECS deployment circuit breaker: tasks failed to start."
			plan.Events = append(plan.Events, fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", name, id))
			if svc.Config.CircuitBreaker.Rollback && svc.LastCompleted != nil && !d.Rollback {
				change.Status = DeploymentActive
				plan.NewDeployment = &NewDeployment{TaskDef: svc.LastCompleted.TaskDef, Rollback: true}
				plan.Events = append(plan.Events, fmt.Sprintf("(service %s) rolling back to deployment %s.", name, svc.LastCompleted.ID))
				rolledBack = true
			}
		}
		plan.Deployments = append(plan.Deployments, change)
	}
	sort.Slice(plan.Deployments, func(i, j int) bool { return plan.Deployments[i].ID < plan.Deployments[j].ID })
	primaryFailed := primary.RolloutState == RolloutFailed
	for _, c := range plan.Deployments {
		if c.ID == primary.ID && c.RolloutState == RolloutFailed {
			primaryFailed = true
		}
	}

	// Starts: the primary's missing tasks, within maxRunning. A failed
	// deployment launches nothing more (ECS stops launching its tasks);
	// a rollback starts from the next reconciliation, once it exists.
	need := D - len(keep)
	room := bounds.MaxRunning - notStopped
	started := 0
	if need > 0 && room > 0 && !primaryFailed && !rolledBack {
		n := min(need, room)
		req := TaskRequirements(primary.TaskDef)
		placer := NewPlacer(usable, opts.Seed)
		res, err := placer.Place(Request{
			Group: svc.Group(), Family: primary.TaskDef.Family, Requirements: req, Count: n,
			LaunchType: svc.LaunchType, Constraints: svc.Constraints, Strategies: svc.Strategies, Network: svc.Network,
		})
		if err != nil {
			return ServicePlan{}, err
		}
		for _, p := range res.Placements {
			plan.Start = append(plan.Start, StartTask{DeploymentID: primary.ID, NodeID: p.NodeID, TaskDef: primary.TaskDef})
		}
		started = len(res.Placements)
		if len(res.Failures) > 0 {
			plan.Failures = res.Failures
			plan.Events = append(plan.Events, UnableToPlaceEvent(name, res.Failures[0]))
		}
	}

	// Stops: the primary's excess over the desired count, then the tasks
	// to replace. Tasks that do not serve go first and freely; a serving
	// task only while more than minHealthy serve.
	var cands []candidate
	if excess := len(keep) - D; excess > 0 {
		// The tasks not yet serving first, then as ECS keeps the rest
		// balanced (scalein.go).
		serving := func(t *Task) bool { return taskHealthy(t, hasHealthCheck(primary.TaskDef)) }
		for _, t := range scaleIn(keep, excess, nodes, scaleInFields(svc.LaunchType, svc.Strategies), serving) {
			cands = append(cands, candidate{t, taskHealthy(t, hasHealthCheck(primary.TaskDef)),
				fmt.Sprintf("Scaling activity initiated by (deployment %s)", primary.ID)})
		}
	}
	cands = append(cands, replace...)
	sort.SliceStable(cands, func(i, j int) bool { return !cands[i].healthy && cands[j].healthy })
	budget := healthy - bounds.MinHealthy
	for _, c := range cands {
		if c.healthy {
			if budget <= 0 {
				continue
			}
			budget--
		}
		plan.Stop = append(plan.Stop, StopTask{c.task.ID, StopSchedulerInitiated, c.reason})
		stopped = append(stopped, c.task.ID)
	}
	if len(stopped) > 0 {
		plan.Events = append(plan.Events, StoppedEvent(name, stopped))
	}

	// A deployment that can neither start nor stop because of its bounds
	// (say 100 % and 100 %) is stuck: ECS says so.
	stuck := len(plan.Start) == 0 && len(plan.Stop) == 0 && pending == 0 && len(plan.Failures) == 0 &&
		!primaryFailed && !rolledBack && (need > 0 || len(replace) > 0)
	if stuck {
		plan.Events = append(plan.Events, fmt.Sprintf("(service %s) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.", name))
	}

	// Steady state: exactly the desired count of the primary, all
	// serving, nothing else running and nothing to do.
	stable := true
	for _, t := range keep {
		if now.Sub(t.StartedAt) < opts.StableFor {
			stable = false
		}
	}
	steady := len(keep) == D && healthy == D && notStopped == D && len(replace) == 0 && stable &&
		len(plan.Start) == 0 && len(plan.Stop) == 0 && started == 0 && !rolledBack
	if steady && primary.RolloutState == RolloutInProgress {
		plan.Deployments = append(plan.Deployments, DeploymentChange{ID: primary.ID, Status: DeploymentPrimary,
			RolloutState: RolloutCompleted, RolloutStateReason: "ECS deployment " + primary.ID + " completed.", FailedTasks: primary.FailedTasks})
		for _, d := range svc.Deployments {
			if d.ID != primary.ID {
				plan.Deployments = append(plan.Deployments, DeploymentChange{ID: d.ID, Status: DeploymentInactive, RolloutState: d.RolloutState, FailedTasks: d.FailedTasks})
			}
		}
		plan.Events = append(plan.Events, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", name, primary.ID))
	}
	if steady && !svc.Steady {
		plan.Events = append(plan.Events, fmt.Sprintf("(service %s) has reached a steady state.", name))
	}
	plan.Steady = steady
	return plan, nil
}

func depTaskDef(d *Deployment) *TaskDef {
	if d == nil {
		return nil
	}
	return d.TaskDef
}

// StoppedEvent is ECS's event for tasks the scheduler stopped.
func StoppedEvent(service string, taskIDs []string) string {
	return fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", service, len(taskIDs), taskList(taskIDs))
}

// StartedEvent is ECS's event for tasks the scheduler started; the
// runtime writes it once it has given the tasks their ids.
func StartedEvent(service string, taskIDs []string) string {
	return fmt.Sprintf("(service %s) has started %d tasks: %s.", service, len(taskIDs), taskList(taskIDs))
}

func taskList(ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "(task " + id + ")"
	}
	return strings.Join(parts, " ")
}
