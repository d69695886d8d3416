package network

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wharf-dev/wharf/internal/testutil"
)

func newTestManager(t *testing.T, root, execRoot string) (*Manager, []Option) {
	t.Helper()
	bridge := testutil.RandomBridgeName()
	t.Cleanup(func() { _ = deleteLink(bridge) })
	opts := []Option{WithDefaultBridge(bridge, netip.MustParsePrefix(testutil.FreeSubnet(t)))}
	m, err := New(root, execRoot, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m, opts
}

// A container's start and exit change only the sandbox state on the
// exec-root: the durable record of the networks is not rewritten (and
// fsynced) on a container's start path, while a restarted manager still
// sees the sandboxes and their leases.
func TestSandboxStateOffTheDurableRecord(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	root, execRoot := t.TempDir(), t.TempDir()
	m, opts := newTestManager(t, root, execRoot)
	statePath := filepath.Join(root, "network", "state.json")
	before, err := os.Stat(statePath)
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := strings.Repeat("c1", 32), strings.Repeat("c2", 32)
	sb1, err := m.Setup(ctx, SandboxConfig{ContainerID: c1, Networks: []EndpointConfig{{Network: NameBridge}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Setup(ctx, SandboxConfig{ContainerID: c2, Networks: []EndpointConfig{{Network: NameBridge}}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(ctx, c2); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a container's start and exit rewrote %s", statePath)
	}
	data, _ := os.ReadFile(statePath)
	if strings.Contains(string(data), c1) {
		t.Errorf("%s names a container:\n%s", statePath, data)
	}

	// "Daemon restart": c1's sandbox and lease are back.
	m.Close()
	m, err = New(root, execRoot, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, ok := m.Sandbox(c1); !ok {
		t.Fatal("the sandbox of a running container is lost across a restart")
	}
	br, _ := m.Inspect(ctx, NameBridge)
	if br.Pool.Leases[sb1.Endpoints[0].IP] != c1 || len(br.Pool.Leases) != 1 {
		t.Fatalf("leases after the restart: %v, want %s for %s", br.Pool.Leases, sb1.Endpoints[0].IP, c1)
	}
	if err := m.Restore(ctx, func(id string) bool { return id == c1 }); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(ctx, c1); err != nil {
		t.Fatal(err)
	}
}

// The state.json of an older daemon holds the sandboxes and the leases;
// a new daemon takes them over, so containers that kept running across
// the upgrade keep their addresses.
func TestSandboxStateFromOlderStateFile(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	root, execRoot := t.TempDir(), t.TempDir()
	m, opts := newTestManager(t, root, execRoot)
	br, _ := m.Inspect(ctx, NameBridge)
	m.Close()
	c := strings.Repeat("0d", 32)
	ip := br.Pool.Gateway.Next()
	statePath := filepath.Join(root, "network", "state.json")
	var st map[string]json.RawMessage
	data, err := os.ReadFile(statePath)
	if err != nil || json.Unmarshal(data, &st) != nil {
		t.Fatal(err)
	}
	var nets map[string]*Network
	if err := json.Unmarshal(st["Networks"], &nets); err != nil {
		t.Fatal(err)
	}
	nets[br.ID].Pool.Leases = map[netip.Addr]string{ip: c}
	nets[br.ID].Pool.Last = ip
	old := state{Networks: nets, Sandboxes: map[string]*Sandbox{c: {ContainerID: c, NetNS: filepath.Join(execRoot, "netns", c[:16]),
		Endpoints: []*Endpoint{{ID: "e", NetworkID: br.ID, NetworkName: NameBridge, ContainerID: c, IfName: "eth0", HostVeth: "wv" + c[:11] + "00", IP: ip, PrefixLen: 24}}}}}
	data, _ = json.Marshal(old)
	if err := os.WriteFile(statePath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(execRoot, "network", "sandbox.json")); err != nil {
		t.Fatal(err)
	}
	m, err = New(root, execRoot, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, ok := m.Sandbox(c); !ok {
		t.Fatal("the older daemon's sandbox is lost")
	}
	br, _ = m.Inspect(ctx, NameBridge)
	if br.Pool.Leases[ip] != c || br.Pool.Last != ip {
		t.Fatalf("leases %v last %s, want %s for %s", br.Pool.Leases, br.Pool.Last, ip, c)
	}
	sb, err := m.Setup(ctx, SandboxConfig{ContainerID: strings.Repeat("0e", 32), Networks: []EndpointConfig{{Network: NameBridge}}})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Endpoints[0].IP == ip {
		t.Fatalf("address %s handed out twice", ip)
	}
	_ = m.Teardown(ctx, sb.ContainerID)
	_ = m.Teardown(ctx, c)
}

// Teardown leaves the veth's deletion to the background; the same
// container set up again at once (a restart) gets its veth, and the old
// one is gone soon after a teardown.
func TestTeardownThenSetupAgain(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	m, _ := newTestManager(t, t.TempDir(), t.TempDir())
	defer m.Close()
	c := strings.Repeat("ab", 32)
	for i := 0; i < 5; i++ {
		sb, err := m.Setup(ctx, SandboxConfig{ContainerID: c, Networks: []EndpointConfig{{Network: NameBridge}}})
		if err != nil {
			t.Fatalf("setup %d: %v", i, err)
		}
		if _, err := netlink.LinkByName(sb.Endpoints[0].HostVeth); err != nil {
			t.Fatalf("setup %d: veth: %v", i, err)
		}
		if err := m.Teardown(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := netlink.LinkByName("wv" + c[:11] + "00")
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the veth is left after teardown")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
