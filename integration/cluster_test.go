package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/cluster/member"
	"github.com/wharf-dev/wharf/cluster/pki"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// clusterPort is every manager's --cluster-listen port (joins; +1 agents,
// +2 routes); each node has its own address, so they never collide.
const clusterPort = "4248"

func listen(a netip.Addr) string { return net.JoinHostPort(a.String(), clusterPort) }

func httpAddr(a netip.Addr) string { return net.JoinHostPort(a.String(), "9280") }

// nodeLs returns `wharf node ls --format json` on d.
func nodeLs(t *testing.T, d *testutil.Node) []wharf.ClusterNode {
	t.Helper()
	out, errOut, code := d.Wharf(t, "node", "ls", "--format", "json")
	if code != 0 {
		return nil
	}
	var ns []wharf.ClusterNode
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("node ls: %v: %s %s", err, out, errOut)
	}
	return ns
}

// waitNodes waits until cond holds for `node ls` on d.
func waitNodes(t *testing.T, d *testutil.Node, timeout time.Duration, what string, cond func([]wharf.ClusterNode) bool) []wharf.ClusterNode {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ns := nodeLs(t, d)
		if ns != nil && cond(ns) {
			return ns
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; node ls on %s: %+v", what, timeout, d.Netns, ns)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func count(ns []wharf.ClusterNode, f func(wharf.ClusterNode) bool) int {
	n := 0
	for _, x := range ns {
		if f(x) {
			n++
		}
	}
	return n
}

func byName(ns []wharf.ClusterNode, name string) wharf.ClusterNode {
	for _, n := range ns {
		if n.Name == name {
			return n
		}
	}
	return wharf.ClusterNode{}
}

func ecsClient(t *testing.T, d *testutil.Node, policy ...string) *ecs.Client {
	t.Helper()
	var k struct{ AccessKeyId, SecretAccessKey string }
	args := []string{"keys", "create", "--json", "--admin"}
	if len(policy) > 0 {
		args = append(args[:3], "--policy", policy[0])
	}
	if err := json.Unmarshal([]byte(d.MustWharf(t, args...)), &k); err != nil {
		t.Fatal(err)
	}
	return ecs.New(ecs.Options{BaseEndpoint: aws.String("http://" + httpAddr(d.Addr)), Region: "us-east-1", Retryer: aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyId, k.SecretAccessKey, "")})
}

func webTaskDef(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []ecstypes.ContainerDefinition{{
		Name: aws.String("web"), Image: aws.String("busybox"), Memory: aws.Int32(64), Cpu: 128,
		PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080)}},
		Environment:  []ecstypes.KeyValuePair{{Name: aws.String("A"), Value: aws.String("1")}},
		Command:      []string{"httpd", "-f"},
	}}}
}

// One manager and two workers, each in its own network namespace: every
// node's `node ls` agrees; a worker killed -9 goes DOWN and comes back
// READY after a restart as the same record; drain and labels; joins with
// a wrong token and plain connections to the cluster port are refused;
// the aws SDK's ecs client and the aws CLI drive task definitions.
func TestClusterManagerAndWorkers(t *testing.T) {
	n := testutil.NewNet(t)
	m := n.AddNodeWith(t, func(a netip.Addr) []testutil.DaemonOption {
		return []testutil.DaemonOption{testutil.WithDaemonArgs("--cluster-init", "--cluster-listen", listen(a), "--node-name", "m1", "--http", httpAddr(a))}
	})
	token := strings.TrimSpace(m.MustWharf(t, "cluster", "token", "-q"))
	mtoken := strings.TrimSpace(m.MustWharf(t, "cluster", "token", "--manager", "-q"))
	if token == mtoken || !strings.HasPrefix(token, "WHARFTKN-1-") {
		t.Fatalf("tokens: %q %q", token, mtoken)
	}
	var workers []*testutil.Node
	for i, zone := range []string{"a", "b"} {
		w := n.AddNode(t, testutil.WithDaemonArgs("--join", listen(m.Addr), "--cluster-token", token,
			"--node-name", fmt.Sprintf("w%d", i+1), "--node-label", "zone="+zone))
		workers = append(workers, w)
	}
	all := append([]*testutil.Node{m}, workers...)
	ready3 := func(ns []wharf.ClusterNode) bool {
		return len(ns) == 3 && count(ns, func(x wharf.ClusterNode) bool { return x.Status == "READY" }) == 3
	}
	var ids []string
	for _, d := range all {
		ns := waitNodes(t, d, 60*time.Second, "three READY nodes", ready3)
		var got []string
		for _, x := range ns {
			got = append(got, x.ID+"/"+x.Name)
		}
		if ids == nil {
			ids = got
		} else if strings.Join(ids, ",") != strings.Join(got, ",") {
			t.Fatalf("nodes disagree: %v vs %v", ids, got)
		}
		self := count(ns, func(x wharf.ClusterNode) bool { return x.Self })
		if self != 1 {
			t.Fatalf("node ls on %s marks %d nodes as itself", d.Netns, self)
		}
	}
	ns := nodeLs(t, m)
	if w := byName(ns, "w2"); w.Labels["zone"] != "b" || w.Manager || w.CPU < 1024 || w.MemoryMiB < 64 || w.Attributes["os"] != "linux" || w.Addr != workers[1].Addr.String() {
		t.Fatalf("w2's record: %+v", w)
	}
	if mm := byName(ns, "m1"); !mm.Manager || !mm.Leader {
		t.Fatalf("m1's record: %+v", mm)
	}

	// kill -9 a worker: DOWN within the heartbeat timeout (10 s; the
	// margin is for a loaded machine), then READY again as the same node.
	w2id := byName(ns, "w2").ID
	workers[1].Kill9()
	start := time.Now()
	waitNodes(t, m, 40*time.Second, "w2 DOWN", func(ns []wharf.ClusterNode) bool { return byName(ns, "w2").Status == "DOWN" })
	t.Logf("w2 reported DOWN %v after kill -9", time.Since(start).Round(time.Millisecond))
	workers[1].Restart(t)
	ns = waitNodes(t, m, 60*time.Second, "w2 READY again", ready3)
	if byName(ns, "w2").ID != w2id {
		t.Fatalf("w2 came back as another node: %+v", ns)
	}

	// A partitioned worker goes DOWN, keeps running, and comes back READY
	// as the same node when the network heals.
	w1id := byName(ns, "w1").ID
	workers[0].Partition(t)
	waitNodes(t, m, 40*time.Second, "w1 DOWN while partitioned", func(ns []wharf.ClusterNode) bool { return byName(ns, "w1").Status == "DOWN" })
	if workers[0].Pid() == 0 {
		t.Fatal("the partitioned worker's daemon exited")
	}
	workers[0].Heal(t)
	ns = waitNodes(t, m, 60*time.Second, "w1 READY after the partition healed", ready3)
	if byName(ns, "w1").ID != w1id {
		t.Fatalf("w1 came back as another node: %+v", ns)
	}

	// Drain, activate, label, from a worker's CLI too. Just after the
	// partition healed, a loaded machine may keep the worker's state
	// from answering for a few seconds ("does not answer"): the drain is
	// asked again then, never accepted without an answer.
	retry(t, "wharf node drain w1 after the partition healed", func() (string, error) {
		out, stderr, code := workers[0].Wharf(t, "node", "drain", "w1")
		if code != 0 {
			return out, fmt.Errorf("exit %d: %s", code, stderr)
		}
		return out, nil
	})
	workers[0].MustWharf(t, "node", "label", "w1", "zone=c", "rack=r1")
	ns = waitNodes(t, m, 10*time.Second, "w1 drained", func(ns []wharf.ClusterNode) bool {
		w := byName(ns, "w1")
		return w.Availability == "DRAINING" && w.Labels["zone"] == "c" && w.Labels["rack"] == "r1"
	})
	m.MustWharf(t, "node", "activate", "w1")
	m.MustWharf(t, "node", "label", "w1", "rack-")
	waitNodes(t, m, 10*time.Second, "w1 active", func(ns []wharf.ClusterNode) bool {
		w := byName(ns, "w1")
		_, rack := w.Labels["rack"]
		return w.Availability == "ACTIVE" && !rack
	})
	if _, _, code := m.Wharf(t, "node", "rm", "w1"); code == 0 {
		t.Fatal("a READY node was removed without --force")
	}
	if _, _, code := workers[0].Wharf(t, "cluster", "token"); code == 0 {
		t.Fatal("a worker printed join tokens")
	}

	// The table, as docker node ls has it.
	table := m.MustWharf(t, "node", "ls")
	for _, want := range []string{"MANAGER STATUS", "AVAILABILITY", "Leader", "w1", "zone=b", " *"} {
		if !strings.Contains(table, want) {
			t.Fatalf("node ls lacks %q:\n%s", want, table)
		}
	}

	// A daemon started with a wrong token does not start, says why, and
	// keeps no membership.
	out, code := daemonOnce(t, workers[0], "--join", listen(m.Addr), "--cluster-token", pki.Token(byNameFP(t, token), pki.NewSecret()))
	if code == 0 || !strings.Contains(out, "join token is not valid") {
		t.Fatalf("a daemon with a wrong token: exit %d\n%s", code, out)
	}

	// A join with a wrong secret, or a token for another CA, is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fp, _, err := pki.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, _, err = member.Join(ctx, listen(m.Addr), pki.Token(fp, pki.NewSecret()), n.HostAddr.String(), nil)
	if !errdefs.IsUnauthorized(err) {
		t.Fatalf("join with a wrong secret: %v", err)
	}
	other, _ := pki.NewCA("other")
	_, _, _, _, err = member.Join(ctx, listen(m.Addr), pki.Token(other.Fingerprint(), pki.NewSecret()), n.HostAddr.String(), nil)
	if !errdefs.IsForbidden(err) {
		t.Fatalf("join with another CA's token: %v", err)
	}
	// A worker token does not make a manager.
	_, _, _, _, err = member.Join(ctx, listen(m.Addr), mtoken, n.HostAddr.String(), nil)
	if err == nil {
		t.Fatal("a manager join without manager addresses was accepted")
	}
	// The agents' port takes mutual TLS only.
	_, cl, _, _ := member.Ports(listen(m.Addr))
	if c, err := nats.Connect("nats://"+cl, nats.Timeout(5*time.Second)); err == nil {
		c.Close()
		t.Fatal("a plain NATS connection to the cluster port was accepted")
	}
	if c, err := nats.Connect("tls://"+cl, nats.Timeout(5*time.Second), nats.Secure(pki.PinnedTLS(fp))); err == nil {
		c.Close()
		t.Fatal("a TLS connection without a node certificate was accepted")
	}

	// ECS: task definitions through the aws SDK.
	ec := ecsClient(t, m)
	r1, err := ec.RegisterTaskDefinition(ctx, webTaskDef("web"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ec.RegisterTaskDefinition(ctx, webTaskDef("web"))
	if err != nil {
		t.Fatal(err)
	}
	if r1.TaskDefinition.Revision != 1 || r2.TaskDefinition.Revision != 2 || aws.ToString(r2.TaskDefinition.TaskDefinitionArn) != "arn:aws:ecs:us-east-1:000000000000:task-definition/web:2" {
		t.Fatalf("revisions: %+v %+v", r1.TaskDefinition, r2.TaskDefinition)
	}
	bad := webTaskDef("web")
	bad.ContainerDefinitions[0].Memory = nil
	_, err = ec.RegisterTaskDefinition(ctx, bad)
	var ce *ecstypes.ClientException
	if !errors.As(err, &ce) || !strings.Contains(ce.ErrorMessage(), "memoryReservation") {
		t.Fatalf("a container without memory: %v", err)
	}
	fg := webTaskDef("fg")
	fg.RequiresCompatibilities = []ecstypes.Compatibility{ecstypes.CompatibilityFargate}
	fg.NetworkMode = ecstypes.NetworkModeAwsvpc
	fg.Cpu, fg.Memory = aws.String("256"), aws.String("4096")
	fg.ContainerDefinitions[0].PortMappings[0].HostPort = aws.Int32(80)
	if _, err := ec.RegisterTaskDefinition(ctx, fg); !errors.As(err, &ce) {
		t.Fatalf("a Fargate size off the table: %v", err)
	}
	fg.Memory = aws.String("512")
	if _, err := ec.RegisterTaskDefinition(ctx, fg); err != nil {
		t.Fatalf("a Fargate task definition: %v", err)
	}
	if _, err := ec.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:2")}); err != nil {
		t.Fatal(err)
	}
	d, err := ec.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")})
	if err != nil || d.TaskDefinition.Revision != 1 || d.TaskDefinition.ContainerDefinitions[0].PortMappings[0].Protocol != ecstypes.TransportProtocolTcp {
		t.Fatalf("describe web (latest ACTIVE): %+v %v", d, err)
	}
	fams, err := ec.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{})
	if err != nil || strings.Join(fams.Families, ",") != "fg,web" {
		t.Fatalf("families: %+v %v", fams, err)
	}
	ci, err := ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
	if err != nil || len(ci.ContainerInstanceArns) != 3 {
		t.Fatalf("container instances: %+v %v", ci, err)
	}
	dci, err := ec.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: ci.ContainerInstanceArns})
	if err != nil || len(dci.ContainerInstances) != 3 || len(dci.Failures) != 0 {
		t.Fatalf("describe container instances: %+v %v", dci, err)
	}
	// A key's policy limits it to its families.
	lim := ecsClient(t, m, "ecs:RegisterTaskDefinition:web*")
	if _, err := lim.RegisterTaskDefinition(ctx, webTaskDef("web-2")); err != nil {
		t.Fatalf("a key allowed web*: %v", err)
	}
	var ade *ecstypes.AccessDeniedException
	if _, err := lim.RegisterTaskDefinition(ctx, webTaskDef("api")); !errors.As(err, &ade) {
		t.Fatalf("a key allowed web* registered api: %v", err)
	}
	if _, err := lim.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{}); !errors.As(err, &ade) {
		t.Fatalf("a key allowed RegisterTaskDefinition listed: %v", err)
	}
	cls, err := ec.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	if err != nil || len(cls.Clusters) != 1 || aws.ToString(cls.Clusters[0].ClusterName) != "default" || cls.Clusters[0].RegisteredContainerInstancesCount != 3 {
		t.Fatalf("describe clusters: %+v %v", cls, err)
	}

	// The aws CLI, unmodified.
	if _, err := exec.LookPath("aws"); err == nil {
		var k struct{ AccessKeyId, SecretAccessKey string }
		_ = json.Unmarshal([]byte(m.MustWharf(t, "keys", "create", "--json", "--admin")), &k)
		cmd := exec.CommandContext(ctx, "aws", "--endpoint-url", "http://"+httpAddr(m.Addr), "--region", "us-east-1", "ecs", "list-task-definitions", "--output", "json")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+k.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+k.SecretAccessKey, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "task-definition/web:1") || strings.Contains(string(out), "web:2") {
			t.Fatalf("aws ecs list-task-definitions: %v\n%s", err, out)
		}
	}
}

// Three managers: the state's buckets have three replicas; a task
// definition registered before the leader manager is killed is still
// served by another manager, and a write succeeds after the re-election;
// with a second manager gone (no quorum) writes are refused with a clear
// error while reads of a record go on.
func TestClusterThreeManagersSurviveTheLeader(t *testing.T) {
	n := testutil.NewNet(t)
	m1 := n.AddNodeWith(t, func(a netip.Addr) []testutil.DaemonOption {
		return []testutil.DaemonOption{testutil.WithDaemonArgs("--cluster-init", "--cluster-managers", "3", "--cluster-listen", listen(a), "--node-name", "m1", "--http", httpAddr(a))}
	})
	mtoken := strings.TrimSpace(m1.MustWharf(t, "cluster", "token", "--manager", "-q"))
	// A worker joins while m1 is the only manager it can know of.
	w := n.AddNode(t, testutil.WithDaemonArgs("--join", listen(m1.Addr), "--cluster-token",
		strings.TrimSpace(m1.MustWharf(t, "cluster", "token", "-q")), "--node-name", "w1"))
	ms := []*testutil.Node{m1}
	for i := 2; i <= 3; i++ {
		ms = append(ms, n.AddNodeWith(t, func(a netip.Addr) []testutil.DaemonOption {
			return []testutil.DaemonOption{testutil.WithDaemonArgs("--join", listen(m1.Addr), "--cluster-token", mtoken, "--manager",
				"--cluster-listen", listen(a), "--node-name", fmt.Sprintf("m%d", i), "--http", httpAddr(a))}
		}))
	}
	ns := waitNodes(t, m1, 90*time.Second, "three READY managers, one leader, a worker", func(ns []wharf.ClusterNode) bool {
		return len(ns) == 4 && count(ns, func(x wharf.ClusterNode) bool { return x.Status == "READY" && x.Manager }) == 3 &&
			count(ns, func(x wharf.ClusterNode) bool { return x.Leader }) == 1 && byName(ns, "w1").Status == "READY"
	})
	var leader *testutil.Node
	for _, x := range ns {
		if x.Leader {
			for _, d := range ms {
				if d.Addr.String() == x.Addr {
					leader = d
				}
			}
		}
	}
	if leader == nil {
		t.Fatalf("no leader among %+v", ns)
	}
	var other *testutil.Node
	for _, d := range ms {
		if d != leader {
			other = d
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ec := ecsClient(t, leader)
	if _, err := ec.RegisterTaskDefinition(ctx, webTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	// Every bucket of the cluster's state has three replicas, current.
	nc := clusterConn(t, n, other)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"nodes", "heartbeats", "taskdefs", "families"} {
		info, err := js.Stream(ctx, "KV_"+b)
		if err != nil {
			t.Fatalf("bucket %s: %v", b, err)
		}
		si, err := info.Info(ctx)
		if err != nil || si.Config.Replicas != 3 || si.Cluster == nil || len(si.Cluster.Replicas) != 2 {
			t.Fatalf("bucket %s: %+v %v", b, si, err)
		}
	}
	nc.Close()
	ec2 := ecsClient(t, other)
	leader.Kill9()
	start := time.Now()
	retry := func(what string, f func() error) {
		t.Helper()
		var err error
		for time.Since(start) < 90*time.Second {
			if err = f(); err == nil {
				t.Logf("%s: %v after the leader's kill", what, time.Since(start).Round(time.Millisecond))
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("%s: %v", what, err)
	}
	retry("read", func() error {
		d, err := ec2.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:1")})
		if err == nil && d.TaskDefinition.Revision != 1 {
			return fmt.Errorf("revision %d", d.TaskDefinition.Revision)
		}
		return err
	})
	retry("write", func() error {
		r, err := ec2.RegisterTaskDefinition(ctx, webTaskDef("web"))
		if err == nil && r.TaskDefinition.Revision != 2 {
			return fmt.Errorf("revision %d", r.TaskDefinition.Revision)
		}
		return err
	})
	waitNodes(t, other, 60*time.Second, "the killed leader DOWN, a new leader", func(ns []wharf.ClusterNode) bool {
		return count(ns, func(x wharf.ClusterNode) bool { return x.Status == "DOWN" }) == 1 &&
			count(ns, func(x wharf.ClusterNode) bool { return x.Leader }) == 1
	})

	// The killed manager comes back; the worker, which joined knowing m1
	// alone, has learnt the other managers: with m1 gone, a restarted
	// worker reaches the cluster through them.
	leader.Restart(t)
	waitNodes(t, other, 60*time.Second, "all four READY", func(ns []wharf.ClusterNode) bool {
		return count(ns, func(x wharf.ClusterNode) bool { return x.Status == "READY" }) == 4
	})
	waitPeers(t, w, 3, 60*time.Second)
	m1.Kill9()
	w.Kill9()
	w.Restart(t)
	alive := ms[1]
	waitNodes(t, alive, 60*time.Second, "the restarted worker READY without m1", func(ns []wharf.ClusterNode) bool {
		return byName(ns, "m1").Status == "DOWN" && byName(ns, "w1").Status == "READY" && len(ns) == 4
	})
	ec2 = ecsClient(t, alive)

	// Without a quorum (a second manager killed), writes are refused with
	// ECS's ServerException saying why.
	ms[2].Kill9()
	start = time.Now()
	for time.Since(start) < 60*time.Second {
		_, err = ec2.RegisterTaskDefinition(ctx, webTaskDef("web"))
		if err != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var se *ecstypes.ServerException
	if !errors.As(err, &se) || !strings.Contains(se.ErrorMessage(), "quorum") {
		t.Fatalf("a write without quorum: %v", err)
	}
	t.Logf("without quorum: %v", err)
	// Reads of one record go on: KV's direct gets are answered by the
	// replica left.
	if _, err := ec2.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:1")}); err != nil {
		t.Fatalf("a read without quorum: %v", err)
	}
}

func byNameFP(t *testing.T, token string) string {
	t.Helper()
	fp, _, err := pki.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// daemonOnce runs a second daemon, on directories of its own, in nd's
// network namespace with extra args, waits for it to exit (it must, within
// a minute) and returns its output and exit code; it checks that it left
// no membership behind.
func daemonOnce(t *testing.T, nd *testutil.Node, args ...string) (string, int) {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "wo-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, mp := range testutil.MountsUnder(base) {
			_ = exec.Command("umount", "-l", mp).Run()
		}
		_ = os.RemoveAll(base)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"--net=/run/netns/" + nd.Netns, "--", testutil.BuildWharf(t), "daemon", "--root", filepath.Join(base, "r"),
		"--exec-root", filepath.Join(base, "e"), "--bridge-name", testutil.RandomBridgeName(), "--bridge-subnet", testutil.FreeSubnet(t), "--http", ""}, args...)
	out, err := exec.CommandContext(ctx, "nsenter", full...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the daemon did not exit: %s", out)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	if _, err := os.Stat(filepath.Join(base, "r", "cluster", "cluster.json")); err == nil {
		t.Errorf("a refused join left a membership")
	}
	return string(out), code
}

// waitPeers waits until d's membership lists want managers.
func waitPeers(t *testing.T, d *testutil.Node, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		data, err := os.ReadFile(filepath.Join(member.Dir(d.Root), "cluster.json"))
		var m member.Membership
		if err == nil && json.Unmarshal(data, &m) == nil && len(m.Peers) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s knows %d managers, not %d: %s", d.Netns, len(m.Peers), want, data)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// clusterConn connects the test to d's cluster port as a node would: with
// a certificate signed by the cluster's CA (read from d's root).
func clusterConn(t *testing.T, n *testutil.Net, d *testutil.Node) *nats.Conn {
	t.Helper()
	ca, _, _, err := pki.Files{Dir: member.Dir(d.Root)}.Load()
	if err != nil {
		t.Fatal(err)
	}
	key, csr, _, err := pki.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(csr, "test", pki.RoleWorker, []net.IP{n.HostAddr.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	_, cl, _, _ := member.Ports(listen(d.Addr))
	nc, err := nats.Connect("tls://"+cl, nats.Secure(pki.NodeTLS(ca.Cert, cert, key)), nats.Timeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}
