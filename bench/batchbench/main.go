// Command batchbench measures Batch on wharf:
//
//   - manager alone: a -n child array through batch.Manager on an
//     embedded JetStream (every record written as the daemon writes it)
//     with a launcher whose attempts end at once: the dispatch rate of
//     the decisions and their records, without containers (jobs/s).
//   - end to end: a daemon of its own; a -n child array of `true` (busybox,
//     1 vCPU each, maxvCpus -c) submitted with aws-sdk-go-v2 in one call;
//     time to all SUCCEEDED, the rate at which children started (jobs/s),
//     and the container-slot time per child (wall time × c / n).
//   - paired, same daemon, same image: -runs `wharf run --rm busybox true`
//     by c workers at once; their slot time per run. The ratio of the two
//     is Batch's per-job overhead over a plain run.
//
// Needs root (the daemon); traffic stays on loopback.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/bench/internal/benchutil"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

var (
	wharfBin = flag.String("wharf", "", "wharf binary (default: build one)")
	n        = flag.Int("n", 10000, "array size")
	conc     = flag.Int("c", 8, "maxvCpus of the compute environment (1 vCPU per child): children at once")
	runs     = flag.Int("runs", 200, "`wharf run --rm` runs for the paired figure")
	skipE2E  = flag.Bool("manager-only", false, "measure the manager alone")
)

func main() {
	flag.Parse()
	defer benchutil.Cleanup()
	managerAlone()
	if *skipE2E {
		return
	}
	if os.Geteuid() != 0 {
		benchutil.Fatal("batchbench needs root for the end-to-end part (-manager-only runs without)")
	}
	endToEnd()
}

// instant is a launcher whose attempts end as soon as they start.
type instant struct {
	ends    chan batch.AttemptEnd
	started atomic.Int64
}

func (l *instant) Launch(ctx context.Context, a batch.AttemptSpec) (string, error) {
	l.started.Add(1)
	code := 0
	now := time.Now()
	go func() {
		l.ends <- batch.AttemptEnd{ID: a.ID, Ref: a.ID, ExitCode: &code, StartedAt: now, StoppedAt: time.Now()}
	}()
	return a.ID, nil
}
func (l *instant) Stop(context.Context, batch.AttemptSpec, string, string) error { return nil }
func (l *instant) Watch(context.Context, batch.AttemptSpec, string) error {
	return nil
}
func (l *instant) Ends() <-chan batch.AttemptEnd { return l.ends }

func managerAlone() {
	dir, err := os.MkdirTemp("", "batchbench-")
	benchutil.Check(err)
	benchutil.OnExit(func() { _ = os.RemoveAll(dir) })
	box, err := natsbox.Start(natsbox.Options{StoreDir: dir, Log: slog.New(slog.DiscardHandler)})
	benchutil.Check(err)
	defer box.Close()
	st, err := state.New(box.Conn(), 1)
	benchutil.Check(err)
	l := &instant{ends: make(chan batch.AttemptEnd, 1024)}
	m := batch.New(st, l, batch.WithLaunchConcurrency(64))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchutil.Check(m.Load(ctx))
	go m.Run(ctx)
	_, err = m.CreateEnv(ctx, batch.ComputeEnvironment{Name: "ce", Type: "MANAGED", ResourceType: "FARGATE", MaxVCPUs: 256})
	benchutil.Check(err)
	_, err = m.CreateQueue(ctx, batch.JobQueue{Name: "q", Priority: 1, Envs: []batch.EnvOrder{{Order: 1, Env: "ce"}}})
	benchutil.Check(err)
	_, err = m.RegisterDefinition(ctx, batch.JobDefinition{Name: "d", Type: "container", Container: batch.Container{Image: "x", VCPUs: 1, MemoryMiB: 64}})
	benchutil.Check(err)
	t0 := time.Now()
	j, err := m.Submit(ctx, batch.Submit{Name: "a", Queue: "q", Definition: "d", ArraySize: *n})
	benchutil.Check(err)
	submit := time.Since(t0)
	if !benchutil.WaitFor(func() bool { return m.Describe([]string{j.ID})[0].Status == batch.StatusSucceeded }, 10*time.Minute) {
		benchutil.Fatal("the manager-only array did not finish")
	}
	el := time.Since(t0)
	fmt.Printf("manager alone (JetStream records, attempts that end at once, 256 at a time): %d children in %v: %.0f jobs/s; submit %v\n",
		*n, el.Round(time.Millisecond), float64(*n)/el.Seconds(), submit.Round(time.Microsecond))
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	benchutil.Check(err)
	defer l.Close()
	return l.Addr().String()
}

func endToEnd() {
	bin := benchutil.WharfBinary(*wharfBin)
	dir, err := os.MkdirTemp("/tmp", "wbb-")
	benchutil.Check(err)
	benchutil.OnExit(func() { _ = os.RemoveAll(dir) })
	tarPath := filepath.Join(dir, "busybox.tar")
	benchutil.BuildRootfs(filepath.Join(dir, "rootfs"), tarPath)
	addr := freeAddr()
	d := benchutil.StartDaemon(bin, filepath.Join(dir, "w"), fmt.Sprintf("wbb%x", os.Getpid()&0xffffff), "10.252.78.0/24", "--http", addr)
	sock := d.Sock
	benchutil.MustWharf(bin, sock, "import", tarPath, "bench/busybox:1")
	var key struct{ AccessKeyId, SecretAccessKey string }
	benchutil.Check(json.Unmarshal([]byte(benchutil.MustWharf(bin, sock, "keys", "create", "--json", "--policy", "batch:*:*")), &key))
	c := awsbatch.New(awsbatch.Options{BaseEndpoint: aws.String("http://" + addr), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyId, key.SecretAccessKey, "")})
	ctx := context.Background()
	_, err = c.CreateComputeEnvironment(ctx, &awsbatch.CreateComputeEnvironmentInput{ComputeEnvironmentName: aws.String("ce"), Type: types.CETypeManaged,
		ComputeResources: &types.ComputeResource{Type: types.CRTypeFargate, MaxvCpus: aws.Int32(int32(*conc)), Subnets: []string{"local"}}})
	benchutil.Check(err)
	_, err = c.CreateJobQueue(ctx, &awsbatch.CreateJobQueueInput{JobQueueName: aws.String("q"), Priority: aws.Int32(1),
		ComputeEnvironmentOrder: []types.ComputeEnvironmentOrder{{Order: aws.Int32(1), ComputeEnvironment: aws.String("ce")}}})
	benchutil.Check(err)
	_, err = c.RegisterJobDefinition(ctx, &awsbatch.RegisterJobDefinitionInput{JobDefinitionName: aws.String("t"), Type: types.JobDefinitionTypeContainer,
		ContainerProperties: &types.ContainerProperties{Image: aws.String("bench/busybox:1"), Command: []string{"true"},
			ResourceRequirements: []types.ResourceRequirement{{Type: types.ResourceTypeVcpu, Value: aws.String("1")}, {Type: types.ResourceTypeMemory, Value: aws.String("64")}}}})
	benchutil.Check(err)

	// Paired: wharf run --rm by c workers, before and after the array
	// (half each), on the same daemon.
	runRm := func(count int) time.Duration {
		var wg sync.WaitGroup
		var next atomic.Int64
		t0 := time.Now()
		for w := 0; w < *conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(count) {
					benchutil.MustWharf(bin, sock, "run", "--rm", "bench/busybox:1", "true")
				}
			}()
		}
		wg.Wait()
		return time.Since(t0)
	}
	before := runRm(*runs / 2)

	t0 := time.Now()
	sub, err := c.SubmitJob(ctx, &awsbatch.SubmitJobInput{JobName: aws.String("bench"), JobQueue: aws.String("q"), JobDefinition: aws.String("t"),
		ArrayProperties: &types.ArrayProperties{Size: aws.Int32(int32(*n))}})
	benchutil.Check(err)
	submit := time.Since(t0)
	var summary map[string]int32
	lastProgress := time.Now()
	var done int32
	ok := benchutil.WaitFor(func() bool {
		out, err := c.DescribeJobs(ctx, &awsbatch.DescribeJobsInput{Jobs: []string{*sub.JobId}})
		if err != nil || len(out.Jobs) != 1 {
			return false
		}
		summary = out.Jobs[0].ArrayProperties.StatusSummary
		if d := summary["SUCCEEDED"] + summary["FAILED"]; d != done {
			done, lastProgress = d, time.Now()
		}
		if time.Since(lastProgress) > 2*time.Minute {
			benchutil.Fatal(fmt.Sprintf("no progress for 2 minutes: %v", summary))
		}
		return out.Jobs[0].Status == types.JobStatusSucceeded || out.Jobs[0].Status == types.JobStatusFailed
	}, 4*time.Hour)
	total := time.Since(t0)
	if !ok || summary["SUCCEEDED"] != int32(*n) {
		benchutil.Fatal(fmt.Sprintf("the array did not succeed: %v", summary))
	}
	after := runRm(*runs - *runs/2)
	perBatch := time.Duration(float64(total) * float64(*conc) / float64(*n))
	perRun := time.Duration(float64(before+after) * float64(*conc) / float64(*runs))
	fmt.Printf("end to end, %d children of `true`, %d at a time: all SUCCEEDED in %v (submit %v); %.1f jobs/s started\n",
		*n, *conc, total.Round(time.Millisecond), submit.Round(time.Millisecond), float64(*n)/total.Seconds())
	fmt.Printf("slot time per job: batch %s, wharf run --rm %s (%d runs by %d workers, same daemon and image): %.2fx\n",
		benchutil.Ms(perBatch), benchutil.Ms(perRun), *runs, *conc, float64(perBatch)/float64(perRun))
}
