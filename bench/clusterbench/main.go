// Command clusterbench measures the cluster end to end on three nodes,
// each a wharf daemon in a network namespace of its own joined to a test
// bridge (a manager and two workers), as the integration tests run them:
//
//   - a service scaled from 0 to -tasks running tasks (CreateService
//     through the aws SDK's ecs client, then DescribeServices until
//     runningCount reaches it): the time, and the time per task against
//     `wharf run -d` of the same image and command on one node, one
//     after another (the per-task overhead of going through the
//     cluster);
//   - node-failure recovery: a worker's daemon killed with -9, and the
//     time until its tasks are placed on the other nodes and until they
//     run there (the target is at most 10 s).
//
// It needs root, ip and nsenter; it sends traffic only to the namespaces
// and bridge it creates and removes everything it created.
//
//   - with -batch N: a Batch array of N children of `true` submitted in one
//     call to a compute environment of -batch-vcpus vCPUs: the time until
//     all SUCCEEDED and the children run per second.
//
//     go run ./bench/clusterbench [-tasks 100] [-runs 20] [-batch 10000 [-service=false]]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
)

var (
	wharfBin = flag.String("wharf", "", "wharf binary (default: built from this checkout as make build does)")
	nTasks   = flag.Int("tasks", 100, "the service's desired count")
	nRuns    = flag.Int("runs", 20, "`wharf run -d` containers for the baseline")
	nBatch   = flag.Int("batch", 0, "also run a Batch array of this many `true` children (0: none; the issue's figure is 10000)")
	vcpus    = flag.Int("batch-vcpus", 6, "the Batch compute environment's maxvCpus (1 vCPU per child)")
	service  = flag.Bool("service", true, "measure the service and the node failure")
)

const image = "local/busybox:1"

// node is one daemon in its namespace.
type node struct {
	name, netns, addr, dir, sock string
	cmd                          *exec.Cmd
	exited                       chan struct{}
	args                         []string
}

func ip(args ...string) {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		benchutil.Fatal(fmt.Sprintf("ip %v: %v: %s", args, err, out))
	}
}

func rnd() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// freeSubnet picks a 10.x.y.0/24 no interface of the host uses.
func freeSubnet() string {
	out, _ := exec.Command("ip", "-4", "-o", "addr").Output()
	for {
		var b [2]byte
		_, _ = rand.Read(b[:])
		p := fmt.Sprintf("10.%d.%d.", 200+int(b[0])%50, b[1])
		if !strings.Contains(string(out), p) {
			return p
		}
	}
}

func (n *node) start(bin string) {
	logf, err := os.OpenFile(filepath.Join(n.dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	benchutil.Check(err)
	n.cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + n.netns, "--", bin}, n.args...)...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	benchutil.Check(n.cmd.Start())
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	if !benchutil.WaitFor(func() bool { _, err := benchutil.Wharf(bin, n.sock, "version"); return err == nil }, 60*time.Second) {
		log, _ := os.ReadFile(filepath.Join(n.dir, "daemon.log"))
		benchutil.Fatal(n.name + " did not answer:\n" + string(log))
	}
}

func (n *node) kill9() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		benchutil.Fatal("needs root")
	}
	defer benchutil.Cleanup()
	bin := benchutil.WharfBinary(*wharfBin)
	base, err := os.MkdirTemp("/tmp", "clusterbench-")
	benchutil.Check(err)
	benchutil.OnExit(func() { _ = os.RemoveAll(base) })
	tar := filepath.Join(base, "busybox.tar")
	benchutil.BuildRootfs(filepath.Join(base, "rootfs"), tar)

	// The test network: a bridge and three namespaces.
	prefix := freeSubnet()
	bridge := "wcb" + rnd()
	ip("link", "add", bridge, "type", "bridge")
	benchutil.OnExit(func() { _ = exec.Command("ip", "link", "del", bridge).Run() })
	ip("addr", "add", prefix+"1/24", "dev", bridge)
	ip("link", "set", bridge, "up")
	var nodes []*node
	for i, name := range []string{"m1", "w1", "w2"} {
		n := &node{name: name, netns: "wcb" + rnd(), addr: fmt.Sprintf("%s%d", prefix, 10+i), dir: filepath.Join(base, name)}
		n.sock = filepath.Join(n.dir, "run", "wharf.sock")
		benchutil.Check(os.MkdirAll(n.dir, 0o755))
		ip("netns", "add", n.netns)
		benchutil.OnExit(func() { _ = exec.Command("ip", "netns", "del", n.netns).Run() })
		veth := "wcv" + rnd()
		ip("link", "add", veth, "type", "veth", "peer", "name", veth+"p")
		ip("link", "set", veth, "master", bridge, "up")
		ip("link", "set", veth+"p", "netns", n.netns)
		ip("-n", n.netns, "link", "set", veth+"p", "name", "eth0")
		ip("-n", n.netns, "addr", "add", n.addr+"/24", "dev", "eth0")
		ip("-n", n.netns, "link", "set", "eth0", "up")
		ip("-n", n.netns, "link", "set", "lo", "up")
		nodes = append(nodes, n)
	}
	listen := net.JoinHostPort(nodes[0].addr, "4248")
	httpAddr := net.JoinHostPort(nodes[0].addr, "9280")
	for i, n := range nodes {
		n.args = []string{"daemon", "--root", filepath.Join(n.dir, "root"), "--exec-root", filepath.Join(n.dir, "run"), "--log-level", "warn",
			"--bridge-name", "wcd" + rnd(), "--bridge-subnet", freeSubnet() + "0/24", "--node-name", n.name}
		if i == 0 {
			n.args = append(n.args, "--cluster-init", "--cluster-listen", listen, "--http", httpAddr)
		} else {
			token := strings.TrimSpace(benchutil.MustWharf(bin, nodes[0].sock, "cluster", "token", "-q"))
			n.args = append(n.args, "--join", listen, "--cluster-token", token, "--http", "")
		}
		n.start(bin)
		benchutil.OnExit(func() {
			select {
			case <-n.exited:
				n.start(bin) // a killed daemon: back, to remove its containers
			default:
			}
			out, _ := benchutil.Wharf(bin, n.sock, "ps", "-aq")
			for _, id := range strings.Fields(out) {
				_, _ = benchutil.Wharf(bin, n.sock, "rm", "-f", id)
			}
			_ = n.cmd.Process.Signal(os.Interrupt)
			select {
			case <-n.exited:
			case <-time.After(20 * time.Second):
				_ = n.cmd.Process.Kill()
				<-n.exited
			}
			benchutil.UnmountUnder(n.dir)
		})
		benchutil.MustWharf(bin, n.sock, "import", tar, image)
	}
	if !benchutil.WaitFor(func() bool {
		out, err := benchutil.Wharf(bin, nodes[0].sock, "node", "ls")
		return err == nil && strings.Count(out, "READY") == 3
	}, 90*time.Second) {
		benchutil.Fatal("three READY nodes: not within 90 s")
	}
	var k struct{ AccessKeyId, SecretAccessKey string }
	benchutil.Check(json.Unmarshal([]byte(benchutil.MustWharf(bin, nodes[0].sock, "keys", "create", "--json", "--admin")), &k))
	ctx := context.Background()
	if *nBatch > 0 {
		slot := batchArray(ctx, "http://"+httpAddr, staticCreds(k.AccessKeyId, k.SecretAccessKey), *nBatch, *vcpus)
		// The paired figure: `wharf run --rm` of the same image and
		// command, vcpus at once spread over the three nodes (as the
		// children are), for at least as many runs as there are slots.
		runs := max(*nRuns, 3*(*vcpus))
		base := runRmSlot(bin, nodes, runs, *vcpus)
		fmt.Printf("%-58s %s\n", fmt.Sprintf("`wharf run --rm` of `true`, %d at once on the 3 nodes (%d): slot time per run", *vcpus, runs), benchutil.Ms(base))
		fmt.Printf("%-58s %.2fx (target ≤ 1.2x)\n", "  per child / per run --rm", float64(slot)/float64(base))
	}
	if !*service {
		return
	}
	ec := ecs.New(ecs.Options{BaseEndpoint: aws.String("http://" + httpAddr), Region: "us-east-1",
		Credentials: staticCreds(k.AccessKeyId, k.SecretAccessKey)})
	_, err = ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("sleeper"), ContainerDefinitions: []ecstypes.ContainerDefinition{{
		Name: aws.String("main"), Image: aws.String(image), Memory: aws.Int32(16), Cpu: 16, StopTimeout: aws.Int32(1), Command: []string{"sleep", "3600"}}}})
	benchutil.Check(err)
	ids := map[string]string{}
	ns, err := ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
	benchutil.Check(err)
	dci, err := ec.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: ns.ContainerInstanceArns})
	benchutil.Check(err)
	for _, ci := range dci.ContainerInstances {
		ids[aws.ToString(ci.Ec2InstanceId)] = aws.ToString(ci.ContainerInstanceArn)
	}

	// Baseline: `wharf run -d` one after another on the manager.
	start := time.Now()
	for i := 0; i < *nRuns; i++ {
		benchutil.MustWharf(bin, nodes[0].sock, "run", "-d", "--name", fmt.Sprintf("base%d", i), image, "sleep", "3600")
	}
	perRun := time.Since(start) / time.Duration(*nRuns)
	for i := 0; i < *nRuns; i++ {
		_, _ = benchutil.Wharf(bin, nodes[0].sock, "rm", "-f", fmt.Sprintf("base%d", i))
	}

	// The service, from 0 to nTasks.
	load := loadavg()
	start = time.Now()
	_, err = ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("bench"), TaskDefinition: aws.String("sleeper"),
		DesiredCount: aws.Int32(int32(*nTasks)), PlacementStrategy: []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}}})
	benchutil.Check(err)
	if !benchutil.WaitFor(func() bool {
		d, err := ec.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{"bench"}})
		return err == nil && len(d.Services) == 1 && int(d.Services[0].RunningCount) == *nTasks
	}, 10*time.Minute) {
		benchutil.Fatal("the service did not reach its desired count within 10 minutes")
	}
	scale := time.Since(start)

	// Node failure: kill -9 w2.
	running := func(exclude string) (int, int) {
		l, err := ec.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String("bench"), MaxResults: aws.Int32(100)})
		if err != nil {
			return 0, 0
		}
		arns := l.TaskArns
		for l.NextToken != nil {
			if l, err = ec.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String("bench"), NextToken: l.NextToken}); err != nil {
				return 0, 0
			}
			arns = append(arns, l.TaskArns...)
		}
		placed, up := 0, 0
		for i := 0; i < len(arns); i += 100 {
			d, err := ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: arns[i:min(i+100, len(arns))]})
			if err != nil {
				return 0, 0
			}
			for _, t := range d.Tasks {
				if aws.ToString(t.ContainerInstanceArn) == exclude {
					continue
				}
				placed++
				if aws.ToString(t.LastStatus) == "RUNNING" {
					up++
				}
			}
		}
		return placed, up
	}
	nodes[2].kill9()
	killed := time.Now()
	var placedAfter time.Duration
	if !benchutil.WaitFor(func() bool {
		p, u := running(ids["w2"])
		if p == *nTasks && placedAfter == 0 {
			placedAfter = time.Since(killed)
		}
		return u == *nTasks
	}, 3*time.Minute) {
		benchutil.Fatal("w2's tasks were not replaced within 3 minutes")
	}
	recovered := time.Since(killed)
	_, _ = ec.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String("bench"), Force: aws.Bool(true)})

	fmt.Printf("clusterbench: 3 nodes (1 manager, 2 workers) in network namespaces, load average at the start %s\n", load)
	fmt.Printf("%-58s %s\n", "service 0 → "+fmt.Sprint(*nTasks)+" running tasks (CreateService → runningCount)", scale.Round(10*time.Millisecond))
	fmt.Printf("%-58s %s\n", "  per task", benchutil.Ms(scale/time.Duration(*nTasks)))
	fmt.Printf("%-58s %s\n", fmt.Sprintf("`wharf run -d` on one node, one after another (%d)", *nRuns), benchutil.Ms(perRun))
	fmt.Printf("%-58s %.2fx\n", "  cluster per task / run -d", float64(scale/time.Duration(*nTasks))/float64(perRun))
	fmt.Printf("%-58s %s\n", "node kill -9 → its tasks placed on the other nodes", placedAfter.Round(10*time.Millisecond))
	fmt.Printf("%-58s %s (target ≤ 10 s)\n", "node kill -9 → all tasks RUNNING again", recovered.Round(10*time.Millisecond))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
