package tasks

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
)

// Errors of the service calls, with their errdefs class, for the API to
// tell apart (ECS's ServiceNotFoundException, ServiceNotActiveException).
var (
	ErrServiceNotFound  = fmt.Errorf("Service not found.: %w", errdefs.ErrNotFound)
	ErrServiceNotActive = fmt.Errorf("Service was not ACTIVE.: %w", errdefs.ErrConflict)
)

// ECS's defaults of a replica service's deployment configuration.
const (
	DefaultMinimumHealthyPercent = 100
	DefaultMaximumPercent        = 200
)

// ServiceSpec is CreateService's input.
type ServiceSpec struct {
	Cluster      string
	Name         string
	TaskDef      state.TaskDefinition
	DesiredCount int
	LaunchType   string
	// MinimumHealthyPercent and MaximumPercent default to ECS's 100 and
	// 200 when nil.
	MinimumHealthyPercent *int
	MaximumPercent        *int
	CircuitBreaker        *state.CircuitBreaker
	Constraints           []state.PlacementConstraint
	Strategies            []state.PlacementStrategy
	Tags                  []state.Tag
	CreatedBy             string
	// ServiceConnect is the serviceConnectConfiguration (nil: none).
	ServiceConnect *state.ServiceConnect
	// Network is the networkConfiguration (nil: none).
	Network *state.NetworkConfiguration
}

// NewDeploymentID returns a deployment id as ECS's: ecs-svc/ and 19
// digits.
func NewDeploymentID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	n := binary.BigEndian.Uint64(b[:]) % 10_000_000_000_000_000_000
	return fmt.Sprintf("ecs-svc/%019d", n)
}

func newEventID() string {
	return NewID()[:8] + "-" + NewID()[:4] + "-" + NewID()[:4] + "-" + NewID()[:4] + "-" + NewID()[:12]
}

// schedService is the scheduler's view of a service record, with its
// deployments' task definitions from tds (by state.TaskDefKey).
func schedService(s state.Service, tds map[string]*sched.TaskDef) *sched.Service {
	out := &sched.Service{Name: s.Name, DesiredCount: s.DesiredCount, LaunchType: sched.LaunchType(s.LaunchType),
		Config:      sched.DeploymentConfig{MinimumHealthyPercent: s.MinimumHealthyPercent, MaximumPercent: s.MaximumPercent},
		Constraints: SchedConstraints(s.Constraints), Network: NetworkConstraints(nil, s.Network), Strategies: SchedStrategies(s.Strategies), Steady: s.Steady}
	if s.CircuitBreaker != nil {
		out.Config.CircuitBreaker = sched.CircuitBreaker{Enable: s.CircuitBreaker.Enable, Rollback: s.CircuitBreaker.Rollback}
	}
	conv := func(d state.Deployment) sched.Deployment {
		return sched.Deployment{ID: d.ID, Status: sched.DeploymentStatus(d.Status), RolloutState: sched.RolloutState(d.RolloutState),
			TaskDef: tds[state.TaskDefKey(d.Family, d.Revision)], FailedTasks: d.FailedTasks, Rollback: d.Rollback, CreatedAt: d.CreatedAt}
	}
	for _, d := range s.Deployments {
		out.Deployments = append(out.Deployments, conv(d))
	}
	if s.LastCompleted != nil {
		d := conv(*s.LastCompleted)
		out.LastCompleted = &d
	}
	return out
}

// validateService checks a service record as ECS's CreateService and
// UpdateService do.
func validateService(s state.Service, td state.TaskDefinition) error {
	tds := map[string]*sched.TaskDef{state.TaskDefKey(td.Family, td.Revision): SchedTaskDef(td)}
	if err := sched.ValidateService(schedService(s, tds)); err != nil {
		return err
	}
	if s.LaunchType == string(sched.LaunchFargate) {
		if err := sched.ValidateFargate(SchedTaskDef(td)); err != nil {
			return err
		}
	} else if s.LaunchType != string(sched.LaunchEC2) {
		return fmt.Errorf("launchType must be EC2 or FARGATE, not %q: %w", s.LaunchType, errdefs.ErrInvalidArgument)
	}
	if td.Status == state.TaskDefInactive {
		return fmt.Errorf("TaskDefinition is inactive: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// CreateService records a service with its first deployment; the
// controller starts its tasks. A service of that name that is not
// INACTIVE makes it fail (ECS: "Creation of service was not
// idempotent").
func (r *Runtime) CreateService(ctx context.Context, sp ServiceSpec) (state.Service, error) {
	if err := checkNames(sp.Cluster, sp.Name); err != nil {
		return state.Service{}, err
	}
	now := r.now().UTC()
	if sp.LaunchType == "" {
		sp.LaunchType = string(sched.LaunchEC2)
	}
	s := state.Service{Name: sp.Name, Cluster: sp.Cluster, Status: state.ServiceActive, DesiredCount: sp.DesiredCount,
		LaunchType: sp.LaunchType, Family: sp.TaskDef.Family, Revision: sp.TaskDef.Revision,
		MinimumHealthyPercent: DefaultMinimumHealthyPercent, MaximumPercent: DefaultMaximumPercent,
		CircuitBreaker: sp.CircuitBreaker, Constraints: sp.Constraints, Strategies: sp.Strategies, Network: sp.Network,
		CreatedAt: now, CreatedBy: sp.CreatedBy, Tags: sp.Tags}
	if sp.MinimumHealthyPercent != nil {
		s.MinimumHealthyPercent = *sp.MinimumHealthyPercent
	}
	if sp.MaximumPercent != nil {
		s.MaximumPercent = *sp.MaximumPercent
	}
	if err := validateService(s, sp.TaskDef); err != nil {
		return state.Service{}, err
	}
	sc, err := ValidateServiceConnect(sp.ServiceConnect, sp.TaskDef)
	if err != nil {
		return state.Service{}, err
	}
	s.ServiceConnect = sc
	if err := r.checkServiceConnect(ctx, s); err != nil {
		return state.Service{}, err
	}
	s.Deployments = []state.Deployment{{ID: NewDeploymentID(), Status: string(sched.DeploymentPrimary), RolloutState: string(sched.RolloutInProgress),
		Family: sp.TaskDef.Family, Revision: sp.TaskDef.Revision, CreatedAt: now, UpdatedAt: now}}
	key := state.ServiceKey(sp.Cluster, sp.Name)
	_, err = r.st.Services().Create(ctx, key, s)
	if errdefs.IsConflict(err) {
		e, gerr := r.st.Services().Get(ctx, key)
		if gerr != nil {
			return state.Service{}, gerr
		}
		if e.Value.Status != state.ServiceInactive {
			return state.Service{}, fmt.Errorf("Creation of service was not idempotent.: %w", errdefs.ErrInvalidArgument)
		}
		_, err = r.st.Services().Update(ctx, key, s, e.Revision)
	}
	if err != nil {
		return state.Service{}, err
	}
	return s, nil
}

// GetService returns a service.
func (r *Runtime) GetService(ctx context.Context, cluster, name string) (state.Service, error) {
	if checkNames(cluster, name) != nil {
		return state.Service{}, ErrServiceNotFound
	}
	e, err := r.st.Services().Get(ctx, state.ServiceKey(cluster, name))
	if errdefs.IsNotFound(err) {
		return state.Service{}, ErrServiceNotFound
	}
	return e.Value, err
}

// ListServices returns a cluster's services that are not INACTIVE, by
// name.
func (r *Runtime) ListServices(ctx context.Context, cluster string) ([]state.Service, error) {
	if err := checkNames(cluster); err != nil {
		return nil, err
	}
	es, err := r.st.Services().Find(ctx, cluster+".*")
	if err != nil {
		return nil, err
	}
	var out []state.Service
	for _, e := range es {
		if e.Value.Status != state.ServiceInactive {
			out = append(out, e.Value)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ServiceUpdate is UpdateService's input: nil fields are unchanged.
type ServiceUpdate struct {
	TaskDef               *state.TaskDefinition
	DesiredCount          *int
	MinimumHealthyPercent *int
	MaximumPercent        *int
	CircuitBreaker        *state.CircuitBreaker
	Constraints           *[]state.PlacementConstraint
	Strategies            *[]state.PlacementStrategy
	ForceNewDeployment    bool
	// ServiceConnect replaces the serviceConnectConfiguration (one
	// with Enabled false removes it).
	ServiceConnect *state.ServiceConnect
	// Network replaces the networkConfiguration.
	Network *state.NetworkConfiguration
}

// UpdateService changes a service. A new task definition, or a forced
// new deployment, starts a new PRIMARY deployment; the previous PRIMARY
// becomes ACTIVE and its tasks are replaced within the deployment
// configuration's bounds.
func (r *Runtime) UpdateService(ctx context.Context, cluster, name string, u ServiceUpdate) (state.Service, error) {
	if checkNames(cluster, name) != nil {
		return state.Service{}, ErrServiceNotFound
	}
	now := r.now().UTC()
	var tdForCheck state.TaskDefinition
	if u.TaskDef != nil {
		tdForCheck = *u.TaskDef
	}
	out, err := state.Mutate(ctx, r.st.Services(), state.ServiceKey(cluster, name), func(s *state.Service) error {
		if s.Status != state.ServiceActive {
			return ErrServiceNotActive
		}
		if u.DesiredCount != nil {
			s.DesiredCount = *u.DesiredCount
		}
		if u.MinimumHealthyPercent != nil {
			s.MinimumHealthyPercent = *u.MinimumHealthyPercent
		}
		if u.MaximumPercent != nil {
			s.MaximumPercent = *u.MaximumPercent
		}
		if u.CircuitBreaker != nil {
			cb := *u.CircuitBreaker
			s.CircuitBreaker = &cb
		}
		if u.Constraints != nil {
			s.Constraints = *u.Constraints
		}
		if u.Strategies != nil {
			s.Strategies = *u.Strategies
		}
		if u.Network != nil {
			s.Network = u.Network
		}
		td := tdForCheck
		if u.TaskDef == nil {
			td = state.TaskDefinition{Family: s.Family, Revision: s.Revision, Status: state.TaskDefActive}
			// The current definition was checked when it was set; only
			// a Fargate size is read from it, so keep it out of the check.
			if s.LaunchType == string(sched.LaunchFargate) {
				cur, err := r.st.TaskDefs().Get(ctx, state.TaskDefKey(s.Family, s.Revision))
				if err != nil {
					return err
				}
				td = cur.Value
				td.Status = state.TaskDefActive
			}
		}
		if err := validateService(*s, td); err != nil {
			return err
		}
		if err := r.updateServiceConnect(ctx, s, u); err != nil {
			return err
		}
		changed := u.TaskDef != nil && (u.TaskDef.Family != s.Family || u.TaskDef.Revision != s.Revision)
		if !changed && !u.ForceNewDeployment {
			return nil
		}
		if u.TaskDef != nil {
			s.Family, s.Revision = u.TaskDef.Family, u.TaskDef.Revision
		}
		for i := range s.Deployments {
			if s.Deployments[i].Status == string(sched.DeploymentPrimary) {
				s.Deployments[i].Status = string(sched.DeploymentActive)
				s.Deployments[i].UpdatedAt = now
			}
		}
		s.Deployments = append(s.Deployments, state.Deployment{ID: NewDeploymentID(), Status: string(sched.DeploymentPrimary),
			RolloutState: string(sched.RolloutInProgress), Family: s.Family, Revision: s.Revision, CreatedAt: now, UpdatedAt: now})
		s.Steady = false
		return nil
	})
	if errdefs.IsNotFound(err) && !errors.Is(err, ErrServiceNotActive) {
		return state.Service{}, ErrServiceNotFound
	}
	return out, err
}

// DeleteService deletes a service: it must be scaled to 0 first unless
// force, which scales it to 0. The service is DRAINING until its tasks
// have stopped, then INACTIVE (still describable).
func (r *Runtime) DeleteService(ctx context.Context, cluster, name string, force bool) (state.Service, error) {
	if checkNames(cluster, name) != nil {
		return state.Service{}, ErrServiceNotFound
	}
	out, err := state.Mutate(ctx, r.st.Services(), state.ServiceKey(cluster, name), func(s *state.Service) error {
		if s.Status != state.ServiceActive {
			return ErrServiceNotActive
		}
		if s.DesiredCount > 0 && !force {
			return fmt.Errorf("The service cannot be stopped while it is scaled above 0.: %w", errdefs.ErrInvalidArgument)
		}
		s.DesiredCount = 0
		s.Status = state.ServiceDraining
		return nil
	})
	if errdefs.IsNotFound(err) && !errors.Is(err, ErrServiceNotActive) {
		return state.Service{}, ErrServiceNotFound
	}
	return out, err
}

// Counts are a service's or deployment's task counts as ECS reports
// them.
type Counts struct {
	Running, Pending, Failed int
}

// ServiceCounts counts a service's tasks that are not STOPPED, per
// deployment id ("" for the whole service): RUNNING ones, and the
// others (PROVISIONING to ACTIVATING) as pending.
func ServiceCounts(ts []state.Task) map[string]Counts {
	out := map[string]Counts{}
	for _, t := range ts {
		if t.LastStatus == string(sched.StatusStopped) || t.DesiredStatus == string(sched.StatusStopped) {
			continue
		}
		for _, k := range []string{"", t.DeploymentID} {
			c := out[k]
			if t.LastStatus == string(sched.StatusRunning) {
				c.Running++
			} else {
				c.Pending++
			}
			out[k] = c
		}
	}
	return out
}

// appendEvents adds messages to a service's bounded event log, newest
// first as ECS lists them.
func appendEvents(s *state.Service, msgs []string, at time.Time) {
	for _, m := range msgs {
		s.Events = append([]state.ServiceEvent{{ID: newEventID(), CreatedAt: at, Message: m}}, s.Events...)
	}
	if len(s.Events) > state.MaxServiceEvents {
		s.Events = s.Events[:state.MaxServiceEvents]
	}
}
