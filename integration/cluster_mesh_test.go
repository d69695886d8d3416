package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// echoDef is a service's task definition: busybox's httpd answering its
// container's hostname (the engine container id's first 12 characters)
// on port 80, published on a dynamic host port under the port mapping
// name "http", with a health check.
func echoDef(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []ecstypes.ContainerDefinition{{
		Name: aws.String("web"), Image: aws.String(busybox), Memory: aws.Int32(32), Cpu: 128, StopTimeout: aws.Int32(1),
		PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(80), Name: aws.String("http")}},
		Command:      []string{"sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"},
		HealthCheck: &ecstypes.HealthCheck{Command: []string{"CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/"},
			Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(2)},
	}}}
}

// Service discovery and the routing mesh on three namespaced nodes: a
// service of two tasks with Service Connect answers, by its names, in a
// container on every node (the task network and another user-defined
// network), and on its published port on every node's address (the node
// without a task included), round robin over both tasks; a stopped task
// leaves the set; scaled to 0 the names have no address and the port no
// backend; deleted, the port closes on every node.
func TestClusterMesh(t *testing.T) {
	c := newTaskCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := c.ec.RegisterTaskDefinition(ctx, echoDef("echo")); err != nil {
		t.Fatal(err)
	}
	const port = 8080
	sc := &ecstypes.ServiceConnectConfiguration{Enabled: true, Services: []ecstypes.ServiceConnectService{{
		PortName: aws.String("http"), DiscoveryName: aws.String("web"), ClientAliases: []ecstypes.ServiceConnectClientAlias{{Port: aws.Int32(port)}}}}}
	create := func(mod func(*ecs.CreateServiceInput)) (*ecs.CreateServiceOutput, error) {
		in := &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("echo"), DesiredCount: aws.Int32(2),
			PlacementStrategy:           []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}},
			ServiceConnectConfiguration: sc}
		if mod != nil {
			mod(in)
		}
		return c.ec.CreateService(ctx, in)
	}
	// What wharf does not implement is refused, never dropped.
	var ipe *ecstypes.InvalidParameterException
	for what, mod := range map[string]func(*ecs.CreateServiceInput){
		"serviceRegistries": func(in *ecs.CreateServiceInput) {
			in.ServiceRegistries = []ecstypes.ServiceRegistry{{RegistryArn: aws.String("arn:aws:servicediscovery:us-east-1:1:service/srv-1")}}
		},
		"loadBalancers": func(in *ecs.CreateServiceInput) {
			in.LoadBalancers = []ecstypes.LoadBalancer{{ContainerName: aws.String("web"), ContainerPort: aws.Int32(80), LoadBalancerName: aws.String("lb")}}
		},
		"an unknown portName": func(in *ecs.CreateServiceInput) {
			in.ServiceConnectConfiguration = &ecstypes.ServiceConnectConfiguration{Enabled: true, Services: []ecstypes.ServiceConnectService{{
				PortName: aws.String("nope"), ClientAliases: []ecstypes.ServiceConnectClientAlias{{Port: aws.Int32(port)}}}}}
		},
	} {
		if _, err := create(mod); !errors.As(err, &ipe) {
			t.Fatalf("CreateService with %s: %v, want InvalidParameterException", what, err)
		}
	}
	out, err := create(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Service.Deployments; len(d) != 1 || d[0].ServiceConnectConfiguration == nil ||
		aws.ToString(d[0].ServiceConnectConfiguration.Services[0].ClientAliases[0].DnsName) != "web.default.wharf" {
		t.Fatalf("the service's deployment: %+v", d)
	}

	// Two healthy tasks on two nodes.
	var ts []ecstypes.Task
	until(t, 90*time.Second, "two HEALTHY tasks", func() (bool, string) {
		ts = c.serviceTasks(t, ctx, "web")
		ok := len(ts) == 2
		for _, x := range ts {
			ok = ok && aws.ToString(x.LastStatus) == "RUNNING" && x.HealthStatus == ecstypes.HealthStatusHealthy
		}
		return ok, fmt.Sprintf("%d tasks", len(ts))
	})
	hostOf := map[string]string{} // hostname answered → task ARN
	for _, x := range ts {
		hostOf[aws.ToString(x.Containers[0].RuntimeId)[:12]] = aws.ToString(x.TaskArn)
	}
	placed := perNode(c, ts, nil)
	if len(placed) != 2 {
		t.Fatalf("spread: %v", placed)
	}

	// A client container on every node, on the task network; another
	// on a network of the test's own on the node without a task.
	nodes := map[string]*testutil.Node{"m1": c.m, "w1": c.workers[0], "w2": c.workers[1]}
	var idle string
	for name, d := range nodes {
		d.MustWharf(t, "run", "-d", "--name", "client", "--network", "wharf-tasks", busybox, "sleep", "3600")
		if placed[name] == 0 {
			idle = name
		}
	}
	nodes[idle].MustWharf(t, "network", "create", "own")
	nodes[idle].MustWharf(t, "run", "-d", "--name", "other", "--network", "own", busybox, "sleep", "3600")
	// fetch gets the service's page by name (timeout(1) bounds it:
	// busybox's wget -T crashes).
	fetch := func(d *testutil.Node, ctr, name string) (string, error) {
		out, errOut, code := d.Wharf(t, "exec", ctr, "timeout", "5", "wget", "-qO-", fmt.Sprintf("http://%s:%d/", name, port))
		if code != 0 {
			return "", fmt.Errorf("%s in %s: exit %d: %s", name, ctr, code, strings.TrimSpace(errOut))
		}
		return strings.TrimSpace(out), nil
	}
	// answers asks n times and returns the distinct answers; every
	// answer must be one of the tasks'.
	answers := func(n int, ask func() (string, error)) (map[string]bool, error) {
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			a, err := ask()
			if err != nil {
				return seen, err
			}
			if hostOf[a] == "" {
				return seen, fmt.Errorf("answer %q is no task's", a)
			}
			seen[a] = true
		}
		return seen, nil
	}
	both := func(seen map[string]bool) bool { return len(seen) == 2 }
	clients := []struct {
		node, ctr, name string
	}{{"m1", "client", "web"}, {"w1", "client", "web.default.wharf"}, {"w2", "client", "web"}, {idle, "other", "web.default.wharf"}}
	for _, cl := range clients {
		until(t, 30*time.Second, "discovery from "+cl.node+"/"+cl.ctr, func() (bool, string) {
			seen, err := answers(4, func() (string, error) { return fetch(nodes[cl.node], cl.ctr, cl.name) })
			return err == nil && both(seen), fmt.Sprintf("%v %v", seen, err)
		})
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func(addr string) (string, error) {
		resp, err := hc.Get(fmt.Sprintf("http://%s/", net.JoinHostPort(addr, fmt.Sprint(port))))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), err
	}
	for name, d := range nodes {
		until(t, 30*time.Second, "the published port on "+name, func() (bool, string) {
			seen, err := answers(4, func() (string, error) { return get(d.Addr.String()) })
			return err == nil && both(seen), fmt.Sprintf("%v %v", seen, err)
		})
	}

	// A stopped task leaves the set at once, everywhere: the service's
	// replacement joins it when healthy.
	var gone string
	for h := range hostOf {
		gone = h
		break
	}
	if _, err := c.ec.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(hostOf[gone]), Reason: aws.String("mesh test")}); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "the stopped task out of every node's set", func() (bool, string) {
		for name, d := range nodes {
			for i := 0; i < 4; i++ {
				a, err := get(d.Addr.String())
				if err != nil || a == gone {
					return false, fmt.Sprintf("%s answered %q %v", name, a, err)
				}
			}
		}
		return true, ""
	})

	// Scaled to 0: the names have no address, the port no backend.
	if _, err := c.ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	until(t, 30*time.Second, "no answer once scaled to 0", func() (bool, string) {
		for _, cl := range clients {
			if _, err := fetch(nodes[cl.node], cl.ctr, cl.name); err == nil {
				return false, cl.node + " still answers"
			}
		}
		for name, d := range nodes {
			if a, err := get(d.Addr.String()); err == nil {
				return false, fmt.Sprintf("%s's port answered %q", name, a)
			}
		}
		return true, ""
	})
	for _, cl := range clients {
		if _, err := fetch(nodes[cl.node], cl.ctr, cl.name); err == nil || !strings.Contains(err.Error(), "bad address") {
			t.Fatalf("%s/%s scaled to 0: %v, want the name without an address", cl.node, cl.ctr, err)
		}
	}

	// Deleted: the port closes on every node.
	if _, err := c.ec.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	until(t, 30*time.Second, "the port closed on every node", func() (bool, string) {
		for name, d := range nodes {
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(d.Addr.String(), fmt.Sprint(port)), 2*time.Second)
			if err == nil {
				conn.Close()
				return false, name + " still listens"
			}
		}
		return true, ""
	})
	var names []string
	for n := range nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("answered on %v, the task-free node %s included", names, idle)
}
