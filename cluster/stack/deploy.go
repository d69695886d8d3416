package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/errdefs"
)

// Actions a deploy reports per service.
const (
	ActionCreated   = "created"
	ActionUpdated   = "updated"
	ActionScaled    = "scaled"
	ActionUnchanged = "unchanged"
	ActionRemoved   = "removed"
)

// Change is what a deploy did to one service.
type Change struct {
	Service        string `json:"service"`
	TaskDefinition string `json:"taskDefinition,omitempty"`
	Action         string `json:"action"`
}

// Result is a deploy's changes and warnings.
type Result struct {
	Changes  []Change `json:"changes"`
	Warnings []string `json:"warnings,omitempty"`
}

// Info is a stack as ls shows it.
type Info struct {
	Name     string   `json:"name"`
	Services []string `json:"services"`
}

// Deployer applies stacks to the cluster's services.
type Deployer struct {
	st       *state.Store
	rt       *tasks.Runtime
	validate func(*state.TaskDefinition) error
	now      func() time.Time
}

// NewDeployer returns a deployer over the cluster's state; validate is
// the ECS API's RegisterTaskDefinition check (it fills ECS's defaults),
// so that a stack's task definitions are exactly what the API accepts.
func NewDeployer(st *state.Store, rt *tasks.Runtime, validate func(*state.TaskDefinition) error) *Deployer {
	return &Deployer{st: st, rt: rt, validate: validate, now: time.Now}
}

func stackOf(tags []state.Tag) string {
	for _, t := range tags {
		if t.Key == TagStack {
			return t.Value
		}
	}
	return ""
}

// comparable is the part of a task definition a deploy compares to
// decide whether a service changed.
func comparable(td state.TaskDefinition) string {
	data, _ := json.Marshal(struct {
		C           []state.ContainerDefinition
		V           []state.Volume
		N, Cpu, Mem string
	}{td.ContainerDefinitions, td.Volumes, td.NetworkMode, td.Cpu, td.Memory})
	return string(data)
}

// Deploy loads, maps and applies a stack in cluster: every service is
// checked before any is changed.
func (d *Deployer) Deploy(ctx context.Context, cluster, name string, in Input) (Result, error) {
	p, err := Load(ctx, name, in)
	if err != nil {
		return Result{}, err
	}
	m, err := Map(name, p)
	if err != nil {
		return Result{}, err
	}
	for i := range m.Services {
		if err := d.validate(&m.Services[i].TaskDef); err != nil {
			return Result{}, fmt.Errorf("services.%s: %w", m.Services[i].TaskDef.ContainerDefinitions[0].Name, err)
		}
	}
	existing, err := d.rt.ListServices(ctx, cluster)
	if err != nil {
		return Result{}, err
	}
	cur := map[string]state.Service{}
	for _, s := range existing {
		cur[s.Name] = s
	}
	for _, s := range m.Services {
		if e, ok := cur[s.Name]; ok && e.Status == state.ServiceActive && stackOf(e.Tags) != name {
			return Result{}, fmt.Errorf("service %s exists and is not part of stack %s: %w", s.Name, name, errdefs.ErrConflict)
		}
	}
	res := Result{Warnings: m.Warnings, Changes: []Change{}}
	keep := map[string]bool{}
	for _, s := range m.Services {
		keep[s.Name] = true
		ch, err := d.apply(ctx, cluster, s, cur)
		if err != nil {
			return res, fmt.Errorf("service %s: %w", s.Name, err)
		}
		res.Changes = append(res.Changes, ch)
	}
	for _, e := range existing {
		if e.Status != state.ServiceActive || stackOf(e.Tags) != name || keep[e.Name] {
			continue
		}
		if _, err := d.rt.DeleteService(ctx, cluster, e.Name, true); err != nil {
			return res, fmt.Errorf("removing service %s: %w", e.Name, err)
		}
		res.Changes = append(res.Changes, Change{Service: e.Name, Action: ActionRemoved})
	}
	return res, nil
}

func (d *Deployer) apply(ctx context.Context, cluster string, s Service, cur map[string]state.Service) (Change, error) {
	e, ok := cur[s.Name]
	if !ok || e.Status != state.ServiceActive {
		td, err := d.st.RegisterTaskDef(ctx, s.TaskDef, d.now())
		if err != nil {
			return Change{}, err
		}
		if _, err := d.rt.CreateService(ctx, tasks.ServiceSpec{Cluster: cluster, Name: s.Name, TaskDef: td, DesiredCount: s.DesiredCount,
			Tags: s.TaskDef.Tags, CreatedBy: "wharf stack deploy"}); err != nil {
			return Change{}, err
		}
		return Change{Service: s.Name, TaskDefinition: ref(td), Action: ActionCreated}, nil
	}
	old, err := d.st.TaskDefs().Get(ctx, state.TaskDefKey(e.Family, e.Revision))
	if err != nil && !errdefs.IsNotFound(err) {
		return Change{}, err
	}
	if err == nil && comparable(old.Value) == comparable(s.TaskDef) {
		if e.DesiredCount == s.DesiredCount {
			return Change{Service: s.Name, TaskDefinition: ref(old.Value), Action: ActionUnchanged}, nil
		}
		n := s.DesiredCount
		if _, err := d.rt.UpdateService(ctx, cluster, s.Name, tasks.ServiceUpdate{DesiredCount: &n}); err != nil {
			return Change{}, err
		}
		return Change{Service: s.Name, TaskDefinition: ref(old.Value), Action: ActionScaled}, nil
	}
	td, err := d.st.RegisterTaskDef(ctx, s.TaskDef, d.now())
	if err != nil {
		return Change{}, err
	}
	n := s.DesiredCount
	if _, err := d.rt.UpdateService(ctx, cluster, s.Name, tasks.ServiceUpdate{TaskDef: &td, DesiredCount: &n}); err != nil {
		return Change{}, err
	}
	return Change{Service: s.Name, TaskDefinition: ref(td), Action: ActionUpdated}, nil
}

func ref(td state.TaskDefinition) string { return td.Family + ":" + strconv.Itoa(td.Revision) }

// List returns the stacks of cluster: the tags of its active services.
func (d *Deployer) List(ctx context.Context, cluster string) ([]Info, error) {
	svcs, err := d.rt.ListServices(ctx, cluster)
	if err != nil {
		return nil, err
	}
	by := map[string][]string{}
	for _, s := range svcs {
		if st := stackOf(s.Tags); st != "" && s.Status == state.ServiceActive {
			by[st] = append(by[st], s.Name)
		}
	}
	out := make([]Info, 0, len(by))
	for n, ss := range by {
		sort.Strings(ss)
		out = append(out, Info{Name: n, Services: ss})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes a stack's services (their tasks stop); ErrNotFound
// when the stack has none.
func (d *Deployer) Remove(ctx context.Context, cluster, name string) ([]string, error) {
	svcs, err := d.rt.ListServices(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range svcs {
		if stackOf(s.Tags) != name || s.Status != state.ServiceActive {
			continue
		}
		if _, err := d.rt.DeleteService(ctx, cluster, s.Name, true); err != nil {
			return out, fmt.Errorf("removing service %s: %w", s.Name, err)
		}
		out = append(out, s.Name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("stack %s not found: %w", name, errdefs.ErrNotFound)
	}
	return out, nil
}
