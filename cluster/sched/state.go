package sched

import "time"

// TaskStatus is a task's lastStatus or desiredStatus, as ECS names them.
type TaskStatus string

// The task statuses, in the order a task goes through them.
const (
	StatusProvisioning   TaskStatus = "PROVISIONING"
	StatusPending        TaskStatus = "PENDING"
	StatusActivating     TaskStatus = "ACTIVATING"
	StatusRunning        TaskStatus = "RUNNING"
	StatusDeactivating   TaskStatus = "DEACTIVATING"
	StatusStopping       TaskStatus = "STOPPING"
	StatusDeprovisioning TaskStatus = "DEPROVISIONING"
	StatusStopped        TaskStatus = "STOPPED"
)

// statusOrder ranks statuses so that a task only ever moves forward.
var statusOrder = map[TaskStatus]int{
	StatusProvisioning: 0, StatusPending: 1, StatusActivating: 2, StatusRunning: 3,
	StatusDeactivating: 4, StatusStopping: 5, StatusDeprovisioning: 6, StatusStopped: 7,
}

// Health of a task or container, from its container health checks.
type Health string

// Health statuses.
const (
	HealthUnknown   Health = "UNKNOWN"
	HealthHealthy   Health = "HEALTHY"
	HealthUnhealthy Health = "UNHEALTHY"
)

// StopCode is ECS's stopCode of a stopped task.
type StopCode string

// Stop codes. The first two are failures for the circuit breaker.
const (
	StopTaskFailedToStart  StopCode = "TaskFailedToStart"
	StopEssentialExited    StopCode = "EssentialContainerExited"
	StopSchedulerInitiated StopCode = "ServiceSchedulerInitiated"
	StopUserInitiated      StopCode = "UserInitiated"
	StopSpotInterruption   StopCode = "SpotInterruption"
	StopTerminationNotice  StopCode = "TerminationNotice"
)

// Task is a service's task as the cluster state holds it.
type Task struct {
	ID           string
	DeploymentID string
	NodeID       string
	// LastStatus is what the agent reported; DesiredStatus what the
	// scheduler wants (RUNNING or STOPPED).
	LastStatus    TaskStatus
	DesiredStatus TaskStatus
	Health        Health
	StopCode      StopCode
	StoppedReason string
	StartedAt     time.Time
}

// DeploymentStatus of a service deployment.
type DeploymentStatus string

// Deployment statuses: the PRIMARY deployment is the one the service
// converges to; ACTIVE ones still have tasks being replaced.
const (
	DeploymentPrimary  DeploymentStatus = "PRIMARY"
	DeploymentActive   DeploymentStatus = "ACTIVE"
	DeploymentInactive DeploymentStatus = "INACTIVE"
)

// RolloutState of a deployment.
type RolloutState string

// Rollout states.
const (
	RolloutInProgress RolloutState = "IN_PROGRESS"
	RolloutCompleted  RolloutState = "COMPLETED"
	RolloutFailed     RolloutState = "FAILED"
)

// Deployment is one revision of a service being rolled out or run.
type Deployment struct {
	ID           string
	Status       DeploymentStatus
	RolloutState RolloutState
	TaskDef      *TaskDef
	// FailedTasks counts the deployment's tasks that failed to start or
	// failed their health checks, for the circuit breaker.
	FailedTasks int
	// Rollback marks a deployment the circuit breaker created; it is not
	// rolled back in turn.
	Rollback  bool
	CreatedAt time.Time
}

// CircuitBreaker is a service's deploymentCircuitBreaker.
type CircuitBreaker struct {
	Enable   bool
	Rollback bool
}

// DeploymentConfig is a service's deploymentConfiguration.
type DeploymentConfig struct {
	// MinimumHealthyPercent and MaximumPercent bound a rolling update;
	// ECS's defaults are 100 and 200.
	MinimumHealthyPercent int
	MaximumPercent        int
	CircuitBreaker        CircuitBreaker
}

// Service is a service as the cluster state holds it.
type Service struct {
	Name         string
	DesiredCount int
	LaunchType   LaunchType
	Config       DeploymentConfig
	Constraints  []Constraint
	Strategies   []Strategy
	// Network are the constraints of the service's network
	// configuration (Request.Network).
	Network []Constraint
	// Deployments holds the PRIMARY deployment and the ACTIVE ones.
	Deployments []Deployment
	// LastCompleted is the last deployment that reached COMPLETED, which
	// the circuit breaker rolls back to.
	LastCompleted *Deployment
	// Steady records that the last reconciliation found the service in
	// a steady state, so that the event is written once per episode.
	Steady bool
}

// Group is the task group of a service's tasks.
func (s *Service) Group() string { return "service:" + s.Name }

// ServiceState is everything ReconcileService reads: the service, its
// tasks (STOPPED ones included until the plan says they are accounted
// for) and the cluster's nodes.
type ServiceState struct {
	Service *Service
	Tasks   []Task
	Nodes   []Node
}
