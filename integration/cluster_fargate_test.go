package integration

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// procUID is the real uid of a host process.
func procUID(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if x := strings.Fields(sc.Text()); len(x) > 1 && x[0] == "Uid:" {
			n, _ := strconv.Atoi(x[1])
			return n
		}
	}
	t.Fatalf("pid %d: no Uid", pid)
	return -1
}

// runOne runs one task of the family and waits for it to be RUNNING;
// it returns the task and the node and engine id of its container.
func (c *taskCluster) runOne(t *testing.T, ctx context.Context, family string, lt ecstypes.LaunchType) (ecstypes.Task, *testutil.Node, string) {
	t.Helper()
	in := &ecs.RunTaskInput{TaskDefinition: aws.String(family), LaunchType: lt}
	if lt == ecstypes.LaunchTypeFargate {
		// ECS requires the subnets of a Fargate task: any node's.
		in.NetworkConfiguration = awsvpcConf(slices.Sorted(maps.Values(c.subnetIDs(t, ctx)))...)
	}
	r, err := c.ec.RunTask(ctx, in)
	if err != nil || len(r.Tasks) != 1 {
		t.Fatalf("run %s: %+v %v", family, r, err)
	}
	arn := aws.ToString(r.Tasks[0].TaskArn)
	var x ecstypes.Task
	until(t, 45*time.Second, family+" RUNNING", func() (bool, string) {
		x = c.describe(t, ctx, []string{arn})[0]
		return aws.ToString(x.LastStatus) == "RUNNING" && aws.ToString(x.Containers[0].RuntimeId) != "", aws.ToString(x.LastStatus) + " " + aws.ToString(x.StoppedReason)
	})
	name := c.byID(shortID(aws.ToString(x.ContainerInstanceArn)))
	nodes := map[string]*testutil.Node{"m1": c.m, "w1": c.workers[0], "w2": c.workers[1]}
	n := nodes[name]
	if n == nil {
		t.Fatalf("task on an unknown node %s", name)
	}
	return x, n, aws.ToString(x.Containers[0].RuntimeId)
}

// A FARGATE task has no host root: root inside (id -u is 0), an
// unprivileged host uid outside, and its user namespace cannot write a
// root-owned host path; under runsc when the node has it. An EC2 task
// with a task-level memory of 64 MiB gets a task cgroup with that limit
// over its containers, removed with the task.
func TestClusterFargateIsolation(t *testing.T) {
	testutil.RequiresRoot(t)
	c := newTaskCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	fg := sleeperDef("fgiso", "1")
	fg.RequiresCompatibilities = []ecstypes.Compatibility{ecstypes.CompatibilityFargate}
	fg.NetworkMode = ecstypes.NetworkModeAwsvpc
	fg.Cpu, fg.Memory = aws.String("256"), aws.String("512")
	if _, err := c.ec.RegisterTaskDefinition(ctx, fg); err != nil {
		t.Fatal(err)
	}
	fgTask, node, id := c.runOne(t, ctx, "fgiso", ecstypes.LaunchTypeFargate)
	defer func() { _, _ = c.ec.StopTask(context.Background(), &ecs.StopTaskInput{Task: fgTask.TaskArn}) }()
	if out := strings.TrimSpace(node.MustWharf(t, "exec", id, "id", "-u")); out != "0" {
		t.Fatalf("id -u in the Fargate task: %q", out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(node.MustWharf(t, "inspect", "--format", "{{.State.Pid}}", id)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid of the Fargate task's container: %v", err)
	}
	if uid := procUID(t, pid); uid == 0 {
		t.Fatalf("the Fargate task's process %d runs as the host's root", pid)
	} else {
		t.Logf("Fargate task: pid %d, host uid %d", pid, uid)
	}
	rt := strings.TrimSpace(node.MustWharf(t, "inspect", "--format", "{{.HostConfig.Runtime}}", id))
	if _, err := exec.LookPath("runsc"); err == nil {
		if !strings.Contains(node.MustWharf(t, "info"), "runsc") {
			t.Errorf("runsc is installed but the daemon does not list it")
		}
		t.Logf("Fargate task runtime: %q (runsc installed)", rt)
	} else {
		t.Logf("runsc is not installed: the Fargate task runs under %q with its user namespace only", rt)
	}
	hostFile := filepath.Join(t.TempDir(), "host-only")
	if err := os.WriteFile(hostFile, []byte("root's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(hostFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nsenter", "--target", strconv.Itoa(pid), "--user", "--", "sh", "-c", "echo pwned >> "+hostFile).CombinedOutput(); err == nil {
		t.Fatalf("the Fargate task's user namespace wrote the host's %s: %s", hostFile, out)
	}
	if data, _ := os.ReadFile(hostFile); string(data) != "root's\n" {
		t.Fatalf("host file changed: %q", data)
	}

	// EC2 with a task size: the task cgroup caps its containers.
	ec2 := sleeperDef("ec2size", "1")
	ec2.Memory = aws.String("64")
	ec2.Cpu = aws.String("512")
	ec2.ContainerDefinitions[0].Memory = nil
	ec2.ContainerDefinitions[0].MemoryReservation = aws.Int32(16)
	if _, err := c.ec.RegisterTaskDefinition(ctx, ec2); err != nil {
		t.Fatal(err)
	}
	task, node, id := c.runOne(t, ctx, "ec2size", ecstypes.LaunchTypeEc2)
	taskID := shortID(aws.ToString(task.TaskArn))
	pid, _ = strconv.Atoi(strings.TrimSpace(node.MustWharf(t, "inspect", "--format", "{{.State.Pid}}", id)))
	if uid := procUID(t, pid); uid != 0 {
		t.Errorf("an EC2 task's process runs as host uid %d, want the ordinary root", uid)
	}
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	parent := "/wharf-tasks/" + taskID
	var memDir string
	for _, l := range strings.Split(string(cg), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[1] == "memory":
			memDir = filepath.Join("/sys/fs/cgroup/memory", filepath.Dir(f[2]))
		case f[0] == "0" && memDir == "":
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				memDir = filepath.Join("/sys/fs/cgroup", filepath.Dir(f[2]))
			}
		}
	}
	if !strings.HasSuffix(memDir, parent) {
		t.Fatalf("the container's memory cgroup is not below the task's %s: %s", parent, cg)
	}
	limit := readLimit(t, memDir)
	if limit != 64<<20 {
		t.Fatalf("task cgroup memory limit %d, want %d", limit, 64<<20)
	}
	quota, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpu", parent, "cpu.cfs_quota_us"))
	t.Logf("task cgroup %s: memory %d, cpu quota %s", memDir, limit, strings.TrimSpace(string(quota)))
	if q := strings.TrimSpace(string(quota)); q != "" && q != "50000" {
		t.Errorf("task cgroup cpu quota %s, want 50000 (512 units over 100 ms)", q)
	}

	if _, err := c.ec.StopTask(ctx, &ecs.StopTaskInput{Task: task.TaskArn}); err != nil {
		t.Fatal(err)
	}
	until(t, 60*time.Second, "the task cgroup removed", func() (bool, string) {
		_, err := os.Stat(memDir)
		return os.IsNotExist(err), memDir
	})
}

// readLimit reads a cgroup's memory limit (v1 memory.limit_in_bytes or
// v2 memory.max).
func readLimit(t *testing.T, dir string) int64 {
	t.Helper()
	for _, f := range []string{"memory.limit_in_bytes", "memory.max"} {
		if data, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			return n
		}
	}
	t.Fatalf("no memory limit file in %s", dir)
	return 0
}
