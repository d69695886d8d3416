// Package clusterlaunch runs Batch attempts as tasks of the cluster's
// task runtime (cluster/tasks): batch.Launcher over Run, Wait, Stop and
// List, so that a cluster's Batch spreads its attempts over every node's
// capacity, as Batch's compute environments place jobs on ECS.
//
// # Mapping
//
// A job definition revision name:N is the task definition family
// batch-<name>, at a revision of its own, registered once by the first
// attempt that needs it and found again by its tag wharf:batch-revision=N:
// one container, "main", with the job definition's image, command,
// environment, user and read-only root, cpu = VCPU × 1024 and memory =
// MEMORY. Each attempt is one task of that revision run with
//
//	startedBy  batch/<job id>            (ListTasks --started-by finds a job's attempts)
//	group      batch:<queue>
//	tags       wharf:batch-attempt=<attempt id>
//	overrides  main: the attempt's command (parameters substituted), its
//	           environment (AWS_BATCH_JOB_ID, ...), cpu and memory
//
// and the task id is the attempt's reference (Stop, DescribeTasks). An
// attempt without a reference (Launch never answered) is stopped by
// finding its task as Watch does (see Restarts).
//
// # Ends
//
// Each attempt has a waiter (Wait) that reports its end once the task is
// STOPPED: the exit code of the essential container, its reason (or the
// task's stoppedReason when it never ran). A task whose node is lost (no
// heartbeat for the heartbeat timeout) is not moved by the cluster; the
// launcher stops it and reports the attempt lost (no exit code, reason
// "Host EC2 (instance <node>) terminated."), so the job's retry strategy
// decides, as Batch does when an instance goes away under a job.
//
// A task no node can take now (RunTask's failures: RESOURCE:CPU, ...) is
// no attempt: Launch answers batch.ErrNoCapacity and the job stays
// RUNNABLE until capacity frees.
//
// # Reads that lag
//
// The cluster's state is read from any replica (JetStream KV's direct
// gets), and a replica may not hold a write acknowledged a moment ago:
// a task just placed can read as missing. A missing task is therefore
// never taken as an end at once: it is read again until it is found or
// has been missing for the gone window (WithGoneAfter, 10 s). The same
// holds where Run fails: its answer may be lost after the task's record
// was written (a timeout, a broken connection), so the attempt's task is
// looked for by its job's startedBy and its tag before Launch answers
// batch.ErrNoCapacity; a task found is the attempt, and when the state
// cannot be read at all Launch answers batch.ErrOutcomeUnknown. Either
// way a job never gets a second attempt while its first may run.
//
// # Restarts
//
// The attempts' state is the cluster's: a manager that takes over (a new
// leader, a restarted daemon) calls Watch for each attempt its records
// show under way, and the launcher finds the task by its reference or,
// when the old manager died before Launch answered, by the job's
// startedBy and the attempt's tag.
package clusterlaunch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/errdefs"
)

// Tags and names of the launcher's task definitions and tasks.
const (
	// TagRevision marks the task definition revision that holds a job
	// definition revision.
	TagRevision = "wharf:batch-revision"
	// TagAttempt marks the task of an attempt.
	TagAttempt = "wharf:batch-attempt"
	// FamilyPrefix starts the family of a job definition's task
	// definitions.
	FamilyPrefix = "batch-"
	// ContainerName is the one container of an attempt's task; Batch
	// names it "default" on ECS, and its log stream after it.
	ContainerName = "default"
	// LogGroup is the log group of the attempts' output (awslogs).
	LogGroup = "/aws/batch/job"
	// DefaultCluster is the cluster the attempts run in unless
	// WithCluster says otherwise.
	DefaultCluster = "default"
	// StartedByPrefix starts the startedBy of an attempt's task.
	StartedByPrefix = "batch/"
)

// Runtime is what the launcher needs of the cluster (Runtime adapts
// tasks.Runtime to it).
type Runtime interface {
	// Run places and records a task; RunResult.Failures says why it
	// could not be placed.
	Run(ctx context.Context, sp tasks.Spec) (tasks.RunResult, error)
	// WaitOn returns the task of the node once it is STOPPED.
	WaitOn(ctx context.Context, node, id string) (state.Task, error)
	// Get returns a task (errdefs.ErrNotFound once deleted).
	Get(ctx context.Context, id string) (state.Task, error)
	// Stop sets the task's desired status to STOPPED.
	Stop(ctx context.Context, id, reason string) (state.Task, error)
	// List returns the tasks that match f.
	List(ctx context.Context, f tasks.Filter) ([]state.Task, error)
	// TaskDefs returns a family's revisions (none when it has none).
	TaskDefs(ctx context.Context, family string) ([]state.TaskDefinition, error)
	// Register stores a task definition as its family's next revision.
	Register(ctx context.Context, td state.TaskDefinition) (state.TaskDefinition, error)
	// Lost reports whether a node is lost: its last heartbeat is older
	// than the cluster's heartbeat timeout, or it has none.
	Lost(ctx context.Context, node string) (bool, error)
}

// Option configures a Launcher.
type Option func(*Launcher)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(x *Launcher) { x.log = l } }

// WithCluster sets the cluster the tasks run in ("default").
func WithCluster(name string) Option { return func(x *Launcher) { x.cluster = name } }

// WithStopGrace sets the attempts' stopTimeout: how long a stopped
// attempt gets between SIGTERM and SIGKILL (Batch's 30 s).
func WithStopGrace(d time.Duration) Option { return func(x *Launcher) { x.grace = d } }

// WithNodeCheck sets how often the nodes of running attempts are checked
// for loss (2 s).
func WithNodeCheck(d time.Duration) Option { return func(x *Launcher) { x.check = d } }

// WithGoneAfter sets how long an attempt's task must read as missing
// before it is taken for gone (10 s): reads from a lagging replica miss
// tasks written a moment before.
func WithGoneAfter(d time.Duration) Option { return func(x *Launcher) { x.goneAfter = d } }

// DefaultGoneAfter is how long a task must read as missing before it is
// taken for gone.
const DefaultGoneAfter = 10 * time.Second

// Launcher runs attempts as cluster tasks.
type Launcher struct {
	rt      Runtime
	log     *slog.Logger
	cluster string
	grace   time.Duration
	check   time.Duration
	// goneAfter is how long a task must read as missing to be gone, and
	// recheck how often it is read meanwhile.
	goneAfter time.Duration
	recheck   time.Duration
	ends      chan batch.AttemptEnd
	found     chan batch.AttemptFound
	ctx       context.Context
	cancel    context.CancelFunc

	// defMu serialises the registration of task definitions, so that
	// concurrent first attempts of a revision register it once.
	defMu sync.Mutex
	defs  map[string]state.TaskDefinition // job definition "name:rev"

	mu sync.Mutex
	// waiting are the attempts whose end is not reported yet, by task id.
	waiting map[string]*attempt
}

// attempt is one attempt being waited for.
type attempt struct {
	id     string // the attempt's
	task   string
	node   string
	cancel context.CancelFunc
	// done is set once its end is reported (by the waiter or a loss).
	done bool
}

// New returns a launcher over rt; Close stops its waiters.
func New(rt Runtime, opts ...Option) *Launcher {
	l := &Launcher{rt: rt, log: slog.New(slog.DiscardHandler), cluster: DefaultCluster, grace: 30 * time.Second, check: 2 * time.Second,
		goneAfter: DefaultGoneAfter, ends: make(chan batch.AttemptEnd, 256), found: make(chan batch.AttemptFound, 256), defs: map[string]state.TaskDefinition{}, waiting: map[string]*attempt{}}
	for _, o := range opts {
		o(l)
	}
	l.recheck = min(max(l.goneAfter/10, 10*time.Millisecond), 500*time.Millisecond)
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.watchNodes()
	return l
}

// Close stops the waiters and the node checks: ends not reported yet
// are left to the next launcher's Watch.
func (l *Launcher) Close() { l.cancel() }

// Ends implements batch.Launcher.
func (l *Launcher) Ends() <-chan batch.AttemptEnd { return l.ends }

// Found implements batch.Finder: the attempts Watch found, with their
// task ids.
func (l *Launcher) Found() <-chan batch.AttemptFound { return l.found }

// Family is the task definition family of a job definition.
func Family(jobDefName string) string { return FamilyPrefix + jobDefName }

// taskDef returns the task definition revision of the attempt's job
// definition revision, registering it the first time.
func (l *Launcher) taskDef(ctx context.Context, a batch.AttemptSpec) (state.TaskDefinition, error) {
	name, rev, ok := strings.Cut(a.Definition, ":")
	if !ok || name == "" || rev == "" {
		return state.TaskDefinition{}, fmt.Errorf("attempt %s: job definition %q is not name:revision: %w", a.ID, a.Definition, errdefs.ErrInvalidArgument)
	}
	l.defMu.Lock()
	defer l.defMu.Unlock()
	if td, ok := l.defs[a.Definition]; ok {
		return td, nil
	}
	family := Family(name)
	tds, err := l.rt.TaskDefs(ctx, family)
	if err != nil {
		return state.TaskDefinition{}, err
	}
	for _, td := range tds {
		if td.Status == state.TaskDefActive && tagValue(td.Tags, TagRevision) == rev {
			l.defs[a.Definition] = td
			return td, nil
		}
	}
	td, err := l.rt.Register(ctx, TaskDefinition(family, rev, a.DefinitionContainer, l.grace))
	if err != nil {
		return state.TaskDefinition{}, err
	}
	l.defs[a.Definition] = td
	return td, nil
}

// TaskDefinition is the task definition of a job definition revision
// (rev) whose container is c.
func TaskDefinition(family, rev string, c batch.Container, grace time.Duration) state.TaskDefinition {
	mem := c.MemoryMiB
	stop := int(grace / time.Second)
	essential := true
	cd := state.ContainerDefinition{Name: ContainerName, Image: c.Image, Command: c.Command, Environment: keyValues(c.Environment),
		Cpu: cpuUnits(c.VCPUs), Memory: &mem, Essential: &essential, User: c.User, StopTimeout: &stop,
		LogConfiguration: &state.LogConfiguration{LogDriver: "awslogs",
			Options: map[string]string{"awslogs-group": LogGroup, "awslogs-stream-prefix": strings.TrimPrefix(family, FamilyPrefix)}}}
	if c.ReadonlyRootFilesystem {
		ro := true
		cd.ReadonlyRootFS = &ro
	}
	return state.TaskDefinition{Family: family, ContainerDefinitions: []state.ContainerDefinition{cd},
		RequiresCompatibilities: []string{"EC2"}, Compatibilities: []string{"EC2"},
		Tags: []state.Tag{{Key: TagRevision, Value: rev}}}
}

// cpuUnits are a number of vCPUs in ECS's CPU units (1024 per vCPU).
func cpuUnits(vcpus float64) int { return int(vcpus * 1024) }

func keyValues(kv []batch.KeyValue) []state.KeyValue {
	if len(kv) == 0 {
		return nil
	}
	out := make([]state.KeyValue, len(kv))
	for i, x := range kv {
		out[i] = state.KeyValue{Name: x.Name, Value: x.Value}
	}
	return out
}

func tagValue(tags []state.Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// RunSpec is the run of attempt a's task of td.
func (l *Launcher) RunSpec(td state.TaskDefinition, a batch.AttemptSpec) tasks.Spec {
	cpu, mem := cpuUnits(a.VCPUs), a.MemoryMiB
	return tasks.Spec{Cluster: l.cluster, TaskDef: td, Count: 1,
		Overrides: &state.TaskOverrides{ContainerOverrides: []state.ContainerOverride{{Name: ContainerName,
			Command: a.Command, Environment: keyValues(a.Environment), Cpu: &cpu, Memory: &mem}}},
		StartedBy: StartedByPrefix + a.JobID, Group: "batch:" + a.Queue,
		Tags: []state.Tag{{Key: TagAttempt, Value: a.ID}}}
}

// Launch implements batch.Launcher: the attempt's task is placed and
// recorded (its node's agent starts it); its reference is the task id.
func (l *Launcher) Launch(ctx context.Context, a batch.AttemptSpec) (string, error) {
	td, err := l.taskDef(ctx, a)
	if err != nil {
		if errdefs.IsUnavailable(err) {
			return "", fmt.Errorf("registering the task definition: %v: %w", err, batch.ErrNoCapacity)
		}
		return "", err
	}
	res, err := l.rt.Run(ctx, l.RunSpec(td, a))
	if err != nil {
		if errdefs.IsInvalidArgument(err) {
			// A revision deregistered under the launcher is registered
			// again by the next attempt.
			l.defMu.Lock()
			delete(l.defs, a.Definition)
			l.defMu.Unlock()
			return "", err
		}
		// The cluster's state could not be reached or written, but the
		// task's record may have been written before the answer was
		// lost: the task, if there is one, is the attempt.
		t, lerr := l.locate(ctx, a, "", true)
		switch {
		case lerr == nil:
			l.follow(a.ID, t)
			l.log.Warn("batch: an attempt's task was placed though running it failed", "job", a.JobID, "attempt", a.ID, "task", t.ID, "node", t.NodeID, "err", err)
			return t.ID, nil
		case errdefs.IsNotFound(lerr):
			// Nothing runs; the job waits rather than losing an attempt.
			return "", fmt.Errorf("running the attempt's task: %v: %w", err, batch.ErrNoCapacity)
		default:
			return "", fmt.Errorf("running the attempt's task: %v; looking for it: %v: %w", err, lerr, batch.ErrOutcomeUnknown)
		}
	}
	if len(res.Tasks) == 0 {
		reasons := make([]string, 0, len(res.Failures))
		for _, f := range res.Failures {
			reasons = append(reasons, f.Reason)
		}
		return "", fmt.Errorf("no node can take the attempt's task now (%s): %w", strings.Join(reasons, ", "), batch.ErrNoCapacity)
	}
	t := res.Tasks[0]
	l.follow(a.ID, t)
	l.log.Info("batch: attempt runs as a cluster task", "job", a.JobID, "attempt", a.ID, "task", t.ID, "node", t.NodeID)
	return t.ID, nil
}

// Stop implements batch.Launcher: the task's desired status becomes
// STOPPED; its agent sends SIGTERM, then SIGKILL after the stopTimeout.
// Without a reference (Launch never answered) the task is the one this
// launcher waits for, else it is looked for as Watch looks for it: by
// its job's startedBy and the attempt's tag, read again for the gone
// window since a lagging replica may miss a task just placed. A task not
// found is gone: nothing to stop.
func (l *Launcher) Stop(ctx context.Context, a batch.AttemptSpec, ref, reason string) error {
	if ref == "" {
		ref = l.followed(a.ID)
	}
	if ref == "" {
		t, err := l.locate(ctx, a, "", true)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("looking for attempt %s's task to stop it: %w", a.ID, err)
		}
		ref = t.ID
	}
	_, err := l.rt.Stop(ctx, ref, reason)
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// followed is the task of attempt aid when this launcher waits for it.
func (l *Launcher) followed(aid string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.waiting {
		if at.id == aid {
			return at.task
		}
	}
	return ""
}

// Watch implements batch.Launcher: the attempt's task by its reference
// or by its job's startedBy and its tag, looked for in the background
// until it is found (then waited for) or has been missing for the gone
// window (then the attempt is reported lost). Reads that fail are tried
// again until the launcher is closed.
func (l *Launcher) Watch(ctx context.Context, a batch.AttemptSpec, ref string) error {
	go func() {
		t, err := l.locate(l.ctx, a, ref, false)
		switch {
		case err == nil:
			l.follow(a.ID, t)
			if t.LastStatus != "STOPPED" {
				l.tellFound(a.ID, t)
			}
		case l.ctx.Err() != nil:
			// Closed: the next launcher's Watch looks for it.
		default:
			l.log.Warn("batch: an attempt's task is gone", "job", a.JobID, "attempt", a.ID, "ref", ref, "err", err)
			l.send(batch.AttemptEnd{ID: a.ID, Ref: ref, StoppedAt: time.Now()})
		}
	}()
	return nil
}

// tellFound tells the manager that attempt aid runs as task t. A
// manager that does not read (it stopped) misses it: the find is
// dropped rather than holding the watcher.
func (l *Launcher) tellFound(aid string, t state.Task) {
	f := batch.AttemptFound{ID: aid, Ref: t.ID}
	if t.StartedAt != nil {
		f.StartedAt = *t.StartedAt
	}
	select {
	case l.found <- f:
	default:
		l.log.Warn("batch: an attempt's task was found but the manager is not listening", "attempt", aid, "task", t.ID)
	}
}

// lookup reads attempt a's task once: by its reference, else among its
// job's tasks by its tag.
func (l *Launcher) lookup(ctx context.Context, a batch.AttemptSpec, ref string) (state.Task, error) {
	if ref != "" {
		t, err := l.rt.Get(ctx, ref)
		if !errdefs.IsNotFound(err) {
			return t, err
		}
	}
	ts, err := l.rt.List(ctx, tasks.Filter{Cluster: l.cluster, StartedBy: StartedByPrefix + a.JobID})
	if err != nil {
		return state.Task{}, err
	}
	for _, x := range ts {
		if tagValue(x.Tags, TagAttempt) == a.ID {
			return x, nil
		}
	}
	return state.Task{}, fmt.Errorf("attempt %s has no task: %w", a.ID, errdefs.ErrNotFound)
}

// locate looks for attempt a's task until it is found, or it is still
// missing once the gone window has passed (errdefs.ErrNotFound), or ctx
// ends. Reads that fail are tried again: until ctx ends, or, when
// bounded, until the window has passed (their last error).
func (l *Launcher) locate(ctx context.Context, a batch.AttemptSpec, ref string, bounded bool) (state.Task, error) {
	deadline := time.Now().Add(l.goneAfter)
	for {
		t, err := l.lookup(ctx, a, ref)
		if err == nil {
			return t, nil
		}
		if ctx.Err() != nil {
			return state.Task{}, ctx.Err()
		}
		if !time.Now().Before(deadline) && (bounded || errdefs.IsNotFound(err)) {
			return state.Task{}, err
		}
		select {
		case <-ctx.Done():
			return state.Task{}, ctx.Err()
		case <-time.After(l.recheck):
		}
	}
}

// follow starts the waiter of attempt aid's task t.
func (l *Launcher) follow(aid string, t state.Task) {
	ctx, cancel := context.WithCancel(l.ctx)
	at := &attempt{id: aid, task: t.ID, node: t.NodeID, cancel: cancel}
	l.mu.Lock()
	l.waiting[t.ID] = at
	l.mu.Unlock()
	go l.wait(ctx, at)
}

// wait reports the end of at's task, waiting again when a watch breaks.
// A task that reads as missing is read again: it was placed (or found),
// so it is gone only once it has been missing for the gone window; a
// read from a lagging replica right after the placement misses it, and
// reporting that as an end started a second attempt beside it.
func (l *Launcher) wait(ctx context.Context, at *attempt) {
	var missing time.Time
	for {
		t, err := l.rt.WaitOn(ctx, at.node, at.task)
		pause := time.Second
		switch {
		case err == nil:
			l.finish(at, End(at.id, t))
			return
		case ctx.Err() != nil:
			return
		case errdefs.IsNotFound(err):
			if missing.IsZero() {
				missing = time.Now()
			}
			if time.Since(missing) >= l.goneAfter {
				l.finish(at, batch.AttemptEnd{ID: at.id, Ref: at.task, Reason: "the attempt's task was deleted", StoppedAt: time.Now()})
				return
			}
			pause = l.recheck
		default:
			missing = time.Time{}
		}
		l.log.Debug("batch: waiting for an attempt's task again", "task", at.task, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// finish reports at's end once.
func (l *Launcher) finish(at *attempt, e batch.AttemptEnd) {
	l.mu.Lock()
	if at.done {
		l.mu.Unlock()
		return
	}
	at.done = true
	delete(l.waiting, at.task)
	l.mu.Unlock()
	at.cancel()
	l.send(e)
}

func (l *Launcher) send(e batch.AttemptEnd) {
	select {
	case l.ends <- e:
	case <-l.ctx.Done():
	}
}

// End is the end of attempt aid as its STOPPED task t tells it: the exit
// code and reason of the essential container; the task's stoppedReason
// when the container never ran to an exit.
func End(aid string, t state.Task) batch.AttemptEnd {
	e := batch.AttemptEnd{ID: aid, Ref: t.ID}
	if t.StartedAt != nil {
		e.StartedAt = *t.StartedAt
	}
	if t.StoppedAt != nil {
		e.StoppedAt = *t.StoppedAt
	} else {
		e.StoppedAt = time.Now()
	}
	for _, c := range t.Containers {
		if c.Name != ContainerName {
			continue
		}
		if c.ExitCode != nil {
			code := *c.ExitCode
			e.ExitCode = &code
		}
		e.Reason = c.Reason
	}
	if e.ExitCode == nil && e.Reason == "" {
		e.Reason = t.StoppedReason
	}
	return e
}

// LostReason is the reason of an attempt whose node was lost, as Batch
// words the loss of an instance.
func LostReason(node string) string { return "Host EC2 (instance " + node + ") terminated." }

// watchNodes checks the nodes of the attempts being waited for: the
// task of a lost node is stopped and its attempt reported lost.
func (l *Launcher) watchNodes() {
	t := time.NewTicker(l.check)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		l.CheckNodes(l.ctx)
	}
}

// CheckNodes runs one check of the running attempts' nodes.
func (l *Launcher) CheckNodes(ctx context.Context) {
	l.mu.Lock()
	byNode := map[string][]*attempt{}
	for _, at := range l.waiting {
		byNode[at.node] = append(byNode[at.node], at)
	}
	l.mu.Unlock()
	for node, ats := range byNode {
		lost, err := l.rt.Lost(ctx, node)
		if err != nil || !lost {
			continue
		}
		for _, at := range ats {
			reason := LostReason(node)
			if _, err := l.rt.Stop(ctx, at.task, reason); err != nil && !errdefs.IsNotFound(err) {
				l.log.Warn("batch: stopping the task of a lost node", "task", at.task, "node", node, "err", err)
			}
			l.log.Warn("batch: an attempt's node is lost", "attempt", at.id, "task", at.task, "node", node)
			l.finish(at, batch.AttemptEnd{ID: at.id, Ref: at.task, Reason: reason, StoppedAt: time.Now()})
		}
	}
}

// LogStream implements batch.StreamNamer: an attempt's stream is
// <job definition name>/default/<task id>, as Batch names it after the
// ECS task, and the task's agent ships the container's output there
// (awslogs) before the task is STOPPED.
func (l *Launcher) LogStream(a batch.AttemptSpec, ref string) string {
	name, _, _ := strings.Cut(a.Definition, ":")
	return name + "/" + ContainerName + "/" + ref
}

// LogReader reads the logs of attempts run as cluster tasks from the
// cluster's task logs (LogGroup), wherever they ran: a finished
// attempt's whole output, after its node is gone too. A running
// attempt's output is shipped when it ends.
func LogReader(st *state.Store) batch.LogReader { return storeLogs{st} }

type storeLogs struct{ st *state.Store }

func (s storeLogs) Logs(ctx context.Context, stream string, each func(batch.LogEvent) error) error {
	return s.st.ReadLogs(ctx, LogGroup, stream, func(e state.LogEvent) error {
		return each(batch.LogEvent{Time: e.Time, Message: e.Message})
	})
}

// tasksRuntime adapts tasks.Runtime to Runtime.
type tasksRuntime struct {
	*tasks.Runtime
	hbTimeout time.Duration
}

// FromTasks adapts the cluster's task runtime; a node whose heartbeat
// is older than hbTimeout is lost (tasks.DefaultHeartbeatTimeout when
// zero).
func FromTasks(rt *tasks.Runtime, hbTimeout time.Duration) Runtime {
	if hbTimeout <= 0 {
		hbTimeout = tasks.DefaultHeartbeatTimeout
	}
	return tasksRuntime{Runtime: rt, hbTimeout: hbTimeout}
}

func (r tasksRuntime) TaskDefs(ctx context.Context, family string) ([]state.TaskDefinition, error) {
	f, err := r.Store().Families().Get(ctx, family)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []state.TaskDefinition
	for rev := 1; rev <= f.Value.LastRevision; rev++ {
		e, err := r.Store().TaskDefs().Get(ctx, state.TaskDefKey(family, rev))
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e.Value)
	}
	return out, nil
}

func (r tasksRuntime) Register(ctx context.Context, td state.TaskDefinition) (state.TaskDefinition, error) {
	return r.Store().RegisterTaskDef(ctx, td, time.Now())
}

func (r tasksRuntime) Lost(ctx context.Context, node string) (bool, error) {
	if !tasks.ValidName(node) {
		return false, fmt.Errorf("node %q: %w", node, errdefs.ErrInvalidArgument)
	}
	e, err := r.Store().Heartbeats().Get(ctx, node)
	if errdefs.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return time.Since(e.Created) > r.hbTimeout, nil
}

// Interface checks.
var (
	_ batch.Launcher    = (*Launcher)(nil)
	_ batch.StreamNamer = (*Launcher)(nil)
	_ batch.Finder      = (*Launcher)(nil)
	_ batch.LogReader   = storeLogs{}
)
