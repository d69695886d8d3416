package network

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestManagerLifecycle drives the driver as the engine does, across a
// simulated daemon restart: leases persist and are never handed out
// twice, Restore keeps the sandboxes of running containers and frees the
// others, and Teardown and Remove leave nothing in the kernel.
func TestManagerLifecycle(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	root, execRoot := t.TempDir(), t.TempDir()
	bridge := testutil.RandomBridgeName()
	t.Cleanup(func() { _ = deleteLink(bridge) })
	opts := []Option{WithDefaultBridge(bridge, netip.MustParsePrefix(testutil.FreeSubnet(t)))}
	m, err := New(root, execRoot, opts...)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.Create(ctx, CreateOptions{Name: "n1", Subnet: testutil.FreeSubnet(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteLink(n.Bridge) })
	if _, err := m.Create(ctx, CreateOptions{Name: "n1", Subnet: "10.99.0.0/24"}); !errdefs.IsConflict(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := m.Create(ctx, CreateOptions{Name: "n2", Subnet: n.Pool.Subnet.String()}); !errdefs.IsConflict(err) {
		t.Fatalf("overlapping subnet: %v", err)
	}
	if nft, err := exec.LookPath("nft"); err == nil {
		// The masquerade rules parse (check mode changes nothing).
		cmd := exec.Command(nft, "-c", "-f", "-")
		cmd.Stdin = strings.NewReader(masqRules("wharf_test", m.List(ctx)[:0:0]))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("nft -c: %v\n%s", err, out)
		}
		var brs []*Network
		for _, x := range m.List(ctx) {
			if x.Driver == DriverBridge {
				brs = append(brs, x)
			}
		}
		brs[0].Internal = true
		cmd = exec.Command(nft, "-c", "-f", "-")
		cmd.Stdin = strings.NewReader(masqRules("wharf_test", brs))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("nft -c: %v\n%s", err, out)
		}
	}

	c1 := strings.Repeat("a1", 32)
	c2 := strings.Repeat("b2", 32)
	sb1, err := m.Setup(ctx, SandboxConfig{ContainerID: c1, Name: "one", Networks: []EndpointConfig{{Network: "n1", Aliases: []string{"uno"}}, {Network: NameBridge}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sb1.Endpoints) != 2 || sb1.Endpoints[0].IfName != "eth0" || !n.Pool.Subnet.Contains(sb1.Endpoints[0].IP) {
		t.Fatalf("sandbox %+v", sb1)
	}
	for _, ep := range sb1.Endpoints {
		if _, err := netlink.LinkByName(ep.HostVeth); err != nil {
			t.Errorf("veth %s: %v", ep.HostVeth, err)
		}
	}
	// The network's DNS answers the name and the alias.
	for _, name := range []string{"one", "uno", c1[:12]} {
		q := new(dns.Msg)
		q.SetQuestion(name+".", dns.TypeA)
		resp, _, err := new(dns.Client).Exchange(q, netip.AddrPortFrom(n.Pool.Gateway, 53).String())
		if err != nil || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != sb1.Endpoints[0].IP.String() {
			t.Errorf("DNS %s: %v %v", name, resp, err)
		}
	}

	// "Daemon restart": a second manager on the same directories.
	m.Close()
	m, err = New(root, execRoot, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sb2, err := m.Setup(ctx, SandboxConfig{ContainerID: c2, Name: "two", Networks: []EndpointConfig{{Network: "n1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if sb2.Endpoints[0].IP == sb1.Endpoints[0].IP {
		t.Fatalf("address %s handed out twice across a restart", sb2.Endpoints[0].IP)
	}
	// Restore: c1 still runs, c2 died while the daemon was down.
	if err := m.Restore(ctx, func(id string) bool { return id == c1 }); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Sandbox(c1); !ok {
		t.Error("the running container's sandbox was dropped")
	}
	if _, err := os.Stat(sb2.NetNS); !os.IsNotExist(err) {
		t.Errorf("the dead container's namespace is left: %v", err)
	}
	if _, err := netlink.LinkByName(sb2.Endpoints[0].HostVeth); err == nil {
		t.Error("the dead container's veth is left")
	}
	if err := m.Remove(ctx, "n1"); !errdefs.IsConflict(err) {
		t.Errorf("remove with an active endpoint: %v", err)
	}
	if err := m.Teardown(ctx, c1); err != nil {
		t.Fatal(err)
	}
	nn, _ := m.Inspect(ctx, "n1")
	if len(nn.Pool.Leases) != 0 || len(nn.Containers) != 0 {
		t.Errorf("after teardown: leases %v containers %v", nn.Pool.Leases, nn.Containers)
	}
	if err := m.Remove(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(n.Bridge); err == nil {
		t.Error("bridge of the removed network is left")
	}
	if err := m.Remove(ctx, NameBridge); !errdefs.IsForbidden(err) {
		t.Errorf("remove bridge: %v", err)
	}
	ents, _ := os.ReadDir(m.netnsDir())
	if len(ents) != 0 {
		t.Errorf("namespace files left: %v", ents)
	}
}
