package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// awsvpcCIDR is the test cluster's task network (newTaskCluster sets it):
// outside the 10.200-249 range the harness's node networks come from.
const awsvpcCIDR = "10.190.0.0/16"

// awsvpc tasks on three namespaced nodes: a server task on w1 answers on
// its own address of the cluster's task network, from a task on w2 and
// from m1's namespace (no task there), with the peers' real addresses
// (no masquerade between task subnets); its two containers share one
// namespace and talk over 127.0.0.1; a container that exits takes the
// address from no other; DescribeTasks (aws-sdk-go-v2) shows the
// attachment and the containers' networkInterfaces; the task keeps its
// address across a kill -9 of its node's daemon; a stopped task's
// address no longer answers and its namespace is gone; an awsvpc
// service answers through the routing mesh; networkConfiguration is
// checked as ECS checks it.
func TestClusterAwsvpc(t *testing.T) {
	c := newTaskCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cidr := netip.MustParsePrefix(awsvpcCIDR)

	// Every node leased its own subnet and routes the others'.
	var subnets map[string]netip.Prefix
	until(t, 60*time.Second, "three task subnets", func() (bool, string) {
		subnets = map[string]netip.Prefix{}
		for _, d := range c.all() {
			out, err := d.Exec("ip", "-4", "-o", "addr", "show")
			if err != nil {
				return false, string(out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) < 4 {
					continue
				}
				p, err := netip.ParsePrefix(f[3])
				if err == nil && cidr.Contains(p.Addr()) {
					subnets[d.Netns] = p.Masked()
				}
			}
		}
		seen := map[netip.Prefix]bool{}
		for _, p := range subnets {
			seen[p] = true
		}
		return len(subnets) == 3 && len(seen) == 3, fmt.Sprint(subnets)
	})
	for _, d := range c.all() {
		until(t, 30*time.Second, "routes to the other nodes' subnets on "+d.Netns, func() (bool, string) {
			out, _ := d.Exec("ip", "-4", "route", "show", "proto", "212")
			n := 0
			for _, o := range c.all() {
				if o != d && strings.Contains(string(out), subnets[o.Netns].String()+" via "+o.Addr.String()) {
					n++
				}
			}
			return n == 2, string(out)
		})
	}

	// A server task: "server" answers each connection with "pong" and
	// its namespace's TCP connections (the peer's address as it sees
	// it); "side" shares its namespace.
	server := &ecs.RegisterTaskDefinitionInput{Family: aws.String("vpcsrv"), NetworkMode: ecstypes.NetworkModeAwsvpc, ContainerDefinitions: []ecstypes.ContainerDefinition{
		{Name: aws.String("server"), Image: aws.String(busybox), Memory: aws.Int32(32), StopTimeout: aws.Int32(1),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080), Name: aws.String("srv")}},
			Command:      []string{"sh", "-c", "printf '#!/bin/sh\\necho pong\\nnetstat -tn\\n' > /answer && chmod +x /answer && exec nc -ll -p 8080 -e /answer"}},
		{Name: aws.String("side"), Image: aws.String(busybox), Memory: aws.Int32(32), StopTimeout: aws.Int32(1), Essential: aws.Bool(false),
			Command: []string{"sleep", "3600"}},
	}}
	client := sleeperDef("vpccli", "1")
	client.NetworkMode = ecstypes.NetworkModeAwsvpc
	for _, td := range []*ecs.RegisterTaskDefinitionInput{server, client} {
		if _, err := c.ec.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
	}

	// networkConfiguration: refused with a bridge task definition, with
	// security groups, with a public address and an unknown subnet;
	// a task subnet's id places the task on the node that holds it.
	var ipe *ecstypes.InvalidParameterException
	for what, in := range map[string]*ecs.RunTaskInput{
		"a bridge task definition": {TaskDefinition: aws.String("sleeper"), NetworkConfiguration: awsvpcConf("subnet-0abe0000")},
		"security groups": {TaskDefinition: aws.String("vpccli"), NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: []string{"subnet-0abe0000"}, SecurityGroups: []string{"sg-1"}}}},
		"a public address": {TaskDefinition: aws.String("vpccli"), NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: []string{"subnet-0abe0000"}, AssignPublicIp: ecstypes.AssignPublicIpEnabled}}},
		"an unknown subnet": {TaskDefinition: aws.String("vpccli"), NetworkConfiguration: awsvpcConf("subnet-deadbeef")},
		"no subnet":         {TaskDefinition: aws.String("vpccli"), NetworkConfiguration: awsvpcConf()},
	} {
		if what == "a bridge task definition" {
			if _, err := c.ec.RegisterTaskDefinition(ctx, sleeperDef("sleeper", "1")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.ec.RunTask(ctx, in); !errors.As(err, &ipe) {
			t.Fatalf("RunTask with %s: %v, want InvalidParameterException", what, err)
		}
	}
	w1, w2 := c.workers[0], c.workers[1]
	srv := c.runOn(t, ctx, "vpcsrv", "w1")
	cli := c.runOn(t, ctx, "vpccli", "w2")
	// The client goes where its subnet is.
	cli2r, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("vpccli"), NetworkConfiguration: awsvpcConf(subnetID(subnets[w2.Netns]))})
	if err != nil || len(cli2r.Tasks) != 1 || c.byID(shortID(aws.ToString(cli2r.Tasks[0].ContainerInstanceArn))) != "w2" {
		t.Fatalf("RunTask in w2's subnet: %+v %v", cli2r, err)
	}
	if a := cli2r.Tasks[0].Attachments; len(a) != 1 || aws.ToString(a[0].Type) != "ElasticNetworkInterface" || aws.ToString(a[0].Status) != "PRECREATED" {
		t.Fatalf("RunTask's attachment: %+v", a)
	}

	// DescribeTasks: the attachment and the containers' interfaces.
	var srvIP, cliIP netip.Addr
	for _, x := range []struct {
		task ecstypes.Task
		node *testutil.Node
		ip   *netip.Addr
	}{{srv, w1, &srvIP}, {cli, w2, &cliIP}} {
		var got ecstypes.Task
		until(t, 30*time.Second, "the attachment of "+aws.ToString(x.task.TaskArn), func() (bool, string) {
			got = c.describe(t, ctx, []string{aws.ToString(x.task.TaskArn)})[0]
			return len(got.Attachments) == 1 && aws.ToString(got.Attachments[0].Status) == "ATTACHED", fmt.Sprintf("%+v", got.Attachments)
		})
		a := got.Attachments[0]
		d := map[string]string{}
		for _, kv := range a.Details {
			d[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
		}
		ip, err := netip.ParseAddr(d["privateIPv4Address"])
		if err != nil || !subnets[x.node.Netns].Contains(ip) || aws.ToString(a.Type) != "ElasticNetworkInterface" ||
			d["subnetId"] != subnetID(subnets[x.node.Netns]) || !strings.HasPrefix(d["networkInterfaceId"], "eni-") || d["macAddress"] == "" ||
			d["privateDnsName"] != "ip-"+strings.ReplaceAll(ip.String(), ".", "-") {
			t.Fatalf("attachment on %s (subnet %s): %+v", x.node.Netns, subnets[x.node.Netns], d)
		}
		*x.ip = ip
		for _, ct := range got.Containers {
			if len(ct.NetworkInterfaces) != 1 || aws.ToString(ct.NetworkInterfaces[0].AttachmentId) != aws.ToString(a.Id) ||
				aws.ToString(ct.NetworkInterfaces[0].PrivateIpv4Address) != ip.String() || len(ct.NetworkBindings) != 0 {
				t.Fatalf("container %s: interfaces %+v bindings %+v", aws.ToString(ct.Name), ct.NetworkInterfaces, ct.NetworkBindings)
			}
		}
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
	ask := func(from func(string) (string, error), ip netip.Addr) (string, error) {
		return from(fmt.Sprintf("echo hi | nc -w 3 %s 8080", ip))
	}
	inTask := func(d *testutil.Node, id string) func(string) (string, error) {
		return func(script string) (string, error) {
			out, errOut, code := d.Wharf(t, "exec", id, "sh", "-c", script)
			if code != 0 {
				return out, fmt.Errorf("exit %d: %s", code, errOut)
			}
			return out, nil
		}
	}
	inNode := func(d *testutil.Node) func(string) (string, error) {
		return func(script string) (string, error) {
			out, err := d.Exec("sh", "-c", strings.ReplaceAll(script, "nc ", "busybox nc "))
			return string(out), err
		}
	}
	// From the client task on w2, with its own address as the source.
	until(t, 30*time.Second, "the server from the client task on w2", func() (bool, string) {
		out, err := ask(inTask(w2, runtimeID(cli, "main")), srvIP)
		return err == nil && strings.Contains(out, "pong") && strings.Contains(out, cliIP.String()), fmt.Sprintf("%q %v", out, err)
	})
	// From m1's namespace, where no task runs.
	until(t, 30*time.Second, "the server from m1's namespace", func() (bool, string) {
		out, err := ask(inNode(c.m), srvIP)
		return err == nil && strings.Contains(out, "pong") && strings.Contains(out, c.m.Addr.String()), fmt.Sprintf("%q %v", out, err)
	})
	// Over localhost, within the task.
	side := runtimeID(srv, "side")
	if out, err := ask(inTask(w1, side), netip.MustParseAddr("127.0.0.1")); err != nil || !strings.Contains(out, "pong") {
		t.Fatalf("the server over 127.0.0.1 from its task's other container: %q %v", out, err)
	}
	// Nothing of the task is published on the node.
	if out, err := w1.Exec("sh", "-c", fmt.Sprintf("echo hi | busybox nc -w 2 %s 8080", w1.Addr)); err == nil && strings.Contains(string(out), "pong") {
		t.Fatalf("the task's port answers on its node's address: %s", out)
	}
	// A container that exits takes the address from no other.
	w1.MustWharf(t, "stop", "-t", "1", side)
	until(t, 20*time.Second, "the server after its task's other container exited", func() (bool, string) {
		out, err := ask(inNode(c.m), srvIP)
		return err == nil && strings.Contains(out, "pong"), fmt.Sprintf("%q %v", out, err)
	})

	// The daemon of w1 killed and restarted: the task keeps running with
	// its address (the engine keeps the namespace its containers join).
	w1.Kill9()
	w1.Restart(t)
	until(t, 60*time.Second, "the server after w1's daemon was killed and restarted", func() (bool, string) {
		out, err := ask(inNode(c.m), srvIP)
		return err == nil && strings.Contains(out, "pong"), fmt.Sprintf("%q %v", out, err)
	})
	if x := c.describe(t, ctx, []string{aws.ToString(srv.TaskArn)})[0]; aws.ToString(x.LastStatus) != "RUNNING" ||
		aws.ToString(x.Containers[0].NetworkInterfaces[0].PrivateIpv4Address) != srvIP.String() {
		t.Fatalf("the server task after the restart: %s %+v", aws.ToString(x.LastStatus), x.Containers)
	}

	// The task's namespace is a sandbox of w1's wharf-awsvpc network.
	sandboxes := func(d *testutil.Node) map[string]string {
		var nets []struct {
			Containers map[string]struct{ IPv4Address string }
		}
		if err := json.Unmarshal([]byte(d.MustWharf(t, "network", "inspect", "wharf-awsvpc")), &nets); err != nil || len(nets) != 1 {
			t.Fatalf("network inspect: %v", err)
		}
		out := map[string]string{}
		for id, ep := range nets[0].Containers {
			out[id] = ep.IPv4Address
		}
		return out
	}
	srvSandbox := shortID(aws.ToString(srv.TaskArn)) + "-awsvpc"
	if sb := sandboxes(w1); !strings.HasPrefix(sb[srvSandbox], srvIP.String()+"/") {
		t.Fatalf("the server task's sandbox on wharf-awsvpc: %v", sb)
	}

	// Stopped: its address is released and answers no more.
	if _, err := c.ec.StopTask(ctx, &ecs.StopTaskInput{Task: srv.TaskArn}); err != nil {
		t.Fatal(err)
	}
	until(t, 60*time.Second, "the server task STOPPED, its attachment DELETED", func() (bool, string) {
		x := c.describe(t, ctx, []string{aws.ToString(srv.TaskArn)})[0]
		return aws.ToString(x.LastStatus) == "STOPPED" && len(x.Attachments) == 1 && aws.ToString(x.Attachments[0].Status) == "DELETED",
			fmt.Sprintf("%s %+v", aws.ToString(x.LastStatus), x.Attachments)
	})
	if out, err := ask(inNode(c.m), srvIP); err == nil && strings.Contains(out, "pong") {
		t.Fatalf("a stopped task's address still answers: %q", out)
	}
	if sb := sandboxes(w1); sb[srvSandbox] != "" {
		t.Fatalf("the stopped task's sandbox is still on wharf-awsvpc: %v", sb)
	}
	// An awsvpc service with Service Connect: the mesh forwards to the
	// task's own address, from the published port of a node without
	// the task and by name from an awsvpc task (whose name server is
	// its node's task network DNS).
	if _, err := c.ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("vpcsrv"), TaskDefinition: aws.String("vpcsrv"),
		DesiredCount: aws.Int32(1), NetworkConfiguration: awsvpcConf(subnetID(subnets[w1.Netns])),
		ServiceConnectConfiguration: &ecstypes.ServiceConnectConfiguration{Enabled: true, Services: []ecstypes.ServiceConnectService{{
			PortName: aws.String("srv"), ClientAliases: []ecstypes.ServiceConnectClientAlias{{Port: aws.Int32(9090)}}}}}}); err != nil {
		t.Fatal(err)
	}
	until(t, 60*time.Second, "the awsvpc service on m1's published port", func() (bool, string) {
		out, err := inNode(c.m)(fmt.Sprintf("echo hi | nc -w 3 %s 9090", c.m.Addr))
		return err == nil && strings.Contains(out, "pong"), fmt.Sprintf("%q %v", out, err)
	})
	until(t, 30*time.Second, "the awsvpc service by name from the client task", func() (bool, string) {
		out, err := inTask(w2, runtimeID(cli, "main"))("echo hi | nc -w 3 srv 9090")
		return err == nil && strings.Contains(out, "pong"), fmt.Sprintf("%q %v", out, err)
	})
	if _, err := c.ec.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String("vpcsrv"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}

	stopAll(t, ctx, c)
	until(t, 60*time.Second, "every task's address released", func() (bool, string) {
		for _, d := range c.all() {
			if sb := sandboxes(d); len(sb) > 0 {
				return false, fmt.Sprintf("%s: %v", d.Netns, sb)
			}
		}
		return true, ""
	})
	// The task network lives in the nodes' namespaces: nothing of it in
	// the host's.
	if out, err := exec.Command("ip", "-4", "route", "show", "proto", "212").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("routes of the task network in the host's namespace: %q %v", out, err)
	}
}

// awsvpcConf is a networkConfiguration with subnets.
func awsvpcConf(subnets ...string) *ecstypes.NetworkConfiguration {
	if subnets == nil {
		// The SDK refuses a missing list itself; an empty one reaches the
		// server.
		subnets = []string{}
	}
	return &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: subnets}}
}

// subnetID is a task subnet's id (state.SubnetID).
func subnetID(p netip.Prefix) string {
	a := p.Addr().As4()
	return fmt.Sprintf("subnet-%02x%02x%02x%02x", a[0], a[1], a[2], a[3])
}

// runOn starts one task of family on the node named node and waits until
// it runs.
func (c *taskCluster) runOn(t *testing.T, ctx context.Context, family, node string) ecstypes.Task {
	t.Helper()
	r, err := c.ec.StartTask(ctx, &ecs.StartTaskInput{TaskDefinition: aws.String(family), ContainerInstances: []string{c.ids[node]}})
	if err != nil || len(r.Tasks) != 1 {
		t.Fatalf("StartTask %s on %s: %+v %v", family, node, r, err)
	}
	var got ecstypes.Task
	until(t, 60*time.Second, family+" RUNNING on "+node, func() (bool, string) {
		got = c.describe(t, ctx, []string{aws.ToString(r.Tasks[0].TaskArn)})[0]
		return aws.ToString(got.LastStatus) == "RUNNING", aws.ToString(got.LastStatus) + " " + aws.ToString(got.StoppedReason)
	})
	return got
}
