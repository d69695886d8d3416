package network

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
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
	// The bridge's MAC is its own (NET_ADDR_SET), not a port's that
	// would change under the containers when that port leaves.
	if b, err := os.ReadFile(filepath.Join("/sys/class/net", n.Bridge, "addr_assign_type")); err != nil || strings.TrimSpace(string(b)) != "3" {
		t.Errorf("bridge %s addr_assign_type %q %v, want 3 (set)", n.Bridge, b, err)
	}
	if _, err := m.Create(ctx, CreateOptions{Name: "n1", Subnet: "10.99.0.0/24"}); !errdefs.IsConflict(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	// dockerd answers an overlapping pool with 403 (Forbidden).
	if _, err := m.Create(ctx, CreateOptions{Name: "n2", Subnet: n.Pool.Subnet.String()}); !errdefs.IsForbidden(err) {
		t.Fatalf("overlapping subnet: %v", err)
	}
	if nft, err := exec.LookPath("nft"); err == nil {
		// The masquerade rules parse (check mode changes nothing).
		cmd := exec.Command(nft, "-c", "-f", "-")
		cmd.Stdin = strings.NewReader(masqRules("wharf_test", m.List(ctx)[:0:0], true))
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
		cmd.Stdin = strings.NewReader(masqRules("wharf_test", brs, true))
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
	if err := m.Remove(ctx, "n1"); !errdefs.IsForbidden(err) {
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

// Create takes what dockerd takes: any non-empty name but the predefined
// ones, one subnet per address family, IPv6 only with an IPv6 subnet; the
// IPAM configuration is kept as given and the IPv6 network's bridge gets
// its gateway.
func TestManagerCreateAsDockerd(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	bridge := testutil.RandomBridgeName()
	t.Cleanup(func() { _ = deleteLink(bridge) })
	m, err := New(t.TempDir(), t.TempDir(), WithDefaultBridge(bridge, netip.MustParsePrefix(testutil.FreeSubnet(t))))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sub := testutil.FreeSubnet(t)
	for _, tc := range []struct {
		o     CreateOptions
		check func(error) bool
	}{
		{CreateOptions{Name: ""}, errdefs.IsInvalidArgument},
		{CreateOptions{Name: "bridge"}, errdefs.IsForbidden},
		{CreateOptions{Name: "none"}, errdefs.IsForbidden},
		{CreateOptions{Name: strings.Repeat("n", maxNameLen+1)}, errdefs.IsInvalidArgument},
		{CreateOptions{Name: "v6", EnableIPv6: true}, errdefs.IsInvalidArgument},
		{CreateOptions{Name: "two", IPAM: []IPAMConfig{{Subnet: sub}, {Subnet: "10.254.1.0/24"}}}, errdefs.IsInvalidArgument},
		{CreateOptions{Name: "opts", IPAMOptions: map[string]string{"x": "y"}}, errdefs.IsInvalidArgument},
		{CreateOptions{Name: "aux", IPAM: []IPAMConfig{{Subnet: sub, AuxAddresses: map[string]string{"r": "10.254.2.1"}}}}, errdefs.IsInvalidArgument},
	} {
		if _, err := m.Create(ctx, tc.o); !tc.check(err) {
			t.Errorf("Create(%.40q): %v", tc.o.Name, err)
		}
	}
	prefix := strings.TrimSuffix(sub, "0/24")
	// A host that routes IPv6 gets no IPv6 network (see the package doc).
	v6 := !hostForwardsIPv6()
	if !v6 {
		t.Log("the host forwards IPv6: the IPv6 part is left out")
	}
	n, err := m.Create(ctx, CreateOptions{Name: "my net/1", EnableIPv6: v6, IPAMOptions: map[string]string{},
		IPAM: []IPAMConfig{{Subnet: "fd00:7e57::/64"}, {Subnet: sub, AuxAddresses: map[string]string{"router": prefix + "5"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteLink(n.Bridge) })
	if n.IPAM.Options == nil || len(n.IPAM.Config) != 2 || n.IPAM.Config[0].Subnet != sub || n.IPAM.Config[0].Gateway != "" ||
		n.IPAM.Config[0].AuxAddresses["router"] != prefix+"5" || n.IPAM.Config[1].Subnet != "fd00:7e57::/64" {
		t.Errorf("IPAM %+v (want it as given, IPv4 first)", n.IPAM)
	}
	if n.Pool.Reserved["router"].String() != prefix+"5" {
		t.Errorf("pool %+v", n.Pool)
	}
	if v6 {
		if n.Pool6 == nil || n.Pool6.Gateway.String() != "fd00:7e57::1" {
			t.Errorf("IPv6 pool %+v", n.Pool6)
		}
		link, err := netlink.LinkByName(n.Bridge)
		if err != nil {
			t.Fatal(err)
		}
		addrs, _ := netlink.AddrList(link, netlink.FAMILY_V6)
		found := false
		for _, a := range addrs {
			found = found || a.IPNet.String() == "fd00:7e57::1/64"
		}
		if !found {
			t.Errorf("the bridge lacks the IPv6 gateway: %v", addrs)
		}
	}
	if _, err := m.Inspect(ctx, "my net/1"); err != nil {
		t.Errorf("inspect by a name with a space and a slash: %v", err)
	}
	if err := m.Remove(ctx, "my net/1"); err != nil {
		t.Fatal(err)
	}
}
