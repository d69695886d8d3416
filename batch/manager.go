package batch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
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

// Load reads the tables into memory and hands the attempts under way
// back to the launcher. It runs once, before Run and before the API
// serves.
func (m *Manager) Load(ctx context.Context) error { return m.load(ctx, false) }

// resetLocked forgets what memory holds of the tables, for a load.
func (m *Manager) resetLocked() {
	m.envs, m.queues, m.policies, m.defs, m.latest = map[string]*ComputeEnvironment{}, map[string]*JobQueue{}, map[string]*SchedulingPolicy{}, map[string]*JobDefinition{}, map[string]int{}
	m.jobs, m.children, m.arrays = map[string]*Job{}, map[string]*Job{}, map[string]*arrayState{}
	m.active, m.runnable, m.running = map[string]*Job{}, map[string]*Job{}, map[string]*Job{}
	m.ntonOf, m.order, m.revs = map[string][]string{}, nil, map[string]uint64{}
	m.holdUntil, m.unwatched = time.Time{}, nil
	m.fenced = false
	m.gen++
}

// reload loads the tables again after a write was fenced, until it
// succeeds or ctx ends.
func (m *Manager) reload(ctx context.Context) {
	for {
		err := m.load(ctx, true)
		if err == nil {
			m.log.Warn("batch: tables loaded again after another writer's change")
			return
		}
		m.log.Warn("batch: loading the tables again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(capacityRetry):
		}
	}
}

func (m *Manager) load(ctx context.Context, reset bool) error {
	envs, err := m.envsT.List(ctx)
	if err != nil {
		return err
	}
	queues, err := m.queuesT.List(ctx)
	if err != nil {
		return err
	}
	pols, err := m.policiesT.List(ctx)
	if err != nil {
		return err
	}
	defs, err := m.defsT.List(ctx)
	if err != nil {
		return err
	}
	jobs, err := m.jobsT.List(ctx)
	if err != nil {
		return err
	}
	children, err := m.childrenT.List(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if reset {
		m.resetLocked()
	}
	for _, e := range envs {
		v := e.Value
		m.envs[v.Name] = &v
	}
	for _, e := range queues {
		v := e.Value
		m.queues[v.Name] = &v
	}
	for _, e := range pols {
		v := e.Value
		m.policies[v.Name] = &v
	}
	for _, e := range defs {
		v := e.Value
		m.defs[v.Name+":"+fmt.Sprint(v.Revision)] = &v
		if v.Revision > m.latest[v.Name] {
			m.latest[v.Name] = v.Revision
		}
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].Value.CreatedAt.Before(jobs[j].Value.CreatedAt) })
	for _, e := range jobs {
		j := e.Value
		m.revs[j.ID] = e.Revision
		m.addJobLocked(&j)
	}
	for _, e := range children {
		c := e.Value
		a := m.arrays[c.Parent]
		if a == nil || c.ArrayIndex < 0 || c.ArrayIndex >= a.size {
			continue
		}
		m.revs[c.ID] = e.Revision
		m.children[c.ID] = &c
		a.set(c.ArrayIndex, c.Status)
		a.materialised[c.ArrayIndex] = true
	}
	// The children no record holds: failed with a canceled parent, else
	// waiting until their dependencies are evaluated below.
	for id, a := range m.arrays {
		p := m.jobs[id]
		for i := 0; i < a.size; i++ {
			if a.materialised[i] {
				continue
			}
			if p.Stop != nil {
				a.set(i, StatusFailed)
			} else {
				a.set(i, StatusPending)
			}
		}
	}
	for id, a := range m.arrays {
		if p := m.jobs[id]; p.Released && !Done(p.Status) {
			m.releaseChildrenLocked(ctx, p, a, m.now())
		}
	}
	// Attempts under way go back to the launcher.
	var watch []watchItem
	for _, j := range m.allRunningLocked() {
		m.running[j.Running.ID] = j
		watch = append(watch, watchItem{m.specLocked(j, j.Running), j.Running.Ref})
	}
	nJobs, nChildren := len(m.jobs), len(m.children)
	m.mu.Unlock()
	for _, w := range watch {
		if err := m.launch.Watch(ctx, w.spec, w.ref); err != nil {
			// Run tries again: an attempt left unwatched would hold its
			// job STARTING or RUNNING for ever.
			m.log.Warn("batch: re-attaching to an attempt", "job", w.spec.JobID, "attempt", w.spec.ID, "err", err)
			m.mu.Lock()
			m.unwatched = append(m.unwatched, w)
			m.mu.Unlock()
		}
	}
	m.log.Info("batch: state loaded", "jobs", nJobs, "children", nChildren, "running", len(watch))
	m.poke()
	return nil
}

func (m *Manager) allRunningLocked() []*Job {
	var out []*Job
	for _, j := range m.jobs {
		if j.Running != nil && !j.IsArray() {
			out = append(out, j)
		}
	}
	for _, c := range m.children {
		if c.Running != nil {
			out = append(out, c)
		}
	}
	return out
}

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
	m.rewatchUnwatched(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-timer.C:
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

// rewatchUnwatched hands the attempts Load could not hand to Watch
// again, in the background.
func (m *Manager) rewatchUnwatched(ctx context.Context) {
	m.mu.Lock()
	unwatched, gen := m.unwatched, m.gen
	m.unwatched = nil
	m.mu.Unlock()
	for _, w := range unwatched {
		go m.rewatch(ctx, w.spec, w.ref, gen)
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
	var stops []struct{ ref, reason string }
	for _, aid := range expired {
		j := m.running[aid]
		j.Stop = &StopRequest{Reason: ReasonTimeout, Timeout: true}
		m.saveLocked(ctx, j)
		stops = append(stops, struct{ ref, reason string }{j.Running.Ref, ReasonTimeout})
	}
	m.mu.Unlock()
	for _, s := range stops {
		go m.stop(s.ref, s.reason)
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

func (m *Manager) stop(ref, reason string) {
	if ref == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.launch.Stop(ctx, ref, reason); err != nil && !errdefs.IsNotFound(err) {
		m.log.Warn("batch: stopping an attempt", "ref", ref, "err", err)
	}
}

// runLaunch starts one attempt and records the outcome. run is the
// manager's own context (Run's): once it ends the manager has stopped (a
// cluster's manager that no longer leads) and another may have loaded
// the tables, so nothing of the outcome is written or acted on here: the
// attempt's record says STARTING with its ID, and the next manager's
// Watch finds what runs.
func (m *Manager) runLaunch(run context.Context, spec AttemptSpec, gen int) {
	ctx, cancel := context.WithTimeout(run, 10*time.Minute)
	defer cancel()
	ref, err := m.launch.Launch(ctx, spec)
	if run.Err() != nil {
		m.log.Info("batch: the manager stopped while an attempt was launched; the next one finds it", "job", spec.JobID, "attempt", spec.ID, "ref", ref, "err", err)
		return
	}
	now := m.now()
	m.mu.Lock()
	if m.gen != gen || m.fenced {
		// The tables were (or are to be) loaded again since: the load
		// hands the attempt, recorded STARTING, to Watch.
		m.mu.Unlock()
		m.log.Info("batch: the tables were reloaded while an attempt was launched; the load finds it", "job", spec.JobID, "attempt", spec.ID, "ref", ref, "err", err)
		return
	}
	j := m.running[spec.ID]
	if j == nil || j.Running == nil || j.Running.ID != spec.ID {
		// The attempt is no longer the job's (its end came first): a
		// task it left must not run on unwatched.
		m.mu.Unlock()
		if err == nil {
			m.stop(ref, ReasonLost)
		}
		return
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		// The attempt may run: it stays STARTING, holding its place, and
		// is found the way a restarted manager finds it.
		m.mu.Unlock()
		m.log.Warn("batch: whether an attempt started is not known; looking for it", "job", spec.JobID, "attempt", spec.ID, "err", err)
		m.rewatch(run, spec, "", gen)
		return
	}
	if errors.Is(err, ErrNoCapacity) && j.Stop == nil {
		m.requeueLocked(ctx, j, now)
		m.mu.Unlock()
		m.log.Info("batch: no capacity for an attempt now; the job waits", "job", spec.JobID, "err", err)
		m.poke()
		return
	}
	if err != nil {
		m.mu.Unlock()
		m.log.Warn("batch: an attempt did not start", "job", spec.JobID, "attempt", spec.ID, "err", err)
		m.handleEnd(context.Background(), AttemptEnd{ID: spec.ID, Reason: ReasonLaunchFailure + ": " + err.Error(), StoppedAt: now})
		m.poke()
		return
	}
	j.Running.Ref = ref
	if sn, ok := m.launch.(StreamNamer); ok {
		j.Running.LogStream = sn.LogStream(spec, ref)
	}
	if j.Status == StatusStarting {
		j.Status = StatusRunning
		j.Running.StartedAt = now
		if j.StartedAt.IsZero() {
			j.StartedAt = now
		}
		if j.Parent != "" {
			m.arrays[j.Parent].set(j.ArrayIndex, StatusRunning)
		}
	}
	stopNow := j.Stop != nil
	reason := ""
	if stopNow {
		reason = j.Stop.Reason
	}
	_ = m.saveLocked(ctx, j)
	m.mu.Unlock()
	if stopNow {
		m.stop(ref, reason)
	}
	m.poke()
}

// watchItem is an attempt under way to hand to the launcher's Watch.
type watchItem struct {
	spec AttemptSpec
	ref  string
}

// rewatch hands an attempt to the launcher's Watch (ref "" when Launch
// never answered: it is found by its ID) until the launcher takes it,
// the manager stops, or the tables are loaded again (the load hands it).
func (m *Manager) rewatch(run context.Context, spec AttemptSpec, ref string, gen int) {
	for {
		m.mu.Lock()
		stale := m.gen != gen
		m.mu.Unlock()
		if stale {
			return
		}
		err := m.launch.Watch(run, spec, ref)
		if err == nil {
			return
		}
		m.log.Warn("batch: looking for an attempt", "job", spec.JobID, "attempt", spec.ID, "err", err)
		select {
		case <-run.Done():
			return
		case <-time.After(capacityRetry):
		}
	}
}

// requeueLocked puts a STARTING job whose attempt found no capacity back
// to RUNNABLE, without counting the attempt, and holds dispatching for
// capacityRetry.
func (m *Manager) requeueLocked(ctx context.Context, j *Job, now time.Time) {
	m.unstartLocked(j, now)
	_ = m.saveLocked(ctx, j)
}

// unstartLocked is requeueLocked without the write.
func (m *Manager) unstartLocked(j *Job, now time.Time) {
	delete(m.running, j.Running.ID)
	j.Running = nil
	j.Status, j.StatusReason = StatusRunnable, ""
	if j.Parent != "" {
		m.arrays[j.Parent].set(j.ArrayIndex, StatusRunnable)
	} else {
		m.runnable[j.ID] = j
	}
	m.holdUntil = now.Add(capacityRetry)
}

// writableLocked refuses the API's changes while the tables are to be
// loaded again (a change made meanwhile would be forgotten by the load).
func (m *Manager) writableLocked() error {
	if m.fenced {
		return fmt.Errorf("Batch's manager is loading its tables again; retry: %w", errdefs.ErrUnavailable)
	}
	return nil
}

// errFenced is what saveLocked answers once a write has been fenced.
var errFenced = fmt.Errorf("another writer changed Batch's tables; they are loaded again first: %w", errdefs.ErrConflict)

// saveLocked writes a job or child record, compare-and-set on the
// revision last read or written (a record not known yet is created); a
// failed write is logged and returned, and one that lost to another
// writer fences the manager (see revs).
func (m *Manager) saveLocked(ctx context.Context, j *Job) error {
	if m.fenced {
		return errFenced
	}
	t, key := m.jobsT, j.ID
	if j.Parent != "" {
		t, key = m.childrenT, childKey(j.Parent, j.ArrayIndex)
	}
	var rev uint64
	var err error
	if last, ok := m.revs[j.ID]; ok {
		rev, err = t.Update(ctx, key, *j, last)
	} else {
		rev, err = t.Create(ctx, key, *j)
	}
	if err == nil {
		m.revs[j.ID] = rev
		if j.Parent != "" {
			m.arrays[j.Parent].materialised[j.ArrayIndex] = true
		}
		return nil
	}
	if errdefs.IsConflict(err) {
		m.fenced = true
		m.poke()
		m.log.Error("batch: a job's record changed under this manager (another manager wrote it, or it was read from a replica that lagged); loading the tables again", "job", j.ID, "status", j.Status, "err", err)
		return err
	}
	m.log.Error("batch: writing a job", "job", j.ID, "status", j.Status, "err", err)
	return err
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

// beginAttemptLocked makes j STARTING with a new attempt on env. The
// attempt is launched only once its record (STARTING, with the attempt's
// ID) is written: a manager that takes over later must know of every
// attempt that may run, or it would start another beside it; and a
// manager that cannot write (it lost the cluster's quorum, another leads
// now) must not launch. When the write fails the job stays RUNNABLE and
// dispatching pauses as after a launch without capacity.
func (m *Manager) beginAttemptLocked(ctx context.Context, j *Job, env string, now time.Time) (launchItem, bool) {
	aid := newAttemptID()
	defName, _, _ := cutRevision(j.Definition)
	a := &Attempt{ID: aid, LogStream: defName + "/default/" + aid, Env: env}
	j.Running = a
	j.Status = StatusStarting
	j.StatusReason = ""
	m.running[aid] = j
	if j.Parent != "" {
		m.arrays[j.Parent].set(j.ArrayIndex, StatusStarting)
	}
	if err := m.saveLocked(ctx, j); err != nil {
		m.unstartLocked(j, now)
		return launchItem{}, false
	}
	return launchItem{spec: m.specLocked(j, a), gen: m.gen}, true
}

func newAttemptID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// specLocked is what the launcher needs of attempt a of job j.
func (m *Manager) specLocked(j *Job, a *Attempt) AttemptSpec {
	env := append([]KeyValue(nil), j.Container.Environment...)
	env = append(env,
		KeyValue{Name: "AWS_BATCH_JOB_ID", Value: j.ID},
		KeyValue{Name: "AWS_BATCH_JOB_ATTEMPT", Value: fmt.Sprint(len(j.Attempts) + 1)},
		KeyValue{Name: "AWS_BATCH_CE_NAME", Value: a.Env},
		KeyValue{Name: "AWS_BATCH_JQ_NAME", Value: j.Queue},
	)
	if j.Parent != "" {
		env = append(env, KeyValue{Name: "AWS_BATCH_JOB_ARRAY_INDEX", Value: fmt.Sprint(j.ArrayIndex)})
	}
	return AttemptSpec{
		ID: a.ID, JobID: j.ID, JobName: j.Name, Attempt: len(j.Attempts) + 1, Queue: j.Queue, Env: a.Env,
		Image: j.Container.Image, Command: Substitute(j.Container.Command, j.Parameters), Environment: env,
		VCPUs: j.Container.VCPUs, MemoryMiB: j.Container.MemoryMiB, User: j.Container.User, ReadOnly: j.Container.ReadonlyRootFilesystem,
		LogStream: a.LogStream, Definition: j.Definition, DefinitionContainer: m.definitionContainerLocked(j),
	}
}

// definitionContainerLocked is the container of j's job definition as
// registered (the job's own when the revision is gone).
func (m *Manager) definitionContainerLocked(j *Job) Container {
	if d := m.defs[j.Definition]; d != nil {
		return d.Container
	}
	return j.Container
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
