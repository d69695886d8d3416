// Package batch is AWS Batch's model on wharf: compute environments, job
// queues, scheduling policies, job definitions and jobs, the decisions
// that move jobs through Batch's states (pure functions of the state and
// the clock: deps.go, sched.go, retry.go), and the Manager that applies
// them, keeps everything in JetStream KV and runs attempts through a
// Launcher.
//
// # Jobs' states
//
// As Batch's:
//
//	SUBMITTED ──> PENDING ──> RUNNABLE ──> STARTING ──> RUNNING ──> SUCCEEDED
//	    │            │            │            │           │
//	    └────────────┴────────────┴────────────┴───────────┴──────> FAILED
//
// SUBMITTED is what SubmitJob writes. The manager moves a job to PENDING
// while a dependency has not succeeded, to RUNNABLE once all have (at
// once, for a job without dependencies), and to FAILED with "Dependent Job
// failed" when one failed. The scheduler picks RUNNABLE jobs by queue
// priority, fair share and the compute environments' maxvCpus; a picked
// job is STARTING until the Launcher has started its container, RUNNING
// until the attempt ends. An attempt that ends with exit code 0 makes the
// job SUCCEEDED; any other end goes through the retry strategy (retry.go):
// back to RUNNABLE for another attempt, or FAILED. Every end of an attempt
// writes statusReason "Essential container in task exited" unless it was
// a timeout ("Job attempt duration exceeded timeout", never retried), a
// termination (the user's reason, never retried) or a launch failure.
// CancelJob fails a job that has not reached STARTING with the user's
// reason and leaves STARTING and RUNNING jobs alone, as Batch does;
// TerminateJob fails a job in any state, stopping its attempt.
//
// An array parent is SUBMITTED, PENDING while any child is not done, then
// SUCCEEDED when every child succeeded or FAILED ("Array Child Job
// failed") when one failed. Its children (<parent id>:<index>) share its
// definition; AWS_BATCH_JOB_ARRAY_INDEX tells each its index. N_TO_N
// makes child i wait for child i of the array it depends on; SEQUENTIAL
// (without a job id) makes child i wait for child i-1.
//
// # Records in JetStream KV
//
// One bucket per table (cluster/state's Table, with its revisions and
// watchers), JSON values:
//
//	batch_ce        <name>                  -> ComputeEnvironment
//	batch_queues    <name>                  -> JobQueue
//	batch_policies  <name>                  -> SchedulingPolicy
//	batch_jobdefs   <name>.<revision>       -> JobDefinition
//	batch_jobs      <job id>                -> Job (plain jobs and array parents)
//	batch_children  <parent id>.<index>     -> Job (array children)
//
// A submitted array is one record, its parent's: a child is written only
// when it is first dispatched, so a 10,000-child array costs one write to
// submit. Until then a child's state is implied by its parent's and by its
// dependencies (PENDING or RUNNABLE), and the manager keeps one byte per
// child in memory (arrayState). After a restart the manager lists both
// tables and rebuilds the same view; attempts that were STARTING or
// RUNNING are handed back to the Launcher (Launcher.Watch), which reports
// their end, or that they were lost, as events. One found running whose
// Launch never answered gets its reference (a Finder's Found) and its job
// becomes RUNNING, so that its timeout counts. Stops (TerminateJob, a
// timeout) go to the Launcher for every attempt under way, with its
// reference or, when none is known, by its ID; a loaded job asked to
// stop is stopped again, in case the stop was lost with the last
// manager.
//
// # One live attempt per job
//
// A job (or child) never has two attempts that may run at once, across
// managers and restarts too:
//
//   - an attempt is launched only once its STARTING record, which names
//     it, is written: whoever loads the tables next knows of it and
//     finds it (Watch, by its ID when Launch never answered) rather
//     than starting another;
//   - job and child records are written compare-and-set on the revision
//     the manager last read or wrote. A write that loses means another
//     manager wrote (a deposed leader beside the new one) or the record
//     was read from a replica that lagged: the manager writes and
//     launches nothing more and loads the tables again;
//   - a launch whose outcome is unknown (ErrOutcomeUnknown) keeps its
//     attempt STARTING and is found with Watch; only ErrNoCapacity, which
//     a Launcher answers when nothing was placed, puts the job back to
//     RUNNABLE without an attempt;
//   - a manager whose Run has ended writes nothing of a launch that
//     answers afterwards, and Launchers report an end only for an
//     attempt known to have ended or to be gone.
//
// # The Launcher seam
//
// A job's attempts run through a Launcher (launcher.go): Launch starts
// one attempt and returns a reference, Stop stops it, Watch re-attaches
// to one after a restart, Logs reads an attempt's log stream, and every
// end is reported on the channel the manager gives it. The daemon wires
// the local engine's launcher (batch/enginelaunch); a cluster launcher
// runs attempts as cluster tasks behind the same interface.
package batch

import (
	"strconv"
	"time"
)

// Statuses of a job, as Batch's.
const (
	StatusSubmitted = "SUBMITTED"
	StatusPending   = "PENDING"
	StatusRunnable  = "RUNNABLE"
	StatusStarting  = "STARTING"
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
)

// AllStatuses are the job statuses in their order.
var AllStatuses = []string{StatusSubmitted, StatusPending, StatusRunnable, StatusStarting, StatusRunning, StatusSucceeded, StatusFailed}

// Status reasons Batch writes.
const (
	ReasonExited        = "Essential container in task exited"
	ReasonTimeout       = "Job attempt duration exceeded timeout"
	ReasonDependency    = "Dependent Job failed"
	ReasonArrayChild    = "Array Child Job failed"
	ReasonLost          = "Host EC2 (instance wharf) terminated."
	ReasonLaunchFailure = "CannotStartContainerError"
)

// States of a compute environment or queue.
const (
	StateEnabled  = "ENABLED"
	StateDisabled = "DISABLED"
)

// Statuses of a compute environment or queue (only VALID is reached: the
// local environments need no provisioning).
const (
	EnvValid    = "VALID"
	EnvDeleting = "DELETING"
)

// Dependency types.
const (
	DepNToN       = "N_TO_N"
	DepSequential = "SEQUENTIAL"
)

// Retry actions.
const (
	ActionRetry = "RETRY"
	ActionExit  = "EXIT"
)

// Limits, as Batch's.
const (
	MaxArraySize    = 10000
	MinArraySize    = 2
	MaxDependencies = 20
	MaxAttempts     = 10
	MinTimeout      = 60
	MaxEvaluate     = 5
	MaxTags         = 50
	MaxQueueEnvs    = 3
	MaxParameters   = 100
)

// ComputeEnvironment is a pool of capacity: MaxVCPUs caps the vCPUs of
// the attempts that run in it at once.
type ComputeEnvironment struct {
	Name string `json:"name"`
	// Type is MANAGED or UNMANAGED.
	Type string `json:"type"`
	// ResourceType is FARGATE, FARGATE_SPOT, EC2 or SPOT (what
	// computeResources.type said).
	ResourceType string            `json:"resourceType"`
	MaxVCPUs     int               `json:"maxVcpus"`
	State        string            `json:"state"`
	Status       string            `json:"status"`
	StatusReason string            `json:"statusReason,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	Created      time.Time         `json:"created"`
}

// EnvOrder is one compute environment of a queue.
type EnvOrder struct {
	Order int    `json:"order"`
	Env   string `json:"env"`
}

// JobQueue is a queue: higher Priority is served first among queues that
// share a compute environment.
type JobQueue struct {
	Name         string     `json:"name"`
	Priority     int        `json:"priority"`
	State        string     `json:"state"`
	Status       string     `json:"status"`
	StatusReason string     `json:"statusReason,omitempty"`
	Envs         []EnvOrder `json:"envs"`
	// Policy is a scheduling policy's name ("" : first in, first out).
	Policy  string            `json:"policy,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Created time.Time         `json:"created"`
}

// Share is one share identifier's weight: a lower weight gets more of
// the capacity (0.5 gets twice what 1 gets).
type Share struct {
	Identifier string  `json:"shareIdentifier"`
	Weight     float64 `json:"weightFactor"`
}

// SchedulingPolicy is a fair-share policy.
type SchedulingPolicy struct {
	Name               string            `json:"name"`
	ShareDecaySeconds  int               `json:"shareDecaySeconds,omitempty"`
	ComputeReservation int               `json:"computeReservation,omitempty"`
	Shares             []Share           `json:"shares,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
}

// Weight is the weight of share id (1 when the policy does not name it).
func (p *SchedulingPolicy) Weight(id string) float64 {
	if p != nil {
		for _, s := range p.Shares {
			if s.Identifier == id && s.Weight > 0 {
				return s.Weight
			}
		}
		// A share identifier "prefix*" covers the ones it prefixes.
		for _, s := range p.Shares {
			if n := len(s.Identifier); n > 0 && s.Identifier[n-1] == '*' && len(id) >= n-1 && id[:n-1] == s.Identifier[:n-1] && s.Weight > 0 {
				return s.Weight
			}
		}
	}
	return 1
}

// KeyValue is one environment variable.
type KeyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// EvaluateOnExit is one rule of a retry strategy: the first rule whose
// patterns all match an attempt's end decides.
type EvaluateOnExit struct {
	OnExitCode     string `json:"onExitCode,omitempty"`
	OnReason       string `json:"onReason,omitempty"`
	OnStatusReason string `json:"onStatusReason,omitempty"`
	Action         string `json:"action"`
}

// RetryStrategy is how many attempts a job gets, and which ends retry.
type RetryStrategy struct {
	Attempts       int              `json:"attempts,omitempty"`
	EvaluateOnExit []EvaluateOnExit `json:"evaluateOnExit,omitempty"`
}

// Container is what an attempt runs.
type Container struct {
	Image       string     `json:"image"`
	Command     []string   `json:"command,omitempty"`
	Environment []KeyValue `json:"environment,omitempty"`
	// VCPUs may be fractional (Fargate's 0.25); MemoryMiB in MiB.
	VCPUs     float64 `json:"vcpus"`
	MemoryMiB int     `json:"memory"`
	// Privileged, User, ReadonlyRootFilesystem as Batch's.
	User                   string `json:"user,omitempty"`
	ReadonlyRootFilesystem bool   `json:"readonlyRootFilesystem,omitempty"`
}

// JobDefinition is one revision of a job definition.
type JobDefinition struct {
	Name                 string            `json:"name"`
	Revision             int               `json:"revision"`
	Status               string            `json:"status"`
	Type                 string            `json:"type"`
	Parameters           map[string]string `json:"parameters,omitempty"`
	Container            Container         `json:"container"`
	RetryStrategy        *RetryStrategy    `json:"retryStrategy,omitempty"`
	TimeoutSeconds       int               `json:"timeoutSeconds,omitempty"`
	PlatformCapabilities []string          `json:"platformCapabilities,omitempty"`
	SchedulingPriority   int               `json:"schedulingPriority,omitempty"`
	PropagateTags        bool              `json:"propagateTags,omitempty"`
	Tags                 map[string]string `json:"tags,omitempty"`
	Created              time.Time         `json:"created"`
}

// Dependency is one job another waits for.
type Dependency struct {
	JobID string `json:"jobId,omitempty"`
	Type  string `json:"type,omitempty"`
}

// Attempt is one run of a job.
type Attempt struct {
	// ID names the attempt's run (the container's, or the task's) and
	// its log stream.
	ID            string    `json:"id"`
	Ref           string    `json:"ref,omitempty"`
	LogStream     string    `json:"logStream,omitempty"`
	ExitCode      *int      `json:"exitCode,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	StatusReason  string    `json:"statusReason,omitempty"`
	StartedAt     time.Time `json:"startedAt,omitempty"`
	StoppedAt     time.Time `json:"stoppedAt,omitempty"`
	ContainerName string    `json:"containerName,omitempty"`
	// Env is the compute environment the attempt runs in.
	Env string `json:"computeEnvironment,omitempty"`
}

// Job is a job: a plain one, an array parent (ArraySize > 0) or an array
// child (Parent != "", its index in ArrayIndex).
type Job struct {
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	Queue              string            `json:"queue"`
	Definition         string            `json:"definition"` // name:revision
	ShareIdentifier    string            `json:"shareIdentifier,omitempty"`
	SchedulingPriority int               `json:"schedulingPriority,omitempty"`
	Status             string            `json:"status"`
	StatusReason       string            `json:"statusReason,omitempty"`
	CreatedAt          time.Time         `json:"createdAt"`
	StartedAt          time.Time         `json:"startedAt,omitempty"`
	StoppedAt          time.Time         `json:"stoppedAt,omitempty"`
	Parameters         map[string]string `json:"parameters,omitempty"`
	// Container is the definition's with the submit's overrides and
	// parameters applied; Command is substituted per attempt.
	Container      Container      `json:"container"`
	RetryStrategy  *RetryStrategy `json:"retryStrategy,omitempty"`
	TimeoutSeconds int            `json:"timeoutSeconds,omitempty"`
	DependsOn      []Dependency   `json:"dependsOn,omitempty"`
	ArraySize      int            `json:"arraySize,omitempty"`
	Parent         string         `json:"parent,omitempty"`
	ArrayIndex     int            `json:"arrayIndex,omitempty"`
	// Released is set on an array parent once its own dependencies
	// succeeded: its children then wait only for theirs.
	Released bool      `json:"released,omitempty"`
	Attempts []Attempt `json:"attempts,omitempty"`
	// Running is the attempt under way (STARTING, RUNNING).
	Running *Attempt `json:"running,omitempty"`
	// Stop, when set, is a termination asked for while the job was
	// STARTING or RUNNING (or an array parent's cancel or terminate), with
	// its reason: the attempt's end fails the job with it, no retry.
	Stop *StopRequest      `json:"stop,omitempty"`
	Tags map[string]string `json:"tags,omitempty"`
}

// StopRequest is a cancel or a terminate in progress.
type StopRequest struct {
	Reason    string `json:"reason"`
	Terminate bool   `json:"terminate,omitempty"`
	Timeout   bool   `json:"timeout,omitempty"`
}

// Done reports whether a status is final.
func Done(status string) bool { return status == StatusSucceeded || status == StatusFailed }

// IsArray reports whether j is an array parent.
func (j *Job) IsArray() bool { return j.ArraySize > 0 }

// ChildID is the id of child i of the array parent id.
func ChildID(parent string, i int) string { return parent + ":" + strconv.Itoa(i) }
