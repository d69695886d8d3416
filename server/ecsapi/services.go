package ecsapi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/identity"
)

type deploymentOut struct {
	ID                 string `json:"id"`
	Status             string `json:"status"`
	TaskDefinition     string `json:"taskDefinition"`
	DesiredCount       int    `json:"desiredCount"`
	PendingCount       int    `json:"pendingCount"`
	RunningCount       int    `json:"runningCount"`
	FailedTasks        int    `json:"failedTasks"`
	CreatedAt          *epoch `json:"createdAt,omitempty"`
	UpdatedAt          *epoch `json:"updatedAt,omitempty"`
	LaunchType         string `json:"launchType"`
	RolloutState       string `json:"rolloutState"`
	RolloutStateReason string `json:"rolloutStateReason,omitempty"`
	// ServiceConnectConfiguration is the service's, on its PRIMARY
	// deployment.
	ServiceConnectConfiguration *serviceConnectOut `json:"serviceConnectConfiguration,omitempty"`
}

type eventOut struct {
	ID        string `json:"id"`
	CreatedAt *epoch `json:"createdAt,omitempty"`
	Message   string `json:"message"`
}

type deploymentConfig struct {
	DeploymentCircuitBreaker *state.CircuitBreaker `json:"deploymentCircuitBreaker,omitempty"`
	MaximumPercent           *int                  `json:"maximumPercent,omitempty"`
	MinimumHealthyPercent    *int                  `json:"minimumHealthyPercent,omitempty"`
}

type serviceOut struct {
	ServiceArn              string                      `json:"serviceArn"`
	ServiceName             string                      `json:"serviceName"`
	ClusterArn              string                      `json:"clusterArn"`
	LoadBalancers           []any                       `json:"loadBalancers"`
	ServiceRegistries       []any                       `json:"serviceRegistries"`
	NetworkConfiguration    *state.NetworkConfiguration `json:"networkConfiguration,omitempty"`
	Status                  string                      `json:"status"`
	DesiredCount            int                         `json:"desiredCount"`
	RunningCount            int                         `json:"runningCount"`
	PendingCount            int                         `json:"pendingCount"`
	LaunchType              string                      `json:"launchType"`
	PlatformVersion         string                      `json:"platformVersion,omitempty"`
	TaskDefinition          string                      `json:"taskDefinition"`
	DeploymentConfiguration deploymentConfig            `json:"deploymentConfiguration"`
	Deployments             []deploymentOut             `json:"deployments"`
	Events                  []eventOut                  `json:"events"`
	CreatedAt               *epoch                      `json:"createdAt,omitempty"`
	PlacementConstraints    []state.PlacementConstraint `json:"placementConstraints"`
	PlacementStrategy       []state.PlacementStrategy   `json:"placementStrategy"`
	SchedulingStrategy      string                      `json:"schedulingStrategy"`
	DeploymentController    map[string]string           `json:"deploymentController"`
	CreatedBy               string                      `json:"createdBy,omitempty"`
	Tags                    []state.Tag                 `json:"tags,omitempty"`
	EnableECSManagedTags    bool                        `json:"enableECSManagedTags"`
	PropagateTags           string                      `json:"propagateTags"`
	EnableExecuteCommand    bool                        `json:"enableExecuteCommand"`
}

func (s *Server) tdARN(family string, rev int) string {
	return s.arn("task-definition", family+":"+strconv.Itoa(rev))
}

// serviceOut renders a service with its tasks' counts.
func (s *Server) serviceOut(ctx context.Context, svc state.Service) (serviceOut, error) {
	ts, err := s.tasks.List(ctx, tasks.Filter{Cluster: svc.Cluster, Service: svc.Name})
	if err != nil {
		return serviceOut{}, err
	}
	counts := tasks.ServiceCounts(ts)
	minH, maxP := svc.MinimumHealthyPercent, svc.MaximumPercent
	cb := svc.CircuitBreaker
	if cb == nil {
		cb = &state.CircuitBreaker{}
	}
	o := serviceOut{ServiceArn: s.arn("service", svc.Cluster+"/"+svc.Name), ServiceName: svc.Name, ClusterArn: s.arn("cluster", svc.Cluster),
		LoadBalancers: []any{}, ServiceRegistries: []any{}, Status: svc.Status, DesiredCount: svc.DesiredCount,
		RunningCount: counts[""].Running, PendingCount: counts[""].Pending, LaunchType: svc.LaunchType,
		TaskDefinition: s.tdARN(svc.Family, svc.Revision), DeploymentConfiguration: deploymentConfig{DeploymentCircuitBreaker: cb, MaximumPercent: &maxP, MinimumHealthyPercent: &minH},
		Deployments: []deploymentOut{}, Events: []eventOut{}, CreatedAt: epochPtr(&svc.CreatedAt),
		PlacementConstraints: svc.Constraints, PlacementStrategy: svc.Strategies, SchedulingStrategy: "REPLICA", NetworkConfiguration: svc.Network,
		DeploymentController: map[string]string{"type": "ECS"}, CreatedBy: svc.CreatedBy, Tags: svc.Tags, PropagateTags: "NONE"}
	if o.PlacementConstraints == nil {
		o.PlacementConstraints = []state.PlacementConstraint{}
	}
	if o.PlacementStrategy == nil {
		o.PlacementStrategy = []state.PlacementStrategy{}
	}
	if svc.LaunchType == string(sched.LaunchFargate) {
		o.PlatformVersion = "LATEST"
	}
	// PRIMARY first, then the others newest first, as ECS lists them.
	deps := append([]state.Deployment(nil), svc.Deployments...)
	for i := len(deps) - 1; i >= 0; i-- {
		d := deps[i]
		if d.Status != string(sched.DeploymentPrimary) {
			continue
		}
		o.Deployments = append(o.Deployments, s.deploymentOut(svc, d, counts))
	}
	for i := len(deps) - 1; i >= 0; i-- {
		d := deps[i]
		if d.Status == string(sched.DeploymentPrimary) {
			continue
		}
		o.Deployments = append(o.Deployments, s.deploymentOut(svc, d, counts))
	}
	for _, e := range svc.Events {
		at := e.CreatedAt
		o.Events = append(o.Events, eventOut{ID: e.ID, CreatedAt: epochPtr(&at), Message: e.Message})
	}
	return o, nil
}

func (s *Server) deploymentOut(svc state.Service, d state.Deployment, counts map[string]tasks.Counts) deploymentOut {
	desired := 0
	if d.Status == string(sched.DeploymentPrimary) {
		desired = svc.DesiredCount
	}
	c := counts[d.ID]
	var sc *serviceConnectOut
	if d.Status == string(sched.DeploymentPrimary) {
		sc = renderServiceConnect(svc)
	}
	return deploymentOut{ServiceConnectConfiguration: sc, ID: d.ID, Status: d.Status, TaskDefinition: s.tdARN(d.Family, d.Revision), DesiredCount: desired,
		PendingCount: c.Pending, RunningCount: c.Running, FailedTasks: d.FailedTasks, CreatedAt: epochPtr(&d.CreatedAt),
		UpdatedAt: epochPtr(&d.UpdatedAt), LaunchType: svc.LaunchType, RolloutState: d.RolloutState, RolloutStateReason: d.RolloutStateReason}
}

// serviceName reads a service name or ARN
// (arn:...:service/<cluster>/<name>).
func serviceName(ref string) string {
	if i := strings.LastIndex(ref, "/"); strings.HasPrefix(ref, "arn:") && i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func (s *Server) createService(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster                 string                      `json:"cluster"`
		ServiceName             string                      `json:"serviceName"`
		TaskDefinition          string                      `json:"taskDefinition"`
		DesiredCount            *int                        `json:"desiredCount"`
		LaunchType              string                      `json:"launchType"`
		DeploymentConfiguration *deploymentConfig           `json:"deploymentConfiguration"`
		PlacementConstraints    []state.PlacementConstraint `json:"placementConstraints"`
		PlacementStrategy       []state.PlacementStrategy   `json:"placementStrategy"`
		SchedulingStrategy      string                      `json:"schedulingStrategy"`
		Tags                    []state.Tag                 `json:"tags"`
		ServiceConnect          *serviceConnectIn           `json:"serviceConnectConfiguration"`
		NetworkConfiguration    *state.NetworkConfiguration `json:"networkConfiguration"`
		LoadBalancers           json.RawMessage             `json:"loadBalancers"`
		ServiceRegistries       json.RawMessage             `json:"serviceRegistries"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := refuseUnimplemented(in.LoadBalancers, in.ServiceRegistries); err != nil {
		return nil, err
	}
	sc, err := in.ServiceConnect.serviceConnect()
	if err != nil {
		return nil, err
	}
	if err := s.needTasks(); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "CreateService", in.ServiceName); err != nil {
		return nil, err
	}
	if !nameRE.MatchString(in.ServiceName) {
		return nil, invalidParam("Service name can have up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.")
	}
	if in.SchedulingStrategy != "" && in.SchedulingStrategy != "REPLICA" {
		return nil, invalidParam("wharf runs REPLICA services only; the DAEMON scheduling strategy is not supported.")
	}
	if in.TaskDefinition == "" {
		return nil, invalidParam("TaskDefinition cannot be empty.")
	}
	cluster := clusterName(in.Cluster)
	if _, err := s.exists(ctx, cluster); err != nil {
		return nil, err
	}
	td, err := s.resolve(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if err := s.checkNetwork(ctx, in.NetworkConfiguration, td, in.LaunchType); err != nil {
		return nil, err
	}
	sp := tasks.ServiceSpec{Cluster: cluster, Name: in.ServiceName, TaskDef: td, LaunchType: in.LaunchType, Network: in.NetworkConfiguration,
		Constraints: in.PlacementConstraints, Strategies: in.PlacementStrategy, Tags: in.Tags,
		CreatedBy: "arn:aws:iam::" + s.account + ":user/" + id.AccessKeyID, ServiceConnect: sc}
	if in.DesiredCount != nil {
		sp.DesiredCount = *in.DesiredCount
	}
	if dc := in.DeploymentConfiguration; dc != nil {
		sp.MinimumHealthyPercent, sp.MaximumPercent, sp.CircuitBreaker = dc.MinimumHealthyPercent, dc.MaximumPercent, dc.DeploymentCircuitBreaker
	}
	svc, err := s.tasks.CreateService(ctx, sp)
	if err != nil {
		return nil, err
	}
	o, err := s.serviceOut(ctx, svc)
	return map[string]any{"service": o}, err
}

func (s *Server) updateService(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster                 string                       `json:"cluster"`
		Service                 string                       `json:"service"`
		TaskDefinition          string                       `json:"taskDefinition"`
		DesiredCount            *int                         `json:"desiredCount"`
		DeploymentConfiguration *deploymentConfig            `json:"deploymentConfiguration"`
		PlacementConstraints    *[]state.PlacementConstraint `json:"placementConstraints"`
		PlacementStrategy       *[]state.PlacementStrategy   `json:"placementStrategy"`
		ForceNewDeployment      bool                         `json:"forceNewDeployment"`
		ServiceConnect          *serviceConnectIn            `json:"serviceConnectConfiguration"`
		NetworkConfiguration    *state.NetworkConfiguration  `json:"networkConfiguration"`
		LoadBalancers           json.RawMessage              `json:"loadBalancers"`
		ServiceRegistries       json.RawMessage              `json:"serviceRegistries"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := refuseUnimplemented(in.LoadBalancers, in.ServiceRegistries); err != nil {
		return nil, err
	}
	sc, err := in.ServiceConnect.serviceConnect()
	if err != nil {
		return nil, err
	}
	if err := s.needTasks(); err != nil {
		return nil, err
	}
	name := serviceName(in.Service)
	if err := s.authorize(id, "UpdateService", name); err != nil {
		return nil, err
	}
	cluster := clusterName(in.Cluster)
	if _, err := s.exists(ctx, cluster); err != nil {
		return nil, err
	}
	u := tasks.ServiceUpdate{DesiredCount: in.DesiredCount, Constraints: in.PlacementConstraints, Strategies: in.PlacementStrategy,
		ForceNewDeployment: in.ForceNewDeployment, ServiceConnect: sc}
	if in.TaskDefinition != "" {
		td, err := s.resolve(ctx, in.TaskDefinition)
		if err != nil {
			return nil, err
		}
		u.TaskDef = &td
	}
	if in.NetworkConfiguration != nil {
		cur, err := s.tasks.GetService(ctx, cluster, name)
		if err != nil {
			return nil, err
		}
		td := u.TaskDef
		if td == nil {
			e, err := s.st.TaskDefs().Get(ctx, state.TaskDefKey(cur.Family, cur.Revision))
			if err != nil {
				return nil, err
			}
			td = &e.Value
		}
		if err := s.checkNetwork(ctx, in.NetworkConfiguration, *td, cur.LaunchType); err != nil {
			return nil, err
		}
		u.Network = in.NetworkConfiguration
	}
	if dc := in.DeploymentConfiguration; dc != nil {
		u.MinimumHealthyPercent, u.MaximumPercent, u.CircuitBreaker = dc.MinimumHealthyPercent, dc.MaximumPercent, dc.DeploymentCircuitBreaker
	}
	svc, err := s.tasks.UpdateService(ctx, cluster, name, u)
	if err != nil {
		return nil, err
	}
	o, err := s.serviceOut(ctx, svc)
	return map[string]any{"service": o}, err
}

func (s *Server) describeServices(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.needTasks(); err != nil {
		return nil, err
	}
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, invalidParam("Services cannot be empty and can hold at most 10 services.")
	}
	cluster := clusterName(in.Cluster)
	if _, err := s.exists(ctx, cluster); err != nil {
		return nil, err
	}
	out := []serviceOut{}
	fails := []failure{}
	for _, ref := range in.Services {
		name := serviceName(ref)
		if err := s.authorize(id, "DescribeServices", name); err != nil {
			return nil, err
		}
		svc, err := s.tasks.GetService(ctx, cluster, name)
		if errors.Is(err, tasks.ErrServiceNotFound) {
			fails = append(fails, failure{Arn: s.arn("service", cluster+"/"+name), Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		o, err := s.serviceOut(ctx, svc)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return map[string]any{"services": out, "failures": fails}, nil
}

func (s *Server) listServices(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster            string `json:"cluster"`
		LaunchType         string `json:"launchType"`
		SchedulingStrategy string `json:"schedulingStrategy"`
		MaxResults         int    `json:"maxResults"`
		NextToken          string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.needTasks(); err != nil {
		return nil, err
	}
	cluster := clusterName(in.Cluster)
	if err := s.authorize(id, "ListServices", cluster); err != nil {
		return nil, err
	}
	if _, err := s.exists(ctx, cluster); err != nil {
		return nil, err
	}
	svcs, err := s.tasks.ListServices(ctx, cluster)
	if err != nil {
		return nil, err
	}
	arns := []string{}
	for _, svc := range svcs {
		if in.LaunchType != "" && svc.LaunchType != in.LaunchType {
			continue
		}
		if in.SchedulingStrategy == "DAEMON" {
			continue
		}
		arns = append(arns, s.arn("service", svc.Cluster+"/"+svc.Name))
	}
	pg, next, err := page(arns, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"serviceArns": pg}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (s *Server) deleteService(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster string `json:"cluster"`
		Service string `json:"service"`
		Force   bool   `json:"force"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.needTasks(); err != nil {
		return nil, err
	}
	name := serviceName(in.Service)
	if err := s.authorize(id, "DeleteService", name); err != nil {
		return nil, err
	}
	cluster := clusterName(in.Cluster)
	if _, err := s.exists(ctx, cluster); err != nil {
		return nil, err
	}
	svc, err := s.tasks.DeleteService(ctx, cluster, name, in.Force)
	if err != nil {
		return nil, err
	}
	o, err := s.serviceOut(ctx, svc)
	return map[string]any{"service": o}, err
}
