package batch

import (
	"context"
	"errors"
	"time"
)

// ErrNoCapacity is what Launch answers (wrapped) when nothing can run the
// attempt now: no node has room for it, or the runtime that places it
// cannot be reached. Nothing runs and no attempt is counted: the job
// goes back to RUNNABLE and is dispatched again later, as Batch keeps a
// job RUNNABLE while its compute environment has no room.
var ErrNoCapacity = errors.New("no capacity for the attempt now")

// ErrOutcomeUnknown is what Launch answers (wrapped) when it cannot tell
// whether the attempt was placed: a write that may have landed failed,
// and what runs could not be read back. The attempt may run: the manager
// keeps it STARTING (nothing else of its job is dispatched) and hands it
// to Watch with no reference, as after a restart, which finds it by its
// ID or reports it lost.
var ErrOutcomeUnknown = errors.New("the attempt may or may not run")

// AttemptSpec is one attempt of a job, as a Launcher runs it.
type AttemptSpec struct {
	// ID names the attempt (its container, or its task) and is part of
	// its log stream's name; it is unique across every job.
	ID string
	// JobID is the job's id (an array child's is "<parent>:<index>"),
	// Attempt its 1-based number.
	JobID   string
	JobName string
	Attempt int
	Queue   string
	Env     string
	Image   string
	// Command replaces the image's CMD when set.
	Command     []string
	Environment []KeyValue
	VCPUs       float64
	MemoryMiB   int
	User        string
	ReadOnly    bool
	// LogStream is the attempt's log stream name:
	// <definition name>/default/<ID>, as Batch names it.
	LogStream string
	// Definition is the job definition's "name:revision", and
	// DefinitionContainer its container as registered (before the job's
	// parameters and overrides), for launchers that register the
	// definition with what runs it (a cluster's task definitions).
	Definition          string
	DefinitionContainer Container
}

// AttemptEnd is how an attempt ended, as its Launcher reports it.
type AttemptEnd struct {
	ID  string
	Ref string
	// ExitCode is nil when the container never ran to an exit: lost,
	// or failed to start.
	ExitCode *int
	// Reason is the container's reason ("OutOfMemoryError: Container
	// killed due to memory usage", "CannotStartContainerError: ...").
	Reason    string
	StartedAt time.Time
	StoppedAt time.Time
}

// LogEvent is one line of an attempt's log.
type LogEvent struct {
	Time    time.Time
	Message string
}

// Launcher runs attempts. It is the seam between Batch's decisions and
// what runs containers: the local engine's today (batch/enginelaunch),
// the cluster's tasks next.
//
// Lifecycle: the manager calls Launch once per attempt, and, after a
// restart of the manager, Watch once for each attempt its records show
// STARTING or RUNNING (ref is "" when the manager died before Launch
// answered: the launcher finds the attempt by its ID, or reports it
// lost). Every attempt that Launch started or Watch re-attached to is
// reported exactly once on Ends when it ends, whoever ended it; an
// attempt that cannot be found is reported with a nil ExitCode. Stop
// asks an attempt to end (SIGTERM, then SIGKILL after a grace period);
// its end is reported on Ends as any other. The manager calls Stop for
// every attempt under way that it stops, whether or not it holds the
// attempt's reference: an attempt may run though Launch never answered
// (a restart, ErrOutcomeUnknown), and the launcher finds it by its ID
// the way Watch does. An end is reported only for
// an attempt known to have ended or to be gone: an attempt that cannot be
// read for a moment (a lagging replica of the cluster's state) is not
// over, and reporting it would start another attempt beside it.
type Launcher interface {
	// Launch starts the attempt and returns once its container runs (or,
	// on a cluster, once a node holds it), with a reference for Stop. An
	// error means nothing runs (a failed attempt); one wrapping
	// ErrNoCapacity is no attempt at all; one wrapping ErrOutcomeUnknown
	// means the attempt may run and must be found (Watch) before the job
	// gets another: a job never has two attempts live at once.
	Launch(ctx context.Context, a AttemptSpec) (ref string, err error)
	// Stop ends a running attempt: by ref, or, when ref is "" (Launch
	// never answered), found by a's ID (and JobID) as Watch finds it.
	// An attempt that cannot be found is gone: that is no error.
	Stop(ctx context.Context, a AttemptSpec, ref, reason string) error
	// Watch re-attaches to an attempt after a restart.
	Watch(ctx context.Context, a AttemptSpec, ref string) error
	// Ends delivers the end of every attempt.
	Ends() <-chan AttemptEnd
}

// AttemptFound is an attempt under way that Watch found running, with
// the reference Launch would have returned.
type AttemptFound struct {
	ID  string
	Ref string
	// StartedAt is when it started, when the launcher knows.
	StartedAt time.Time
}

// Finder is a Launcher whose Watch tells which attempts it found
// running. The manager records the reference (Stop, the log stream) of
// an attempt whose Launch never answered (a restart, ErrOutcomeUnknown),
// and makes its job RUNNING, so that its timeout counts as for any
// attempt that runs. A find may be dropped (its channel full): the
// attempt then stays STARTING, stopped by its ID.
type Finder interface {
	Found() <-chan AttemptFound
}

// StreamNamer is a Launcher whose attempts' log streams are named after
// the reference Launch returned (a cluster's task id, as Batch names a
// stream after its ECS task): once Launch answers, the attempt's
// LogStream becomes LogStream(a, ref).
type StreamNamer interface {
	LogStream(a AttemptSpec, ref string) string
}

// LogReader reads attempts' logs after (and while) they run.
type LogReader interface {
	// Logs calls each with the stream's events, oldest first
	// (errdefs.ErrNotFound for a stream without any log).
	Logs(ctx context.Context, stream string, each func(LogEvent) error) error
}
