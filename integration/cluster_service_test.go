package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// taskCluster is a manager and two workers in their own namespaces, with
// the busybox image on each, and an ECS client on the manager.
type taskCluster struct {
	m       *testutil.Node
	workers []*testutil.Node
	ec      *ecs.Client
	// ids are the nodes' ids by name (m1, w1, w2).
	ids map[string]string
	net *testutil.Net
}

func (c *taskCluster) all() []*testutil.Node { return append([]*testutil.Node{c.m}, c.workers...) }

func (c *taskCluster) byID(id string) string {
	for name, x := range c.ids {
		if x == id {
			return name
		}
	}
	return id
}

func newTaskCluster(t *testing.T) *taskCluster {
	t.Helper()
	n := testutil.NewNet(t)
	c := &taskCluster{ids: map[string]string{}, net: n}
	c.m = n.AddNodeWith(t, func(a netip.Addr) []testutil.DaemonOption {
		return []testutil.DaemonOption{testutil.WithDaemonArgs("--cluster-init", "--cluster-listen", listen(a), "--node-name", "m1", "--node-label", "zone=a", "--http", httpAddr(a),
			"--cluster-task-cidr", awsvpcCIDR)}
	})
	token := strings.TrimSpace(c.m.MustWharf(t, "cluster", "token", "-q"))
	for i, zone := range []string{"b", "c"} {
		c.workers = append(c.workers, n.AddNode(t, testutil.WithDaemonArgs("--join", listen(c.m.Addr), "--cluster-token", token,
			"--node-name", fmt.Sprintf("w%d", i+1), "--node-label", "zone="+zone)))
	}
	for _, d := range c.all() {
		d.ImportBusybox(t, busybox)
	}
	ns := waitNodes(t, c.m, 60*time.Second, "three READY nodes", func(ns []wharf.ClusterNode) bool {
		return len(ns) == 3 && count(ns, func(x wharf.ClusterNode) bool { return x.Status == "READY" }) == 3
	})
	for _, x := range ns {
		c.ids[x.Name] = x.ID
	}
	c.ec = ecsClient(t, c.m)
	return c
}

// sleeperDef is a task definition whose container sleeps; env marks the
// revision.
func sleeperDef(family, env string, command ...string) *ecs.RegisterTaskDefinitionInput {
	if len(command) == 0 {
		command = []string{"sleep", "3600"}
	}
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []ecstypes.ContainerDefinition{{
		Name: aws.String("main"), Image: aws.String(busybox), Memory: aws.Int32(32), Cpu: 128, StopTimeout: aws.Int32(1),
		Command:     command,
		Environment: []ecstypes.KeyValuePair{{Name: aws.String("REV"), Value: aws.String(env)}},
	}}}
}

func shortID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// retry calls an API until it answers, for polls on a loaded machine
// where a call may fail on its own (a connection closed under it).
func retry[T any](t *testing.T, what string, f func() (T, error)) T {
	t.Helper()
	var err error
	for i := 0; i < 5; i++ {
		var v T
		if v, err = f(); err == nil {
			return v
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
	var zero T
	return zero
}

// describe returns the tasks by ARN.
func (c *taskCluster) describe(t *testing.T, ctx context.Context, arns []string) []ecstypes.Task {
	t.Helper()
	var out []ecstypes.Task
	for i := 0; i < len(arns); i += 100 {
		d := retry(t, "describe tasks", func() (*ecs.DescribeTasksOutput, error) {
			return c.ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: arns[i:min(i+100, len(arns))]})
		})
		out = append(out, d.Tasks...)
	}
	return out
}

// serviceTasks lists a service's tasks desired RUNNING.
func (c *taskCluster) serviceTasks(t *testing.T, ctx context.Context, svc string) []ecstypes.Task {
	t.Helper()
	l := retry(t, "list tasks", func() (*ecs.ListTasksOutput, error) {
		return c.ec.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String(svc)})
	})
	if len(l.TaskArns) == 0 {
		return nil
	}
	return c.describe(t, ctx, l.TaskArns)
}

func (c *taskCluster) service(t *testing.T, ctx context.Context, name string) ecstypes.Service {
	t.Helper()
	d := retry(t, "describe services", func() (*ecs.DescribeServicesOutput, error) {
		return c.ec.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{name}})
	})
	if len(d.Services) != 1 {
		t.Fatalf("describe services: %+v", d)
	}
	return d.Services[0]
}

func until(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		ok, s := cond()
		if ok {
			t.Logf("%s: %v", what, time.Since(start).Round(10*time.Millisecond))
			return time.Since(start)
		}
		last = s
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v: %s", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// taskContainers lists the names of the running engine containers of
// ECS tasks on a node that start with prefix.
func taskContainers(t *testing.T, d *testutil.Node, prefix string) []string {
	t.Helper()
	out := d.MustWharf(t, "ps", "--format", "{{.Names}}")
	var names []string
	for _, l := range strings.Fields(out) {
		if strings.HasPrefix(l, prefix) {
			names = append(names, l)
		}
	}
	return names
}

func perNode(c *taskCluster, ts []ecstypes.Task, filter func(ecstypes.Task) bool) map[string]int {
	out := map[string]int{}
	for _, x := range ts {
		if filter == nil || filter(x) {
			out[c.byID(shortID(aws.ToString(x.ContainerInstanceArn)))]++
		}
	}
	return out
}

// Tasks and services on one manager and two workers, each in its own
// network namespace, driven by the aws SDK's ecs client and the aws CLI.
// The two parts share the cluster (starting it is most of a part's
// time); the services part does not depend on what the tasks part left.
func TestClusterTasksAndServices(t *testing.T) {
	c := newTaskCluster(t)
	t.Run("RunTask", func(t *testing.T) { testRunTask(t, c) })
	t.Run("Service", func(t *testing.T) { testService(t, c) })
}

// Standalone tasks: RunTask with spread lands one task on each node and
// binpack all on one, each running as an engine container named and
// labelled after its task; overrides reach the container; what no node
// can take is a failure with ECS's reason; StopTask stops it and
// DescribeTasks reports the exit; a Fargate task runs.
func testRunTask(t *testing.T, c *taskCluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := c.ec.RegisterTaskDefinition(ctx, sleeperDef("sleeper", "1")); err != nil {
		t.Fatal(err)
	}
	run := func(strategy ecstypes.PlacementStrategy, n int32) []ecstypes.Task {
		t.Helper()
		r, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("sleeper"), Count: aws.Int32(n),
			PlacementStrategy: []ecstypes.PlacementStrategy{strategy}, StartedBy: aws.String("test"),
			Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("main"),
				Environment: []ecstypes.KeyValuePair{{Name: aws.String("EXTRA"), Value: aws.String("yes")}}}}}})
		if err != nil || len(r.Tasks) != int(n) || len(r.Failures) != 0 {
			t.Fatalf("run task: %+v %v", r, err)
		}
		return r.Tasks
	}
	waitRunning := func(ts []ecstypes.Task) []ecstypes.Task {
		t.Helper()
		var arns []string
		for _, x := range ts {
			arns = append(arns, aws.ToString(x.TaskArn))
		}
		var got []ecstypes.Task
		until(t, 60*time.Second, "tasks RUNNING", func() (bool, string) {
			got = c.describe(t, ctx, arns)
			for _, x := range got {
				if aws.ToString(x.LastStatus) != "RUNNING" {
					return false, fmt.Sprintf("%s is %s (%s)", aws.ToString(x.TaskArn), aws.ToString(x.LastStatus), aws.ToString(x.StoppedReason))
				}
			}
			return true, ""
		})
		return got
	}
	spread := waitRunning(run(ecstypes.PlacementStrategy{Type: ecstypes.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}, 3))
	if p := perNode(c, spread, nil); p["m1"] != 1 || p["w1"] != 1 || p["w2"] != 1 {
		t.Fatalf("spread: %v", p)
	}
	for _, d := range c.all() {
		if names := taskContainers(t, d, "ecs-"); len(names) != 1 || !strings.HasPrefix(names[0], "ecs-sleeper-1-main-") {
			t.Fatalf("containers on %s: %v", d.Netns, names)
		}
	}
	x := spread[0]
	ctr := x.Containers[0]
	if aws.ToString(x.Group) != "family:sleeper" || aws.ToString(x.StartedBy) != "test" || aws.ToString(ctr.LastStatus) != "RUNNING" ||
		aws.ToString(ctr.RuntimeId) == "" || x.StartedAt == nil || x.LaunchType != ecstypes.LaunchTypeEc2 {
		t.Fatalf("a running task: %+v", x)
	}
	node := map[string]*testutil.Node{"m1": c.m, "w1": c.workers[0], "w2": c.workers[1]}[c.byID(shortID(aws.ToString(x.ContainerInstanceArn)))]
	var inspect []struct {
		Config struct {
			Env    []string
			Labels map[string]string
		}
	}
	if err := json.Unmarshal([]byte(node.MustWharf(t, "inspect", aws.ToString(ctr.RuntimeId))), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	env := strings.Join(inspect[0].Config.Env, ",")
	if !strings.Contains(env, "REV=1") || !strings.Contains(env, "EXTRA=yes") || inspect[0].Config.Labels["com.amazonaws.ecs.task-arn"] != aws.ToString(x.TaskArn) {
		t.Fatalf("the task's container: %+v", inspect[0].Config)
	}

	// Stop the spread tasks; they report STOPPED with their exit codes.
	for _, x := range spread {
		if _, err := c.ec.StopTask(ctx, &ecs.StopTaskInput{Task: x.TaskArn, Reason: aws.String("test done")}); err != nil {
			t.Fatal(err)
		}
	}
	until(t, 60*time.Second, "spread tasks STOPPED", func() (bool, string) {
		for _, x := range c.describe(t, ctx, []string{aws.ToString(spread[0].TaskArn), aws.ToString(spread[1].TaskArn), aws.ToString(spread[2].TaskArn)}) {
			if aws.ToString(x.LastStatus) != "STOPPED" || x.Containers[0].ExitCode == nil || x.StopCode != ecstypes.TaskStopCodeUserInitiated ||
				aws.ToString(x.StoppedReason) != "test done" {
				return false, fmt.Sprintf("%+v", x)
			}
		}
		return true, ""
	})
	for _, d := range c.all() {
		if names := taskContainers(t, d, "ecs-"); len(names) != 0 {
			t.Fatalf("containers left on %s: %v", d.Netns, names)
		}
	}
	l, err := c.ec.ListTasks(ctx, &ecs.ListTasksInput{DesiredStatus: ecstypes.DesiredStatusStopped, Family: aws.String("sleeper")})
	if err != nil || len(l.TaskArns) != 3 {
		t.Fatalf("list stopped: %+v %v", l, err)
	}

	// Binpack on memory: all on one node.
	packed := waitRunning(run(ecstypes.PlacementStrategy{Type: ecstypes.PlacementStrategyTypeBinpack, Field: aws.String("memory")}, 3))
	if p := perNode(c, packed, nil); len(p) != 1 {
		t.Fatalf("binpack: %v", p)
	}
	li, err := c.ec.ListTasks(ctx, &ecs.ListTasksInput{ContainerInstance: packed[0].ContainerInstanceArn, MaxResults: aws.Int32(2)})
	if err != nil || len(li.TaskArns) != 2 || li.NextToken == nil {
		t.Fatalf("list by instance, page 1: %+v %v", li, err)
	}
	li2, err := c.ec.ListTasks(ctx, &ecs.ListTasksInput{ContainerInstance: packed[0].ContainerInstanceArn, NextToken: li.NextToken})
	if err != nil || len(li2.TaskArns) != 1 {
		t.Fatalf("list by instance, page 2: %+v %v", li2, err)
	}

	// More memory than any node has: RESOURCE:MEMORY, no task.
	big := sleeperDef("big", "1")
	big.ContainerDefinitions[0].Memory = aws.Int32(1 << 24)
	if _, err := c.ec.RegisterTaskDefinition(ctx, big); err != nil {
		t.Fatal(err)
	}
	r, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("big")})
	if err != nil || len(r.Tasks) != 0 || len(r.Failures) != 1 || aws.ToString(r.Failures[0].Reason) != "RESOURCE:MEMORY" {
		t.Fatalf("a task no node can take: %+v %v", r, err)
	}
	var ipe *ecstypes.InvalidParameterException
	if _, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("sleeper"), LaunchType: ecstypes.LaunchTypeFargate}); !errors.As(err, &ipe) {
		t.Fatalf("FARGATE with a bridge task definition: %v", err)
	}
	var cnf *ecstypes.ClusterNotFoundException
	if _, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("sleeper"), Cluster: aws.String("nope")}); !errors.As(err, &cnf) {
		t.Fatalf("RunTask on a missing cluster: %v", err)
	}

	// Fargate: awsvpc, a size from the table and a network
	// configuration, as ECS requires them.
	fg := sleeperDef("fg", "1")
	fg.RequiresCompatibilities = []ecstypes.Compatibility{ecstypes.CompatibilityFargate}
	fg.NetworkMode = ecstypes.NetworkModeAwsvpc
	fg.Cpu, fg.Memory = aws.String("256"), aws.String("512")
	fg.ContainerDefinitions[0].HealthCheck = &ecstypes.HealthCheck{Command: []string{"CMD-SHELL", "test -d /proc/1"}, Interval: aws.Int32(5), Retries: aws.Int32(2)}
	if _, err := c.ec.RegisterTaskDefinition(ctx, fg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("fg"), LaunchType: ecstypes.LaunchTypeFargate}); !errors.As(err, &ipe) {
		t.Fatalf("FARGATE without a network configuration: %v, want InvalidParameterException", err)
	}
	fr, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("fg"), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: awsvpcConf(slices.Sorted(maps.Values(c.subnetIDs(t, ctx)))...)})
	if err != nil || len(fr.Tasks) != 1 {
		t.Fatalf("a Fargate task: %+v %v", fr, err)
	}
	got := waitRunning(fr.Tasks)
	if got[0].LaunchType != ecstypes.LaunchTypeFargate || aws.ToString(got[0].Cpu) != "256" || aws.ToString(got[0].Memory) != "512" {
		t.Fatalf("the Fargate task: %+v", got[0])
	}
	// Its container's healthCheck is the engine's healthcheck: HEALTHY.
	until(t, 30*time.Second, "the Fargate task HEALTHY", func() (bool, string) {
		x := c.describe(t, ctx, []string{aws.ToString(got[0].TaskArn)})[0]
		return x.HealthStatus == ecstypes.HealthStatusHealthy && x.Containers[0].HealthStatus == ecstypes.HealthStatusHealthy, string(x.HealthStatus)
	})

	// The aws CLI, unmodified.
	if _, err := exec.LookPath("aws"); err != nil {
		t.Log("no aws CLI: its part is skipped")
		return
	}
	var k struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(c.m.MustWharf(t, "keys", "create", "--json", "--admin")), &k); err != nil {
		t.Fatal(err)
	}
	awsCLI := func(out any, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", "http://" + httpAddr(c.m.Addr), "--region", "us-east-1", "--output", "json", "ecs"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+k.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+k.SecretAccessKey, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		b, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("aws ecs %v: %v: %s", args, err, ee.Stderr)
			}
			t.Fatalf("aws ecs %v: %v", args, err)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("aws ecs %v: %v: %s", args, err, b)
			}
		}
	}
	var rt struct {
		Tasks []struct{ TaskArn, LastStatus string }
	}
	awsCLI(&rt, "run-task", "--task-definition", "sleeper:1", "--count", "2", "--placement-strategy", "type=spread,field=attribute:zone", "--started-by", "cli")
	if len(rt.Tasks) != 2 || rt.Tasks[0].LastStatus != "PROVISIONING" {
		t.Fatalf("aws ecs run-task: %+v", rt)
	}
	var lt struct{ TaskArns []string }
	awsCLI(&lt, "list-tasks", "--started-by", "cli")
	if len(lt.TaskArns) != 2 {
		t.Fatalf("aws ecs list-tasks: %+v", lt)
	}
	awsCLI(nil, "describe-tasks", "--tasks", lt.TaskArns[0], lt.TaskArns[1])
	awsCLI(nil, "stop-task", "--task", lt.TaskArns[0], "--reason", "cli")
	var svc struct {
		Service struct{ ServiceName, Status string }
	}
	awsCLI(&svc, "create-service", "--service-name", "cli", "--task-definition", "sleeper", "--desired-count", "1",
		"--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=50,deploymentCircuitBreaker={enable=true,rollback=true}")
	if svc.Service.ServiceName != "cli" || svc.Service.Status != "ACTIVE" {
		t.Fatalf("aws ecs create-service: %+v", svc)
	}
	awsCLI(nil, "update-service", "--service", "cli", "--desired-count", "2", "--force-new-deployment")
	var ds struct {
		Services []struct {
			DesiredCount int
			Deployments  []struct{ Status string }
		}
	}
	awsCLI(&ds, "describe-services", "--services", "cli")
	if len(ds.Services) != 1 || ds.Services[0].DesiredCount != 2 || len(ds.Services[0].Deployments) != 2 {
		t.Fatalf("aws ecs describe-services: %+v", ds)
	}
	awsCLI(nil, "list-services")
	awsCLI(nil, "delete-service", "--service", "cli", "--force")
	stopAll(t, ctx, c)
}

// stopAll stops the cluster's standalone tasks.
func stopAll(t *testing.T, ctx context.Context, c *taskCluster) {
	t.Helper()
	l, err := c.ec.ListTasks(ctx, &ecs.ListTasksInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range l.TaskArns {
		x := c.describe(t, ctx, []string{arn})[0]
		if strings.HasPrefix(aws.ToString(x.Group), "service:") {
			continue
		}
		if _, err := c.ec.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}
}

// A service of 6 through the aws SDK: it spreads over the three nodes
// and completes; a rolling update never has fewer than
// minimumHealthyPercent running; an update to a revision whose container
// exits at once trips the circuit breaker and rolls back; a worker
// killed -9 has its tasks replaced on the others (the time is logged)
// while a standalone task on it keeps running through the daemon's
// restart, re-adopted, and the replaced tasks' containers are removed
// there; a partitioned worker's replaced tasks are stopped there when it
// comes back; drain moves tasks away; `wharf service ls/ps` show it all.
func testService(t *testing.T, c *taskCluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, env := range []string{"1", "2"} {
		if _, err := c.ec.RegisterTaskDefinition(ctx, sleeperDef("web", env)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ec.RegisterTaskDefinition(ctx, sleeperDef("web", "crash", "sh", "-c", "exit 3")); err != nil {
		t.Fatal(err)
	}
	cs, err := c.ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(6),
		PlacementStrategy: []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeSpread, Field: aws.String("attribute:zone")}},
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(50), MaximumPercent: aws.Int32(150),
			DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true}}})
	if err != nil || aws.ToString(cs.Service.Status) != "ACTIVE" || len(cs.Service.Deployments) != 1 {
		t.Fatalf("create service: %+v %v", cs, err)
	}
	var ipe *ecstypes.InvalidParameterException
	if _, err := c.ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(1)}); !errors.As(err, &ipe) {
		t.Fatalf("a second service web: %v", err)
	}
	var snf *ecstypes.ServiceNotFoundException
	if _, err := c.ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("nope"), DesiredCount: aws.Int32(1)}); !errors.As(err, &snf) {
		t.Fatalf("update of a missing service: %v", err)
	}
	steady := func(rev string, timeout time.Duration) {
		t.Helper()
		until(t, timeout, "the service steady on "+rev, func() (bool, string) {
			s := c.service(t, ctx, "web")
			ok := s.RunningCount == 6 && s.PendingCount == 0 && len(s.Deployments) == 1 && s.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted &&
				strings.HasSuffix(aws.ToString(s.Deployments[0].TaskDefinition), "web:"+rev)
			return ok, fmt.Sprintf("running %d pending %d deployments %d", s.RunningCount, s.PendingCount, len(s.Deployments))
		})
	}
	steady("1", 90*time.Second)
	if p := perNode(c, c.serviceTasks(t, ctx, "web"), nil); p["m1"] != 2 || p["w1"] != 2 || p["w2"] != 2 {
		// The service's events say what moved tasks (a node lost under
		// load, a surplus stopped).
		var ev []string
		for _, e := range c.service(t, ctx, "web").Events {
			ev = append(ev, aws.ToTime(e.CreatedAt).Format("15:04:05.000")+" "+aws.ToString(e.Message))
		}
		t.Fatalf("spread over zones: %v; service events:\n%s", p, strings.Join(ev, "\n"))
	}
	ls, err := c.ec.ListServices(ctx, &ecs.ListServicesInput{})
	if err != nil || len(ls.ServiceArns) != 1 || !strings.HasSuffix(ls.ServiceArns[0], ":service/default/web") {
		t.Fatalf("list services: %+v %v", ls, err)
	}

	// A rolling update: never fewer than 3 (50 % of 6) running.
	if _, err := c.ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), TaskDefinition: aws.String("web:2")}); err != nil {
		t.Fatal(err)
	}
	low := 6
	until(t, 90*time.Second, "the rolling update", func() (bool, string) {
		s := c.service(t, ctx, "web")
		low = min(low, int(s.RunningCount))
		ok := s.RunningCount == 6 && len(s.Deployments) == 1 && strings.HasSuffix(aws.ToString(s.Deployments[0].TaskDefinition), "web:2") &&
			s.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
		return ok, fmt.Sprintf("running %d, %d deployments", s.RunningCount, len(s.Deployments))
	})
	t.Logf("rolling update: at least %d of 6 running throughout", low)
	if low < 3 {
		t.Fatalf("the rolling update went down to %d running, below minimumHealthyPercent", low)
	}

	// A crashing revision: the circuit breaker fails it and rolls back
	// to web:2.
	if _, err := c.ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), TaskDefinition: aws.String("web:3")}); err != nil {
		t.Fatal(err)
	}
	until(t, 90*time.Second, "the rollback", func() (bool, string) {
		s := c.service(t, ctx, "web")
		failed, rolled := false, false
		for _, e := range s.Events {
			failed = failed || strings.Contains(aws.ToString(e.Message), "deployment failed")
			rolled = rolled || strings.Contains(aws.ToString(e.Message), "rolling back")
		}
		p := s.Deployments[0]
		return failed && rolled && s.RunningCount == 6 && strings.HasSuffix(aws.ToString(p.TaskDefinition), "web:2") &&
				strings.HasSuffix(aws.ToString(s.TaskDefinition), "web:2"),
			fmt.Sprintf("failed %v rolled %v running %d primary %s", failed, rolled, s.RunningCount, aws.ToString(p.TaskDefinition))
	})
	steady("2", 60*time.Second)

	// Kill -9 a worker that runs 2 of the service's tasks and a
	// standalone one.
	w2 := c.workers[1]
	r, err := c.ec.StartTask(ctx, &ecs.StartTaskInput{TaskDefinition: aws.String("web:1"), ContainerInstances: []string{c.ids["w2"]}})
	if err != nil || len(r.Tasks) != 1 {
		t.Fatalf("start task on w2: %+v %v", r, err)
	}
	solo := aws.ToString(r.Tasks[0].TaskArn)
	var soloRuntime string
	until(t, 30*time.Second, "the standalone task RUNNING", func() (bool, string) {
		x := c.describe(t, ctx, []string{solo})[0]
		if len(x.Containers) != 1 {
			t.Fatalf("the standalone task's containers: %+v", x)
		}
		soloRuntime = aws.ToString(x.Containers[0].RuntimeId)
		return aws.ToString(x.LastStatus) == "RUNNING", aws.ToString(x.LastStatus)
	})
	w2.Kill9()
	killed := time.Now()
	placed := until(t, 40*time.Second, "w2's tasks replaced (placed on the other nodes)", func() (bool, string) {
		p := perNode(c, c.serviceTasks(t, ctx, "web"), nil)
		return p["w2"] == 0 && p["m1"]+p["w1"] == 6, fmt.Sprint(p)
	})
	until(t, 40*time.Second, "w2's tasks replaced and RUNNING", func() (bool, string) {
		p := perNode(c, c.serviceTasks(t, ctx, "web"), func(x ecstypes.Task) bool { return aws.ToString(x.LastStatus) == "RUNNING" })
		return p["w2"] == 0 && p["m1"]+p["w1"] == 6, fmt.Sprint(p)
	})
	upAfter := time.Since(killed)
	t.Logf("w2 killed -9: its tasks replaced on the other nodes %v after the kill, RUNNING there after %v",
		placed.Round(10*time.Millisecond), upAfter.Round(10*time.Millisecond))
	// The cluster promises 10 s (a node is lost after 5 s without a
	// heartbeat, its tasks are placed at the next pass); the bound here
	// leaves room for a loaded machine, bench/clusterbench measures it.
	if placed > 15*time.Second {
		t.Errorf("the replacement took %v, well over the 10 s the cluster promises", placed)
	}
	w2.Restart(t)
	until(t, 60*time.Second, "w2 back, its replaced tasks' containers gone, the standalone one re-adopted", func() (bool, string) {
		names := taskContainers(t, w2, "ecs-web-")
		x := c.describe(t, ctx, []string{solo})[0]
		return len(names) == 1 && strings.HasPrefix(names[0], "ecs-web-1-main-") && aws.ToString(x.LastStatus) == "RUNNING" &&
			aws.ToString(x.Containers[0].RuntimeId) == soloRuntime, fmt.Sprintf("containers %v, solo %s", names, aws.ToString(x.LastStatus))
	})

	// Partition w1: its tasks are replaced; when it comes back, their
	// containers there are stopped, and nothing runs twice.
	w1 := c.workers[0]
	w1.Partition(t)
	until(t, 40*time.Second, "w1's tasks replaced while it is away", func() (bool, string) {
		p := perNode(c, c.serviceTasks(t, ctx, "web"), func(x ecstypes.Task) bool { return aws.ToString(x.LastStatus) == "RUNNING" })
		return p["w1"] == 0 && p["m1"]+p["w2"] == 6, fmt.Sprint(p)
	})
	if n := len(taskContainers(t, w1, "ecs-web-")); n == 0 {
		t.Fatal("the partitioned node's containers stopped while it was away")
	}
	w1.Heal(t)
	until(t, 60*time.Second, "w1's replaced containers stopped after the partition", func() (bool, string) {
		names := taskContainers(t, w1, "ecs-web-")
		return len(names) == 0, fmt.Sprint(names)
	})
	steady("2", 60*time.Second)

	// Drain m1: its tasks move to the workers.
	c.m.MustWharf(t, "node", "drain", "m1")
	until(t, 90*time.Second, "m1 drained", func() (bool, string) {
		p := perNode(c, c.serviceTasks(t, ctx, "web"), func(x ecstypes.Task) bool { return aws.ToString(x.LastStatus) == "RUNNING" })
		return p["m1"] == 0 && p["w1"]+p["w2"] == 6, fmt.Sprint(p)
	})

	// The CLI.
	out := c.workers[0].MustWharf(t, "service", "ls")
	if !strings.Contains(out, "web") || !strings.Contains(out, "6/6") || !strings.Contains(out, "web:2") {
		t.Fatalf("service ls:\n%s", out)
	}
	var ps []wharf.ClusterTask
	if err := json.Unmarshal([]byte(c.m.MustWharf(t, "service", "ps", "web", "--format", "json")), &ps); err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, x := range ps {
		if x.LastStatus == "RUNNING" && x.DesiredStatus == "RUNNING" {
			running++
			if x.Node != "w1" && x.Node != "w2" {
				t.Fatalf("service ps: a task on %q after the drain: %+v", x.Node, x)
			}
		}
	}
	if running != 6 {
		t.Fatalf("service ps: %d running: %+v", running, ps)
	}
	table := c.m.MustWharf(t, "service", "ps", "web")
	for _, want := range []string{"NODE", "CURRENT STATE", "RUNNING", "w1"} {
		if !strings.Contains(table, want) {
			t.Fatalf("service ps lacks %q:\n%s", want, table)
		}
	}

	// Delete: refused while scaled up, then forced.
	if _, err := c.ec.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String("web")}); !errors.As(err, &ipe) {
		t.Fatalf("delete of a scaled service: %v", err)
	}
	if _, err := c.ec.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String("web"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	until(t, 60*time.Second, "the service INACTIVE, its tasks stopped", func() (bool, string) {
		s := c.service(t, ctx, "web")
		return aws.ToString(s.Status) == "INACTIVE" && len(c.serviceTasks(t, ctx, "web")) == 0, aws.ToString(s.Status)
	})
	var sna *ecstypes.ServiceNotActiveException
	if _, err := c.ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(1)}); !errors.As(err, &sna) {
		t.Fatalf("update of a deleted service: %v", err)
	}
}
