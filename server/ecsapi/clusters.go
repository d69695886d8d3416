package ecsapi

import (
	"context"
	"errors"
	"net/netip"
	"sort"
	"strings"

	"github.com/wharf-dev/wharf/cluster/agent"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
)

// defaultCluster is the cluster ECS uses when a call names none; it
// always exists and holds every node.
const defaultCluster = "default"

type clusterOut struct {
	ClusterArn                        string      `json:"clusterArn"`
	ClusterName                       string      `json:"clusterName"`
	Status                            string      `json:"status"`
	RegisteredContainerInstancesCount int         `json:"registeredContainerInstancesCount"`
	RunningTasksCount                 int         `json:"runningTasksCount"`
	PendingTasksCount                 int         `json:"pendingTasksCount"`
	ActiveServicesCount               int         `json:"activeServicesCount"`
	Tags                              []state.Tag `json:"tags,omitempty"`
}

// clusterName reads a cluster name or ARN ("" is default).
func clusterName(ref string) string {
	if ref == "" {
		return defaultCluster
	}
	if i := strings.Index(ref, ":cluster/"); strings.HasPrefix(ref, "arn:") && i >= 0 {
		return ref[i+len(":cluster/"):]
	}
	return ref
}

func (s *Server) clusterOut(ctx context.Context, name string, tags []state.Tag) (clusterOut, error) {
	o := clusterOut{ClusterArn: s.arn("cluster", name), ClusterName: name, Status: "ACTIVE", Tags: tags}
	if name == defaultCluster {
		ns, err := s.nodes.List(ctx)
		if err != nil {
			return o, err
		}
		o.RegisteredContainerInstancesCount = len(ns)
	}
	if s.tasks != nil {
		ts, err := s.tasks.List(ctx, tasks.Filter{Cluster: name})
		if err != nil {
			return o, err
		}
		for _, t := range ts {
			switch {
			case t.LastStatus == "RUNNING":
				o.RunningTasksCount++
			case t.LastStatus != "STOPPED" && t.DesiredStatus == "RUNNING":
				o.PendingTasksCount++
			}
		}
		svcs, err := s.tasks.ListServices(ctx, name)
		if err != nil {
			return o, err
		}
		o.ActiveServicesCount = len(svcs)
	}
	return o, nil
}

// usage is what the tasks on a node take and how many run.
type usage struct {
	cpu, mem         int
	running, pending int
}

// nodeUsage sums the tasks not STOPPED per node.
func (s *Server) nodeUsage(ctx context.Context) (map[string]usage, error) {
	out := map[string]usage{}
	if s.tasks == nil {
		return out, nil
	}
	ts, err := s.tasks.List(ctx, tasks.Filter{})
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.LastStatus == "STOPPED" {
			continue
		}
		u := out[t.NodeID]
		u.cpu += int(t.CPU)
		u.mem += int(t.MemoryMiB)
		if t.LastStatus == "RUNNING" {
			u.running++
		} else {
			u.pending++
		}
		out[t.NodeID] = u
	}
	return out, nil
}

// exists reports whether cluster name exists.
func (s *Server) exists(ctx context.Context, name string) (state.Cluster, error) {
	if name == defaultCluster {
		return state.Cluster{Name: name}, nil
	}
	e, err := s.st.Clusters().Get(ctx, name)
	if errdefs.IsNotFound(err) {
		return state.Cluster{}, &apiError{typ: "ClusterNotFoundException", msg: "Cluster not found."}
	}
	return e.Value, err
}

func (s *Server) createCluster(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		ClusterName string      `json:"clusterName"`
		Tags        []state.Tag `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name := clusterName(in.ClusterName)
	if !nameRE.MatchString(name) {
		return nil, invalidParam("Cluster name can have up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.")
	}
	if err := s.authorize(id, "CreateCluster", name); err != nil {
		return nil, err
	}
	if name != defaultCluster {
		// ECS answers CreateCluster of an existing cluster with it.
		_, err := s.st.Clusters().Create(ctx, name, state.Cluster{Name: name, CreatedAt: s.now().UTC(), Tags: in.Tags})
		if err != nil && !errdefs.IsConflict(err) {
			return nil, err
		}
	}
	c, err := s.exists(ctx, name)
	if err != nil {
		return nil, err
	}
	o, err := s.clusterOut(ctx, name, c.Tags)
	return map[string]any{"cluster": o}, err
}

func (s *Server) deleteCluster(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster string `json:"cluster"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name := clusterName(in.Cluster)
	if err := s.authorize(id, "DeleteCluster", name); err != nil {
		return nil, err
	}
	if name == defaultCluster {
		return nil, &apiError{typ: "ClusterContainsContainerInstancesException", msg: "The Cluster cannot be deleted while Container Instances are active or draining."}
	}
	if _, err := s.exists(ctx, name); err != nil {
		return nil, err
	}
	if err := s.st.Clusters().Delete(ctx, name, 0); err != nil {
		return nil, err
	}
	o := clusterOut{ClusterArn: s.arn("cluster", name), ClusterName: name, Status: "INACTIVE"}
	return map[string]any{"cluster": o}, nil
}

type failure struct {
	Arn    string `json:"arn"`
	Reason string `json:"reason"`
}

func (s *Server) describeClusters(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Clusters []string `json:"clusters"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Clusters) == 0 {
		in.Clusters = []string{defaultCluster}
	}
	out := []clusterOut{}
	fails := []failure{}
	for _, ref := range in.Clusters {
		name := clusterName(ref)
		if err := s.authorize(id, "DescribeClusters", name); err != nil {
			return nil, err
		}
		c, err := s.exists(ctx, name)
		var ae *apiError
		if err != nil && errors.As(err, &ae) && ae.typ == "ClusterNotFoundException" {
			fails = append(fails, failure{Arn: s.arn("cluster", name), Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		o, err := s.clusterOut(ctx, name, c.Tags)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return map[string]any{"clusters": out, "failures": fails}, nil
}

func (s *Server) listClusters(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		MaxResults int    `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "ListClusters", ""); err != nil {
		return nil, err
	}
	all, err := s.st.Clusters().List(ctx)
	if err != nil {
		return nil, err
	}
	arns := []string{s.arn("cluster", defaultCluster)}
	for _, e := range all {
		arns = append(arns, s.arn("cluster", e.Key))
	}
	sort.Strings(arns)
	pg, next, err := page(arns, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"clusterArns": pg}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

// Container instances are the cluster's nodes; they belong to the
// default cluster.
type resource struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	IntegerValue int    `json:"integerValue"`
}

type attribute struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

type instanceOut struct {
	ContainerInstanceArn string      `json:"containerInstanceArn"`
	Ec2InstanceId        string      `json:"ec2InstanceId"`
	Status               string      `json:"status"`
	AgentConnected       bool        `json:"agentConnected"`
	RunningTasksCount    int         `json:"runningTasksCount"`
	PendingTasksCount    int         `json:"pendingTasksCount"`
	RegisteredResources  []resource  `json:"registeredResources"`
	RemainingResources   []resource  `json:"remainingResources"`
	Attributes           []attribute `json:"attributes"`
	RegisteredAt         *epoch      `json:"registeredAt,omitempty"`
	VersionInfo          struct {
		AgentVersion  string `json:"agentVersion"`
		DockerVersion string `json:"dockerVersion"`
	} `json:"versionInfo"`
}

func (s *Server) instance(n agent.NodeView, u usage) instanceOut {
	o := instanceOut{ContainerInstanceArn: s.arn("container-instance", defaultCluster+"/"+n.ID), Ec2InstanceId: n.Name,
		Status: n.Availability, AgentConnected: n.Status == state.StatusReady, RunningTasksCount: u.running, PendingTasksCount: u.pending}
	o.RegisteredResources = []resource{{Name: "CPU", Type: "INTEGER", IntegerValue: n.CPU}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: n.MemoryMiB}}
	o.RemainingResources = []resource{{Name: "CPU", Type: "INTEGER", IntegerValue: max(n.CPU-u.cpu, 0)},
		{Name: "MEMORY", Type: "INTEGER", IntegerValue: max(n.MemoryMiB-u.mem, 0)}}
	o.Attributes = []attribute{{Name: "ecs.os-type", Value: n.Attributes["os"]}, {Name: "ecs.cpu-architecture", Value: n.Attributes["arch"]}}
	if p, err := netip.ParsePrefix(n.TaskSubnet); err == nil {
		o.Attributes = append(o.Attributes, attribute{Name: tasks.AttrSubnetID, Value: state.SubnetID(p)})
	}
	keys := make([]string, 0, len(n.Labels))
	for k := range n.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o.Attributes = append(o.Attributes, attribute{Name: k, Value: n.Labels[k]})
	}
	t := n.RegisteredAt
	o.RegisteredAt = epochPtr(&t)
	o.VersionInfo.AgentVersion, o.VersionInfo.DockerVersion = n.EngineVersion, "wharf "+n.EngineVersion
	return o
}

func (s *Server) listContainerInstances(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster    string `json:"cluster"`
		Status     string `json:"status"`
		MaxResults int    `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name := clusterName(in.Cluster)
	if err := s.authorize(id, "ListContainerInstances", name); err != nil {
		return nil, err
	}
	if _, err := s.exists(ctx, name); err != nil {
		return nil, err
	}
	var arns []string
	if name == defaultCluster {
		ns, err := s.nodes.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			if in.Status != "" && !strings.EqualFold(in.Status, n.Availability) {
				continue
			}
			arns = append(arns, s.arn("container-instance", defaultCluster+"/"+n.ID))
		}
	}
	pg, next, err := page(arns, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"containerInstanceArns": pg}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (s *Server) describeContainerInstances(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Cluster            string   `json:"cluster"`
		ContainerInstances []string `json:"containerInstances"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name := clusterName(in.Cluster)
	if err := s.authorize(id, "DescribeContainerInstances", name); err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 {
		return nil, invalidParam("containerInstances can not be empty.")
	}
	if _, err := s.exists(ctx, name); err != nil {
		return nil, err
	}
	ns, err := s.nodes.List(ctx)
	if err != nil {
		return nil, err
	}
	use, err := s.nodeUsage(ctx)
	if err != nil {
		return nil, err
	}
	out := []instanceOut{}
	fails := []failure{}
	for _, ref := range in.ContainerInstances {
		idPart := ref
		if i := strings.LastIndex(ref, "/"); i >= 0 {
			idPart = ref[i+1:]
		}
		found := false
		for _, n := range ns {
			if name == defaultCluster && n.ID == idPart {
				out = append(out, s.instance(n, use[n.ID]))
				found = true
			}
		}
		if !found {
			fails = append(fails, failure{Arn: ref, Reason: "MISSING"})
		}
	}
	return map[string]any{"containerInstances": out, "failures": fails}, nil
}
