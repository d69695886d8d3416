package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// batchClient is a Batch client of node at's --http signed with a new key
// created on node keys (a cluster's key: every node verifies it), once
// the cluster's Batch answers (the leader's manager loads the tables once
// the cluster's JetStream answers; until then calls are 503s).
func batchClient(t *testing.T, ctx context.Context, at, keys *testutil.Node) *batch.Client {
	t.Helper()
	return batchClientWith(t, ctx, at, newKey(t, keys))
}

type accessKey struct{ AccessKeyId, SecretAccessKey string }

// newKey creates an admin key on node keys.
func newKey(t *testing.T, keys *testutil.Node) accessKey {
	t.Helper()
	var k accessKey
	if err := json.Unmarshal([]byte(keys.MustWharf(t, "keys", "create", "--json", "--admin")), &k); err != nil {
		t.Fatal(err)
	}
	return k
}

// batchClientWith is a Batch client of node at's --http signed with k.
func batchClientWith(t *testing.T, ctx context.Context, at *testutil.Node, k accessKey) *batch.Client {
	t.Helper()
	bc := batch.New(batch.Options{BaseEndpoint: aws.String("http://" + httpAddr(at.Addr)), Region: "us-east-1", Retryer: aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyId, k.SecretAccessKey, "")})
	until(t, 60*time.Second, "the cluster's Batch answers", func() (bool, string) {
		_, err := bc.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{})
		return err == nil, fmt.Sprint(err)
	})
	return bc
}

// batchSetup creates the compute environment ce (16 vCPUs), the queue q
// and a definition of 1 vCPU and 32 MiB per script.
func batchSetup(t *testing.T, ctx context.Context, bc *batch.Client, attempts int32, defs map[string]string) {
	t.Helper()
	if _, err := bc.CreateComputeEnvironment(ctx, &batch.CreateComputeEnvironmentInput{ComputeEnvironmentName: aws.String("ce"),
		Type: types.CETypeManaged, ComputeResources: &types.ComputeResource{Type: types.CRTypeFargate, MaxvCpus: aws.Int32(16), Subnets: []string{"subnet-local"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateJobQueue(ctx, &batch.CreateJobQueueInput{JobQueueName: aws.String("q"), Priority: aws.Int32(1),
		ComputeEnvironmentOrder: []types.ComputeEnvironmentOrder{{Order: aws.Int32(1), ComputeEnvironment: aws.String("ce")}}}); err != nil {
		t.Fatal(err)
	}
	for name, script := range defs {
		n := attempts
		if name == "spread" {
			n = 1
		}
		if _, err := bc.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{JobDefinitionName: aws.String(name), Type: types.JobDefinitionTypeContainer,
			ContainerProperties: &types.ContainerProperties{Image: aws.String(busybox), Command: []string{"sh", "-c", script},
				ResourceRequirements: []types.ResourceRequirement{{Type: types.ResourceTypeVcpu, Value: aws.String("1")}, {Type: types.ResourceTypeMemory, Value: aws.String("32")}}},
			RetryStrategy: &types.RetryStrategy{Attempts: aws.Int32(n)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// submitArray submits an array of size children of definition name.
func submitArray(t *testing.T, ctx context.Context, bc *batch.Client, name string, size int32) string {
	t.Helper()
	out, err := bc.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String(name), JobQueue: aws.String("q"), JobDefinition: aws.String(name),
		ArrayProperties: &types.ArrayProperties{Size: aws.Int32(size)}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.JobId)
}

// waitJob polls DescribeJobs until the job is done.
func waitJob(t *testing.T, ctx context.Context, bc *batch.Client, id string, timeout time.Duration) types.JobDetail {
	t.Helper()
	var j types.JobDetail
	until(t, timeout, "job "+id+" done", func() (bool, string) {
		out, err := bc.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{id}})
		if err != nil || len(out.Jobs) != 1 {
			return false, fmt.Sprint(err)
		}
		j = out.Jobs[0]
		return j.Status == types.JobStatusSucceeded || j.Status == types.JobStatusFailed, fmt.Sprintf("%s %v", j.Status, j.ArrayProperties.StatusSummary)
	})
	return j
}

// TestBatchCluster runs Batch on a cluster of a manager and two workers,
// each in its own network namespace: an array's attempts are cluster
// tasks spread over the three nodes (1 vCPU each, two per node's two
// cores), every index once; a worker killed with SIGKILL under a running
// child loses that attempt, which the retry strategy runs again on
// another node, and the array succeeds. `wharf batch ls` on a worker,
// which runs no Batch manager, is answered by the leader's.
func TestBatchCluster(t *testing.T) {
	c := newTaskCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bc := batchClient(t, ctx, c.m, c.m)
	batchSetup(t, ctx, bc, 2, map[string]string{
		"spread": "echo idx=$AWS_BATCH_JOB_ARRAY_INDEX; sleep 4",
		"long":   `if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 20; fi; echo done`,
	})
	submit := func(name string, size int32) string { return submitArray(t, ctx, bc, name, size) }
	describe := func(ids ...string) []types.JobDetail {
		t.Helper()
		out := retry(t, "describe jobs", func() (*batch.DescribeJobsOutput, error) {
			return bc.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: ids})
		})
		return out.Jobs
	}
	waitDone := func(id string, timeout time.Duration) types.JobDetail { return waitJob(t, ctx, bc, id, timeout) }
	// attemptTasks are the tasks of an array child's attempts, oldest
	// first: the cluster's tasks started by batch/<child id>.
	attemptTasks := func(child string) []ecstypes.Task {
		t.Helper()
		var arns []string
		for _, st := range []ecstypes.DesiredStatus{ecstypes.DesiredStatusRunning, ecstypes.DesiredStatusStopped} {
			l := retry(t, "list tasks", func() (*ecs.ListTasksOutput, error) {
				return c.ec.ListTasks(ctx, &ecs.ListTasksInput{StartedBy: aws.String("batch/" + child), DesiredStatus: st})
			})
			arns = append(arns, l.TaskArns...)
		}
		if len(arns) == 0 {
			return nil
		}
		ts := c.describe(t, ctx, arns)
		for i := range ts {
			for j := i + 1; j < len(ts); j++ {
				if ts[j].CreatedAt.Before(*ts[i].CreatedAt) {
					ts[i], ts[j] = ts[j], ts[i]
				}
			}
		}
		return ts
	}
	node := func(x ecstypes.Task) string { return c.byID(shortID(aws.ToString(x.ContainerInstanceArn))) }

	// Six children of 1 vCPU run at once on three nodes of two cores:
	// they spread over all three, each index once.
	start := time.Now()
	arr := submit("spread", 6)
	if j := waitDone(arr, 60*time.Second); j.Status != types.JobStatusSucceeded || j.ArrayProperties.StatusSummary["SUCCEEDED"] != 6 {
		t.Fatalf("spread: %s %v", j.Status, j.ArrayProperties.StatusSummary)
	}
	nodes := map[string]int{}
	for i := 0; i < 6; i++ {
		child := fmt.Sprintf("%s:%d", arr, i)
		ts := attemptTasks(child)
		cj := describe(child)
		if len(ts) != 1 || len(cj) != 1 || len(cj[0].Attempts) != 1 || cj[0].Status != types.JobStatusSucceeded {
			t.Fatalf("child %d: %d tasks, %+v", i, len(ts), cj)
		}
		x := ts[0]
		if aws.ToString(x.LastStatus) != "STOPPED" || len(x.Containers) != 1 || aws.ToInt32(x.Containers[0].ExitCode) != 0 ||
			!strings.HasPrefix(aws.ToString(x.TaskDefinitionArn), "arn:aws:ecs:us-east-1:000000000000:task-definition/batch-spread:") {
			t.Fatalf("child %d's task: %s %s %+v", i, aws.ToString(x.LastStatus), aws.ToString(x.TaskDefinitionArn), x.Containers)
		}
		// DescribeJobs names the attempt's task, and its log stream after
		// it, as Batch names them after the ECS task.
		if got := aws.ToString(cj[0].Container.TaskArn); got != aws.ToString(x.TaskArn) {
			t.Fatalf("child %d: taskArn %s, the task is %s", i, got, aws.ToString(x.TaskArn))
		}
		if got, want := aws.ToString(cj[0].Container.LogStreamName), "spread/default/"+shortID(aws.ToString(x.TaskArn)); got != want {
			t.Fatalf("child %d: logStreamName %s, want %s", i, got, want)
		}
		nodes[node(x)]++
	}
	// Each child's output was shipped before its task stopped: readable
	// from a worker (the call goes to the leader) whichever node ran it.
	for i := 0; i < 6; i++ {
		if out := c.workers[1].MustWharf(t, "batch", "logs", fmt.Sprintf("%s:%d", arr, i)); !strings.Contains(out, fmt.Sprintf("idx=%d", i)) {
			t.Fatalf("wharf batch logs of child %d:\n%s", i, out)
		}
	}
	// And through the CloudWatch Logs API, Batch's group as on AWS.
	// A key created on a worker (no --http there) verifies on the manager.
	k := newKey(t, c.workers[0])
	lc := cwl.New(cwl.Options{BaseEndpoint: aws.String("http://" + httpAddr(c.m.Addr)), Region: "us-east-1", Retryer: aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyId, k.SecretAccessKey, "")})
	stream := aws.ToString(describe(arr + ":2")[0].Container.LogStreamName)
	ev, err := lc.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/aws/batch/job"), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
	if err != nil || len(ev.Events) != 1 || aws.ToString(ev.Events[0].Message) != "idx=2" {
		t.Fatalf("GetLogEvents of %s: %+v %v", stream, ev, err)
	}
	ls, err := lc.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/batch/job")})
	if err != nil || len(ls.LogStreams) != 6 {
		t.Fatalf("DescribeLogStreams: %d streams, %v", len(ls.LogStreams), err)
	}
	t.Logf("six children on %v in %v", nodes, time.Since(start).Round(100*time.Millisecond))
	if len(nodes) != 3 {
		t.Fatalf("the children ran on %v, want all three nodes", nodes)
	}
	// The worker runs no Batch manager: its socket's `wharf batch ls` is
	// the leader's answer.
	if out := c.workers[0].MustWharf(t, "batch", "ls"); !strings.Contains(out, arr) {
		t.Fatalf("wharf batch ls on a worker:\n%s", out)
	}

	// A worker dies under a running child: the attempt is lost, the
	// retry strategy (two attempts) runs it on another node, the array
	// succeeds.
	long := submit("long", 3)
	var victim, child string
	until(t, 60*time.Second, "three long children running as tasks", func() (bool, string) {
		running := 0
		for i := 0; i < 3; i++ {
			ch := fmt.Sprintf("%s:%d", long, i)
			ts := attemptTasks(ch)
			if len(ts) == 1 && aws.ToString(ts[0].LastStatus) == "RUNNING" {
				running++
				if n := node(ts[0]); n != "m1" && victim == "" {
					victim, child = n, ch
				}
			}
		}
		if running < 3 {
			victim, child = "", ""
		}
		return running == 3 && victim != "", fmt.Sprintf("%d running, victim %q", running, victim)
	})
	w := c.workers[0]
	if victim == "w2" {
		w = c.workers[1]
	}
	t.Logf("killing %s under %s", victim, child)
	killed := time.Now()
	w.Kill9()
	if j := waitDone(long, 90*time.Second); j.Status != types.JobStatusSucceeded || j.ArrayProperties.StatusSummary["SUCCEEDED"] != 3 {
		t.Fatalf("long: %s %v", j.Status, j.ArrayProperties.StatusSummary)
	}
	t.Logf("the array succeeded %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	cj := describe(child)
	if len(cj) != 1 || len(cj[0].Attempts) != 2 {
		t.Fatalf("the killed node's child: %+v", cj)
	}
	first, second := cj[0].Attempts[0], cj[0].Attempts[1]
	if first.Container == nil || second.Container == nil {
		t.Fatalf("attempts without containers: %+v", cj[0].Attempts)
	}
	if first.Container.ExitCode != nil || !strings.Contains(aws.ToString(first.StatusReason)+aws.ToString(first.Container.Reason), "terminated") ||
		second.Container.ExitCode == nil || *second.Container.ExitCode != 0 {
		t.Fatalf("attempts: first %s (%s, exit %v), second exit %v", aws.ToString(first.StatusReason), aws.ToString(first.Container.Reason),
			first.Container.ExitCode, second.Container.ExitCode)
	}
	ts := attemptTasks(child)
	if len(ts) != 2 || node(ts[0]) != victim || node(ts[1]) == victim {
		var where []string
		for _, x := range ts {
			where = append(where, node(x)+"/"+aws.ToString(x.LastStatus))
		}
		t.Fatalf("the child's tasks: %v, victim %s", where, victim)
	}
	t.Logf("retried on %s", node(ts[1]))
}

// TestBatchClusterLeaderChange runs Batch on three managers: its tables
// are the cluster's (three replicas) and its manager runs on the leader.
// The leader is killed with SIGKILL while an array's children run; a new
// leader loads the tables and takes over: the children on the surviving
// nodes are re-attached and end once, those on the killed node are lost
// and retried, and the array succeeds, read through a manager that does
// not lead (its calls are forwarded) with a key created on the killed
// leader: keys are the cluster's, not a node's.
func TestBatchClusterLeaderChange(t *testing.T) {
	n := testutil.NewNet(t)
	m1 := n.AddNodeWith(t, func(a netip.Addr) []testutil.DaemonOption {
		return []testutil.DaemonOption{testutil.WithDaemonArgs("--cluster-init", "--cluster-managers", "3", "--cluster-listen", listen(a), "--node-name", "m1", "--http", httpAddr(a))}
	})
	mtoken := strings.TrimSpace(m1.MustWharf(t, "cluster", "token", "--manager", "-q"))
	ms := []*testutil.Node{m1}
	for i := 2; i <= 3; i++ {
		ms = append(ms, n.AddNodeWith(t, func(a netip.Addr) []testutil.DaemonOption {
			return []testutil.DaemonOption{testutil.WithDaemonArgs("--join", listen(m1.Addr), "--cluster-token", mtoken, "--manager",
				"--cluster-listen", listen(a), "--node-name", fmt.Sprintf("m%d", i), "--http", httpAddr(a))}
		}))
	}
	for _, d := range ms {
		d.ImportBusybox(t, busybox)
	}
	leaderOf := func(ns []wharf.ClusterNode) *testutil.Node {
		for _, x := range ns {
			if x.Leader && x.Status == "READY" {
				for _, d := range ms {
					if d.Addr.String() == x.Addr {
						return d
					}
				}
			}
		}
		return nil
	}
	ns := waitNodes(t, m1, 90*time.Second, "three READY managers, one leader", func(ns []wharf.ClusterNode) bool {
		return len(ns) == 3 && count(ns, func(x wharf.ClusterNode) bool { return x.Status == "READY" }) == 3 &&
			count(ns, func(x wharf.ClusterNode) bool { return x.Leader }) == 1
	})
	leader := leaderOf(ns)
	if leader == nil {
		t.Fatalf("no leader among %+v", ns)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	key := newKey(t, leader)
	bc := batchClientWith(t, ctx, leader, key)
	batchSetup(t, ctx, bc, 2, map[string]string{"long": "sleep 15; echo done"})
	arr := submitArray(t, ctx, bc, "long", 4)
	until(t, 60*time.Second, "four children running", func() (bool, string) {
		out, err := bc.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{arr}})
		if err != nil || len(out.Jobs) != 1 {
			return false, fmt.Sprint(err)
		}
		return out.Jobs[0].ArrayProperties.StatusSummary["RUNNING"] == 4, fmt.Sprint(out.Jobs[0].ArrayProperties.StatusSummary)
	})
	var others []*testutil.Node
	for _, d := range ms {
		if d != leader {
			others = append(others, d)
		}
	}
	leader.Kill9()
	killed := time.Now()
	ns = waitNodes(t, others[0], 60*time.Second, "a new leader", func(ns []wharf.ClusterNode) bool {
		l := leaderOf(ns)
		return l != nil && l != leader
	})
	next := leaderOf(ns)
	via := others[0]
	if via == next {
		via = others[1]
	}
	bc2 := batchClientWith(t, ctx, via, key)
	t.Logf("the new leader's Batch answers %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	if j := waitJob(t, ctx, bc2, arr, 90*time.Second); j.Status != types.JobStatusSucceeded || j.ArrayProperties.StatusSummary["SUCCEEDED"] != 4 {
		t.Fatalf("after the leader's kill: %s %v", j.Status, j.ArrayProperties.StatusSummary)
	}
	lost := 0
	for i := 0; i < 4; i++ {
		out, err := bc2.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{fmt.Sprintf("%s:%d", arr, i)}})
		if err != nil || len(out.Jobs) != 1 {
			t.Fatalf("child %d: %v", i, err)
		}
		as := out.Jobs[0].Attempts
		switch {
		case len(as) == 1 && as[0].Container != nil && as[0].Container.ExitCode != nil && *as[0].Container.ExitCode == 0:
		case len(as) == 2 && as[0].Container != nil && as[0].Container.ExitCode == nil &&
			strings.Contains(aws.ToString(as[0].StatusReason), "terminated") && as[1].Container != nil && aws.ToInt32(as[1].Container.ExitCode) == 0:
			lost++
		default:
			t.Fatalf("child %d's attempts: %+v", i, as)
		}
	}
	t.Logf("%d of 4 children were on the killed leader and ran again", lost)
}
