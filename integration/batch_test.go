package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/smithy-go"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// batchEnv is a daemon with --http and a Batch client signed with a key
// allowed batch:* and logs:*. The daemon takes attemptDurationSeconds
// from 1 s and gives a stopped attempt 1 s before SIGKILL (hidden test
// flags), so that a timeout is seen in seconds rather than Batch's
// minute; the 60 s floor itself is checked in batch's unit tests.
type batchEnv struct {
	d    *testutil.Daemon
	addr string
	c    *batch.Client
	logs *cwl.Client
	key  struct{ AccessKeyId, SecretAccessKey string }
}

func startBatchEnv(t *testing.T) *batchEnv {
	t.Helper()
	addr := freeAddr(t)
	d := newDaemon(t, testutil.WithDaemonArgs("--http", addr, "--batch-min-timeout", "1", "--batch-stop-grace", "1s"))
	e := &batchEnv{d: d, addr: addr}
	if err := json.Unmarshal([]byte(d.MustWharf(t, "keys", "create", "--json", "--policy", "batch:*:*", "--policy", "logs:*:*")), &e.key); err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewStaticCredentialsProvider(e.key.AccessKeyId, e.key.SecretAccessKey, "")
	e.c = batch.New(batch.Options{BaseEndpoint: aws.String("http://" + addr), Region: "us-east-1", Credentials: creds, Retryer: aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient()})
	e.logs = cwl.New(cwl.Options{BaseEndpoint: aws.String("http://" + addr), Region: "us-east-1", Credentials: creds, Retryer: aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient()})
	return e
}

// setup creates the compute environment ce (maxvCpus max), the queue q
// and the definition d (busybox, 1 vCPU, 64 MiB) with retries.
func (e *batchEnv) setup(t *testing.T, max int32) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.c.CreateComputeEnvironment(ctx, &batch.CreateComputeEnvironmentInput{ComputeEnvironmentName: aws.String("ce"),
		Type: types.CETypeManaged, ComputeResources: &types.ComputeResource{Type: types.CRTypeFargate, MaxvCpus: aws.Int32(max), Subnets: []string{"subnet-local"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{JobQueueName: aws.String("q"), Priority: aws.Int32(10),
		ComputeEnvironmentOrder: []types.ComputeEnvironmentOrder{{Order: aws.Int32(1), ComputeEnvironment: aws.String("ce")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{JobDefinitionName: aws.String("d"), Type: types.JobDefinitionTypeContainer,
		Parameters: map[string]string{"code": "0"},
		ContainerProperties: &types.ContainerProperties{Image: aws.String(busybox), Command: []string{"sh", "-c", "echo idx=$AWS_BATCH_JOB_ARRAY_INDEX attempt=$AWS_BATCH_JOB_ATTEMPT; exit Ref::code"},
			ResourceRequirements: []types.ResourceRequirement{{Type: types.ResourceTypeVcpu, Value: aws.String("1")}, {Type: types.ResourceTypeMemory, Value: aws.String("64")}}},
		RetryStrategy: &types.RetryStrategy{Attempts: aws.Int32(3), EvaluateOnExit: []types.EvaluateOnExit{
			{OnExitCode: aws.String("3"), Action: types.RetryActionRetry}, {OnExitCode: aws.String("*"), Action: types.RetryActionExit}}},
	}); err != nil {
		t.Fatal(err)
	}
}

func (e *batchEnv) submit(t *testing.T, in *batch.SubmitJobInput) string {
	t.Helper()
	if in.JobQueue == nil {
		in.JobQueue = aws.String("q")
	}
	if in.JobDefinition == nil {
		in.JobDefinition = aws.String("d")
	}
	out, err := e.c.SubmitJob(context.Background(), in)
	if err != nil {
		t.Fatalf("submit %s: %v", aws.ToString(in.JobName), err)
	}
	return aws.ToString(out.JobId)
}

// wait polls DescribeJobs until the job is done, and returns it.
func (e *batchEnv) wait(t *testing.T, id string, timeout time.Duration) types.JobDetail {
	t.Helper()
	var j types.JobDetail
	if !waitFor(timeout, func() bool {
		out, err := e.c.DescribeJobs(context.Background(), &batch.DescribeJobsInput{Jobs: []string{id}})
		if err != nil || len(out.Jobs) != 1 {
			return false
		}
		j = out.Jobs[0]
		return j.Status == types.JobStatusSucceeded || j.Status == types.JobStatusFailed
	}) {
		t.Fatalf("job %s not done after %v: %s %s", id, timeout, j.Status, aws.ToString(j.StatusReason))
	}
	return j
}

// indexes reads the array's logs with `wharf batch logs` and counts each
// index's lines.
func (e *batchEnv) indexes(t *testing.T, id string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(e.d.MustWharf(t, "batch", "logs", id)), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.HasPrefix(f[0], "idx=") {
			seen[strings.TrimPrefix(f[0], "idx=")]++
		}
	}
	return seen
}

func clientException(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ClientException"
}

// TestBatchSDK drives Batch with aws-sdk-go-v2's batch client against a
// real daemon: an array of 100 children each run once with its index, a
// dependency chain in order, retries by evaluateOnExit, a timeout, the
// logs after the jobs ended (CLI and CloudWatch Logs' API), listing and
// Batch's refusals.
func TestBatchSDK(t *testing.T) {
	t.Parallel()
	e := startBatchEnv(t)
	e.setup(t, 4)
	ctx := context.Background()

	arr := e.submit(t, &batch.SubmitJobInput{JobName: aws.String("frames"), ArrayProperties: &types.ArrayProperties{Size: aws.Int32(100)}})
	a := e.wait(t, arr, 3*time.Minute)
	if a.Status != types.JobStatusSucceeded || a.ArrayProperties == nil || a.ArrayProperties.StatusSummary["SUCCEEDED"] != 100 {
		t.Fatalf("array: %s %v", a.Status, a.ArrayProperties)
	}
	seen := e.indexes(t, arr)
	for i := 0; i < 100; i++ {
		if seen[fmt.Sprint(i)] != 1 {
			t.Errorf("index %d ran %d times", i, seen[fmt.Sprint(i)])
		}
	}
	if len(seen) != 100 {
		t.Errorf("%d indexes ran, want 100", len(seen))
	}
	// No retry: the connection closed under the answer's body twice in CI
	// was the client's own race, which testutil.AWSHTTPClient removes.
	kids, err := e.c.ListJobs(ctx, &batch.ListJobsInput{ArrayJobId: aws.String(arr), JobStatus: types.JobStatusSucceeded, MaxResults: aws.Int32(60)})
	if err != nil {
		t.Fatalf("ListJobs of the array: %v", err)
	}
	if len(kids.JobSummaryList) != 60 || kids.NextToken == nil {
		t.Fatalf("ListJobs of the array: %d, %v", len(kids.JobSummaryList), kids.NextToken)
	}
	more, err := e.c.ListJobs(ctx, &batch.ListJobsInput{ArrayJobId: aws.String(arr), JobStatus: types.JobStatusSucceeded, NextToken: kids.NextToken})
	if err != nil {
		t.Fatalf("second page: %v", err)
	}
	if len(more.JobSummaryList) != 40 {
		t.Fatalf("second page: %d", len(more.JobSummaryList))
	}
	child, err := e.c.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{arr + ":7"}})
	if err != nil || len(child.Jobs) != 1 || aws.ToInt32(child.Jobs[0].ArrayProperties.Index) != 7 || len(child.Jobs[0].Attempts) != 1 {
		t.Fatalf("child 7: %v %+v", err, child)
	}
	// Its log through CloudWatch Logs' API, after the job ended.
	stream := aws.ToString(child.Jobs[0].Attempts[0].Container.LogStreamName)
	if !strings.HasPrefix(stream, "d/default/") {
		t.Errorf("log stream %q, want d/default/<attempt>", stream)
	}
	ev, err := e.logs.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/aws/batch/job"), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
	if err != nil || len(ev.Events) != 1 || aws.ToString(ev.Events[0].Message) != "idx=7 attempt=1" {
		t.Fatalf("GetLogEvents: %v %+v", err, ev)
	}

	// A chain runs in order.
	first := e.submit(t, &batch.SubmitJobInput{JobName: aws.String("c1")})
	second := e.submit(t, &batch.SubmitJobInput{JobName: aws.String("c2"), DependsOn: []types.JobDependency{{JobId: aws.String(first)}}})
	third := e.submit(t, &batch.SubmitJobInput{JobName: aws.String("c3"), DependsOn: []types.JobDependency{{JobId: aws.String(second)}}})
	j3 := e.wait(t, third, time.Minute)
	j2, j1 := e.wait(t, second, time.Second), e.wait(t, first, time.Second)
	if j1.Status != types.JobStatusSucceeded || j2.Status != types.JobStatusSucceeded || j3.Status != types.JobStatusSucceeded {
		t.Fatalf("chain: %s %s %s", j1.Status, j2.Status, j3.Status)
	}
	if aws.ToInt64(j2.StartedAt) < aws.ToInt64(j1.StoppedAt) || aws.ToInt64(j3.StartedAt) < aws.ToInt64(j2.StoppedAt) {
		t.Errorf("the chain overlapped: %d-%d, %d-%d, %d-", aws.ToInt64(j1.StartedAt), aws.ToInt64(j1.StoppedAt), aws.ToInt64(j2.StartedAt), aws.ToInt64(j2.StoppedAt), aws.ToInt64(j3.StartedAt))
	}

	// Retries: exit 3 is retried up to the 3 attempts, exit 4 is not; a
	// job waiting on a failed one fails with Batch's reason.
	r3 := e.submit(t, &batch.SubmitJobInput{JobName: aws.String("r3"), Parameters: map[string]string{"code": "3"}})
	r4 := e.submit(t, &batch.SubmitJobInput{JobName: aws.String("r4"), Parameters: map[string]string{"code": "4"}})
	dep := e.submit(t, &batch.SubmitJobInput{JobName: aws.String("dep"), DependsOn: []types.JobDependency{{JobId: aws.String(r4)}}})
	if j := e.wait(t, r3, time.Minute); j.Status != types.JobStatusFailed || len(j.Attempts) != 3 || aws.ToInt32(j.Attempts[2].Container.ExitCode) != 3 {
		t.Errorf("exit 3: %s, %d attempts", j.Status, len(j.Attempts))
	}
	if j := e.wait(t, r4, time.Minute); j.Status != types.JobStatusFailed || len(j.Attempts) != 1 || aws.ToString(j.StatusReason) != "Essential container in task exited" {
		t.Errorf("exit 4: %s, %d attempts, %q", j.Status, len(j.Attempts), aws.ToString(j.StatusReason))
	}
	if j := e.wait(t, dep, time.Minute); j.Status != types.JobStatusFailed || aws.ToString(j.StatusReason) != "Dependent Job failed" {
		t.Errorf("dependent: %s %q", j.Status, aws.ToString(j.StatusReason))
	}
	lines := e.d.MustWharf(t, "batch", "logs", r3)
	if strings.Count(lines, "attempt=") != 3 || !strings.Contains(lines, "attempt=3") {
		t.Errorf("logs of the three attempts: %q", lines)
	}

	// A timeout kills the attempt (with the 1 s floor this daemon takes)
	// and is not retried.
	slow := e.submit(t, &batch.SubmitJobInput{JobName: aws.String("slow"), Timeout: &types.JobTimeout{AttemptDurationSeconds: aws.Int32(1)},
		ContainerOverrides: &types.ContainerOverrides{Command: []string{"sleep", "300"}}})
	if j := e.wait(t, slow, time.Minute); j.Status != types.JobStatusFailed || aws.ToString(j.StatusReason) != "Job attempt duration exceeded timeout" || len(j.Attempts) != 1 {
		t.Errorf("timeout: %s %q, %d attempts", j.Status, aws.ToString(j.StatusReason), len(j.Attempts))
	}

	// Listing by queue and status, and by name.
	ls, err := e.c.ListJobs(ctx, &batch.ListJobsInput{JobQueue: aws.String("q"), JobStatus: types.JobStatusFailed})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, s := range ls.JobSummaryList {
		failed = append(failed, aws.ToString(s.JobName))
	}
	sort.Strings(failed)
	if strings.Join(failed, ",") != "dep,r3,r4,slow" {
		t.Errorf("FAILED jobs: %v", failed)
	}
	ls, err = e.c.ListJobs(ctx, &batch.ListJobsInput{JobQueue: aws.String("q"), Filters: []types.KeyValuesPair{{Name: aws.String("JOB_NAME"), Values: []string{"c*"}}}})
	if err != nil || len(ls.JobSummaryList) != 3 {
		t.Errorf("JOB_NAME c*: %v %d", err, len(ls.JobSummaryList))
	}

	// Batch's refusals.
	_, err = e.c.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{JobDefinitionName: aws.String("bad"), Type: types.JobDefinitionTypeContainer,
		ContainerProperties: &types.ContainerProperties{Image: aws.String(busybox), MountPoints: []types.MountPoint{{ContainerPath: aws.String("/x"), SourceVolume: aws.String("v")}},
			ResourceRequirements: []types.ResourceRequirement{{Type: types.ResourceTypeVcpu, Value: aws.String("1")}, {Type: types.ResourceTypeMemory, Value: aws.String("64")}}}})
	if !clientException(err) {
		t.Errorf("mountPoints: %v, want ClientException", err)
	}
	_, err = e.c.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String("x"), JobQueue: aws.String("q"), JobDefinition: aws.String("d"),
		DependsOn: []types.JobDependency{{JobId: aws.String("no-such-job")}}})
	if !clientException(err) {
		t.Errorf("unknown dependency: %v, want ClientException", err)
	}
	_, err = e.c.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String("x"), JobQueue: aws.String("q"), JobDefinition: aws.String("d"),
		ArrayProperties: &types.ArrayProperties{Size: aws.Int32(10001)}})
	if !clientException(err) {
		t.Errorf("array of 10001: %v, want ClientException", err)
	}
	_, err = e.c.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{JobDefinitionName: aws.String("bad"), Type: types.JobDefinitionTypeContainer,
		ContainerProperties: &types.ContainerProperties{Image: aws.String(busybox)}, RetryStrategy: &types.RetryStrategy{Attempts: aws.Int32(11)}})
	if !clientException(err) {
		t.Errorf("11 attempts: %v, want ClientException", err)
	}

	// Tags, by ARN.
	qs, err := e.c.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{"q"}})
	if err != nil || len(qs.JobQueues) != 1 || qs.JobQueues[0].State != types.JQStateEnabled {
		t.Fatalf("DescribeJobQueues: %v %+v", err, qs)
	}
	qarn := qs.JobQueues[0].JobQueueArn
	if _, err := e.c.TagResource(ctx, &batch.TagResourceInput{ResourceArn: qarn, Tags: map[string]string{"team": "render"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.c.ListTagsForResource(ctx, &batch.ListTagsForResourceInput{ResourceArn: qarn})
	if err != nil || tags.Tags["team"] != "render" {
		t.Fatalf("tags: %v %v", err, tags)
	}

	// wharf batch ls shows the array's progress.
	if out := e.d.MustWharf(t, "batch", "ls"); !strings.Contains(out, "frames") || !strings.Contains(out, "100/100 done") {
		t.Errorf("wharf batch ls:\n%s", out)
	}

	// The aws CLI, where installed.
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Log("the aws CLI is not installed: its calls are skipped (the SDK's above cover the API)")
		return
	}
	awsCLI := func(args ...string) string {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, bin, append([]string{"--endpoint-url", "http://" + e.addr, "--region", "us-east-1", "--output", "json", "batch"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+e.key.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+e.key.SecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws batch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	awsCLI("create-compute-environment", "--compute-environment-name", "ce2", "--type", "MANAGED", "--compute-resources", "type=FARGATE,maxvCpus=8,subnets=subnet-local")
	awsCLI("create-job-queue", "--job-queue-name", "q2", "--priority", "1", "--compute-environment-order", "order=1,computeEnvironment=ce2")
	out := awsCLI("register-job-definition", "--job-definition-name", "hello", "--type", "container",
		"--container-properties", `{"image":"`+busybox+`","command":["echo","Ref::who"],"resourceRequirements":[{"type":"VCPU","value":"1"},{"type":"MEMORY","value":"64"}]}`,
		"--parameters", "who=cli", "--retry-strategy", "attempts=2", "--timeout", "attemptDurationSeconds=600")
	if !strings.Contains(out, `"revision": 1`) {
		t.Errorf("register-job-definition: %s", out)
	}
	var sub struct{ JobId string }
	_ = json.Unmarshal([]byte(awsCLI("submit-job", "--job-name", "hi", "--job-queue", "q2", "--job-definition", "hello")), &sub)
	if j := e.wait(t, sub.JobId, time.Minute); j.Status != types.JobStatusSucceeded {
		t.Fatalf("the CLI's job: %s %q", j.Status, aws.ToString(j.StatusReason))
	}
	if out := awsCLI("list-jobs", "--job-queue", "q2", "--job-status", "SUCCEEDED"); !strings.Contains(out, sub.JobId) {
		t.Errorf("list-jobs: %s", out)
	}
	if out := awsCLI("describe-jobs", "--jobs", sub.JobId); !strings.Contains(out, `"SUCCEEDED"`) || !strings.Contains(out, `"cli"`) {
		t.Errorf("describe-jobs: %s", out)
	}
	if out := e.d.MustWharf(t, "batch", "logs", sub.JobId); strings.TrimSpace(out) != "cli" {
		t.Errorf("logs of the CLI's job: %q", out)
	}
}

// TestBatchDaemonKill9 kills the daemon with SIGKILL while an array
// runs: after a restart no child is lost and every one ends SUCCEEDED;
// the containers running at the kill go on and are re-attached, and no
// attempt runs twice. An attempt whose start the kill cut is reported
// lost (whether its process ran is unknown) and retried under the
// definition's retry strategy, as Batch retries the attempts of a lost
// host.
func TestBatchDaemonKill9(t *testing.T) {
	t.Parallel()
	e := startBatchEnv(t)
	e.setup(t, 4)
	ctx := context.Background()
	if _, err := e.c.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{JobDefinitionName: aws.String("slow"), Type: types.JobDefinitionTypeContainer,
		ContainerProperties: &types.ContainerProperties{Image: aws.String(busybox), Command: []string{"sh", "-c", "sleep 1; echo idx=$AWS_BATCH_JOB_ARRAY_INDEX"},
			ResourceRequirements: []types.ResourceRequirement{{Type: types.ResourceTypeVcpu, Value: aws.String("1")}, {Type: types.ResourceTypeMemory, Value: aws.String("64")}}},
		RetryStrategy: &types.RetryStrategy{Attempts: aws.Int32(3)}}); err != nil {
		t.Fatal(err)
	}
	arr := e.submit(t, &batch.SubmitJobInput{JobName: aws.String("survivor"), JobDefinition: aws.String("slow"), ArrayProperties: &types.ArrayProperties{Size: aws.Int32(20)}})
	if !waitFor(time.Minute, func() bool {
		out, err := e.c.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{arr}})
		return err == nil && len(out.Jobs) == 1 && out.Jobs[0].ArrayProperties.StatusSummary["SUCCEEDED"] >= 4 && out.Jobs[0].ArrayProperties.StatusSummary["RUNNING"] > 0
	}) {
		t.Fatal("the array did not get going")
	}
	e.d.Kill9()
	e.d.Restart(t)
	j := e.wait(t, arr, 3*time.Minute)
	if j.Status != types.JobStatusSucceeded || j.ArrayProperties.StatusSummary["SUCCEEDED"] != 20 {
		t.Fatalf("after kill -9: %s %v", j.Status, j.ArrayProperties.StatusSummary)
	}
	// Every attempt's stream holds at most one line (no container ran
	// twice), every index succeeded in exactly one attempt.
	perStream := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(e.d.MustWharf(t, "batch", "logs", "--streams", arr)), "\n") {
		perStream[strings.Fields(l)[0]]++
	}
	for st, n := range perStream {
		if n != 1 {
			t.Errorf("stream %s has %d lines: an attempt ran twice", st, n)
		}
	}
	for i := 0; i < 20; i++ {
		out, err := e.c.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{fmt.Sprintf("%s:%d", arr, i)}})
		if err != nil || len(out.Jobs) != 1 {
			t.Fatalf("child %d: %v", i, err)
		}
		ok := 0
		for _, a := range out.Jobs[0].Attempts {
			if aws.ToInt32(a.Container.ExitCode) == 0 && a.Container.ExitCode != nil {
				ok++
			} else {
				t.Logf("child %d: attempt ended %q (%s)", i, aws.ToString(a.Container.Reason), aws.ToString(a.StatusReason))
			}
		}
		if ok != 1 || out.Jobs[0].Status != types.JobStatusSucceeded {
			t.Errorf("child %d: %s with %d successful attempts of %d", i, out.Jobs[0].Status, ok, len(out.Jobs[0].Attempts))
		}
	}
}
