package ecsapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/cluster/agent"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

// The task and service calls through the aws SDK's ecs client against
// the handler over the real state (embedded NATS) and runtime, with no
// agent: the shapes the SDK decodes, the errors it types, placement
// failures, paging and the filters of ListTasks.
func TestTasksAndServicesSDK(t *testing.T) {
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range []string{"n1", "n2"} {
		if _, err := st.Nodes().Create(ctx, id, state.Node{ID: id, Name: id, CPU: 1024, MemoryMiB: 1024, Availability: state.AvailabilityActive}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Heartbeats().Put(ctx, id, state.Heartbeat{}); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := identity.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Create(identity.AdminStatement)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(st, agent.NewNodes(st), keys, WithTasks(tasks.New(st))))
	defer srv.Close()
	ec := ecs.New(ecs.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})

	if _, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), ContainerDefinitions: []ecstypes.ContainerDefinition{{
		Name: aws.String("web"), Image: aws.String("busybox"), Memory: aws.Int32(64), Cpu: 256,
		PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080)}}}}}); err != nil {
		t.Fatal(err)
	}
	// A fixed host port: one task per node, the third is refused with
	// RESOURCE:PORTS and recorded nowhere.
	r, err := ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("web"), Count: aws.Int32(3), StartedBy: aws.String("me"),
		Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("web"), Command: []string{"httpd", "-f"}}}}})
	if err != nil || len(r.Tasks) != 2 || len(r.Failures) != 1 || aws.ToString(r.Failures[0].Reason) != "RESOURCE:PORTS" {
		t.Fatalf("run 3 with a fixed host port on 2 nodes: %+v %v", r, err)
	}
	t0 := r.Tasks[0]
	if aws.ToString(t0.LastStatus) != "PROVISIONING" || aws.ToString(t0.DesiredStatus) != "RUNNING" || len(t0.Containers) != 1 ||
		aws.ToString(t0.Containers[0].LastStatus) != "PENDING" || aws.ToString(t0.Group) != "family:web" || t0.LaunchType != ecstypes.LaunchTypeEc2 ||
		aws.ToString(t0.TaskDefinitionArn) != "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1" || t0.CreatedAt == nil ||
		len(t0.Overrides.ContainerOverrides) != 1 || t0.Overrides.ContainerOverrides[0].Command[0] != "httpd" {
		t.Fatalf("a new task: %+v", t0)
	}
	var ipe *ecstypes.InvalidParameterException
	if _, err := ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("web"), Count: aws.Int32(11)}); !errors.As(err, &ipe) {
		t.Fatalf("count 11: %v", err)
	}
	if _, err := ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("web"), PlacementStrategy: []ecstypes.PlacementStrategy{{Type: "bogus"}}}); !errors.As(err, &ipe) {
		t.Fatalf("a bogus strategy: %v", err)
	}
	var ce *ecstypes.ClientException
	if _, err := ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("nope")}); !errors.As(err, &ce) {
		t.Fatalf("a missing task definition: %v", err)
	}
	d, err := ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{aws.ToString(t0.TaskArn), "0123456789abcdef0123456789abcdef"}})
	if err != nil || len(d.Tasks) != 1 || len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe: %+v %v", d, err)
	}
	st1, err := ec.StopTask(ctx, &ecs.StopTaskInput{Task: t0.TaskArn, Reason: aws.String("bye")})
	if err != nil || aws.ToString(st1.Task.DesiredStatus) != "STOPPED" || st1.Task.StopCode != ecstypes.TaskStopCodeUserInitiated || st1.Task.StoppingAt == nil {
		t.Fatalf("stop: %+v %v", st1, err)
	}
	if _, err := ec.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String("*")}); !errors.As(err, &ipe) {
		t.Fatalf("stop of a pattern: %v", err)
	}
	l, err := ec.ListTasks(ctx, &ecs.ListTasksInput{})
	if err != nil || len(l.TaskArns) != 1 {
		t.Fatalf("list (desired RUNNING): %+v %v", l, err)
	}
	l, err = ec.ListTasks(ctx, &ecs.ListTasksInput{DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil || len(l.TaskArns) != 1 || l.TaskArns[0] != aws.ToString(t0.TaskArn) {
		t.Fatalf("list STOPPED: %+v %v", l, err)
	}
	l, err = ec.ListTasks(ctx, &ecs.ListTasksInput{StartedBy: aws.String("someone else")})
	if err != nil || len(l.TaskArns) != 0 {
		t.Fatalf("list by startedBy: %+v %v", l, err)
	}

	// Services.
	cs, err := ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("api"), TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(2),
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(50), MaximumPercent: aws.Int32(200),
			DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true}}})
	if err != nil {
		t.Fatal(err)
	}
	s := cs.Service
	if aws.ToString(s.ServiceArn) != "arn:aws:ecs:us-east-1:000000000000:service/default/api" || aws.ToString(s.Status) != "ACTIVE" || s.DesiredCount != 2 ||
		len(s.Deployments) != 1 || aws.ToString(s.Deployments[0].Status) != "PRIMARY" || s.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateInProgress ||
		!s.DeploymentConfiguration.DeploymentCircuitBreaker.Rollback || aws.ToInt32(s.DeploymentConfiguration.MinimumHealthyPercent) != 50 ||
		s.SchedulingStrategy != ecstypes.SchedulingStrategyReplica {
		t.Fatalf("create service: %+v", s)
	}
	if _, err := ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("bad"), TaskDefinition: aws.String("web:1"),
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{MaximumPercent: aws.Int32(50)}}); !errors.As(err, &ipe) {
		t.Fatalf("maximumPercent 50: %v", err)
	}
	u, err := ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("api"), ForceNewDeployment: true, DesiredCount: aws.Int32(3)})
	if err != nil || len(u.Service.Deployments) != 2 || aws.ToString(u.Service.Deployments[0].Status) != "PRIMARY" || u.Service.Deployments[0].DesiredCount != 3 ||
		aws.ToString(u.Service.Deployments[1].Status) != "ACTIVE" {
		t.Fatalf("update service: %+v %v", u, err)
	}
	var snf *ecstypes.ServiceNotFoundException
	if _, err := ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("ghost")}); !errors.As(err, &snf) {
		t.Fatalf("update of a missing service: %v", err)
	}
	ds, err := ec.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{"api", "ghost"}})
	if err != nil || len(ds.Services) != 1 || len(ds.Failures) != 1 {
		t.Fatalf("describe services: %+v %v", ds, err)
	}
	ls, err := ec.ListServices(ctx, &ecs.ListServicesInput{})
	if err != nil || len(ls.ServiceArns) != 1 {
		t.Fatalf("list services: %+v %v", ls, err)
	}
	if _, err := ec.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String("api")}); !errors.As(err, &ipe) {
		t.Fatalf("delete of a scaled service: %v", err)
	}
	del, err := ec.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String("api"), Force: aws.Bool(true)})
	if err != nil || aws.ToString(del.Service.Status) != "DRAINING" || del.Service.DesiredCount != 0 {
		t.Fatalf("forced delete: %+v %v", del, err)
	}
	var sna *ecstypes.ServiceNotActiveException
	if _, err := ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("api"), DesiredCount: aws.Int32(1)}); !errors.As(err, &sna) {
		t.Fatalf("update of a draining service: %v", err)
	}
	var cnf *ecstypes.ClusterNotFoundException
	if _, err := ec.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("nope")}); !errors.As(err, &cnf) {
		t.Fatalf("list tasks of a missing cluster: %v", err)
	}
	cl, err := ec.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	if err != nil || cl.Clusters[0].PendingTasksCount != 1 {
		t.Fatalf("cluster counts: %+v %v", cl, err)
	}
}
