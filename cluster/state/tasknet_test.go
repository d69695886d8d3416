package state

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

// The task network's checks and its subnets.
func TestTaskNetConfig(t *testing.T) {
	for _, bad := range []TaskNetConfig{
		{CIDR: "nope", SubnetBits: 24},
		{CIDR: "fd00::/64", SubnetBits: 80},
		{CIDR: "10.218.0.1/16", SubnetBits: 24},
		{CIDR: "10.218.0.0/16", SubnetBits: 8},
		{CIDR: "10.218.0.0/16", SubnetBits: 30},
		{CIDR: "10.0.0.0/8", SubnetBits: 24},
	} {
		if _, err := ParseTaskNet(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%+v: %v, want invalid", bad, err)
		}
	}
	c := TaskNetConfig{CIDR: DefaultTaskCIDR, SubnetBits: DefaultSubnetBits}
	if c.Subnets() != 256 {
		t.Fatalf("subnets: %d", c.Subnets())
	}
	for i, want := range map[int]string{0: "10.218.0.0/24", 1: "10.218.1.0/24", 255: "10.218.255.0/24"} {
		if p, ok := c.Subnet(i); !ok || p.String() != want {
			t.Errorf("subnet %d: %v %v, want %s", i, p, ok, want)
		}
	}
	if _, ok := c.Subnet(256); ok {
		t.Error("a subnet past the last")
	}
	if id := SubnetID(netip.MustParsePrefix("10.218.3.0/24")); id != "subnet-0ada0300" {
		t.Errorf("subnet id %s", id)
	}
	if id := SubnetID(netip.Prefix{}); id != "" {
		t.Errorf("the id of no subnet: %q", id)
	}
	if a, b := AttachmentID("t1"), AttachmentID("t2"); a == b || len(a) != 36 || a != AttachmentID("t1") {
		t.Errorf("attachment ids %s %s", a, b)
	}
}

// Two nodes never share a subnet, even leasing at once; a node that
// comes back keeps its own; a full network says so; a removed node's
// subnet goes to the next node.
func TestLeaseSubnet(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c := TaskNetConfig{CIDR: "10.50.0.0/20", SubnetBits: 24}
	got, err := s.InitTaskNet(ctx, c)
	if err != nil || got != c {
		t.Fatalf("init: %+v %v", got, err)
	}
	// The first writer's network stays.
	if got, err := s.InitTaskNet(ctx, TaskNetConfig{CIDR: "10.60.0.0/16", SubnetBits: 24}); err != nil || got != c {
		t.Fatalf("a second init: %+v %v", got, err)
	}
	var mu sync.Mutex
	held := map[netip.Prefix]string{}
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := fmt.Sprintf("n%d", i)
			p, err := s.LeaseSubnet(ctx, c, node)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s: %v", node, err)
				return
			}
			if other, ok := held[p]; ok {
				t.Errorf("%s and %s share %s", node, other, p)
			}
			held[p] = node
		}()
	}
	wg.Wait()
	for p, node := range held {
		again, err := s.LeaseSubnet(ctx, c, node)
		if err != nil || again != p {
			t.Errorf("%s came back: %s %v, want %s", node, again, err, p)
		}
	}
	for i := 12; i < 16; i++ {
		if _, err := s.LeaseSubnet(ctx, c, fmt.Sprintf("n%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.LeaseSubnet(ctx, c, "late")
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("a full network: %v, want unavailable", err)
	}
	t.Log(err)
	if err := s.ReleaseSubnets(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	var n3 netip.Prefix
	for p, node := range held {
		if node == "n3" {
			n3 = p
		}
	}
	if p, err := s.LeaseSubnet(ctx, c, "late"); err != nil || p != n3 {
		t.Fatalf("after n3 left: %s %v, want %s", p, err, n3)
	}
}
