package batch

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/wharf-dev/wharf/errdefs"
)

// CreateEnv creates a compute environment (VALID at once: its capacity
// is the nodes').
func (m *Manager) CreateEnv(ctx context.Context, e ComputeEnvironment) (*ComputeEnvironment, error) {
	if e.State == "" {
		e.State = StateEnabled
	}
	if err := ValidateEnv(&e); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return nil, err
	}
	if m.envs[e.Name] != nil {
		return nil, invalid("Object already exists: compute environment %s", e.Name)
	}
	e.Status, e.Created = EnvValid, m.now()
	e.StatusReason = "ComputeEnvironment Healthy"
	if _, err := m.envsT.Create(ctx, e.Name, e); err != nil {
		return nil, err
	}
	m.envs[e.Name] = &e
	cp := e
	return &cp, nil
}

// EnvUpdate is an UpdateComputeEnvironment request.
type EnvUpdate struct {
	State    string
	MaxVCPUs *int
}

// UpdateEnv changes an environment's state or maxvCpus.
func (m *Manager) UpdateEnv(ctx context.Context, name string, u EnvUpdate) (*ComputeEnvironment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return nil, err
	}
	e := m.envs[nameOf(name)]
	if e == nil {
		return nil, invalid("Compute environment %s does not exist", name)
	}
	n := *e
	if u.State != "" {
		n.State = u.State
	}
	if u.MaxVCPUs != nil {
		n.MaxVCPUs = *u.MaxVCPUs
	}
	if err := ValidateEnv(&n); err != nil {
		return nil, err
	}
	if _, err := m.envsT.Put(ctx, n.Name, n); err != nil {
		return nil, err
	}
	*e = n
	m.poke()
	return &n, nil
}

// DeleteEnv deletes a DISABLED environment that no queue uses.
func (m *Manager) DeleteEnv(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return err
	}
	e := m.envs[nameOf(name)]
	if e == nil {
		return invalid("Compute environment %s does not exist", name)
	}
	if e.State != StateDisabled {
		return invalid("Cannot delete, found existing JobQueue relationship or the compute environment is not DISABLED: %s", e.Name)
	}
	for _, q := range m.queues {
		for _, eo := range q.Envs {
			if eo.Env == e.Name {
				return invalid("Cannot delete, found existing JobQueue relationship: %s uses %s", q.Name, e.Name)
			}
		}
	}
	for _, j := range m.running {
		if j.Running.Env == e.Name {
			return invalid("Cannot delete compute environment %s: jobs run in it", e.Name)
		}
	}
	if err := m.envsT.Delete(ctx, e.Name, 0); err != nil {
		return err
	}
	delete(m.envs, e.Name)
	return nil
}

// Envs returns the environments named (all when names is empty), by name.
func (m *Manager) Envs(names []string) []ComputeEnvironment {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ComputeEnvironment
	for name, e := range m.envs {
		if len(names) == 0 || contains(names, name) {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if nameOf(n) == name {
			return true
		}
	}
	return false
}

// CreateQueue creates a job queue.
func (m *Manager) CreateQueue(ctx context.Context, q JobQueue) (*JobQueue, error) {
	if q.State == "" {
		q.State = StateEnabled
	}
	for i := range q.Envs {
		q.Envs[i].Env = nameOf(q.Envs[i].Env)
	}
	q.Policy = nameOf(q.Policy)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return nil, err
	}
	if err := ValidateQueue(&q, m.envOfLocked); err != nil {
		return nil, err
	}
	if q.Policy != "" && m.policies[q.Policy] == nil {
		return nil, invalid("Scheduling policy %s does not exist", q.Policy)
	}
	if m.queues[q.Name] != nil {
		return nil, invalid("Object already exists: job queue %s", q.Name)
	}
	q.Status, q.Created = EnvValid, m.now()
	q.StatusReason = "JobQueue Healthy"
	if _, err := m.queuesT.Create(ctx, q.Name, q); err != nil {
		return nil, err
	}
	m.queues[q.Name] = &q
	cp := q
	return &cp, nil
}

func (m *Manager) envOfLocked(name string) *ComputeEnvironment { return m.envs[name] }

// QueueUpdate is an UpdateJobQueue request.
type QueueUpdate struct {
	State    string
	Priority *int
	Envs     []EnvOrder
	Policy   string
}

// UpdateQueue changes a queue.
func (m *Manager) UpdateQueue(ctx context.Context, name string, u QueueUpdate) (*JobQueue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return nil, err
	}
	q := m.queues[nameOf(name)]
	if q == nil {
		return nil, invalid("Job queue %s does not exist", name)
	}
	n := *q
	if u.State != "" {
		n.State = u.State
	}
	if u.Priority != nil {
		n.Priority = *u.Priority
	}
	if u.Envs != nil {
		n.Envs = append([]EnvOrder(nil), u.Envs...)
		for i := range n.Envs {
			n.Envs[i].Env = nameOf(n.Envs[i].Env)
		}
	}
	if u.Policy != "" {
		if q.Policy == "" {
			return nil, invalid("a job queue without a scheduling policy cannot be given one")
		}
		n.Policy = nameOf(u.Policy)
		if m.policies[n.Policy] == nil {
			return nil, invalid("Scheduling policy %s does not exist", u.Policy)
		}
	}
	if err := ValidateQueue(&n, m.envOfLocked); err != nil {
		return nil, err
	}
	if _, err := m.queuesT.Put(ctx, n.Name, n); err != nil {
		return nil, err
	}
	*q = n
	m.poke()
	return &n, nil
}

// DeleteQueue deletes a DISABLED queue without jobs under way.
func (m *Manager) DeleteQueue(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return err
	}
	q := m.queues[nameOf(name)]
	if q == nil {
		return invalid("Job queue %s does not exist", name)
	}
	if q.State != StateDisabled {
		return invalid("Job queue %s must be DISABLED before it is deleted", q.Name)
	}
	for _, j := range m.jobs {
		if j.Queue == q.Name && !Done(j.Status) {
			return invalid("Job queue %s still has jobs that are not done (%s)", q.Name, j.ID)
		}
	}
	if err := m.queuesT.Delete(ctx, q.Name, 0); err != nil {
		return err
	}
	delete(m.queues, q.Name)
	return nil
}

// Queues returns the queues named (all when names is empty), by name.
func (m *Manager) Queues(names []string) []JobQueue {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []JobQueue
	for name, q := range m.queues {
		if len(names) == 0 || contains(names, name) {
			c := *q
			c.Envs = append([]EnvOrder(nil), q.Envs...)
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CreatePolicy creates a scheduling policy.
func (m *Manager) CreatePolicy(ctx context.Context, p SchedulingPolicy) (*SchedulingPolicy, error) {
	if err := ValidatePolicy(&p); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return nil, err
	}
	if m.policies[p.Name] != nil {
		return nil, invalid("Object already exists: scheduling policy %s", p.Name)
	}
	if _, err := m.policiesT.Create(ctx, p.Name, p); err != nil {
		return nil, err
	}
	m.policies[p.Name] = &p
	cp := p
	return &cp, nil
}

// Policies returns the policies named, by name.
func (m *Manager) Policies(names []string) []SchedulingPolicy {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SchedulingPolicy
	for name, p := range m.policies {
		if len(names) == 0 || contains(names, name) {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RegisterDefinition registers the next revision of a job definition.
func (m *Manager) RegisterDefinition(ctx context.Context, d JobDefinition) (*JobDefinition, error) {
	if err := ValidateDefinition(&d, m.minTimeout); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return nil, err
	}
	d.Revision = m.latest[d.Name] + 1
	d.Status, d.Created = "ACTIVE", m.now()
	if _, err := m.defsT.Create(ctx, defKey(d.Name, d.Revision), d); err != nil {
		return nil, err
	}
	m.defs[d.Name+":"+strconv.Itoa(d.Revision)] = &d
	m.latest[d.Name] = d.Revision
	cp := d
	return &cp, nil
}

// DeregisterDefinition makes a revision INACTIVE.
func (m *Manager) DeregisterDefinition(ctx context.Context, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return err
	}
	name, rev, ok := cutRevision(nameOf(ref))
	if !ok {
		return invalid("jobDefinition must be name:revision or an ARN")
	}
	d := m.defs[name+":"+strconv.Itoa(rev)]
	if d == nil {
		return invalid("Job definition %s does not exist", ref)
	}
	n := *d
	n.Status = "INACTIVE"
	if _, err := m.defsT.Put(ctx, defKey(name, rev), n); err != nil {
		return err
	}
	*d = n
	return nil
}

// DefinitionFilter selects job definitions.
type DefinitionFilter struct {
	// Refs are names:revisions or ARNs.
	Refs   []string
	Name   string
	Status string
}

// Definitions returns the definitions f selects, by name and revision.
func (m *Manager) Definitions(f DefinitionFilter) []JobDefinition {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []JobDefinition
	for key, d := range m.defs {
		if len(f.Refs) > 0 {
			hit := false
			for _, r := range f.Refs {
				r = nameOf(r)
				if r == key || r == d.Name {
					hit = true
				}
			}
			if !hit {
				continue
			}
		}
		if f.Name != "" && d.Name != f.Name || f.Status != "" && d.Status != f.Status {
			continue
		}
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Revision < out[j].Revision
	})
	return out
}

// Resource kinds that take tags.
const (
	KindEnv        = "compute-environment"
	KindQueue      = "job-queue"
	KindPolicy     = "scheduling-policy"
	KindDefinition = "job-definition"
	KindJob        = "job"
)

// Tags returns a resource's tags.
func (m *Manager) Tags(kind, name string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var tags map[string]string
	switch kind {
	case KindEnv:
		if e := m.envs[name]; e != nil {
			tags = e.Tags
		} else {
			return nil, notFoundRes(kind, name)
		}
	case KindQueue:
		if q := m.queues[name]; q != nil {
			tags = q.Tags
		} else {
			return nil, notFoundRes(kind, name)
		}
	case KindPolicy:
		if p := m.policies[name]; p != nil {
			tags = p.Tags
		} else {
			return nil, notFoundRes(kind, name)
		}
	case KindDefinition:
		if d := m.defs[name]; d != nil {
			tags = d.Tags
		} else {
			return nil, notFoundRes(kind, name)
		}
	case KindJob:
		if v, ok := m.viewLocked(name); ok {
			tags = v.Tags
		} else {
			return nil, notFoundRes(kind, name)
		}
	default:
		return nil, notFoundRes(kind, name)
	}
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = v
	}
	return out, nil
}

func notFoundRes(kind, name string) error {
	return invalid("Resource %s %s does not exist", kind, name)
}

// Tag adds tags to (and, with remove, takes keys off) a resource.
func (m *Manager) Tag(ctx context.Context, kind, name string, add map[string]string, remove []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writableLocked(); err != nil {
		return err
	}
	apply := func(t map[string]string) (map[string]string, error) {
		n := make(map[string]string, len(t)+len(add))
		for k, v := range t {
			n[k] = v
		}
		for k, v := range add {
			n[k] = v
		}
		for _, k := range remove {
			delete(n, k)
		}
		return n, validTags(n)
	}
	var err error
	switch kind {
	case KindEnv:
		e := m.envs[name]
		if e == nil {
			return notFoundRes(kind, name)
		}
		c := *e
		if c.Tags, err = apply(e.Tags); err != nil {
			return err
		}
		if _, err = m.envsT.Put(ctx, name, c); err == nil {
			*e = c
		}
	case KindQueue:
		q := m.queues[name]
		if q == nil {
			return notFoundRes(kind, name)
		}
		c := *q
		if c.Tags, err = apply(q.Tags); err != nil {
			return err
		}
		if _, err = m.queuesT.Put(ctx, name, c); err == nil {
			*q = c
		}
	case KindPolicy:
		p := m.policies[name]
		if p == nil {
			return notFoundRes(kind, name)
		}
		c := *p
		if c.Tags, err = apply(p.Tags); err != nil {
			return err
		}
		if _, err = m.policiesT.Put(ctx, name, c); err == nil {
			*p = c
		}
	case KindDefinition:
		d := m.defs[name]
		if d == nil {
			return notFoundRes(kind, name)
		}
		c := *d
		if c.Tags, err = apply(d.Tags); err != nil {
			return err
		}
		dn, rev, _ := cutRevision(name)
		if _, err = m.defsT.Put(ctx, defKey(dn, rev), c); err == nil {
			*d = c
		}
	case KindJob:
		j, e := m.materialiseLocked(name, m.now())
		if e != nil {
			return e
		}
		if j.Tags, err = apply(j.Tags); err != nil {
			return err
		}
		m.saveLocked(ctx, j)
	default:
		return fmt.Errorf("resource kind %q: %w", kind, errdefs.ErrInvalidArgument)
	}
	return err
}
