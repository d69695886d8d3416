package batch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
)

// Buckets of the tables (see the package doc).
const (
	bucketEnvs     = "batch_ce"
	bucketQueues   = "batch_queues"
	bucketPolicies = "batch_policies"
	bucketDefs     = "batch_jobdefs"
	bucketJobs     = "batch_jobs"
	bucketChildren = "batch_children"
)

// Option configures a Manager.
type Option func(*Manager)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// WithMinTimeout lowers the smallest attemptDurationSeconds accepted
// (Batch's 60 s) for tests that must see a timeout quickly; the daemon
// keeps 60.
func WithMinTimeout(seconds int) Option { return func(m *Manager) { m.minTimeout = seconds } }

// WithLaunchConcurrency bounds the attempts being launched at once
// (default 8).
func WithLaunchConcurrency(n int) Option { return func(m *Manager) { m.launchers = n } }

// Manager keeps Batch's objects in JetStream KV, decides what happens to
// jobs and runs their attempts through a Launcher. One Manager runs per
// control plane: it is the only writer of the batch_* buckets (in a
// cluster, the one on the leading manager).
type Manager struct {
	envsT     state.Table[ComputeEnvironment]
	queuesT   state.Table[JobQueue]
	policiesT state.Table[SchedulingPolicy]
	defsT     state.Table[JobDefinition]
	jobsT     state.Table[Job]
	childrenT state.Table[Job]

	launch     Launcher
	log        *slog.Logger
	now        func() time.Time
	minTimeout int
	launchers  int
	sem        chan struct{}

	// mu guards everything below, and orders the writes of the tables.
	mu       sync.Mutex
	envs     map[string]*ComputeEnvironment
	queues   map[string]*JobQueue
	policies map[string]*SchedulingPolicy
	defs     map[string]*JobDefinition // name:revision
	latest   map[string]int            // name -> highest revision
	jobs     map[string]*Job           // plain jobs and array parents
	children map[string]*Job           // materialised array children
	arrays   map[string]*arrayState
	// active are the plain jobs and parents not yet RUNNABLE or done,
	// re-evaluated on every step.
	active map[string]*Job
	// runnable are the RUNNABLE plain jobs.
	runnable map[string]*Job
	// running are the jobs (plain or children) with an attempt under
	// way, by attempt id.
	running map[string]*Job
	// ntonOf lists, by array id, the arrays that depend on it N_TO_N.
	ntonOf map[string][]string
	order  []string // job ids in submit order, for listing

	// holdUntil pauses dispatching after a launch found no capacity
	// (ErrNoCapacity) until then, or until an attempt ends.
	holdUntil time.Time

	kick chan struct{}

	// unwatched are the attempts under way that Load could not hand to
	// the launcher's Watch; Run hands them again.
	unwatched []watchItem

	// revs are the revisions of the job and child records as this
	// manager last read or wrote them, by job id: every write is a
	// compare-and-set on them. A write that loses (another manager wrote
	// the record, or Load read it from a replica that lagged) fences the
	// manager: its memory is not the tables' any more, so it writes and
	// launches nothing until Run has loaded the tables again (gen counts
	// the loads; a launch answered after a reload is the reload's to
	// find, with Watch).
	revs   map[string]uint64
	fenced bool
	gen    int

	// retention is how long finished jobs are kept (retention.go), and
	// lastSweep when they were last looked at.
	retention time.Duration
	lastSweep time.Time
}

// capacityRetry is how long dispatching waits after a launch found no
// capacity, unless an attempt ends (and frees some) first.
const capacityRetry = time.Second

// New returns a manager on st's tables that runs attempts with l. Load
// reads what the tables hold; Run drives the jobs.
func New(st *state.Store, l Launcher, opts ...Option) *Manager {
	m := &Manager{
		envsT:     state.NewTable[ComputeEnvironment](st, bucketEnvs),
		queuesT:   state.NewTable[JobQueue](st, bucketQueues),
		policiesT: state.NewTable[SchedulingPolicy](st, bucketPolicies),
		defsT:     state.NewTable[JobDefinition](st, bucketDefs),
		jobsT:     state.NewTable[Job](st, bucketJobs),
		childrenT: state.NewTable[Job](st, bucketChildren),
		launch:    l, log: slog.New(slog.DiscardHandler), now: time.Now, minTimeout: MinTimeout, launchers: 8,
		envs: map[string]*ComputeEnvironment{}, queues: map[string]*JobQueue{}, policies: map[string]*SchedulingPolicy{},
		defs: map[string]*JobDefinition{}, latest: map[string]int{}, jobs: map[string]*Job{}, children: map[string]*Job{},
		arrays: map[string]*arrayState{}, active: map[string]*Job{}, runnable: map[string]*Job{}, running: map[string]*Job{},
		ntonOf: map[string][]string{}, kick: make(chan struct{}, 1), retention: DefaultRetention, revs: map[string]uint64{},
	}
	for _, o := range opts {
		o(m)
	}
	if m.launchers < 1 {
		m.launchers = 1
	}
	m.sem = make(chan struct{}, m.launchers)
	return m
}

// MinTimeout is the smallest attemptDurationSeconds the manager accepts.
func (m *Manager) MinTimeout() int { return m.minTimeout }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// poke wakes the loop.
func (m *Manager) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func defKey(name string, rev int) string { return fmt.Sprintf("%s.%d", name, rev) }

// childKey is a child's key in batch_children (':' is not a key
// character of JetStream KV).
func childKey(parent string, i int) string { return fmt.Sprintf("%s.%d", parent, i) }

// addJobLocked indexes a plain job or array parent.
func (m *Manager) addJobLocked(j *Job) {
	m.jobs[j.ID] = j
	m.order = append(m.order, j.ID)
	if j.IsArray() {
		m.arrays[j.ID] = newArrayState(j.ArraySize)
		for _, d := range j.DependsOn {
			if d.Type == DepNToN {
				m.ntonOf[d.JobID] = append(m.ntonOf[d.JobID], j.ID)
			}
		}
	}
	switch j.Status {
	case StatusSubmitted:
		m.active[j.ID] = j
	case StatusPending:
		if !j.IsArray() || !j.Released {
			m.active[j.ID] = j
		}
	case StatusRunnable:
		m.runnable[j.ID] = j
	}
}

// statusOfLocked is the status of a job or child id ("" if unknown).
func (m *Manager) statusOfLocked(id string) string {
	if j, ok := m.jobs[id]; ok {
		return j.Status
	}
	if p, i, ok := splitChild(id); ok {
		if a := m.arrays[p]; a != nil && i >= 0 && i < a.size {
			return a.get(i)
		}
	}
	return ""
}

// Run drives the jobs until ctx ends: it evaluates dependencies,
// dispatches RUNNABLE work, records the ends the launcher reports and
// stops attempts past their timeout.
func (m *Manager) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	ends := m.launch.Ends()
	var found <-chan AttemptFound // nil: never ready
	if f, ok := m.launch.(Finder); ok {
		found = f.Found()
	}
	m.rewatchUnwatched(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-timer.C:
		case f := <-found:
			m.handleFound(ctx, f)
		case e := <-ends:
			m.handleEnd(ctx, e)
			// Take what else has ended before deciding again.
		drain:
			for i := 0; i < 1024; i++ {
				select {
				case e := <-ends:
					m.handleEnd(ctx, e)
				default:
					break drain
				}
			}
		}
		m.mu.Lock()
		fenced := m.fenced
		m.mu.Unlock()
		if fenced {
			m.reload(ctx)
			m.rewatchUnwatched(ctx)
		}
		next := m.step(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = time.Until(next)
			if wait < 10*time.Millisecond {
				wait = 10 * time.Millisecond
			}
		}
		timer.Reset(wait)
	}
}

// launchItem is an attempt to start, decided under the lock.
type launchItem struct {
	spec AttemptSpec
	gen  int
}

// step makes one round of decisions; it returns when the next timeout
// falls due (zero: none).
func (m *Manager) step(ctx context.Context) time.Time {
	m.mu.Lock()
	now := m.now()
	// SUBMITTED and PENDING jobs and parents.
	ids := make([]string, 0, len(m.active))
	for id := range m.active {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m.advanceLocked(ctx, m.active[id], now)
	}
	var launches []launchItem
	// After a launch that found no room, nothing is dispatched until an
	// attempt ends or the hold passes.
	if !now.Before(m.holdUntil) {
		for _, p := range Plan(m.snapshotLocked()) {
			launches = append(launches, m.startLocked(ctx, p, now)...)
			if now.Before(m.holdUntil) {
				// An attempt's record could not be written: the
				// others would fail alike.
				break
			}
		}
	}
	// Timeouts.
	started := map[string]time.Time{}
	timeouts := map[string]int{}
	for aid, j := range m.running {
		if j.Status == StatusRunning && j.Stop == nil {
			started[aid] = j.Running.StartedAt
			timeouts[aid] = j.TimeoutSeconds
		}
	}
	expired, next := Expired(started, timeouts, now)
	m.expireLocked(ctx, now)
	if m.retention > 0 && (next.IsZero() || now.Add(sweepEvery).Before(next)) {
		next = now.Add(sweepEvery)
	}
	if now.Before(m.holdUntil) && (next.IsZero() || m.holdUntil.Before(next)) {
		next = m.holdUntil
	}
	var stops []stopItem
	for _, aid := range expired {
		j := m.running[aid]
		j.Stop = &StopRequest{Reason: ReasonTimeout, Timeout: true}
		m.saveLocked(ctx, j)
		stops = append(stops, m.stopItemLocked(j, ReasonTimeout))
	}
	m.mu.Unlock()
	for _, s := range stops {
		go m.stop(s)
	}
	for _, l := range launches {
		m.sem <- struct{}{}
		go func(l launchItem) {
			defer func() { <-m.sem }()
			m.runLaunch(ctx, l.spec, l.gen)
		}(l)
	}
	return next
}

// snapshotLocked is the dispatch decision's input.
func (m *Manager) snapshotLocked() Snapshot {
	s := Snapshot{Envs: m.envs, Policies: m.policies, Used: map[string]float64{}, ShareUsage: map[string]map[string]float64{}, Runnable: map[string][]Candidate{}}
	for _, q := range m.queues {
		s.Queues = append(s.Queues, q)
	}
	for _, j := range m.running {
		s.Used[j.Running.Env] += j.Container.VCPUs
		su := s.ShareUsage[j.Queue]
		if su == nil {
			su = map[string]float64{}
			s.ShareUsage[j.Queue] = su
		}
		su[j.ShareIdentifier] += j.Container.VCPUs
	}
	for _, j := range m.runnable {
		s.Runnable[j.Queue] = append(s.Runnable[j.Queue], Candidate{JobID: j.ID, VCPUs: j.Container.VCPUs, Share: j.ShareIdentifier, Priority: j.SchedulingPriority, Created: j.CreatedAt, Count: 1})
	}
	for id, a := range m.arrays {
		if n := a.counts[statusIndex[StatusRunnable]]; n > 0 {
			p := m.jobs[id]
			s.Runnable[p.Queue] = append(s.Runnable[p.Queue], Candidate{JobID: id, VCPUs: p.Container.VCPUs, Share: p.ShareIdentifier, Priority: p.SchedulingPriority, Created: p.CreatedAt, Count: n})
		}
	}
	return s
}

// advanceLocked moves a SUBMITTED or PENDING job or parent on.
func (m *Manager) advanceLocked(ctx context.Context, j *Job, now time.Time) {
	deps := WaitsFor(j, -1)
	st := make([]string, len(deps))
	for i, d := range deps {
		st[i] = m.statusOfLocked(d)
	}
	next := Resolve(st)
	if j.IsArray() {
		switch {
		case next == StatusFailed:
			m.failArrayLocked(ctx, j, ReasonDependency, now)
		case next == StatusRunnable:
			// The children are released: the parent is PENDING until
			// they are done.
			j.Status, j.Released = StatusPending, true
			delete(m.active, j.ID)
			m.saveLocked(ctx, j)
			m.releaseChildrenLocked(ctx, j, m.arrays[j.ID], now)
		case j.Status == StatusSubmitted:
			j.Status = StatusPending
			m.saveLocked(ctx, j)
			a := m.arrays[j.ID]
			for i := 0; i < a.size; i++ {
				if a.get(i) == StatusSubmitted {
					a.set(i, StatusPending)
				}
			}
			// Still waiting: it stays active but its children are not
			// released (released tells them apart).
			m.active[j.ID] = j
		}
		return
	}
	switch next {
	case StatusFailed:
		j.Status, j.StatusReason, j.StoppedAt = StatusFailed, ReasonDependency, now
		delete(m.active, j.ID)
		m.saveLocked(ctx, j)
		m.doneLocked(ctx, j.ID, now)
	case StatusRunnable:
		j.Status = StatusRunnable
		delete(m.active, j.ID)
		m.runnable[j.ID] = j
		m.saveLocked(ctx, j)
	default:
		if j.Status == StatusSubmitted {
			j.Status = StatusPending
			m.saveLocked(ctx, j)
		}
	}
}

// releaseChildrenLocked evaluates every child of a released array that
// waits, then finishes the array if nothing is left to run.
func (m *Manager) releaseChildrenLocked(ctx context.Context, p *Job, a *arrayState, now time.Time) {
	for i := 0; i < a.size; i++ {
		if st := a.get(i); (st == StatusPending || st == StatusSubmitted) && !a.materialised[i] {
			m.evalChildLocked(p, a, i)
			if Done(a.get(i)) {
				m.doneLocked(ctx, ChildID(p.ID, i), now)
			}
		}
	}
	m.finishArrayIfDoneLocked(ctx, p, now)
}

// evalChildLocked decides whether child i of a released array is
// RUNNABLE, FAILED (a dependency failed) or still PENDING. Only children
// without a record are evaluated: their state is implied.
func (m *Manager) evalChildLocked(p *Job, a *arrayState, i int) {
	deps := WaitsFor(p, i)
	st := make([]string, len(deps))
	for k, d := range deps {
		st[k] = m.statusOfLocked(d)
	}
	switch Resolve(st) {
	case StatusRunnable:
		a.set(i, StatusRunnable)
	case StatusFailed:
		a.set(i, StatusFailed)
		a.depFailed[i] = true
	default:
		if a.get(i) == StatusSubmitted {
			a.set(i, StatusPending)
		}
	}
}

// startLocked starts n of a pick's work: the job, or the lowest RUNNABLE
// children of the array.
func (m *Manager) startLocked(ctx context.Context, p Pick, now time.Time) []launchItem {
	if j, ok := m.runnable[p.JobID]; ok {
		delete(m.runnable, j.ID)
		if l, ok := m.beginAttemptLocked(ctx, j, p.Env, now); ok {
			return []launchItem{l}
		}
		return nil
	}
	a := m.arrays[p.JobID]
	parent := m.jobs[p.JobID]
	if a == nil || parent == nil {
		return nil
	}
	var out []launchItem
	for _, i := range a.takeRunnable(p.N) {
		c := m.children[ChildID(parent.ID, i)]
		if c == nil {
			c = m.newChild(parent, i, now)
			m.children[c.ID] = c
		}
		l, ok := m.beginAttemptLocked(ctx, c, p.Env, now)
		if !ok {
			break
		}
		out = append(out, l)
	}
	return out
}

// newChild materialises child i of parent p.
func (m *Manager) newChild(p *Job, i int, now time.Time) *Job {
	c := &Job{
		ID: ChildID(p.ID, i), Name: p.Name, Queue: p.Queue, Definition: p.Definition, ShareIdentifier: p.ShareIdentifier,
		SchedulingPriority: p.SchedulingPriority, Status: StatusRunnable, CreatedAt: now, Parameters: p.Parameters,
		Container: p.Container, RetryStrategy: p.RetryStrategy, TimeoutSeconds: p.TimeoutSeconds, DependsOn: p.DependsOn,
		Parent: p.ID, ArrayIndex: i, Tags: p.Tags,
	}
	return c
}

// handleFound records the reference of an attempt that Watch found
// running; one still STARTING (its Launch never answered) becomes
// RUNNING, as after a launch, so that its timeout counts. A stop asked
// for meanwhile was sent by the attempt's ID already.
func (m *Manager) handleFound(ctx context.Context, f AttemptFound) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.running[f.ID]
	if j == nil || j.Running == nil || j.Running.ID != f.ID || f.Ref == "" || m.fenced {
		return
	}
	changed := false
	if j.Running.Ref == "" {
		m.setRefLocked(j, m.specLocked(j, j.Running), f.Ref)
		changed = true
	}
	now := m.now()
	started := f.StartedAt
	if started.IsZero() || started.After(now) {
		started = now
	}
	if m.runningLocked(j, started) {
		changed = true
	}
	if changed {
		_ = m.saveLocked(ctx, j)
		m.poke()
	}
}

// handleEnd records the end of an attempt and decides what follows.
func (m *Manager) handleEnd(ctx context.Context, e AttemptEnd) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.running[e.ID]
	if j == nil || j.Running == nil || j.Running.ID != e.ID {
		return
	}
	delete(m.running, e.ID)
	now := m.now()
	// An end frees capacity: dispatch again at once.
	m.holdUntil = time.Time{}
	a := *j.Running
	j.Running = nil
	a.ExitCode = e.ExitCode
	a.Reason = e.Reason
	if !e.StartedAt.IsZero() {
		a.StartedAt = e.StartedAt
	}
	a.StoppedAt = e.StoppedAt
	if a.StoppedAt.IsZero() {
		a.StoppedAt = now
	}
	end := End{ExitCode: e.ExitCode, Reason: e.Reason, Stopped: j.Stop != nil}
	switch {
	case j.Stop != nil:
		a.StatusReason = j.Stop.Reason
	case e.ExitCode != nil:
		a.StatusReason = ReasonExited
	case e.Reason != "":
		a.StatusReason = e.Reason
	default:
		a.StatusReason = ReasonLost
	}
	end.StatusReason = a.StatusReason
	j.Attempts = append(j.Attempts, a)
	switch {
	case end.Succeeded():
		j.Status, j.StatusReason, j.StoppedAt = StatusSucceeded, ReasonExited, a.StoppedAt
	case Retry(j.RetryStrategy, len(j.Attempts), end):
		j.Status, j.StatusReason = StatusRunnable, ""
	default:
		j.Status, j.StatusReason, j.StoppedAt = StatusFailed, a.StatusReason, a.StoppedAt
	}
	if j.Status == StatusRunnable {
		if j.Parent != "" {
			m.arrays[j.Parent].set(j.ArrayIndex, StatusRunnable)
		} else {
			m.runnable[j.ID] = j
		}
	} else if j.Parent != "" {
		m.arrays[j.Parent].set(j.ArrayIndex, j.Status)
	}
	m.saveLocked(ctx, j)
	if Done(j.Status) {
		m.doneLocked(ctx, j.ID, now)
	}
	m.poke()
}

// doneLocked follows a job or child reaching a final state: the
// children that wait for it (N_TO_N, SEQUENTIAL) are evaluated, an
// array whose children are all done finishes; plain jobs and parents
// waiting for it are evaluated on the next step.
func (m *Manager) doneLocked(ctx context.Context, id string, now time.Time) {
	p, i, ok := splitChild(id)
	if !ok {
		return
	}
	parent := m.jobs[p]
	a := m.arrays[p]
	if parent == nil || a == nil {
		return
	}
	// SEQUENTIAL: the next child.
	for _, d := range parent.DependsOn {
		if d.Type == DepSequential && (d.JobID == "" || d.JobID == p) && i+1 < a.size && m.released(parent) {
			if !a.materialised[i+1] && a.get(i+1) == StatusPending {
				m.evalChildLocked(parent, a, i+1)
				if Done(a.get(i + 1)) {
					m.doneLocked(ctx, ChildID(p, i+1), now)
				}
			}
		}
	}
	// N_TO_N: child i of the arrays that depend on this one.
	for _, did := range m.ntonOf[p] {
		dp, da := m.jobs[did], m.arrays[did]
		if dp == nil || da == nil || i >= da.size || !m.released(dp) {
			continue
		}
		if !da.materialised[i] && da.get(i) == StatusPending {
			m.evalChildLocked(dp, da, i)
			if Done(da.get(i)) {
				m.doneLocked(ctx, ChildID(did, i), now)
			}
		}
	}
	m.finishArrayIfDoneLocked(ctx, parent, now)
}

// released reports whether an array parent's own dependencies are met
// (its children then wait only for theirs).
func (m *Manager) released(p *Job) bool { return p.Released }

// finishArrayIfDoneLocked ends an array parent whose children are all
// done.
func (m *Manager) finishArrayIfDoneLocked(ctx context.Context, p *Job, now time.Time) {
	if Done(p.Status) {
		return
	}
	a := m.arrays[p.ID]
	st := ArrayStatus(a.size, a.summary())
	if !Done(st) {
		return
	}
	p.Status, p.StoppedAt = st, now
	switch {
	case st == StatusSucceeded:
		p.StatusReason = ""
	case p.Stop != nil:
		p.StatusReason = p.Stop.Reason
	default:
		p.StatusReason = ReasonArrayChild
	}
	m.saveLocked(ctx, p)
}

// failArrayLocked fails every child of an array that has not started,
// with reason; the parent finishes when the started ones end.
func (m *Manager) failArrayLocked(ctx context.Context, p *Job, reason string, now time.Time) {
	delete(m.active, p.ID)
	a := m.arrays[p.ID]
	if p.Stop == nil {
		p.Stop = &StopRequest{Reason: reason}
	}
	for i := 0; i < a.size; i++ {
		switch a.get(i) {
		case StatusSubmitted, StatusPending, StatusRunnable:
			if c := m.children[ChildID(p.ID, i)]; c != nil {
				c.Status, c.StatusReason, c.StoppedAt = StatusFailed, reason, now
				m.saveLocked(ctx, c)
			}
			a.set(i, StatusFailed)
		}
	}
	if p.Status == StatusSubmitted {
		p.Status = StatusPending
	}
	m.saveLocked(ctx, p)
	m.finishArrayIfDoneLocked(ctx, p, now)
}
