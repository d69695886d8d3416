package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

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
	var k struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(c.m.MustWharf(t, "keys", "create", "--json", "--admin")), &k); err != nil {
		t.Fatal(err)
	}
	bc := batch.New(batch.Options{BaseEndpoint: aws.String("http://" + httpAddr(c.m.Addr)), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyId, k.SecretAccessKey, "")})
	// The leader's Batch manager loads the cluster's tables once the
	// cluster's JetStream answers; until then calls are 503s.
	until(t, 30*time.Second, "the cluster's Batch answers", func() (bool, string) {
		_, err := bc.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{})
		return err == nil, fmt.Sprint(err)
	})
	if _, err := bc.CreateComputeEnvironment(ctx, &batch.CreateComputeEnvironmentInput{ComputeEnvironmentName: aws.String("ce"),
		Type: types.CETypeManaged, ComputeResources: &types.ComputeResource{Type: types.CRTypeFargate, MaxvCpus: aws.Int32(16), Subnets: []string{"subnet-local"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateJobQueue(ctx, &batch.CreateJobQueueInput{JobQueueName: aws.String("q"), Priority: aws.Int32(1),
		ComputeEnvironmentOrder: []types.ComputeEnvironmentOrder{{Order: aws.Int32(1), ComputeEnvironment: aws.String("ce")}}}); err != nil {
		t.Fatal(err)
	}
	def := func(name string, attempts int32, script string) {
		t.Helper()
		if _, err := bc.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{JobDefinitionName: aws.String(name), Type: types.JobDefinitionTypeContainer,
			ContainerProperties: &types.ContainerProperties{Image: aws.String(busybox), Command: []string{"sh", "-c", script},
				ResourceRequirements: []types.ResourceRequirement{{Type: types.ResourceTypeVcpu, Value: aws.String("1")}, {Type: types.ResourceTypeMemory, Value: aws.String("32")}}},
			RetryStrategy: &types.RetryStrategy{Attempts: aws.Int32(attempts)}}); err != nil {
			t.Fatal(err)
		}
	}
	def("spread", 1, "echo idx=$AWS_BATCH_JOB_ARRAY_INDEX; sleep 4")
	def("long", 2, `if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 20; fi; echo done`)
	submit := func(name string, size int32) string {
		t.Helper()
		out, err := bc.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String(name), JobQueue: aws.String("q"), JobDefinition: aws.String(name),
			ArrayProperties: &types.ArrayProperties{Size: aws.Int32(size)}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.JobId)
	}
	describe := func(ids ...string) []types.JobDetail {
		t.Helper()
		out := retry(t, "describe jobs", func() (*batch.DescribeJobsOutput, error) {
			return bc.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: ids})
		})
		return out.Jobs
	}
	waitDone := func(id string, timeout time.Duration) types.JobDetail {
		t.Helper()
		var j types.JobDetail
		until(t, timeout, "job "+id+" done", func() (bool, string) {
			js := describe(id)
			if len(js) != 1 {
				return false, "not described"
			}
			j = js[0]
			return j.Status == types.JobStatusSucceeded || j.Status == types.JobStatusFailed, fmt.Sprintf("%s %v", j.Status, j.ArrayProperties.StatusSummary)
		})
		return j
	}
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
		nodes[node(x)]++
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
