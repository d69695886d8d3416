package ecsapi

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
)

// Tasks is the cluster's task and service runtime (tasks.Runtime).
type Tasks interface {
	Run(ctx context.Context, sp tasks.Spec) (tasks.RunResult, error)
	Stop(ctx context.Context, id, reason string) (state.Task, error)
	Get(ctx context.Context, id string) (state.Task, error)
	List(ctx context.Context, f tasks.Filter) ([]state.Task, error)
	CreateService(ctx context.Context, sp tasks.ServiceSpec) (state.Service, error)
	UpdateService(ctx context.Context, cluster, name string, u tasks.ServiceUpdate) (state.Service, error)
	DeleteService(ctx context.Context, cluster, name string, force bool) (state.Service, error)
	GetService(ctx context.Context, cluster, name string) (state.Service, error)
	ListServices(ctx context.Context, cluster string) ([]state.Service, error)
}

// WithTasks serves tasks and services from rt.
func WithTasks(rt Tasks) Option { return func(s *Server) { s.tasks = rt } }

type networkBindingOut struct {
	BindIP        string `json:"bindIP"`
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol"`
}

type containerOut struct {
	ContainerArn      string                `json:"containerArn"`
	TaskArn           string                `json:"taskArn"`
	Name              string                `json:"name"`
	Image             string                `json:"image,omitempty"`
	RuntimeId         string                `json:"runtimeId,omitempty"`
	LastStatus        string                `json:"lastStatus"`
	ExitCode          *int                  `json:"exitCode,omitempty"`
	Reason            string                `json:"reason,omitempty"`
	NetworkBindings   []networkBindingOut   `json:"networkBindings"`
	NetworkInterfaces []networkInterfaceOut `json:"networkInterfaces"`
	HealthStatus      string                `json:"healthStatus,omitempty"`
	Cpu               string                `json:"cpu,omitempty"`
	Memory            string                `json:"memory,omitempty"`
	MemoryReservation string                `json:"memoryReservation,omitempty"`
}

type taskOut struct {
	TaskArn              string               `json:"taskArn"`
	Attachments          []attachmentOut      `json:"attachments"`
	ClusterArn           string               `json:"clusterArn"`
	TaskDefinitionArn    string               `json:"taskDefinitionArn"`
	ContainerInstanceArn string               `json:"containerInstanceArn,omitempty"`
	Containers           []containerOut       `json:"containers"`
	Cpu                  string               `json:"cpu,omitempty"`
	Memory               string               `json:"memory,omitempty"`
	DesiredStatus        string               `json:"desiredStatus"`
	LastStatus           string               `json:"lastStatus"`
	HealthStatus         string               `json:"healthStatus"`
	LaunchType           string               `json:"launchType"`
	Group                string               `json:"group"`
	StartedBy            string               `json:"startedBy,omitempty"`
	StopCode             string               `json:"stopCode,omitempty"`
	StoppedReason        string               `json:"stoppedReason,omitempty"`
	Overrides            *state.TaskOverrides `json:"overrides"`
	PlatformVersion      string               `json:"platformVersion,omitempty"`
	CreatedAt            *epoch               `json:"createdAt,omitempty"`
	PullStartedAt        *epoch               `json:"pullStartedAt,omitempty"`
	PullStoppedAt        *epoch               `json:"pullStoppedAt,omitempty"`
	StartedAt            *epoch               `json:"startedAt,omitempty"`
	StoppingAt           *epoch               `json:"stoppingAt,omitempty"`
	ExecutionStoppedAt   *epoch               `json:"executionStoppedAt,omitempty"`
	StoppedAt            *epoch               `json:"stoppedAt,omitempty"`
	Tags                 []state.Tag          `json:"tags,omitempty"`
	Version              int64                `json:"version"`
}

func (s *Server) taskARN(cluster, id string) string {
	return s.arn("task", cluster+"/"+id)
}

func (s *Server) taskOut(t state.Task) taskOut {
	arn := s.taskARN(t.Cluster, t.ID)
	o := taskOut{TaskArn: arn, ClusterArn: s.arn("cluster", t.Cluster),
		TaskDefinitionArn: s.arn("task-definition", t.Family+":"+strconv.Itoa(t.Revision)), Containers: []containerOut{},
		Cpu: strconv.FormatInt(t.CPU, 10), Memory: strconv.FormatInt(t.MemoryMiB, 10),
		DesiredStatus: t.DesiredStatus, LastStatus: t.LastStatus, HealthStatus: t.Health, LaunchType: t.LaunchType, Group: t.Group,
		StartedBy: t.StartedBy, StopCode: t.StopCode, StoppedReason: t.StoppedReason, Overrides: t.Overrides, Tags: t.Tags,
		CreatedAt: epochPtr(&t.CreatedAt), PullStartedAt: epochPtr(t.PullStartedAt), PullStoppedAt: epochPtr(t.PullStoppedAt),
		StartedAt: epochPtr(t.StartedAt), StoppingAt: epochPtr(t.StoppingAt), ExecutionStoppedAt: epochPtr(t.ExecutionStopAt),
		StoppedAt: epochPtr(t.StoppedAt)}
	if o.HealthStatus == "" {
		o.HealthStatus = "UNKNOWN"
	}
	if o.Overrides == nil {
		o.Overrides = &state.TaskOverrides{ContainerOverrides: []state.ContainerOverride{}}
	}
	if t.NodeID != "" {
		o.ContainerInstanceArn = s.arn("container-instance", defaultCluster+"/"+t.NodeID)
	}
	if t.LaunchType == string(sched.LaunchFargate) {
		o.PlatformVersion = "1.4.0"
	}
	o.Attachments = attachments(t)
	if o.Attachments == nil {
		o.Attachments = []attachmentOut{}
	}
	for _, c := range t.Containers {
		co := containerOut{ContainerArn: s.arn("container", t.Cluster+"/"+t.ID+"/"+c.Name), TaskArn: arn, Name: c.Name, Image: c.Image,
			RuntimeId: c.EngineID, LastStatus: c.Status, ExitCode: c.ExitCode, Reason: c.Reason, HealthStatus: c.Health,
			NetworkBindings: []networkBindingOut{}, NetworkInterfaces: []networkInterfaceOut{}}
		if a := t.Attachment; a != nil && a.Status == state.AttachmentAttached && a.IPv4 != "" {
			co.NetworkInterfaces = append(co.NetworkInterfaces, networkInterfaceOut{AttachmentID: a.ID, PrivateIpv4Address: a.IPv4})
		}
		if co.HealthStatus == "" {
			co.HealthStatus = "UNKNOWN"
		}
		for _, b := range c.NetworkBindings {
			co.NetworkBindings = append(co.NetworkBindings, networkBindingOut(b))
		}
		o.Containers = append(o.Containers, co)
	}
	return o
}

// taskID reads a task id or ARN (arn:...:task/<cluster>/<id>, or the
// short arn:...:task/<id>).
func taskID(ref string) string {
	if i := strings.LastIndex(ref, "/"); strings.HasPrefix(ref, "arn:") && i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// nodeID reads a container instance id or ARN.
func nodeID(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func (s *Server) needTasks() error {
	if s.tasks == nil {
		return &apiError{typ: "ClientException", msg: "this daemon does not run tasks"}
	}
	return nil
}

type runIn struct {
	Cluster              string                      `json:"cluster"`
	TaskDefinition       string                      `json:"taskDefinition"`
	Count                int                         `json:"count"`
	LaunchType           string                      `json:"launchType"`
	PlacementConstraints []state.PlacementConstraint `json:"placementConstraints"`
	PlacementStrategy    []state.PlacementStrategy   `json:"placementStrategy"`
	Overrides            *state.TaskOverrides        `json:"overrides"`
	StartedBy            string                      `json:"startedBy"`
	Group                string                      `json:"group"`
	Tags                 []state.Tag                 `json:"tags"`
	ContainerInstances   []string                    `json:"containerInstances"`
	NetworkConfiguration *state.NetworkConfiguration `json:"networkConfiguration"`
}

// spec checks what RunTask and StartTask share and builds the run.
func (s *Server) spec(ctx context.Context, id *identity.Identity, action string, in runIn) (tasks.Spec, error) {
	if err := s.needTasks(); err != nil {
		return tasks.Spec{}, err
	}
	if in.TaskDefinition == "" {
		return tasks.Spec{}, invalidParam("TaskDefinition cannot be empty.")
	}
	family, _, err := parseRef(in.TaskDefinition)
	if err != nil {
		return tasks.Spec{}, err
	}
	if err := s.authorize(id, action, family); err != nil {
		return tasks.Spec{}, err
	}
	cluster := clusterName(in.Cluster)
	if _, err := s.exists(ctx, cluster); err != nil {
		return tasks.Spec{}, err
	}
	td, err := s.resolve(ctx, in.TaskDefinition)
	if err != nil {
		return tasks.Spec{}, err
	}
	if err := s.checkNetwork(ctx, in.NetworkConfiguration, td, in.LaunchType); err != nil {
		return tasks.Spec{}, err
	}
	return tasks.Spec{Cluster: cluster, TaskDef: td, Count: in.Count, LaunchType: in.LaunchType, Network: in.NetworkConfiguration, Constraints: in.PlacementConstraints,
		Strategies: in.PlacementStrategy, Overrides: in.Overrides, StartedBy: in.StartedBy, Group: in.Group, Tags: in.Tags}, nil
}

func (s *Server) runResult(res tasks.RunResult) map[string]any {
	out := []taskOut{}
	for _, t := range res.Tasks {
		out = append(out, s.taskOut(t))
	}
	fails := []failure{}
	for _, f := range res.Failures {
		arn := ""
		if f.NodeID != "" {
			arn = s.arn("container-instance", defaultCluster+"/"+f.NodeID)
		}
		fails = append(fails, failure{Arn: arn, Reason: f.Reason})
	}
	return map[string]any{"tasks": out, "failures": fails}
}

func (s *Server) runTask(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in runIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sp, err := s.spec(ctx, id, "RunTask", in)
	if err != nil {
		return nil, err
	}
	res, err := s.tasks.Run(ctx, sp)
	if err != nil {
		return nil, err
	}
	return s.runResult(res), nil
}

func (s *Server) startTask(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in runIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 10 {
		return nil, invalidParam("containerInstances must list between 1 and 10 container instances.")
	}
	in.Count = 0
	sp, err := s.spec(ctx, id, "StartTask", in)
	if err != nil {
		return nil, err
	}
	for _, ref := range in.ContainerInstances {
		sp.Nodes = append(sp.Nodes, nodeID(ref))
	}
	if err := s.checkStartSubnets(ctx, sp.Network, sp.Nodes); err != nil {
		return nil, err
	}
	res, err := s.tasks.Run(ctx, sp)
	if err != nil {
		return nil, err
	}
	return s.runResult(res), nil
}

// task finds a task of a cluster.
func (s *Server) task(ctx context.Context, cluster, ref string) (state.Task, error) {
	t, err := s.tasks.Get(ctx, taskID(ref))
	if err == nil && t.Cluster != cluster {
		err = errdefs.ErrNotFound
	}
	if errdefs.IsNotFound(err) {
		return state.Task{}, invalidParam("The referenced task was not found.")
	}
	return t, err
}

func (s *Server) stopTask(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster string `json:"cluster"`
		Task    string `json:"task"`
		Reason  string `json:"reason"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.needTasks(); err != nil {
		return nil, err
	}
	cluster := clusterName(in.Cluster)
	if err := s.authorize(id, "StopTask", cluster); err != nil {
		return nil, err
	}
	if in.Task == "" {
		return nil, invalidParam("Task cannot be empty.")
	}
	if len(in.Reason) > 255 {
		return nil, invalidParam("Reason can be at most 255 characters.")
	}
	if _, err := s.exists(ctx, cluster); err != nil {
		return nil, err
	}
	if _, err := s.task(ctx, cluster, in.Task); err != nil {
		return nil, err
	}
	reason := in.Reason
	if reason == "" {
		reason = "Task stopped by user"
	}
	t, err := s.tasks.Stop(ctx, taskID(in.Task), reason)
	if err != nil {
		return nil, err
	}
	return map[string]any{"task": s.taskOut(t)}, nil
}

func (s *Server) describeTasks(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.needTasks(); err != nil {
		return nil, err
	}
	cluster := clusterName(in.Cluster)
	if err := s.authorize(id, "DescribeTasks", cluster); err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > 100 {
		return nil, invalidParam("Tasks cannot be empty and can hold at most 100 tasks.")
	}
	if _, err := s.exists(ctx, cluster); err != nil {
		return nil, err
	}
	out := []taskOut{}
	fails := []failure{}
	// Several tasks are read in one pass over the cluster's tasks rather
	// than one look-up each.
	var byID map[string]state.Task
	if len(in.Tasks) > 1 {
		all, err := s.tasks.List(ctx, tasks.Filter{Cluster: cluster})
		if err != nil {
			return nil, err
		}
		byID = make(map[string]state.Task, len(all))
		for _, t := range all {
			byID[t.ID] = t
		}
	}
	for _, ref := range in.Tasks {
		var t state.Task
		var err error
		if byID != nil {
			var ok bool
			if t, ok = byID[taskID(ref)]; !ok {
				err = invalidParam("The referenced task was not found.")
			}
		} else {
			t, err = s.task(ctx, cluster, ref)
		}
		var ae *apiError
		if errors.As(err, &ae) {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = s.taskARN(cluster, ref)
			}
			fails = append(fails, failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s.taskOut(t))
	}
	return map[string]any{"tasks": out, "failures": fails}, nil
}

func (s *Server) listTasks(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster           string `json:"cluster"`
		ContainerInstance string `json:"containerInstance"`
		Family            string `json:"family"`
		ServiceName       string `json:"serviceName"`
		StartedBy         string `json:"startedBy"`
		DesiredStatus     string `json:"desiredStatus"`
		LaunchType        string `json:"launchType"`
		MaxResults        int    `json:"maxResults"`
		NextToken         string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.needTasks(); err != nil {
		return nil, err
	}
	cluster := clusterName(in.Cluster)
	if err := s.authorize(id, "ListTasks", cluster); err != nil {
		return nil, err
	}
	if in.ServiceName != "" && (in.Family != "" || in.StartedBy != "") {
		return nil, invalidParam("serviceName may not be used with family or startedBy.")
	}
	// ECS lists the tasks desired RUNNING unless told otherwise; PENDING
	// selects those not yet RUNNING.
	desired, pending := "RUNNING", false
	switch in.DesiredStatus {
	case "", "RUNNING":
	case "STOPPED":
		desired = "STOPPED"
	case "PENDING":
		pending = true
	default:
		return nil, invalidParam("desiredStatus must be RUNNING, PENDING or STOPPED.")
	}
	if _, err := s.exists(ctx, cluster); err != nil {
		return nil, err
	}
	f := tasks.Filter{Cluster: cluster, Family: in.Family, Service: in.ServiceName, StartedBy: in.StartedBy, DesiredStatus: desired}
	if in.ContainerInstance != "" {
		f.NodeID = nodeID(in.ContainerInstance)
	}
	ts, err := s.tasks.List(ctx, f)
	if err != nil {
		return nil, err
	}
	var arns []string
	for _, t := range ts {
		if in.LaunchType != "" && t.LaunchType != in.LaunchType {
			continue
		}
		if pending && t.LastStatus == string(sched.StatusRunning) {
			continue
		}
		arns = append(arns, s.taskARN(t.Cluster, t.ID))
	}
	pg, next, err := page(arns, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"taskArns": pg}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}
