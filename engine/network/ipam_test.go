package network

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestPoolNeverHandsOutTwice(t *testing.T) {
	p, err := NewPool(netip.MustParsePrefix("10.1.2.0/29"), netip.Prefix{}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Gateway != netip.MustParseAddr("10.1.2.1") {
		t.Fatalf("gateway %s", p.Gateway)
	}
	seen := map[netip.Addr]bool{}
	for i := 0; i < 5; i++ { // .2 .. .6
		a, err := p.Allocate("c", netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] || a == p.Gateway || !p.Subnet.Contains(a) {
			t.Fatalf("bad or repeated address %s", a)
		}
		seen[a] = true
	}
	if _, err := p.Allocate("c", netip.Addr{}); !errdefs.IsUnavailable(err) {
		t.Fatalf("exhausted pool: %v", err)
	}
	p.Release(netip.MustParseAddr("10.1.2.4"))
	a, err := p.Allocate("d", netip.Addr{})
	if err != nil || a != netip.MustParseAddr("10.1.2.4") {
		t.Fatalf("after release got %s %v", a, err)
	}
}

func TestPoolRoundRobinAndStatic(t *testing.T) {
	p, _ := NewPool(netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("10.1.0.128/25"), netip.Addr{})
	a1, _ := p.Allocate("a", netip.Addr{})
	if a1 != netip.MustParseAddr("10.1.0.128") {
		t.Fatalf("first of range: %s", a1)
	}
	p.Release(a1)
	a2, _ := p.Allocate("b", netip.Addr{})
	if a2 == a1 {
		t.Fatalf("freed address reused at once")
	}
	if _, err := p.Allocate("c", a2); !errdefs.IsConflict(err) {
		t.Fatalf("static taken: %v", err)
	}
	if _, err := p.Allocate("c", netip.MustParseAddr("10.1.0.1")); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("static gateway: %v", err)
	}
	if a, err := p.Allocate("c", netip.MustParseAddr("10.1.0.5")); err != nil || a.String() != "10.1.0.5" {
		t.Fatalf("static outside range: %s %v", a, err)
	}
	if n := p.ReleaseOwner("c"); n != 1 {
		t.Fatalf("ReleaseOwner freed %d", n)
	}
}

func TestPoolPersists(t *testing.T) {
	p, _ := NewPool(netip.MustParsePrefix("10.9.0.0/24"), netip.Prefix{}, netip.MustParseAddr("10.9.0.254"))
	for i := 0; i < 3; i++ {
		if _, err := p.Allocate("x", netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q Pool
	if err := json.Unmarshal(data, &q); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 250; i++ {
		a, err := q.Allocate("y", netip.Addr{})
		if err != nil {
			break
		}
		if o := p.Leases[a]; o != "" {
			t.Fatalf("address %s handed out again after a reload", a)
		}
	}
}

func TestNewPoolInvalid(t *testing.T) {
	for _, tc := range []struct{ sub, rng, gw string }{
		{"10.0.0.0/31", "", ""},
		{"10.0.0.0/24", "10.0.1.0/25", ""},
		{"10.0.0.0/24", "", "10.0.1.1"},
		{"10.0.0.0/24", "", "10.0.0.255"},
		{"fd00::/127", "", ""},
		{"fd00::/64", "10.0.0.0/24", ""},
	} {
		var rng netip.Prefix
		var gw netip.Addr
		if tc.rng != "" {
			rng = netip.MustParsePrefix(tc.rng)
		}
		if tc.gw != "" {
			gw = netip.MustParseAddr(tc.gw)
		}
		if _, err := NewPool(netip.MustParsePrefix(tc.sub), rng, gw); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}

// An IPv6 pool hands out the addresses of its subnet after the gateway,
// as dockerd does (fd00:1::2 first), and never the subnet's own address.
func TestPoolIPv6(t *testing.T) {
	p, err := NewPool(netip.MustParsePrefix("fd00:1::/64"), netip.Prefix{}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Gateway != netip.MustParseAddr("fd00:1::1") {
		t.Fatalf("gateway %s", p.Gateway)
	}
	if a, err := p.Allocate("c", netip.Addr{}); err != nil || a != netip.MustParseAddr("fd00:1::2") {
		t.Fatalf("first address %s %v", a, err)
	}
	if a, err := p.Allocate("c", netip.MustParseAddr("fd00:1::50")); err != nil || a.String() != "fd00:1::50" {
		t.Fatalf("static %s %v", a, err)
	}
	if _, err := p.Allocate("c", netip.MustParseAddr("fd00:1::")); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("the subnet's own address: %v", err)
	}
	// The last address of a small range wraps to its first.
	q, _ := NewPool(netip.MustParsePrefix("fd00:2::/124"), netip.Prefix{}, netip.MustParseAddr("fd00:2::f"))
	n := 0
	for ; n < 20; n++ {
		if _, err := q.Allocate("x", netip.Addr{}); err != nil {
			break
		}
	}
	if n != 14 { // ::1 .. ::e, not ::0 nor the gateway ::f
		t.Fatalf("a /124 with its gateway at ::f handed out %d addresses, want 14", n)
	}
}

// Auxiliary addresses are never handed out, and asking for one is
// dockerd's "Address already in use".
func TestPoolReserved(t *testing.T) {
	p, _ := NewPool(netip.MustParsePrefix("10.80.0.0/29"), netip.Prefix{}, netip.Addr{})
	if err := p.Reserve("r", netip.MustParseAddr("10.80.0.2")); err != nil {
		t.Fatal(err)
	}
	if err := p.Reserve("out", netip.MustParseAddr("10.81.0.2")); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("reserving outside the subnet: %v", err)
	}
	if _, err := p.Allocate("c", netip.MustParseAddr("10.80.0.2")); !errdefs.IsConflict(err) {
		t.Fatalf("asking for a reserved address: %v", err)
	}
	for i := 0; i < 4; i++ { // .3 .. .6
		a, err := p.Allocate("c", netip.Addr{})
		if err != nil || a == netip.MustParseAddr("10.80.0.2") {
			t.Fatalf("allocation %d: %s %v", i, a, err)
		}
	}
	if _, err := p.Allocate("c", netip.Addr{}); !errdefs.IsUnavailable(err) {
		t.Fatalf("exhausted: %v", err)
	}
	data, _ := json.Marshal(p)
	var q Pool
	if err := json.Unmarshal(data, &q); err != nil || q.Reserved["r"] != netip.MustParseAddr("10.80.0.2") {
		t.Fatalf("reserved addresses across a reload: %v %v", q.Reserved, err)
	}
}
