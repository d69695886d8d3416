package agent

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/wharf-dev/wharf/cluster/state"
)

// The routes to the other nodes' task subnets follow from the node
// records alone.
func TestTaskRoutes(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	nodes := []state.Node{
		{ID: "self", Addr: "192.0.2.1", TaskSubnet: "10.218.0.0/24"},
		{ID: "b", Addr: "192.0.2.2", TaskSubnet: "10.218.1.0/24"},
		{ID: "c", Addr: "192.0.2.3", TaskSubnet: "10.218.2.0/24"},
		// Not leased yet, or unreadable: no route.
		{ID: "d", Addr: "192.0.2.4"},
		{ID: "e", Addr: "not an address", TaskSubnet: "10.218.4.0/24"},
		{ID: "f", Addr: "192.0.2.6", TaskSubnet: "10.218.5.7/24"},
		// Two claims of one subnet: the lower id's.
		{ID: "h", Addr: "192.0.2.8", TaskSubnet: "10.218.7.0/24"},
		{ID: "g", Addr: "192.0.2.7", TaskSubnet: "10.218.7.0/24"},
		// Never a route over the node's own subnet.
		{ID: "i", Addr: "192.0.2.9", TaskSubnet: "10.218.0.0/24"},
	}
	want := map[netip.Prefix]netip.Addr{
		p("10.218.1.0/24"): a("192.0.2.2"),
		p("10.218.2.0/24"): a("192.0.2.3"),
		p("10.218.7.0/24"): a("192.0.2.7"),
	}
	if got := TaskRoutes("self", nodes); !reflect.DeepEqual(got, want) {
		t.Fatalf("routes %v, want %v", got, want)
	}
	// The order of the records does not matter.
	rev := append([]state.Node(nil), nodes...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if got := TaskRoutes("self", rev); !reflect.DeepEqual(got, want) {
		t.Fatalf("reversed: %v", got)
	}
	// A node that has not leased yet routes to every leased one.
	if got := TaskRoutes("d", nodes); len(got) != 4 {
		t.Fatalf("from a node without a subnet: %v", got)
	}
}

// RouteDiff adds what is missing, replaces what moved and deletes what
// went.
func TestRouteDiff(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	have := map[netip.Prefix]netip.Addr{p("10.0.1.0/24"): a("192.0.2.2"), p("10.0.2.0/24"): a("192.0.2.3"), p("10.0.3.0/24"): a("192.0.2.4")}
	want := map[netip.Prefix]netip.Addr{p("10.0.1.0/24"): a("192.0.2.2"), p("10.0.2.0/24"): a("192.0.2.9"), p("10.0.4.0/24"): a("192.0.2.5")}
	set, del := RouteDiff(have, want)
	if !reflect.DeepEqual(set, map[netip.Prefix]netip.Addr{p("10.0.2.0/24"): a("192.0.2.9"), p("10.0.4.0/24"): a("192.0.2.5")}) {
		t.Errorf("set %v", set)
	}
	if !reflect.DeepEqual(del, []netip.Prefix{p("10.0.3.0/24")}) {
		t.Errorf("del %v", del)
	}
	if set, del := RouteDiff(want, want); len(set) != 0 || len(del) != 0 {
		t.Errorf("nothing to do: %v %v", set, del)
	}
}
