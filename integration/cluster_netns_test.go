package integration

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestNetnsHarness proves the multi-node harness: two daemons, each in
// its own network namespace, run containers on their own bridges (which
// the host namespace does not see), serve TCP on their node address,
// reach each other, and survive kill -9, a restart and a partition.
func TestNetnsHarness(t *testing.T) {
	n := testutil.NewNet(t)
	var nodes []*testutil.Node
	for i := 0; i < 2; i++ {
		nd := n.AddNode(t, testutil.WithDaemonArgs("--http", "0.0.0.0:9280"))
		nd.ImportBusybox(t, busybox)
		nodes = append(nodes, nd)
	}
	for _, nd := range nodes {
		// The daemon's bridge lives in the node's namespace.
		if _, err := netlink.LinkByName(nd.Bridge); err == nil {
			t.Errorf("bridge %s of node %s is in the host namespace", nd.Bridge, nd.Netns)
		}
		if out, err := nd.Exec("ip", "link", "show", nd.Bridge); err != nil {
			t.Errorf("bridge %s not in %s: %v: %s", nd.Bridge, nd.Netns, err, out)
		}
		// A container gets an address on the node's bridge and reaches the
		// node's gateway there.
		out := nd.MustWharf(t, "run", "--rm", busybox, "sh", "-c", "ip -4 -o addr show eth0")
		gw := netip.MustParsePrefix(nd.BridgeSubnet)
		if !strings.Contains(out, gw.Addr().String()[:strings.LastIndex(gw.Addr().String(), ".")]) {
			t.Errorf("container on %s: address not in %s: %s", nd.Netns, nd.BridgeSubnet, out)
		}
		testutil.WaitTCP(t, net.JoinHostPort(nd.Addr.String(), "9280"), 30*time.Second)
	}
	// A daemon in no cluster answers ECS's calls with ECS's error, not
	// another API's 404.
	req, _ := http.NewRequest("POST", "http://"+net.JoinHostPort(nodes[0].Addr.String(), "9280")+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 || res.Header.Get("X-Amzn-ErrorType") != "ClusterNotFoundException" {
		t.Fatalf("ECS on a daemon in no cluster: %d %q", res.StatusCode, res.Header.Get("X-Amzn-ErrorType"))
	}

	// Node to node.
	if out, err := nodes[0].Exec("sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 "+nodes[1].Addr.String()+" 9280"); err != nil {
		t.Errorf("node 0 cannot reach node 1: %v: %s", err, out)
	}

	// kill -9 and restart on the same directories.
	nodes[1].Kill9()
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(nodes[1].Addr.String(), "9280"), time.Second); err == nil {
		c.Close()
		t.Fatal("a killed daemon still accepts connections")
	}
	nodes[1].Restart(t)
	testutil.WaitTCP(t, net.JoinHostPort(nodes[1].Addr.String(), "9280"), 30*time.Second)

	// Partition and heal.
	addr := net.JoinHostPort(nodes[0].Addr.String(), "9280")
	nodes[0].Partition(t)
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("a partitioned node is reachable")
	}
	nodes[0].Heal(t)
	testutil.WaitTCP(t, addr, 30*time.Second)
}
