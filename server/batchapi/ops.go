package batchapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/identity"
)

// Wire shapes, as Batch's API spells them.

type computeResources struct {
	Type     string `json:"type,omitempty"`
	MaxVcpus *int   `json:"maxvCpus,omitempty"`
	MinVcpus *int   `json:"minvCpus,omitempty"`
}

type computeEnvironmentDetail struct {
	ComputeEnvironmentName string            `json:"computeEnvironmentName"`
	ComputeEnvironmentArn  string            `json:"computeEnvironmentArn"`
	Type                   string            `json:"type"`
	State                  string            `json:"state"`
	Status                 string            `json:"status"`
	StatusReason           string            `json:"statusReason,omitempty"`
	ComputeResources       *computeResources `json:"computeResources,omitempty"`
	Tags                   map[string]string `json:"tags,omitempty"`
	ContainerOrchestration string            `json:"containerOrchestrationType"`
}

func (s *Server) createComputeEnvironment(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		ComputeEnvironmentName string            `json:"computeEnvironmentName"`
		Type                   string            `json:"type"`
		State                  string            `json:"state"`
		ComputeResources       *computeResources `json:"computeResources"`
		Tags                   map[string]string `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "CreateComputeEnvironment", in.ComputeEnvironmentName); err != nil {
		return nil, err
	}
	e := batch.ComputeEnvironment{Name: in.ComputeEnvironmentName, Type: in.Type, State: in.State, Tags: in.Tags}
	if cr := in.ComputeResources; cr != nil {
		e.ResourceType = cr.Type
		if cr.MaxVcpus != nil {
			e.MaxVCPUs = *cr.MaxVcpus
		}
	}
	out, err := s.m.CreateEnv(ctx, e)
	if err != nil {
		return nil, err
	}
	return map[string]string{"computeEnvironmentName": out.Name, "computeEnvironmentArn": s.arn(batch.KindEnv, out.Name)}, nil
}

func (s *Server) envDetail(e batch.ComputeEnvironment) computeEnvironmentDetail {
	max, min := e.MaxVCPUs, 0
	return computeEnvironmentDetail{
		ComputeEnvironmentName: e.Name, ComputeEnvironmentArn: s.arn(batch.KindEnv, e.Name), Type: e.Type,
		State: e.State, Status: e.Status, StatusReason: e.StatusReason, Tags: e.Tags, ContainerOrchestration: "ECS",
		ComputeResources: &computeResources{Type: e.ResourceType, MaxVcpus: &max, MinVcpus: &min},
	}
}

// listIn is the paging of Describe and List operations.
type listIn struct {
	MaxResults int    `json:"maxResults"`
	NextToken  string `json:"nextToken"`
}

// page cuts n items at the token's offset; the token is the offset,
// opaque to clients.
func page(n int, in listIn, max int) (lo, hi int, next string, err error) {
	if in.MaxResults < 0 || in.MaxResults > max {
		return 0, 0, "", clientErr("maxResults must be 1 to %d", max)
	}
	size := in.MaxResults
	if size == 0 {
		size = max
	}
	if in.NextToken != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(in.NextToken)
		off, aerr := strconv.Atoi(string(raw))
		if derr != nil || aerr != nil || off < 0 || off > n {
			return 0, 0, "", clientErr("nextToken is not valid")
		}
		lo = off
	}
	hi = lo + size
	if hi < n {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(hi)))
	} else {
		hi = n
	}
	return lo, hi, next, nil
}

func (s *Server) describeComputeEnvironments(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		listIn
		ComputeEnvironments []string `json:"computeEnvironments"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.ComputeEnvironments) > 100 {
		return nil, clientErr("at most 100 compute environments")
	}
	if err := s.authorizeEach(id, "DescribeComputeEnvironments", in.ComputeEnvironments); err != nil {
		return nil, err
	}
	envs := s.m.Envs(in.ComputeEnvironments)
	lo, hi, next, err := page(len(envs), in.listIn, 100)
	if err != nil {
		return nil, err
	}
	out := make([]computeEnvironmentDetail, 0, hi-lo)
	for _, e := range envs[lo:hi] {
		out = append(out, s.envDetail(e))
	}
	return map[string]any{"computeEnvironments": out, "nextToken": omit(next)}, nil
}

// omit makes "" a JSON null.
func omit(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) authorizeEach(id *identity.Identity, action string, names []string) error {
	if len(names) == 0 {
		return s.authorize(id, action, "")
	}
	for _, n := range names {
		if err := s.authorize(id, action, nameOf(n)); err != nil {
			return err
		}
	}
	return nil
}

// nameOf is the name an ARN (or a name) names.
func nameOf(s string) string {
	if _, name, ok := parseARN(s); ok {
		return name
	}
	return s
}

func (s *Server) updateComputeEnvironment(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		ComputeEnvironment string            `json:"computeEnvironment"`
		State              string            `json:"state"`
		ComputeResources   *computeResources `json:"computeResources"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name := nameOf(in.ComputeEnvironment)
	if err := s.authorize(id, "UpdateComputeEnvironment", name); err != nil {
		return nil, err
	}
	u := batch.EnvUpdate{State: in.State}
	if in.ComputeResources != nil {
		u.MaxVCPUs = in.ComputeResources.MaxVcpus
	}
	e, err := s.m.UpdateEnv(ctx, name, u)
	if err != nil {
		return nil, err
	}
	return map[string]string{"computeEnvironmentName": e.Name, "computeEnvironmentArn": s.arn(batch.KindEnv, e.Name)}, nil
}

func (s *Server) deleteComputeEnvironment(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		ComputeEnvironment string `json:"computeEnvironment"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name := nameOf(in.ComputeEnvironment)
	if err := s.authorize(id, "DeleteComputeEnvironment", name); err != nil {
		return nil, err
	}
	return struct{}{}, s.m.DeleteEnv(ctx, name)
}

type envOrder struct {
	Order              int    `json:"order"`
	ComputeEnvironment string `json:"computeEnvironment"`
}

type jobQueueDetail struct {
	JobQueueName            string            `json:"jobQueueName"`
	JobQueueArn             string            `json:"jobQueueArn"`
	State                   string            `json:"state"`
	Status                  string            `json:"status"`
	StatusReason            string            `json:"statusReason,omitempty"`
	Priority                int               `json:"priority"`
	SchedulingPolicyArn     string            `json:"schedulingPolicyArn,omitempty"`
	ComputeEnvironmentOrder []envOrder        `json:"computeEnvironmentOrder"`
	Tags                    map[string]string `json:"tags,omitempty"`
	JobQueueType            string            `json:"jobQueueType"`
}

func toOrders(in []envOrder) []batch.EnvOrder {
	if in == nil {
		return nil
	}
	out := make([]batch.EnvOrder, 0, len(in))
	for _, o := range in {
		out = append(out, batch.EnvOrder{Order: o.Order, Env: nameOf(o.ComputeEnvironment)})
	}
	return out
}

func (s *Server) createJobQueue(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		JobQueueName            string            `json:"jobQueueName"`
		State                   string            `json:"state"`
		Priority                *int              `json:"priority"`
		SchedulingPolicyArn     string            `json:"schedulingPolicyArn"`
		ComputeEnvironmentOrder []envOrder        `json:"computeEnvironmentOrder"`
		Tags                    map[string]string `json:"tags"`
		JobQueueType            string            `json:"jobQueueType"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "CreateJobQueue", in.JobQueueName); err != nil {
		return nil, err
	}
	if in.Priority == nil {
		return nil, clientErr("priority is required")
	}
	if in.JobQueueType != "" && in.JobQueueType != "ECS" && in.JobQueueType != "ECS_FARGATE" {
		return nil, clientErr("jobQueueType %s: wharf's queues run ECS-style jobs", in.JobQueueType)
	}
	q, err := s.m.CreateQueue(ctx, batch.JobQueue{Name: in.JobQueueName, State: in.State, Priority: *in.Priority,
		Policy: nameOf(in.SchedulingPolicyArn), Envs: toOrders(in.ComputeEnvironmentOrder), Tags: in.Tags})
	if err != nil {
		return nil, err
	}
	return map[string]string{"jobQueueName": q.Name, "jobQueueArn": s.arn(batch.KindQueue, q.Name)}, nil
}

func (s *Server) queueDetail(q batch.JobQueue) jobQueueDetail {
	d := jobQueueDetail{JobQueueName: q.Name, JobQueueArn: s.arn(batch.KindQueue, q.Name), State: q.State, Status: q.Status,
		StatusReason: q.StatusReason, Priority: q.Priority, Tags: q.Tags, JobQueueType: "ECS", ComputeEnvironmentOrder: []envOrder{}}
	if q.Policy != "" {
		d.SchedulingPolicyArn = s.arn(batch.KindPolicy, q.Policy)
	}
	for _, o := range q.Envs {
		d.ComputeEnvironmentOrder = append(d.ComputeEnvironmentOrder, envOrder{Order: o.Order, ComputeEnvironment: s.arn(batch.KindEnv, o.Env)})
	}
	return d
}

func (s *Server) describeJobQueues(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		listIn
		JobQueues []string `json:"jobQueues"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.JobQueues) > 100 {
		return nil, clientErr("at most 100 job queues")
	}
	if err := s.authorizeEach(id, "DescribeJobQueues", in.JobQueues); err != nil {
		return nil, err
	}
	qs := s.m.Queues(in.JobQueues)
	lo, hi, next, err := page(len(qs), in.listIn, 100)
	if err != nil {
		return nil, err
	}
	out := make([]jobQueueDetail, 0, hi-lo)
	for _, q := range qs[lo:hi] {
		out = append(out, s.queueDetail(q))
	}
	return map[string]any{"jobQueues": out, "nextToken": omit(next)}, nil
}

func (s *Server) updateJobQueue(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		JobQueue                string     `json:"jobQueue"`
		State                   string     `json:"state"`
		Priority                *int       `json:"priority"`
		SchedulingPolicyArn     string     `json:"schedulingPolicyArn"`
		ComputeEnvironmentOrder []envOrder `json:"computeEnvironmentOrder"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name := nameOf(in.JobQueue)
	if err := s.authorize(id, "UpdateJobQueue", name); err != nil {
		return nil, err
	}
	q, err := s.m.UpdateQueue(ctx, name, batch.QueueUpdate{State: in.State, Priority: in.Priority, Envs: toOrders(in.ComputeEnvironmentOrder), Policy: in.SchedulingPolicyArn})
	if err != nil {
		return nil, err
	}
	return map[string]string{"jobQueueName": q.Name, "jobQueueArn": s.arn(batch.KindQueue, q.Name)}, nil
}

func (s *Server) deleteJobQueue(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		JobQueue string `json:"jobQueue"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name := nameOf(in.JobQueue)
	if err := s.authorize(id, "DeleteJobQueue", name); err != nil {
		return nil, err
	}
	return struct{}{}, s.m.DeleteQueue(ctx, name)
}

type shareAttributes struct {
	ShareIdentifier string  `json:"shareIdentifier"`
	WeightFactor    float64 `json:"weightFactor"`
}

type fairsharePolicy struct {
	ShareDecaySeconds  int               `json:"shareDecaySeconds,omitempty"`
	ComputeReservation int               `json:"computeReservation,omitempty"`
	ShareDistribution  []shareAttributes `json:"shareDistribution,omitempty"`
}

func (s *Server) createSchedulingPolicy(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Name            string            `json:"name"`
		FairsharePolicy *fairsharePolicy  `json:"fairsharePolicy"`
		Tags            map[string]string `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "CreateSchedulingPolicy", in.Name); err != nil {
		return nil, err
	}
	p := batch.SchedulingPolicy{Name: in.Name, Tags: in.Tags}
	if f := in.FairsharePolicy; f != nil {
		p.ShareDecaySeconds, p.ComputeReservation = f.ShareDecaySeconds, f.ComputeReservation
		for _, sh := range f.ShareDistribution {
			w := sh.WeightFactor
			if w == 0 {
				w = 1
			}
			p.Shares = append(p.Shares, batch.Share{Identifier: sh.ShareIdentifier, Weight: w})
		}
	}
	out, err := s.m.CreatePolicy(ctx, p)
	if err != nil {
		return nil, err
	}
	return map[string]string{"name": out.Name, "arn": s.arn(batch.KindPolicy, out.Name)}, nil
}

func (s *Server) describeSchedulingPolicies(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Arns []string `json:"arns"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Arns) == 0 || len(in.Arns) > 100 {
		return nil, clientErr("arns must name 1 to 100 scheduling policies")
	}
	if err := s.authorizeEach(id, "DescribeSchedulingPolicies", in.Arns); err != nil {
		return nil, err
	}
	type detail struct {
		Name            string            `json:"name"`
		Arn             string            `json:"arn"`
		FairsharePolicy fairsharePolicy   `json:"fairsharePolicy"`
		Tags            map[string]string `json:"tags,omitempty"`
	}
	out := []detail{}
	for _, p := range s.m.Policies(in.Arns) {
		d := detail{Name: p.Name, Arn: s.arn(batch.KindPolicy, p.Name), Tags: p.Tags,
			FairsharePolicy: fairsharePolicy{ShareDecaySeconds: p.ShareDecaySeconds, ComputeReservation: p.ComputeReservation}}
		for _, sh := range p.Shares {
			d.FairsharePolicy.ShareDistribution = append(d.FairsharePolicy.ShareDistribution, shareAttributes{ShareIdentifier: sh.Identifier, WeightFactor: sh.Weight})
		}
		out = append(out, d)
	}
	return map[string]any{"schedulingPolicies": out}, nil
}

type resourceRequirement struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type retryStrategy struct {
	Attempts       int                    `json:"attempts,omitempty"`
	EvaluateOnExit []batch.EvaluateOnExit `json:"evaluateOnExit,omitempty"`
}

type jobTimeout struct {
	AttemptDurationSeconds int `json:"attemptDurationSeconds,omitempty"`
}

// containerProperties is a definition's container, with the members
// wharf refuses (volumes, mountPoints, secrets and the like) decoded so
// that they can be refused by name rather than ignored.
type containerProperties struct {
	Image                  string                `json:"image"`
	Command                []string              `json:"command,omitempty"`
	Environment            []batch.KeyValue      `json:"environment,omitempty"`
	ResourceRequirements   []resourceRequirement `json:"resourceRequirements,omitempty"`
	Vcpus                  int                   `json:"vcpus,omitempty"`
	Memory                 int                   `json:"memory,omitempty"`
	User                   string                `json:"user,omitempty"`
	ReadonlyRootFilesystem bool                  `json:"readonlyRootFilesystem,omitempty"`
	Privileged             bool                  `json:"privileged,omitempty"`
	MountPoints            []any                 `json:"mountPoints,omitempty"`
	Volumes                []any                 `json:"volumes,omitempty"`
	Secrets                []any                 `json:"secrets,omitempty"`
	LinuxParameters        any                   `json:"linuxParameters,omitempty"`
	Ulimits                []any                 `json:"ulimits,omitempty"`
}

// resources reads VCPU and MEMORY from resourceRequirements (or the
// older vcpus and memory).
func resources(rr []resourceRequirement, vcpus, memory int) (float64, int, error) {
	v, m := float64(vcpus), memory
	for _, r := range rr {
		switch r.Type {
		case "VCPU":
			f, err := strconv.ParseFloat(r.Value, 64)
			if err != nil || !(f > 0) || f > 1e6 {
				return 0, 0, clientErr("resourceRequirements VCPU %q is not a number of vCPUs", r.Value)
			}
			v = f
		case "MEMORY":
			n, err := strconv.Atoi(r.Value)
			if err != nil || n <= 0 {
				return 0, 0, clientErr("resourceRequirements MEMORY %q is not a number of MiB", r.Value)
			}
			m = n
		case "GPU":
			return 0, 0, clientErr("resourceRequirements GPU: wharf's compute environments have no GPUs")
		default:
			return 0, 0, clientErr("resourceRequirements type %q: VCPU, MEMORY or GPU", r.Type)
		}
	}
	return v, m, nil
}

func (c *containerProperties) model() (batch.Container, error) {
	switch {
	case len(c.MountPoints) > 0 || len(c.Volumes) > 0:
		return batch.Container{}, clientErr("containerProperties.mountPoints and volumes are not supported by wharf's Batch yet")
	case len(c.Secrets) > 0:
		return batch.Container{}, clientErr("containerProperties.secrets are not supported by wharf's Batch yet")
	case c.Privileged:
		return batch.Container{}, clientErr("containerProperties.privileged is not supported by wharf's Batch")
	case c.LinuxParameters != nil || len(c.Ulimits) > 0:
		return batch.Container{}, clientErr("containerProperties.linuxParameters and ulimits are not supported by wharf's Batch yet")
	}
	v, m, err := resources(c.ResourceRequirements, c.Vcpus, c.Memory)
	if err != nil {
		return batch.Container{}, err
	}
	return batch.Container{Image: c.Image, Command: c.Command, Environment: c.Environment, VCPUs: v, MemoryMiB: m,
		User: c.User, ReadonlyRootFilesystem: c.ReadonlyRootFilesystem}, nil
}

func wireContainer(c batch.Container) containerProperties {
	return containerProperties{Image: c.Image, Command: c.Command, Environment: c.Environment, User: c.User, ReadonlyRootFilesystem: c.ReadonlyRootFilesystem,
		ResourceRequirements: []resourceRequirement{{Type: "VCPU", Value: strconv.FormatFloat(c.VCPUs, 'f', -1, 64)}, {Type: "MEMORY", Value: strconv.Itoa(c.MemoryMiB)}}}
}

func retryModel(r *retryStrategy) *batch.RetryStrategy {
	if r == nil {
		return nil
	}
	return &batch.RetryStrategy{Attempts: r.Attempts, EvaluateOnExit: r.EvaluateOnExit}
}

func retryWire(r *batch.RetryStrategy) *retryStrategy {
	if r == nil {
		return nil
	}
	return &retryStrategy{Attempts: r.Attempts, EvaluateOnExit: r.EvaluateOnExit}
}

// registerIn is RegisterJobDefinition's input.
type registerIn struct {
	JobDefinitionName    string               `json:"jobDefinitionName"`
	Type                 string               `json:"type"`
	Parameters           map[string]string    `json:"parameters"`
	ContainerProperties  *containerProperties `json:"containerProperties"`
	NodeProperties       any                  `json:"nodeProperties"`
	EcsProperties        any                  `json:"ecsProperties"`
	EksProperties        any                  `json:"eksProperties"`
	RetryStrategy        *retryStrategy       `json:"retryStrategy"`
	Timeout              *jobTimeout          `json:"timeout"`
	PlatformCapabilities []string             `json:"platformCapabilities"`
	PropagateTags        bool                 `json:"propagateTags"`
	SchedulingPriority   int                  `json:"schedulingPriority"`
	Tags                 map[string]string    `json:"tags"`
}

// definition turns RegisterJobDefinition's input into the model.
func (in *registerIn) definition() (batch.JobDefinition, error) {
	if in.NodeProperties != nil || in.EcsProperties != nil || in.EksProperties != nil {
		return batch.JobDefinition{}, clientErr("wharf's Batch runs containerProperties job definitions (not nodeProperties, ecsProperties or eksProperties)")
	}
	if in.ContainerProperties == nil {
		return batch.JobDefinition{}, clientErr("containerProperties is required for a container job definition")
	}
	c, err := in.ContainerProperties.model()
	if err != nil {
		return batch.JobDefinition{}, err
	}
	d := batch.JobDefinition{Name: in.JobDefinitionName, Type: in.Type, Parameters: in.Parameters, Container: c, RetryStrategy: retryModel(in.RetryStrategy),
		PlatformCapabilities: in.PlatformCapabilities, PropagateTags: in.PropagateTags, SchedulingPriority: in.SchedulingPriority, Tags: in.Tags}
	if in.Timeout != nil {
		d.TimeoutSeconds = in.Timeout.AttemptDurationSeconds
		if d.TimeoutSeconds == 0 {
			d.TimeoutSeconds = -1 // refused: a timeout without a duration
		}
	}
	return d, nil
}

func (s *Server) registerJobDefinition(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in registerIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "RegisterJobDefinition", in.JobDefinitionName); err != nil {
		return nil, err
	}
	d, err := in.definition()
	if err != nil {
		return nil, err
	}
	out, err := s.m.RegisterDefinition(ctx, d)
	if err != nil {
		return nil, err
	}
	return map[string]any{"jobDefinitionName": out.Name, "jobDefinitionArn": s.defARN(out.Name, out.Revision), "revision": out.Revision}, nil
}

func (s *Server) defARN(name string, rev int) string {
	return s.arn(batch.KindDefinition, name+":"+strconv.Itoa(rev))
}

func (s *Server) describeJobDefinitions(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		listIn
		JobDefinitions    []string `json:"jobDefinitions"`
		JobDefinitionName string   `json:"jobDefinitionName"`
		Status            string   `json:"status"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.JobDefinitions) > 100 {
		return nil, clientErr("at most 100 job definitions")
	}
	names := in.JobDefinitions
	if in.JobDefinitionName != "" {
		names = append(names, in.JobDefinitionName)
	}
	var resNames []string
	for _, n := range names {
		dn, _, _ := strings.Cut(nameOf(n), ":")
		resNames = append(resNames, dn)
	}
	if err := s.authorizeEach(id, "DescribeJobDefinitions", resNames); err != nil {
		return nil, err
	}
	defs := s.m.Definitions(batch.DefinitionFilter{Refs: in.JobDefinitions, Name: in.JobDefinitionName, Status: in.Status})
	lo, hi, next, err := page(len(defs), in.listIn, 100)
	if err != nil {
		return nil, err
	}
	type detail struct {
		JobDefinitionName    string              `json:"jobDefinitionName"`
		JobDefinitionArn     string              `json:"jobDefinitionArn"`
		Revision             int                 `json:"revision"`
		Status               string              `json:"status"`
		Type                 string              `json:"type"`
		Parameters           map[string]string   `json:"parameters,omitempty"`
		ContainerProperties  containerProperties `json:"containerProperties"`
		RetryStrategy        *retryStrategy      `json:"retryStrategy,omitempty"`
		Timeout              *jobTimeout         `json:"timeout,omitempty"`
		PlatformCapabilities []string            `json:"platformCapabilities,omitempty"`
		PropagateTags        bool                `json:"propagateTags,omitempty"`
		SchedulingPriority   int                 `json:"schedulingPriority,omitempty"`
		Tags                 map[string]string   `json:"tags,omitempty"`
		ContainerOrch        string              `json:"containerOrchestrationType"`
	}
	out := make([]detail, 0, hi-lo)
	for _, d := range defs[lo:hi] {
		x := detail{JobDefinitionName: d.Name, JobDefinitionArn: s.defARN(d.Name, d.Revision), Revision: d.Revision, Status: d.Status, Type: d.Type,
			Parameters: d.Parameters, ContainerProperties: wireContainer(d.Container), RetryStrategy: retryWire(d.RetryStrategy),
			PlatformCapabilities: d.PlatformCapabilities, PropagateTags: d.PropagateTags, SchedulingPriority: d.SchedulingPriority, Tags: d.Tags, ContainerOrch: "ECS"}
		if d.TimeoutSeconds > 0 {
			x.Timeout = &jobTimeout{AttemptDurationSeconds: d.TimeoutSeconds}
		}
		out = append(out, x)
	}
	return map[string]any{"jobDefinitions": out, "nextToken": omit(next)}, nil
}

func (s *Server) deregisterJobDefinition(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		JobDefinition string `json:"jobDefinition"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	dn, _, _ := strings.Cut(nameOf(in.JobDefinition), ":")
	if err := s.authorize(id, "DeregisterJobDefinition", dn); err != nil {
		return nil, err
	}
	return struct{}{}, s.m.DeregisterDefinition(ctx, in.JobDefinition)
}

// submitIn is SubmitJob's input.
type submitIn struct {
	JobName         string            `json:"jobName"`
	JobQueue        string            `json:"jobQueue"`
	JobDefinition   string            `json:"jobDefinition"`
	Parameters      map[string]string `json:"parameters"`
	ArrayProperties *struct {
		Size int `json:"size"`
	} `json:"arrayProperties"`
	DependsOn          []batch.Dependency `json:"dependsOn"`
	RetryStrategy      *retryStrategy     `json:"retryStrategy"`
	Timeout            *jobTimeout        `json:"timeout"`
	ContainerOverrides *struct {
		Command              []string              `json:"command"`
		Environment          []batch.KeyValue      `json:"environment"`
		ResourceRequirements []resourceRequirement `json:"resourceRequirements"`
		Vcpus                int                   `json:"vcpus"`
		Memory               int                   `json:"memory"`
		InstanceType         string                `json:"instanceType"`
	} `json:"containerOverrides"`
	NodeOverrides              any               `json:"nodeOverrides"`
	ShareIdentifier            string            `json:"shareIdentifier"`
	SchedulingPriorityOverride *int              `json:"schedulingPriorityOverride"`
	Tags                       map[string]string `json:"tags"`
	PropagateTags              bool              `json:"propagateTags"`
}

// submit turns SubmitJob's input into the model.
func (in *submitIn) submit() (batch.Submit, error) {
	sub := batch.Submit{Name: in.JobName, Queue: in.JobQueue, Definition: in.JobDefinition, Parameters: in.Parameters,
		DependsOn: in.DependsOn, RetryStrategy: retryModel(in.RetryStrategy), ShareIdentifier: in.ShareIdentifier,
		SchedulingPriority: in.SchedulingPriorityOverride, Tags: in.Tags, PropagateTags: in.PropagateTags}
	if in.NodeOverrides != nil {
		return sub, clientErr("nodeOverrides are for multi-node parallel jobs, which wharf does not run")
	}
	if in.ArrayProperties != nil {
		sub.ArraySize = in.ArrayProperties.Size
		if sub.ArraySize == 0 {
			return sub, clientErr("arrayProperties.size must be %d to %d", batch.MinArraySize, batch.MaxArraySize)
		}
	}
	if in.Timeout != nil {
		sub.TimeoutSeconds = in.Timeout.AttemptDurationSeconds
		if sub.TimeoutSeconds == 0 {
			sub.TimeoutSeconds = -1
		}
	}
	if o := in.ContainerOverrides; o != nil {
		if o.InstanceType != "" {
			return sub, clientErr("containerOverrides.instanceType is for multi-node parallel jobs")
		}
		v, m, err := resources(o.ResourceRequirements, o.Vcpus, o.Memory)
		if err != nil {
			return sub, err
		}
		sub.Overrides = &batch.Overrides{Command: o.Command, Environment: o.Environment, VCPUs: v, MemoryMiB: m}
	}
	return sub, nil
}

func (s *Server) submitJob(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in submitIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "SubmitJob", nameOf(in.JobQueue)); err != nil {
		return nil, err
	}
	sub, err := in.submit()
	if err != nil {
		return nil, err
	}
	j, err := s.m.Submit(ctx, sub)
	if err != nil {
		return nil, err
	}
	return map[string]string{"jobArn": s.arn(batch.KindJob, j.ID), "jobName": j.Name, "jobId": j.ID}, nil
}

type attemptContainer struct {
	ExitCode      *int   `json:"exitCode,omitempty"`
	Reason        string `json:"reason,omitempty"`
	LogStreamName string `json:"logStreamName,omitempty"`
	TaskArn       string `json:"taskArn,omitempty"`
}

type attemptDetail struct {
	Container    attemptContainer `json:"container"`
	StartedAt    int64            `json:"startedAt,omitempty"`
	StoppedAt    int64            `json:"stoppedAt,omitempty"`
	StatusReason string           `json:"statusReason,omitempty"`
}

type arrayDetail struct {
	StatusSummary map[string]int `json:"statusSummary,omitempty"`
	Size          int            `json:"size,omitempty"`
	Index         *int           `json:"index,omitempty"`
}

type containerDetail struct {
	Image                  string                `json:"image"`
	Command                []string              `json:"command,omitempty"`
	Environment            []batch.KeyValue      `json:"environment,omitempty"`
	ResourceRequirements   []resourceRequirement `json:"resourceRequirements,omitempty"`
	ReadonlyRootFilesystem bool                  `json:"readonlyRootFilesystem,omitempty"`
	User                   string                `json:"user,omitempty"`
	ExitCode               *int                  `json:"exitCode,omitempty"`
	Reason                 string                `json:"reason,omitempty"`
	LogStreamName          string                `json:"logStreamName,omitempty"`
	TaskArn                string                `json:"taskArn,omitempty"`
}

type jobDetail struct {
	JobArn               string             `json:"jobArn"`
	JobName              string             `json:"jobName"`
	JobID                string             `json:"jobId"`
	JobQueue             string             `json:"jobQueue"`
	Status               string             `json:"status"`
	ShareIdentifier      string             `json:"shareIdentifier,omitempty"`
	SchedulingPriority   int                `json:"schedulingPriority,omitempty"`
	Attempts             []attemptDetail    `json:"attempts"`
	StatusReason         string             `json:"statusReason,omitempty"`
	CreatedAt            int64              `json:"createdAt"`
	StartedAt            int64              `json:"startedAt,omitempty"`
	StoppedAt            int64              `json:"stoppedAt,omitempty"`
	RetryStrategy        *retryStrategy     `json:"retryStrategy,omitempty"`
	DependsOn            []batch.Dependency `json:"dependsOn,omitempty"`
	JobDefinition        string             `json:"jobDefinition"`
	Parameters           map[string]string  `json:"parameters,omitempty"`
	Container            containerDetail    `json:"container"`
	Timeout              *jobTimeout        `json:"timeout,omitempty"`
	ArrayProperties      *arrayDetail       `json:"arrayProperties,omitempty"`
	Tags                 map[string]string  `json:"tags,omitempty"`
	PlatformCapabilities []string           `json:"platformCapabilities,omitempty"`
}

func (s *Server) taskARN(a batch.Attempt) string {
	if s.taskARNOf != nil && a.Ref != "" {
		return s.taskARNOf(a.Ref)
	}
	attempt := a.ID
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task/wharf-batch/%s", s.region, s.account, attempt)
}

func (s *Server) jobDetail(v batch.View) jobDetail {
	j := v.Job
	name, rev, _ := strings.Cut(j.Definition, ":")
	r, _ := strconv.Atoi(rev)
	d := jobDetail{JobArn: s.arn(batch.KindJob, j.ID), JobName: j.Name, JobID: j.ID, JobQueue: s.arn(batch.KindQueue, j.Queue),
		Status: j.Status, ShareIdentifier: j.ShareIdentifier, SchedulingPriority: j.SchedulingPriority, StatusReason: j.StatusReason,
		CreatedAt: ms(j.CreatedAt), StartedAt: ms(j.StartedAt), StoppedAt: ms(j.StoppedAt), RetryStrategy: retryWire(j.RetryStrategy),
		DependsOn: j.DependsOn, JobDefinition: s.defARN(name, r), Parameters: j.Parameters, Tags: j.Tags, Attempts: []attemptDetail{}}
	c := wireContainer(j.Container)
	d.Container = containerDetail{Image: c.Image, Command: batch.Substitute(c.Command, j.Parameters), Environment: c.Environment,
		ResourceRequirements: c.ResourceRequirements, ReadonlyRootFilesystem: c.ReadonlyRootFilesystem, User: c.User}
	if j.TimeoutSeconds > 0 {
		d.Timeout = &jobTimeout{AttemptDurationSeconds: j.TimeoutSeconds}
	}
	for _, a := range j.Attempts {
		d.Attempts = append(d.Attempts, attemptDetail{StartedAt: ms(a.StartedAt), StoppedAt: ms(a.StoppedAt), StatusReason: a.StatusReason,
			Container: attemptContainer{ExitCode: a.ExitCode, Reason: a.Reason, LogStreamName: a.LogStream, TaskArn: s.taskARN(a)}})
	}
	// The container shows the current attempt, or the last.
	if a := j.Running; a != nil {
		d.Container.LogStreamName, d.Container.TaskArn = a.LogStream, s.taskARN(*a)
	} else if n := len(j.Attempts); n > 0 {
		a := j.Attempts[n-1]
		d.Container.ExitCode, d.Container.Reason, d.Container.LogStreamName, d.Container.TaskArn = a.ExitCode, a.Reason, a.LogStream, s.taskARN(a)
	}
	if j.IsArray() {
		d.ArrayProperties = &arrayDetail{Size: j.ArraySize, StatusSummary: v.StatusSummary}
		d.Container = containerDetail{Image: c.Image, Command: d.Container.Command, Environment: c.Environment, ResourceRequirements: c.ResourceRequirements}
	} else if j.Parent != "" {
		i := j.ArrayIndex
		d.ArrayProperties = &arrayDetail{Index: &i}
	}
	return d
}

func (s *Server) describeJobs(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Jobs []string `json:"jobs"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Jobs) == 0 || len(in.Jobs) > 100 {
		return nil, clientErr("jobs must name 1 to 100 job ids")
	}
	for i, j := range in.Jobs {
		in.Jobs[i] = nameOf(j)
	}
	if err := s.authorizeEach(id, "DescribeJobs", in.Jobs); err != nil {
		return nil, err
	}
	out := []jobDetail{}
	for _, v := range s.m.Describe(in.Jobs) {
		out = append(out, s.jobDetail(v))
	}
	return map[string]any{"jobs": out}, nil
}

type keyValues struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

func (s *Server) listJobs(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		listIn
		JobQueue   string      `json:"jobQueue"`
		ArrayJobID string      `json:"arrayJobId"`
		JobStatus  string      `json:"jobStatus"`
		Filters    []keyValues `json:"filters"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if (in.JobQueue == "") == (in.ArrayJobID == "") {
		return nil, clientErr("ListJobs needs exactly one of jobQueue and arrayJobId")
	}
	res := nameOf(in.JobQueue)
	if in.ArrayJobID != "" {
		res = in.ArrayJobID
	}
	if err := s.authorize(id, "ListJobs", res); err != nil {
		return nil, err
	}
	f := batch.ListFilter{Queue: in.JobQueue, ArrayJobID: in.ArrayJobID, Status: in.JobStatus}
	if in.JobStatus != "" && !contains(batch.AllStatuses, in.JobStatus) {
		return nil, clientErr("jobStatus %q: one of %s", in.JobStatus, strings.Join(batch.AllStatuses, ", "))
	}
	if len(in.Filters) > 0 {
		if in.JobStatus != "" {
			return nil, clientErr("filters and jobStatus cannot be used together")
		}
		for _, kv := range in.Filters {
			if len(kv.Values) != 1 {
				return nil, clientErr("filter %s takes one value", kv.Name)
			}
			v := kv.Values[0]
			switch kv.Name {
			case "JOB_NAME":
				f.NamePattern = v
			case "JOB_DEFINITION":
				f.Definition = v
			case "BEFORE_CREATED_AT", "AFTER_CREATED_AT":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, clientErr("filter %s: %q is not milliseconds since the epoch", kv.Name, v)
				}
				if kv.Name == "BEFORE_CREATED_AT" {
					f.Before = time.UnixMilli(n)
				} else {
					f.After = time.UnixMilli(n)
				}
			default:
				return nil, clientErr("filter %q: JOB_NAME, JOB_DEFINITION, BEFORE_CREATED_AT or AFTER_CREATED_AT", kv.Name)
			}
		}
	} else if f.Status == "" {
		f.Status = batch.StatusRunning
	}
	views, err := s.m.List(f)
	if err != nil {
		return nil, err
	}
	lo, hi, next, err := page(len(views), in.listIn, 1000)
	if err != nil {
		return nil, err
	}
	type summary struct {
		JobArn          string           `json:"jobArn"`
		JobID           string           `json:"jobId"`
		JobName         string           `json:"jobName"`
		CreatedAt       int64            `json:"createdAt"`
		Status          string           `json:"status"`
		StatusReason    string           `json:"statusReason,omitempty"`
		StartedAt       int64            `json:"startedAt,omitempty"`
		StoppedAt       int64            `json:"stoppedAt,omitempty"`
		Container       attemptContainer `json:"container"`
		ArrayProperties *arrayDetail     `json:"arrayProperties,omitempty"`
		JobDefinition   string           `json:"jobDefinition"`
	}
	out := make([]summary, 0, hi-lo)
	for _, v := range views[lo:hi] {
		d := s.jobDetail(v)
		sm := summary{JobArn: d.JobArn, JobID: d.JobID, JobName: d.JobName, CreatedAt: d.CreatedAt, Status: d.Status, StatusReason: d.StatusReason,
			StartedAt: d.StartedAt, StoppedAt: d.StoppedAt, Container: attemptContainer{ExitCode: d.Container.ExitCode, Reason: d.Container.Reason}, JobDefinition: d.JobDefinition}
		if d.ArrayProperties != nil {
			sm.ArrayProperties = &arrayDetail{Size: d.ArrayProperties.Size, Index: d.ArrayProperties.Index}
		}
		out = append(out, sm)
	}
	return map[string]any{"jobSummaryList": out, "nextToken": omit(next)}, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) cancelJob(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		JobID  string `json:"jobId"`
		Reason string `json:"reason"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "CancelJob", in.JobID); err != nil {
		return nil, err
	}
	return struct{}{}, s.m.Cancel(ctx, in.JobID, in.Reason)
}

func (s *Server) terminateJob(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		JobID  string `json:"jobId"`
		Reason string `json:"reason"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "TerminateJob", in.JobID); err != nil {
		return nil, err
	}
	return struct{}{}, s.m.Terminate(ctx, in.JobID, in.Reason)
}

// tags serves TagResource (POST), ListTagsForResource (GET) and
// UntagResource (DELETE) on /v1/tags/<arn>.
func (s *Server) tags(ctx context.Context, id *identity.Identity, method, rawARN string, q url.Values, body []byte) (any, error) {
	arn, err := url.PathUnescape(rawARN)
	if err != nil {
		return nil, clientErr("resourceArn is not a valid ARN")
	}
	kind, name, ok := parseARN(arn)
	if !ok {
		return nil, clientErr("resourceArn %s is not a Batch ARN", arn)
	}
	switch method {
	case "GET":
		if err := s.authorize(id, "ListTagsForResource", name); err != nil {
			return nil, err
		}
		t, err := s.m.Tags(kind, name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"tags": t}, nil
	case "POST":
		var in struct {
			Tags map[string]string `json:"tags"`
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if len(in.Tags) == 0 {
			return nil, clientErr("tags must hold at least one tag")
		}
		if err := s.authorize(id, "TagResource", name); err != nil {
			return nil, err
		}
		return struct{}{}, s.m.Tag(ctx, kind, name, in.Tags, nil)
	case "DELETE":
		keys := q["tagKeys"]
		if len(keys) == 0 {
			return nil, clientErr("tagKeys is required")
		}
		sort.Strings(keys)
		if err := s.authorize(id, "UntagResource", name); err != nil {
			return nil, err
		}
		return struct{}{}, s.m.Tag(ctx, kind, name, nil, keys)
	}
	return nil, clientErr("%s /v1/tags: GET, POST or DELETE", method)
}
