package sched

import (
	"fmt"
	"sort"

	"github.com/wharf-dev/wharf/errdefs"
)

// ContainerStatus of one container of a task, as its agent reports it.
type ContainerStatus string

// Container statuses: PENDING until created, then CREATED, RUNNING and
// STOPPED (with an exit code).
const (
	ContainerPending ContainerStatus = "PENDING"
	ContainerCreated ContainerStatus = "CREATED"
	ContainerRunning ContainerStatus = "RUNNING"
	ContainerStopped ContainerStatus = "STOPPED"
)

// ContainerState is a container's reported state.
type ContainerState struct {
	Name     string
	Status   ContainerStatus
	ExitCode *int
	Health   Health
	// Started says the container ran at some point (a STOPPED container
	// may never have started, when the task stopped first).
	Started bool
}

// TaskInstance is a task as its agent sees it: the definition, the
// statuses and what the agent has done so far.
type TaskInstance struct {
	TaskDef       *TaskDef
	LastStatus    TaskStatus
	DesiredStatus TaskStatus
	Containers    []ContainerState
	// Provisioned: the task's network (awsvpc address) and volumes are
	// ready. Activated: it is registered for service discovery and the
	// mesh. Deactivated, Deprovisioned: the reverse steps are done.
	Provisioned   bool
	Activated     bool
	Deactivated   bool
	Deprovisioned bool
}

// TaskStep is what ReconcileTask decided: the task's new statuses, the
// steps to run now and the containers to start or stop.
type TaskStep struct {
	LastStatus    TaskStatus
	DesiredStatus TaskStatus
	// StopCode and StoppedReason are set when the step itself decides
	// the task must stop (an essential container exited, a dependency
	// can no longer be met).
	StopCode      StopCode
	StoppedReason string
	Provision     bool
	Activate      bool
	Deactivate    bool
	Deprovision   bool
	Start         []string
	Stop          []string
	// Health is the task's health from its essential containers.
	Health Health
}

// ValidateTaskDef checks what ECS's RegisterTaskDefinition checks of the
// container dependencies: they name containers of the task, have a known
// condition, form no cycle, and COMPLETE and SUCCESS are not used on an
// essential container (it would stop the task when it completes); and
// that at least one container is essential.
func ValidateTaskDef(td *TaskDef) error {
	byName := map[string]*ContainerDef{}
	essential := false
	for i := range td.Containers {
		c := &td.Containers[i]
		if c.Name == "" {
			return fmt.Errorf("%w: container name is required", errdefs.ErrInvalidArgument)
		}
		if byName[c.Name] != nil {
			return fmt.Errorf("%w: duplicate container name %q", errdefs.ErrInvalidArgument, c.Name)
		}
		byName[c.Name] = c
		essential = essential || c.Essential
	}
	if !essential {
		return fmt.Errorf("%w: Task definition does not have any essential container.", errdefs.ErrInvalidArgument)
	}
	for _, c := range td.Containers {
		for _, d := range c.DependsOn {
			dep := byName[d.ContainerName]
			if dep == nil {
				return fmt.Errorf("%w: container %s depends on unknown container %q", errdefs.ErrInvalidArgument, c.Name, d.ContainerName)
			}
			switch d.Condition {
			case CondStart:
			case CondHealthy:
				if !dep.HealthCheck {
					return fmt.Errorf("%w: container %s depends on %s being HEALTHY, but %s has no healthCheck", errdefs.ErrInvalidArgument, c.Name, dep.Name, dep.Name)
				}
			case CondComplete, CondSuccess:
				if dep.Essential {
					return fmt.Errorf("%w: container %s depends on %s with condition %s, which cannot be set on an essential container", errdefs.ErrInvalidArgument, c.Name, dep.Name, d.Condition)
				}
			default:
				return fmt.Errorf("%w: unknown dependsOn condition %q", errdefs.ErrInvalidArgument, d.Condition)
			}
		}
	}
	// Cycles: depth-first search with colours.
	const (
		white = iota
		grey
		black
	)
	colour := map[string]int{}
	var visit func(name string) error
	visit = func(name string) error {
		colour[name] = grey
		for _, d := range byName[name].DependsOn {
			switch colour[d.ContainerName] {
			case grey:
				return fmt.Errorf("%w: container dependencies form a cycle through %s and %s", errdefs.ErrInvalidArgument, name, d.ContainerName)
			case white:
				if err := visit(d.ContainerName); err != nil {
					return err
				}
			}
		}
		colour[name] = black
		return nil
	}
	for _, c := range td.Containers {
		if colour[c.Name] == white {
			if err := visit(c.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// depState is whether a dependency's condition holds now, can still come
// to hold, or never will.
type depState int

const (
	depWait depState = iota
	depMet
	depNever
)

func conditionState(cond DependencyCondition, c ContainerState) depState {
	switch cond {
	case CondStart:
		if c.Started || c.Status == ContainerRunning {
			return depMet
		}
		if c.Status == ContainerStopped {
			return depNever
		}
	case CondComplete:
		if c.Status == ContainerStopped && c.Started {
			return depMet
		}
		if c.Status == ContainerStopped {
			return depNever
		}
	case CondSuccess:
		if c.Status == ContainerStopped && c.Started && c.ExitCode != nil && *c.ExitCode == 0 {
			return depMet
		}
		if c.Status == ContainerStopped {
			return depNever
		}
	case CondHealthy:
		if c.Status == ContainerRunning && c.Health == HealthHealthy {
			return depMet
		}
		if c.Status == ContainerStopped {
			return depNever
		}
	}
	return depWait
}

// TaskHealth is a task's health as ECS derives it from its essential
// containers that have health checks: UNHEALTHY if any is, HEALTHY if all
// are, UNKNOWN otherwise (and when none has a check).
func TaskHealth(td *TaskDef, states map[string]ContainerState) Health {
	checked, healthy := 0, 0
	for _, c := range td.Containers {
		if !c.Essential || !c.HealthCheck {
			continue
		}
		checked++
		switch states[c.Name].Health {
		case HealthUnhealthy:
			return HealthUnhealthy
		case HealthHealthy:
			healthy++
		}
	}
	if checked > 0 && healthy == checked {
		return HealthHealthy
	}
	return HealthUnknown
}

// ReconcileTask decides a task's next step. It moves the task at most one
// status forward, in ECS's order, and never backward; it starts a
// container only once every one of its dependsOn conditions holds, and
// stops a container only once no running container depends on it.
func ReconcileTask(ti TaskInstance) (TaskStep, error) {
	td := ti.TaskDef
	if td == nil {
		return TaskStep{}, fmt.Errorf("%w: task has no task definition", errdefs.ErrInvalidArgument)
	}
	states := map[string]ContainerState{}
	for _, c := range ti.Containers {
		states[c.Name] = c
	}
	for _, c := range td.Containers {
		if _, ok := states[c.Name]; !ok {
			states[c.Name] = ContainerState{Name: c.Name, Status: ContainerPending}
		}
	}
	step := TaskStep{LastStatus: ti.LastStatus, DesiredStatus: ti.DesiredStatus, Health: TaskHealth(td, states)}
	if step.LastStatus == "" {
		step.LastStatus = StatusProvisioning
	}
	if step.DesiredStatus == "" {
		step.DesiredStatus = StatusRunning
	}

	if step.DesiredStatus == StatusRunning && step.LastStatus != StatusStopped {
		// An essential container that stopped, or a container whose
		// dependency can never be met, stops the task.
		for _, c := range td.Containers {
			s := states[c.Name]
			if c.Essential && s.Status == ContainerStopped {
				step.DesiredStatus = StatusStopped
				if s.Started {
					step.StopCode, step.StoppedReason = StopEssentialExited, "Essential container in task exited"
				} else {
					step.StopCode = StopTaskFailedToStart
					step.StoppedReason = fmt.Sprintf("CannotStartContainerError: essential container %s did not start", c.Name)
				}
				break
			}
			if s.Status != ContainerPending && s.Status != ContainerCreated {
				continue
			}
			for _, d := range c.DependsOn {
				if conditionState(d.Condition, states[d.ContainerName]) == depNever {
					step.DesiredStatus, step.StopCode = StatusStopped, StopTaskFailedToStart
					step.StoppedReason = fmt.Sprintf("Container %s dependency condition %s on container %s cannot be met", c.Name, d.Condition, d.ContainerName)
					break
				}
			}
			if step.DesiredStatus == StatusStopped {
				break
			}
		}
	}

	if step.DesiredStatus == StatusRunning {
		runUp(td, &ti, states, &step)
	} else {
		runDown(td, &ti, states, &step)
	}
	return step, nil
}

// runUp moves a task toward RUNNING.
func runUp(td *TaskDef, ti *TaskInstance, states map[string]ContainerState, step *TaskStep) {
	switch ti.LastStatus {
	case StatusProvisioning, "":
		if !ti.Provisioned {
			step.Provision = true
			return
		}
		step.LastStatus = StatusPending
	case StatusPending:
		step.Start = startable(td, states)
		allStarted, essentialsUp := true, true
		for _, c := range td.Containers {
			s := states[c.Name]
			if !s.Started && s.Status != ContainerRunning {
				allStarted = false
			}
			if c.Essential && s.Status != ContainerRunning {
				essentialsUp = false
			}
		}
		if allStarted && essentialsUp {
			step.LastStatus = StatusActivating
		}
	case StatusActivating:
		if !ti.Activated {
			step.Activate = true
			return
		}
		step.LastStatus = StatusRunning
	}
}

// startable lists the containers not yet started whose dependencies all
// hold now, in definition order.
func startable(td *TaskDef, states map[string]ContainerState) []string {
	var out []string
	for _, c := range td.Containers {
		s := states[c.Name]
		if s.Started || s.Status == ContainerRunning || s.Status == ContainerStopped {
			continue
		}
		ok := true
		for _, d := range c.DependsOn {
			if conditionState(d.Condition, states[d.ContainerName]) != depMet {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, c.Name)
		}
	}
	return out
}

// runDown moves a task toward STOPPED.
func runDown(td *TaskDef, ti *TaskInstance, states map[string]ContainerState, step *TaskStep) {
	switch ti.LastStatus {
	case StatusProvisioning, "":
		// Nothing ran; undo the provisioning if any was done.
		if ti.Provisioned {
			step.LastStatus = StatusDeprovisioning
		} else {
			step.LastStatus = StatusStopped
		}
	case StatusPending:
		step.LastStatus = StatusStopping
	case StatusActivating, StatusRunning:
		step.LastStatus = StatusDeactivating
	case StatusDeactivating:
		if ti.Activated && !ti.Deactivated {
			step.Deactivate = true
			return
		}
		step.LastStatus = StatusStopping
	case StatusStopping:
		step.Stop = stoppable(td, states)
		for _, s := range states {
			if s.Status == ContainerRunning {
				return
			}
		}
		step.LastStatus = StatusDeprovisioning
	case StatusDeprovisioning:
		if ti.Provisioned && !ti.Deprovisioned {
			step.Deprovision = true
			return
		}
		step.LastStatus = StatusStopped
	}
}

// stoppable lists the running containers no other running container
// depends on: dependents stop before what they depend on, as ECS does.
func stoppable(td *TaskDef, states map[string]ContainerState) []string {
	needed := map[string]bool{}
	for _, c := range td.Containers {
		if states[c.Name].Status != ContainerRunning {
			continue
		}
		for _, d := range c.DependsOn {
			needed[d.ContainerName] = true
		}
	}
	var out []string
	for _, c := range td.Containers {
		if states[c.Name].Status == ContainerRunning && !needed[c.Name] {
			out = append(out, c.Name)
		}
	}
	sort.Strings(out)
	return out
}
