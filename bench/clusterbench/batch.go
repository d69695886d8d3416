package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
)

// batchArray submits an array of n children of `true` (1 vCPU, 16 MiB
// each) to a compute environment of maxvCpus vcpus in one SubmitJob, and
// measures the time until all SUCCEEDED and the rate at which children
// were dispatched (started) over that time, on the cluster's three nodes.
func batchArray(ctx context.Context, endpoint string, creds aws.CredentialsProvider, n, vcpus int) time.Duration {
	ec := ecs.New(ecs.Options{BaseEndpoint: aws.String(endpoint), Region: "us-east-1", Credentials: creds})
	bc := awsbatch.New(awsbatch.Options{BaseEndpoint: aws.String(endpoint), Region: "us-east-1", Credentials: creds})
	if !benchutil.WaitFor(func() bool {
		_, err := bc.DescribeJobQueues(ctx, &awsbatch.DescribeJobQueuesInput{})
		return err == nil
	}, 60*time.Second) {
		benchutil.Fatal("the cluster's Batch did not answer within 60 s")
	}
	_, err := bc.CreateComputeEnvironment(ctx, &awsbatch.CreateComputeEnvironmentInput{ComputeEnvironmentName: aws.String("bench"),
		Type: types.CETypeManaged, ComputeResources: &types.ComputeResource{Type: types.CRTypeFargate, MaxvCpus: aws.Int32(int32(vcpus)), Subnets: []string{"local"}}})
	benchutil.Check(err)
	_, err = bc.CreateJobQueue(ctx, &awsbatch.CreateJobQueueInput{JobQueueName: aws.String("bench"), Priority: aws.Int32(1),
		ComputeEnvironmentOrder: []types.ComputeEnvironmentOrder{{Order: aws.Int32(1), ComputeEnvironment: aws.String("bench")}}})
	benchutil.Check(err)
	_, err = bc.RegisterJobDefinition(ctx, &awsbatch.RegisterJobDefinitionInput{JobDefinitionName: aws.String("true"), Type: types.JobDefinitionTypeContainer,
		ContainerProperties: &types.ContainerProperties{Image: aws.String(image), Command: []string{"true"},
			ResourceRequirements: []types.ResourceRequirement{{Type: types.ResourceTypeVcpu, Value: aws.String("1")}, {Type: types.ResourceTypeMemory, Value: aws.String("16")}}}})
	benchutil.Check(err)
	load := loadavg()
	start := time.Now()
	out, err := bc.SubmitJob(ctx, &awsbatch.SubmitJobInput{JobName: aws.String("bench"), JobQueue: aws.String("bench"), JobDefinition: aws.String("true"),
		ArrayProperties: &types.ArrayProperties{Size: aws.Int32(int32(n))}})
	benchutil.Check(err)
	submitted := time.Since(start)
	id := aws.ToString(out.JobId)
	var status types.JobStatus
	var summary map[string]int32
	if !benchutil.WaitFor(func() bool {
		d, err := bc.DescribeJobs(ctx, &awsbatch.DescribeJobsInput{Jobs: []string{id}})
		if err != nil || len(d.Jobs) != 1 {
			return false
		}
		status, summary = d.Jobs[0].Status, d.Jobs[0].ArrayProperties.StatusSummary
		return status == types.JobStatusSucceeded || status == types.JobStatusFailed
	}, 2*time.Hour) {
		benchutil.Fatal(fmt.Sprintf("the array did not end within 2 hours: %v", summary))
	}
	total := time.Since(start)
	if status != types.JobStatusSucceeded {
		benchutil.Fatal(fmt.Sprintf("the array ended %s: %v", status, summary))
	}
	fmt.Printf("batch: array of %d `true` children, maxvCpus %d, 3 nodes, load average at the start %s\n", n, vcpus, load)
	fmt.Printf("%-58s %s\n", "SubmitJob of the whole array (one call)", benchutil.Ms(submitted))
	fmt.Printf("%-58s %s\n", "submit → all SUCCEEDED", total.Round(10*time.Millisecond))
	fmt.Printf("%-58s %.1f jobs/s\n", "children run to the end per second", float64(n)/total.Seconds())
	slot := total * time.Duration(vcpus) / time.Duration(n)
	fmt.Printf("%-58s %s\n", "container-slot time per child (wall × maxvCpus / n)", benchutil.Ms(slot))
	phases(ctx, ec)
	return slot
}

// runRmSlot runs `wharf run --rm image true` runs times, c at once spread
// over the nodes round robin, and returns the slot time per run (wall ×
// c / runs).
func runRmSlot(bin string, nodes []*node, runs, c int) time.Duration {
	jobs := make(chan int, runs)
	for i := 0; i < runs; i++ {
		jobs <- i
	}
	close(jobs)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(n *node) {
			defer wg.Done()
			for range jobs {
				benchutil.MustWharf(bin, n.sock, "run", "--rm", image, "true")
			}
		}(nodes[w%len(nodes)])
	}
	wg.Wait()
	return time.Since(start) * time.Duration(c) / time.Duration(runs)
}

// phases prints where a child's task spent its time, as its ECS
// timestamps tell, medians over up to 100 of the stopped tasks.
func phases(ctx context.Context, ec *ecs.Client) {
	l, err := ec.ListTasks(ctx, &ecs.ListTasksInput{DesiredStatus: ecstypes.DesiredStatusStopped, MaxResults: aws.Int32(100)})
	if err != nil || len(l.TaskArns) == 0 {
		fmt.Println("  (no stopped tasks to break down:", err, ")")
		return
	}
	d, err := ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: l.TaskArns})
	benchutil.Check(err)
	var toPulled, toRunning, running, toStopped []time.Duration
	for _, t := range d.Tasks {
		if t.CreatedAt == nil || t.PullStoppedAt == nil || t.StartedAt == nil || t.ExecutionStoppedAt == nil || t.StoppedAt == nil {
			continue
		}
		toPulled = append(toPulled, t.PullStoppedAt.Sub(*t.CreatedAt))
		toRunning = append(toRunning, t.StartedAt.Sub(*t.PullStoppedAt))
		running = append(running, t.ExecutionStoppedAt.Sub(*t.StartedAt))
		toStopped = append(toStopped, t.StoppedAt.Sub(*t.ExecutionStoppedAt))
	}
	fmt.Printf("  a child's task, medians of %d: created → image checked %s, → RUNNING %s, → execution stopped %s, → STOPPED %s\n", len(running),
		benchutil.Ms(benchutil.Quantile(toPulled, 0.5)), benchutil.Ms(benchutil.Quantile(toRunning, 0.5)),
		benchutil.Ms(benchutil.Quantile(running, 0.5)), benchutil.Ms(benchutil.Quantile(toStopped, 0.5)))
}

// staticCreds are a key's credentials.
func staticCreds(id, secret string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, secret, "")
}
