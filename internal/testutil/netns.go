package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// A multi-node harness: several daemons on this machine, each in a network
// namespace of its own as if it ran on its own host, joined by veth pairs
// to one Linux bridge the test creates.
//
//	host namespace                       node namespace (one per daemon)
//	  bridge wn<hex>, FreeSubnet .1  ──veth──  eth0 .<10+i>, lo
//	                                             the daemon's own bridge and
//	                                             containers, its --http, its
//	                                             cluster listener
//
// The daemon is started by nsenter --net, which enters the node's network
// namespace and nothing else: it keeps the host's mount namespace (so its
// overlay mounts, its socket file under --exec-root and its cgroups are
// where the single-daemon harness looks for them), unlike `ip netns exec`,
// which also remounts /sys and would hide /sys/fs/cgroup from the runtime.
// The API socket is a file, so the CLI reaches every node from the host
// namespace; TCP services of a node (--http, the cluster port) are reached
// at Node.Addr from the host through the bridge.
//
// Everything is removed in t.Cleanup, in reverse order of creation: the
// daemons (with all the single-daemon clean-up), then each namespace (its
// links, the daemon's bridge included, go with it), then the test bridge.

// Net is a test network: a bridge in the host namespace with an address
// of its own, to which nodes attach.
type Net struct {
	// Bridge is the Linux bridge's name, Subnet its /24; HostAddr is the
	// host's address on it (.1).
	Bridge   string
	Subnet   netip.Prefix
	HostAddr netip.Addr

	mu   sync.Mutex
	next int
}

// NewNet creates a bridge with a free subnet in the host namespace and
// removes it when the test ends. It skips the test unless it runs as root
// and nsenter is installed.
func NewNet(t testing.TB) *Net {
	t.Helper()
	RequiresRoot(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("skipping: no nsenter (util-linux)")
	}
	sub := netip.MustParsePrefix(FreeSubnet(t))
	n := &Net{Bridge: "wn" + RandomBridgeName()[2:], Subnet: sub, HostAddr: sub.Addr().Next(), next: 10}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("create bridge %s: %v", n.Bridge, err)
	}
	t.Cleanup(func() {
		if err := DeleteLink(n.Bridge); err != nil {
			t.Errorf("cleanup: delete bridge %s: %v", n.Bridge, err)
		}
	})
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.HostAddr.AsSlice(), Mask: net.CIDRMask(24, 32)}}
	if err := netlink.AddrAdd(br, addr); err != nil {
		t.Fatalf("address on %s: %v", n.Bridge, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		t.Fatalf("bring %s up: %v", n.Bridge, err)
	}
	return n
}

// Node is one daemon in a namespace of its own on a Net.
type Node struct {
	*Daemon
	// Netns is the namespace's name (ip netns list), Addr the node's
	// address on the Net.
	Netns string
	Addr  netip.Addr
	// HostVeth is the veth end on the test bridge (Partition takes it
	// down).
	HostVeth string
}

// AddNode creates a network namespace with an address on the net and
// starts a daemon in it (opts as StartDaemon's).
func (n *Net) AddNode(t testing.TB, opts ...DaemonOption) *Node {
	t.Helper()
	return n.AddNodeWith(t, func(netip.Addr) []DaemonOption { return opts })
}

// AddNodeWith is AddNode with options that depend on the node's address
// (a daemon's --cluster-listen, its --http).
func (n *Net) AddNodeWith(t testing.TB, opts func(addr netip.Addr) []DaemonOption) *Node {
	t.Helper()
	n.mu.Lock()
	i := n.next
	n.next++
	n.mu.Unlock()
	addr := n.Subnet.Addr()
	for k := 0; k < i; k++ {
		addr = addr.Next()
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	suffix := hex.EncodeToString(rnd[:])
	node := &Node{Netns: "wns" + suffix, Addr: addr, HostVeth: "wv" + suffix}
	if out, err := exec.Command("ip", "netns", "add", node.Netns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", node.Netns, err, out)
	}
	t.Cleanup(func() {
		_ = DeleteLink(node.HostVeth)
		if out, err := exec.Command("ip", "netns", "del", node.Netns).CombinedOutput(); err != nil {
			t.Errorf("cleanup: ip netns del %s: %v: %s", node.Netns, err, out)
		}
	})
	peer := "wp" + suffix
	steps := [][]string{
		{"link", "add", node.HostVeth, "type", "veth", "peer", "name", peer},
		{"link", "set", node.HostVeth, "master", n.Bridge, "up"},
		{"link", "set", peer, "netns", node.Netns},
		{"-n", node.Netns, "link", "set", peer, "name", "eth0"},
		{"-n", node.Netns, "addr", "add", addr.String() + "/24", "dev", "eth0"},
		{"-n", node.Netns, "link", "set", "eth0", "up"},
		{"-n", node.Netns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", s, err, out)
		}
	}
	node.Daemon = StartDaemon(t, append([]DaemonOption{withNetns(filepath.Join("/run/netns", node.Netns))}, opts(addr)...)...)
	return node
}

// withNetns runs the daemon inside the network namespace at path.
func withNetns(path string) DaemonOption {
	return func(c *daemonConfig) { c.netns = path }
}

// Partition cuts the node off the net (its veth on the bridge goes down):
// nothing reaches it and it reaches nothing, while it keeps running.
func (nd *Node) Partition(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "set", nd.HostVeth, "down").CombinedOutput(); err != nil {
		t.Fatalf("partition %s: %v: %s", nd.Netns, err, out)
	}
}

// Heal puts a partitioned node back on the net.
func (nd *Node) Heal(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "set", nd.HostVeth, "up").CombinedOutput(); err != nil {
		t.Fatalf("heal %s: %v: %s", nd.Netns, err, out)
	}
}

// Exec runs a command inside the node's network namespace (and only
// that one) and returns its combined output.
func (nd *Node) Exec(args ...string) ([]byte, error) {
	cmd := exec.Command("nsenter", append([]string{"--net=" + filepath.Join("/run/netns", nd.Netns), "--"}, args...)...)
	return cmd.CombinedOutput()
}

// WaitTCP waits until addr accepts TCP connections from the host
// namespace, or fails the test after timeout.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections within %v: %v", addr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// netnsCommand prefixes a daemon's command line with nsenter when it
// runs in a namespace.
func netnsCommand(netns, bin string, args []string) (string, []string) {
	if netns == "" {
		return bin, args
	}
	if _, err := os.Stat(netns); err != nil {
		panic(fmt.Sprintf("network namespace %s: %v", netns, err))
	}
	return "nsenter", append([]string{"--net=" + netns, "--", bin}, args...)
}
