package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// subnetIDs are the nodes' task subnet ids by node name (m1, w1, w2), as
// DescribeContainerInstances shows them (ecs.subnet-id).
func (c *taskCluster) subnetIDs(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	ids := make([]string, 0, len(c.ids))
	for _, id := range c.ids {
		ids = append(ids, id)
	}
	out := map[string]string{}
	until(t, 60*time.Second, "every node's task subnet", func() (bool, string) {
		r, err := c.ec.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: ids})
		if err != nil {
			return false, err.Error()
		}
		for _, ci := range r.ContainerInstances {
			for _, a := range ci.Attributes {
				if aws.ToString(a.Name) == "ecs.subnet-id" {
					out[c.byID(shortID(aws.ToString(ci.ContainerInstanceArn)))] = aws.ToString(a.Value)
				}
			}
		}
		return len(out) == len(c.ids), fmt.Sprint(out)
	})
	return out
}

// attachmentDetails waits for the task's ENI attachment to be ATTACHED
// and returns its details.
func (c *taskCluster) attachmentDetails(t *testing.T, ctx context.Context, arn string) map[string]string {
	t.Helper()
	var got ecstypes.Task
	until(t, 30*time.Second, "the attachment of "+arn, func() (bool, string) {
		got = c.describe(t, ctx, []string{arn})[0]
		return len(got.Attachments) == 1 && aws.ToString(got.Attachments[0].Status) == "ATTACHED", fmt.Sprintf("%+v", got.Attachments)
	})
	d := map[string]string{}
	for _, kv := range got.Attachments[0].Details {
		d[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	if aws.ToString(got.Attachments[0].Type) != "ElasticNetworkInterface" || !strings.HasPrefix(d["networkInterfaceId"], "eni-") || d["macAddress"] == "" {
		t.Fatalf("attachment of %s: %+v", arn, got.Attachments[0])
	}
	for _, ct := range got.Containers {
		if len(ct.NetworkInterfaces) != 1 || aws.ToString(ct.NetworkInterfaces[0].PrivateIpv4Address) != d["privateIPv4Address"] {
			t.Fatalf("container %s of %s: interfaces %+v", aws.ToString(ct.Name), arn, ct.NetworkInterfaces)
		}
	}
	return d
}

// nodeTaskSubnet is the task subnet node d's bridge holds.
func nodeTaskSubnet(t *testing.T, d *testutil.Node) netip.Prefix {
	t.Helper()
	cidr := netip.MustParsePrefix(awsvpcCIDR)
	var sub netip.Prefix
	until(t, 60*time.Second, "the task subnet of "+d.Netns, func() (bool, string) {
		out, err := d.Exec("ip", "-4", "-o", "addr", "show")
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 4 {
				if p, err := netip.ParsePrefix(f[3]); err == nil && cidr.Contains(p.Addr()) {
					sub = p.Masked()
				}
			}
		}
		return err == nil && sub.IsValid(), string(out)
	})
	return sub
}

// taskUserns is what the host shows of a container's process: its
// host uid, its uid_map and its user and network namespaces.
type taskUserns struct {
	pid       int
	uid       int
	uidMap    string
	user, net uint64
}

func usernsOf(t *testing.T, d *testutil.Node, id string) taskUserns {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(d.MustWharf(t, "inspect", "--format", "{{.State.Pid}}", id)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid of %s: %v", id, err)
	}
	m, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	if err != nil {
		t.Fatal(err)
	}
	ino := func(ns string) uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, ns), &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	return taskUserns{pid: pid, uid: procUID(t, pid), uidMap: strings.Join(strings.Fields(string(m)), " "), user: ino("user"), net: ino("net")}
}

// FARGATE tasks on the awsvpc task network: a Fargate task of two
// containers gets its own address in its node's task subnet (the
// subnets its networkConfiguration names place it), which DescribeTasks
// shows as its ENI attachment; a Fargate task on another node and a node
// without tasks reach it by that address; its containers share
// localhost; their processes run on the host as ids of the task's one
// range (not root), in one user namespace that owns their network
// namespace. A kill -9 of its node's daemon keeps the task, its range
// and its address. Stopped, its address, namespaces and range go. A
// FARGATE RunTask without a networkConfiguration is refused, as ECS
// refuses it.
func TestClusterFargateAwsvpc(t *testing.T) {
	c := newTaskCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	subnets := c.subnetIDs(t, ctx)
	w1, w2 := c.workers[0], c.workers[1]
	w1Subnet := nodeTaskSubnet(t, w1)

	server := &ecs.RegisterTaskDefinitionInput{Family: aws.String("fgsrv"), NetworkMode: ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate}, Cpu: aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{Name: aws.String("server"), Image: aws.String(busybox), Memory: aws.Int32(32), StopTimeout: aws.Int32(1),
				PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}},
				Command:      []string{"sh", "-c", "printf '#!/bin/sh\\necho pong\\nnetstat -tn\\n' > /answer && chmod +x /answer && exec nc -ll -p 8080 -e /answer"}},
			{Name: aws.String("side"), Image: aws.String(busybox), Memory: aws.Int32(32), StopTimeout: aws.Int32(1), Essential: aws.Bool(false),
				Command: []string{"sleep", "3600"}},
		}}
	client := sleeperDef("fgcli", "1")
	client.NetworkMode = ecstypes.NetworkModeAwsvpc
	client.RequiresCompatibilities = []ecstypes.Compatibility{ecstypes.CompatibilityFargate}
	client.Cpu, client.Memory = aws.String("256"), aws.String("512")
	for _, td := range []*ecs.RegisterTaskDefinitionInput{server, client} {
		if _, err := c.ec.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
	}
	// As on ECS: a Fargate definition is awsvpc, and a Fargate run of
	// one names its subnets.
	bridge := sleeperDef("fgbridge", "1")
	bridge.RequiresCompatibilities = []ecstypes.Compatibility{ecstypes.CompatibilityFargate}
	bridge.Cpu, bridge.Memory = aws.String("256"), aws.String("512")
	var ce *ecstypes.ClientException
	if _, err := c.ec.RegisterTaskDefinition(ctx, bridge); !errors.As(err, &ce) || !strings.Contains(ce.ErrorMessage(), "Fargate only supports network mode 'awsvpc'.") {
		t.Fatalf("a Fargate definition in bridge mode: %v", err)
	}
	var ipe *ecstypes.InvalidParameterException
	if _, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("fgsrv"), LaunchType: ecstypes.LaunchTypeFargate}); !errors.As(err, &ipe) ||
		!strings.Contains(ipe.ErrorMessage(), "Network Configuration must be provided when networkMode 'awsvpc' is specified.") {
		t.Fatalf("a Fargate run without networkConfiguration: %v", err)
	}

	run := func(family, node string) ecstypes.Task {
		t.Helper()
		r, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(family), LaunchType: ecstypes.LaunchTypeFargate,
			NetworkConfiguration: awsvpcConf(subnets[node])})
		if err != nil || len(r.Tasks) != 1 {
			t.Fatalf("RunTask %s FARGATE in %s's subnet: %+v %v", family, node, r, err)
		}
		var got ecstypes.Task
		until(t, 60*time.Second, family+" RUNNING", func() (bool, string) {
			got = c.describe(t, ctx, []string{aws.ToString(r.Tasks[0].TaskArn)})[0]
			return aws.ToString(got.LastStatus) == "RUNNING", aws.ToString(got.LastStatus) + " " + aws.ToString(got.StoppedReason)
		})
		if on := c.byID(shortID(aws.ToString(got.ContainerInstanceArn))); on != node || got.LaunchType != ecstypes.LaunchTypeFargate {
			t.Fatalf("%s FARGATE in %s's subnet runs on %s (%s)", family, node, on, got.LaunchType)
		}
		return got
	}
	srv := run("fgsrv", "w1")
	cli := run("fgcli", "w2")
	d := c.attachmentDetails(t, ctx, aws.ToString(srv.TaskArn))
	srvIP, err := netip.ParseAddr(d["privateIPv4Address"])
	if err != nil || !w1Subnet.Contains(srvIP) || d["subnetId"] != subnets["w1"] {
		t.Fatalf("the Fargate server's attachment %+v, want an address in w1's subnet %s (%s)", d, w1Subnet, subnets["w1"])
	}
	cliIP, err := netip.ParseAddr(c.attachmentDetails(t, ctx, aws.ToString(cli.TaskArn))["privateIPv4Address"])
	if err != nil {
		t.Fatal(err)
	}
	runtimeID := func(task ecstypes.Task, name string) string {
		for _, ct := range c.describe(t, ctx, []string{aws.ToString(task.TaskArn)})[0].Containers {
			if aws.ToString(ct.Name) == name {
				return aws.ToString(ct.RuntimeId)
			}
		}
		t.Fatalf("no container %s in %s", name, aws.ToString(task.TaskArn))
		return ""
	}
	inTask := func(d *testutil.Node, id, script string) (string, error) {
		out, errOut, code := d.Wharf(t, "exec", id, "sh", "-c", script)
		if code != 0 {
			return out, fmt.Errorf("exit %d: %s", code, errOut)
		}
		return out, nil
	}
	ask := fmt.Sprintf("echo hi | nc -w 3 %s 8080", srvIP)
	// From the Fargate client on w2, with its own address as the source.
	until(t, 30*time.Second, "the Fargate server from the Fargate client on w2", func() (bool, string) {
		out, err := inTask(w2, runtimeID(cli, "main"), ask)
		return err == nil && strings.Contains(out, "pong") && strings.Contains(out, cliIP.String()), fmt.Sprintf("%q %v", out, err)
	})
	// From m1's namespace, where no task runs.
	fromM1 := func(what string) {
		t.Helper()
		until(t, 60*time.Second, what, func() (bool, string) {
			out, err := c.m.Exec("sh", "-c", strings.ReplaceAll(ask, "nc ", "busybox nc "))
			return err == nil && strings.Contains(string(out), "pong"), fmt.Sprintf("%q %v", out, err)
		})
	}
	fromM1("the Fargate server from m1's namespace")
	// Over localhost, from the task's other container.
	srvID, sideID := runtimeID(srv, "server"), runtimeID(srv, "side")
	if out, err := inTask(w1, sideID, "echo hi | nc -w 3 127.0.0.1 8080"); err != nil || !strings.Contains(out, "pong") {
		t.Fatalf("the server over 127.0.0.1 from its task's other container: %q %v", out, err)
	}

	// The task's processes: not root on the host, ids of one range, one
	// user namespace that owns their one network namespace.
	a, b := usernsOf(t, w1, srvID), usernsOf(t, w1, sideID)
	f := strings.Fields(a.uidMap)
	if len(f) != 3 || f[0] != "0" || f[1] == "0" || f[2] != "65536" || a.uid == 0 || strconv.Itoa(a.uid) != f[1] {
		t.Fatalf("the server's process %d: host uid %d, uid_map %q, want root mapped onto an unprivileged range", a.pid, a.uid, a.uidMap)
	}
	if b.uid != a.uid || b.uidMap != a.uidMap || b.user != a.user || b.net != a.net {
		t.Fatalf("the task's containers are not in one user and network namespace: %+v, %+v", a, b)
	}
	cliNS := usernsOf(t, w2, runtimeID(cli, "main"))
	if cliNS.uid == 0 {
		t.Fatalf("the Fargate client runs as the host's root")
	}
	t.Logf("Fargate server: %s on w1, host uid %d (uid_map %q); client %s on w2, host uid %d", srvIP, a.uid, a.uidMap, cliIP, cliNS.uid)

	// w1's daemon killed and restarted: the task keeps running with its
	// address and its range.
	w1.Kill9()
	w1.Restart(t)
	fromM1("the Fargate server after w1's daemon was killed and restarted")
	if x := c.describe(t, ctx, []string{aws.ToString(srv.TaskArn)})[0]; aws.ToString(x.LastStatus) != "RUNNING" ||
		aws.ToString(x.Containers[0].NetworkInterfaces[0].PrivateIpv4Address) != srvIP.String() {
		t.Fatalf("the Fargate server after the restart: %s %+v", aws.ToString(x.LastStatus), x.Containers)
	}
	if again := usernsOf(t, w1, srvID); again != a {
		t.Fatalf("the server's process after the restart: %+v, before %+v", again, a)
	}
	// The side container restarted: back in the task's user and network
	// namespaces, with the task's range.
	w1.MustWharf(t, "restart", "-t", "1", sideID)
	if again := usernsOf(t, w1, sideID); again.uid != a.uid || again.user != a.user || again.net != a.net {
		t.Fatalf("the side container after its restart: %+v, want the task's %+v", again, a)
	}
	if out, err := inTask(w1, sideID, "echo hi | nc -w 3 127.0.0.1 8080"); err != nil || !strings.Contains(out, "pong") {
		t.Fatalf("over 127.0.0.1 after the side container's restart: %q %v", out, err)
	}

	// Stopped: its address, its namespaces and its range are released.
	srvSandbox := shortID(aws.ToString(srv.TaskArn)) + "-awsvpc"
	if _, err := c.ec.StopTask(ctx, &ecs.StopTaskInput{Task: srv.TaskArn}); err != nil {
		t.Fatal(err)
	}
	until(t, 60*time.Second, "the Fargate server STOPPED, its attachment DELETED", func() (bool, string) {
		x := c.describe(t, ctx, []string{aws.ToString(srv.TaskArn)})[0]
		return aws.ToString(x.LastStatus) == "STOPPED" && len(x.Attachments) == 1 && aws.ToString(x.Attachments[0].Status) == "DELETED",
			fmt.Sprintf("%s %+v", aws.ToString(x.LastStatus), x.Attachments)
	})
	until(t, 30*time.Second, "the server's sandbox and user namespace released on w1", func() (bool, string) {
		var nets []struct{ Containers map[string]json.RawMessage }
		_ = json.Unmarshal([]byte(w1.MustWharf(t, "network", "inspect", "wharf-awsvpc")), &nets)
		ents, _ := os.ReadDir(filepath.Join(w1.Root, "userns"))
		held := false
		for _, m := range w1.Mounts() {
			held = held || strings.HasPrefix(m, filepath.Join(w1.Root, "userns"))
		}
		return len(nets) == 1 && nets[0].Containers[srvSandbox] == nil && len(ents) == 0 && !held, fmt.Sprintf("%v %v %v", nets, ents, held)
	})
	if out, err := c.m.Exec("sh", "-c", strings.ReplaceAll(ask, "nc ", "busybox nc ")); err == nil && strings.Contains(string(out), "pong") {
		t.Fatalf("a stopped Fargate task's address still answers: %q", out)
	}
	stopAll(t, ctx, c)
	until(t, 60*time.Second, "every Fargate task's user namespace released", func() (bool, string) {
		for _, d := range c.all() {
			if ents, _ := os.ReadDir(filepath.Join(d.Root, "userns")); len(ents) > 0 {
				return false, fmt.Sprintf("%s: %v", d.Netns, ents)
			}
		}
		return true, ""
	})
}
