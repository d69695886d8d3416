package batch

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// Overrides are a submit's changes to the definition's container.
type Overrides struct {
	Command     []string
	Environment []KeyValue
	VCPUs       float64
	MemoryMiB   int
}

// Submit is a SubmitJob request.
type Submit struct {
	Name       string
	Queue      string
	Definition string
	Parameters map[string]string
	ArraySize  int
	DependsOn  []Dependency
	// RetryStrategy and TimeoutSeconds replace the definition's when set.
	RetryStrategy      *RetryStrategy
	TimeoutSeconds     int
	Overrides          *Overrides
	ShareIdentifier    string
	SchedulingPriority *int
	Tags               map[string]string
	PropagateTags      bool
}

// Submit records a job (one record, for an array too) and returns it.
func (m *Manager) Submit(ctx context.Context, s Submit) (*Job, error) {
	if err := ValidName("jobName", s.Name); err != nil {
		return nil, err
	}
	if s.ArraySize != 0 && (s.ArraySize < MinArraySize || s.ArraySize > MaxArraySize) {
		return nil, invalid("arrayProperties.size must be %d to %d", MinArraySize, MaxArraySize)
	}
	if len(s.DependsOn) > MaxDependencies {
		return nil, invalid("dependsOn holds at most %d jobs", MaxDependencies)
	}
	if err := ValidateRetry(s.RetryStrategy); err != nil {
		return nil, err
	}
	if err := ValidateTimeout(s.TimeoutSeconds, m.minTimeout); err != nil {
		return nil, err
	}
	if err := validTags(s.Tags); err != nil {
		return nil, err
	}
	if len(s.Parameters) > MaxParameters {
		return nil, invalid("at most %d parameters", MaxParameters)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return nil, err
	}
	q := m.queues[nameOf(s.Queue)]
	if q == nil {
		return nil, invalid("Job queue %s does not exist", s.Queue)
	}
	if q.State != StateEnabled {
		return nil, invalid("Job queue %s is DISABLED: it takes no new jobs", q.Name)
	}
	def, err := m.definitionLocked(s.Definition)
	if err != nil {
		return nil, err
	}
	var pol *SchedulingPolicy
	if q.Policy != "" {
		pol = m.policies[q.Policy]
	}
	switch {
	case pol != nil && s.ShareIdentifier == "":
		return nil, invalid("Job queue %s has a fair-share scheduling policy: shareIdentifier is required", q.Name)
	case pol == nil && s.ShareIdentifier != "":
		return nil, invalid("shareIdentifier is only for job queues with a fair-share scheduling policy")
	}
	id := newID()
	seenDep := map[string]bool{}
	for i, d := range s.DependsOn {
		switch d.Type {
		case "", DepNToN, DepSequential:
		default:
			return nil, invalid("dependsOn type %q: N_TO_N or SEQUENTIAL", d.Type)
		}
		if d.Type == DepSequential && d.JobID == "" {
			if s.ArraySize == 0 {
				return nil, invalid("a SEQUENTIAL dependency without a jobId is for array jobs")
			}
			s.DependsOn[i].JobID = ""
			continue
		}
		if d.JobID == "" {
			return nil, invalid("dependsOn needs a jobId")
		}
		if seenDep[d.JobID] {
			return nil, invalid("dependsOn names %s twice", d.JobID)
		}
		seenDep[d.JobID] = true
		if m.statusOfLocked(d.JobID) == "" {
			return nil, invalid("Dependent job %s does not exist", d.JobID)
		}
		if d.Type == DepNToN || d.Type == DepSequential {
			dj := m.jobs[d.JobID]
			if s.ArraySize == 0 || dj == nil || dj.ArraySize != s.ArraySize {
				return nil, invalid("an %s dependency is between array jobs of the same size", d.Type)
			}
			if d.Type == DepSequential {
				// SEQUENTIAL on another array waits for its whole; only
				// the job's own children go one after another.
				s.DependsOn[i].Type = ""
			}
		}
	}
	c := def.Container
	if o := s.Overrides; o != nil {
		if o.Command != nil {
			c.Command = o.Command
		}
		if len(o.Environment) > 0 {
			c.Environment = mergeEnv(c.Environment, o.Environment)
		}
		if o.VCPUs > 0 {
			c.VCPUs = o.VCPUs
		}
		if o.MemoryMiB > 0 {
			c.MemoryMiB = o.MemoryMiB
		}
		if err := ValidateContainer(&c); err != nil {
			return nil, err
		}
	}
	rs := def.RetryStrategy
	if s.RetryStrategy != nil {
		rs = s.RetryStrategy
	}
	timeout := def.TimeoutSeconds
	if s.TimeoutSeconds > 0 {
		timeout = s.TimeoutSeconds
	}
	prio := def.SchedulingPriority
	if s.SchedulingPriority != nil {
		prio = *s.SchedulingPriority
	}
	tags := s.Tags
	if s.PropagateTags || def.PropagateTags {
		tags = MergeParams(def.Tags, s.Tags)
	}
	now := m.now()
	j := &Job{
		ID: id, Name: s.Name, Queue: q.Name, Definition: def.Name + ":" + strconv.Itoa(def.Revision),
		ShareIdentifier: s.ShareIdentifier, SchedulingPriority: prio, Status: StatusSubmitted, CreatedAt: now,
		Parameters: MergeParams(def.Parameters, s.Parameters), Container: c, RetryStrategy: rs, TimeoutSeconds: timeout,
		DependsOn: s.DependsOn, ArraySize: s.ArraySize, Tags: tags,
	}
	rev, err := m.jobsT.Create(ctx, j.ID, *j)
	if err != nil {
		return nil, err
	}
	m.revs[j.ID] = rev
	m.addJobLocked(j)
	m.poke()
	cp := *j
	return &cp, nil
}

func mergeEnv(base, over []KeyValue) []KeyValue {
	out := append([]KeyValue(nil), base...)
	for _, o := range over {
		found := false
		for i := range out {
			if out[i].Name == o.Name {
				out[i].Value, found = o.Value, true
			}
		}
		if !found {
			out = append(out, o)
		}
	}
	return out
}

// nameOf is the name an ARN or a name names (the last path element).
func nameOf(s string) string {
	if strings.HasPrefix(s, "arn:") {
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			return s[i+1:]
		}
	}
	return s
}

// definitionLocked finds a definition by name (its latest ACTIVE
// revision), name:revision, or ARN.
func (m *Manager) definitionLocked(ref string) (*JobDefinition, error) {
	ref = nameOf(ref)
	name, rev, hasRev := cutRevision(ref)
	if hasRev {
		d := m.defs[name+":"+strconv.Itoa(rev)]
		if d == nil || d.Status != "ACTIVE" {
			return nil, invalid("Job definition %s does not exist or is not ACTIVE", ref)
		}
		return d, nil
	}
	for r := m.latest[name]; r > 0; r-- {
		if d := m.defs[name+":"+strconv.Itoa(r)]; d != nil && d.Status == "ACTIVE" {
			return d, nil
		}
	}
	return nil, invalid("Job definition %s does not exist", ref)
}

// Cancel cancels a job that has not started: SUBMITTED, PENDING and
// RUNNABLE jobs fail with reason; STARTING and RUNNING ones are left
// alone (TerminateJob ends them), as Batch does. An array parent's
// children that have not started fail with it.
func (m *Manager) Cancel(ctx context.Context, id, reason string) error {
	return m.stopJob(ctx, id, reason, false)
}

// Terminate fails a job in any state, stopping its attempt.
func (m *Manager) Terminate(ctx context.Context, id, reason string) error {
	return m.stopJob(ctx, id, reason, true)
}

func (m *Manager) stopJob(ctx context.Context, id, reason string, terminate bool) error {
	if reason == "" {
		return invalid("reason is required")
	}
	m.mu.Lock()
	if err := m.writableLocked(); err != nil {
		m.mu.Unlock()
		return err
	}
	now := m.now()
	var stops []stopItem
	var err error
	if p := m.jobs[id]; p != nil && p.IsArray() {
		if !Done(p.Status) {
			p.Stop = &StopRequest{Reason: reason, Terminate: terminate}
			m.failArrayLocked(ctx, p, reason, now)
			if terminate {
				for _, j := range m.running {
					if j.Parent == p.ID && j.Stop == nil {
						j.Stop = &StopRequest{Reason: reason, Terminate: true}
						m.saveLocked(ctx, j)
						stops = append(stops, m.stopItemLocked(j, reason))
					}
				}
			}
		}
	} else {
		var j *Job
		j, err = m.materialiseLocked(id, now)
		if err == nil {
			stops = m.stopOneLocked(ctx, j, reason, terminate, now)
		}
	}
	m.mu.Unlock()
	for _, s := range stops {
		go m.stop(s)
	}
	m.poke()
	return err
}

// materialiseLocked returns the record of a plain job or child,
// creating a child's if it has none.
func (m *Manager) materialiseLocked(id string, now time.Time) (*Job, error) {
	if j := m.jobs[id]; j != nil {
		return j, nil
	}
	if j := m.children[id]; j != nil {
		return j, nil
	}
	p, i, ok := splitChild(id)
	if ok {
		if parent, a := m.jobs[p], m.arrays[p]; parent != nil && a != nil && i < a.size {
			c := m.newChild(parent, i, now)
			c.Status = a.get(i)
			m.children[c.ID] = c
			return c, nil
		}
	}
	return nil, invalid("Job %s does not exist", id)
}

// stopOneLocked cancels or terminates a plain job or a child; it returns
// the attempt to stop, if any: the attempt under way, whether or not its
// reference is known (Launch may not have answered, or its outcome was
// unknown and Watch found it by its ID).
func (m *Manager) stopOneLocked(ctx context.Context, j *Job, reason string, terminate bool, now time.Time) []stopItem {
	switch j.Status {
	case StatusSubmitted, StatusPending, StatusRunnable:
		j.Status, j.StatusReason, j.StoppedAt = StatusFailed, reason, now
		delete(m.active, j.ID)
		delete(m.runnable, j.ID)
		if j.Parent != "" {
			m.arrays[j.Parent].set(j.ArrayIndex, StatusFailed)
		}
		m.saveLocked(ctx, j)
		m.doneLocked(ctx, j.ID, now)
	case StatusStarting, StatusRunning:
		if terminate && j.Stop == nil {
			j.Stop = &StopRequest{Reason: reason, Terminate: true}
			m.saveLocked(ctx, j)
			if j.Running != nil {
				return []stopItem{m.stopItemLocked(j, reason)}
			}
		}
	}
	return nil
}

// View is a job as DescribeJobs shows it.
type View struct {
	Job
	// StatusSummary counts an array parent's children by status.
	StatusSummary map[string]int
}

// Describe returns the jobs named (unknown ids are left out).
func (m *Manager) Describe(ids []string) []View {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]View, 0, len(ids))
	for _, id := range ids {
		if v, ok := m.viewLocked(id); ok {
			out = append(out, v)
		}
	}
	return out
}

func (m *Manager) viewLocked(id string) (View, bool) {
	if j := m.jobs[id]; j != nil {
		v := View{Job: copyJob(j)}
		if a := m.arrays[id]; a != nil {
			v.StatusSummary = a.summary()
		}
		return v, true
	}
	if c := m.children[id]; c != nil {
		return View{Job: copyJob(c)}, true
	}
	p, i, ok := splitChild(id)
	if !ok {
		return View{}, false
	}
	parent, a := m.jobs[p], m.arrays[p]
	if parent == nil || a == nil || i >= a.size {
		return View{}, false
	}
	c := m.newChild(parent, i, parent.CreatedAt)
	c.Status = a.get(i)
	if c.Status == StatusFailed {
		c.StatusReason = ReasonDependency
		if !a.depFailed[i] && parent.Stop != nil {
			c.StatusReason = parent.Stop.Reason
		}
		c.StoppedAt = parent.StoppedAt
	}
	return View{Job: *c}, true
}

func copyJob(j *Job) Job {
	c := *j
	c.Attempts = append([]Attempt(nil), j.Attempts...)
	if j.Running != nil {
		r := *j.Running
		c.Running = &r
	}
	return c
}

// ListFilter selects jobs for ListJobs.
type ListFilter struct {
	Queue      string
	ArrayJobID string
	// Status selects one status ("" : all, when a name or date filter is
	// given; RUNNING otherwise, as Batch's default).
	Status string
	// NamePattern matches job names (a trailing '*' matches a prefix).
	NamePattern string
	Definition  string
	After       time.Time
	Before      time.Time
}

// List returns the jobs f selects, in submit order (children by index).
func (m *Manager) List(f ListFilter) ([]View, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	match := func(j *Job) bool {
		if f.Status != "" && j.Status != f.Status {
			return false
		}
		if f.NamePattern != "" && !Glob(f.NamePattern, j.Name) {
			return false
		}
		if f.Definition != "" {
			dn, _, hasRev := cutRevision(nameOf(f.Definition))
			if hasRev && j.Definition != nameOf(f.Definition) || !hasRev && !strings.HasPrefix(j.Definition, dn+":") {
				return false
			}
		}
		if !f.After.IsZero() && !j.CreatedAt.After(f.After) || !f.Before.IsZero() && !j.CreatedAt.Before(f.Before) {
			return false
		}
		return true
	}
	var out []View
	if f.ArrayJobID != "" {
		a := m.arrays[f.ArrayJobID]
		if a == nil {
			return nil, invalid("Job %s is not an array job", f.ArrayJobID)
		}
		for i := 0; i < a.size; i++ {
			if f.Status != "" && a.get(i) != f.Status {
				continue
			}
			v, _ := m.viewLocked(ChildID(f.ArrayJobID, i))
			if match(&v.Job) {
				out = append(out, v)
			}
		}
		return out, nil
	}
	q := m.queues[nameOf(f.Queue)]
	if q == nil {
		return nil, invalid("Job queue %s does not exist", f.Queue)
	}
	for _, id := range m.order {
		j := m.jobs[id]
		if j == nil || j.Queue != q.Name {
			continue
		}
		if match(j) {
			v, _ := m.viewLocked(id)
			out = append(out, v)
		}
	}
	return out, nil
}

// AllJobs returns every plain job and array parent, newest first, up to
// max, for `wharf batch ls`.
func (m *Manager) AllJobs(max int) []View {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []View
	for i := len(m.order) - 1; i >= 0 && len(out) < max; i-- {
		if v, ok := m.viewLocked(m.order[i]); ok {
			out = append(out, v)
		}
	}
	return out
}

// Streams returns the log streams of a job's attempts, oldest first: a
// plain job's or child's own, or every started child's for an array
// parent.
func (m *Manager) Streams(id string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var jobs []*Job
	if a := m.arrays[id]; a != nil {
		for i := 0; i < a.size; i++ {
			if c := m.children[ChildID(id, i)]; c != nil {
				jobs = append(jobs, c)
			}
		}
	} else if j := m.jobs[id]; j != nil {
		jobs = append(jobs, j)
	} else if c := m.children[id]; c != nil {
		jobs = append(jobs, c)
	} else if _, ok := m.viewLocked(id); !ok {
		return nil, fmt.Errorf("job %s: %w", id, errdefs.ErrNotFound)
	}
	var out []string
	for _, j := range jobs {
		for _, a := range j.Attempts {
			out = append(out, a.LogStream)
		}
		if j.Running != nil {
			out = append(out, j.Running.LogStream)
		}
	}
	return out, nil
}

// AllStreams lists every attempt's log stream with when it started, for
// the log group /aws/batch/job.
func (m *Manager) AllStreams() []StreamRef {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StreamRef
	add := func(j *Job) {
		for _, a := range j.Attempts {
			out = append(out, StreamRef{Name: a.LogStream, Started: a.StartedAt, Stopped: a.StoppedAt})
		}
		if j.Running != nil {
			out = append(out, StreamRef{Name: j.Running.LogStream, Started: j.Running.StartedAt})
		}
	}
	for _, j := range m.jobs {
		add(j)
	}
	for _, c := range m.children {
		add(c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// StreamRef is one attempt's log stream.
type StreamRef struct {
	Name             string
	Started, Stopped time.Time
}
