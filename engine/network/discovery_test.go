package network

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// fakeDiscovery answers "web" and "web.default.wharf" with the client's
// gateway, "idle" (a service without tasks) with no address, and records
// the gateway it was asked for.
type fakeDiscovery struct{ gw netip.Addr }

func (f *fakeDiscovery) Lookup(name string, gw netip.Addr) ([]netip.Addr, bool) {
	f.gw = gw
	switch name {
	case "web", "web.default.wharf":
		return []netip.Addr{gw}, true
	case "idle", "idle.default.wharf":
		return nil, true
	}
	return nil, false
}

// TestDNSDiscovery serves a network's names and the node's Discovery:
// the network's own names first, then the service names with a short TTL
// and the network's gateway, an authoritative empty answer for a service
// without tasks (never forwarded upstream), and nothing on an --internal
// network.
func TestDNSDiscovery(t *testing.T) {
	up := startUpstream(t)
	m, back := internalNet(t)
	front := m.st.Networks["front-id"]
	d := &fakeDiscovery{}
	m.SetDiscovery(d)
	s, err := startDNS(netip.MustParseAddrPort("127.0.0.1:0"), &netResolver{m: m, netID: front.ID, pool: front.Pool}, []string{up.addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, name := range []string{"web", "web.default.wharf"} {
		resp := ask(t, "udp", s.addr(), name)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != front.Pool.Gateway.String() {
			t.Fatalf("%s: %v", name, resp)
		}
		if ttl := resp.Answer[0].Header().Ttl; ttl != discoveryTTL {
			t.Errorf("%s: TTL %d, want %d", name, ttl, discoveryTTL)
		}
	}
	if d.gw != front.Pool.Gateway {
		t.Errorf("Discovery asked with gateway %s, want %s", d.gw, front.Pool.Gateway)
	}
	// A container's own name wins over a service of the same name.
	m.st.Sandboxes["webid"] = &Sandbox{ContainerID: "webid", Name: "web", Endpoints: []*Endpoint{{NetworkID: front.ID, IP: netip.MustParseAddr("10.232.0.7")}}}
	if resp := ask(t, "udp", s.addr(), "web"); len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "10.232.0.7" || resp.Answer[0].Header().Ttl != dnsTTL {
		t.Errorf("container name web: %v", resp)
	}
	for _, name := range []string{"idle", "idle.default.wharf"} {
		for _, proto := range []string{"udp", "tcp"} {
			if resp := ask(t, proto, s.addr(), name); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 || !resp.Authoritative {
				t.Errorf("%s %s, a service without tasks: %v", proto, name, resp)
			}
		}
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("%d service queries went upstream", n)
	}

	// An --internal network answers no service.
	bs, err := startDNS(netip.MustParseAddrPort("127.0.0.1:0"), &netResolver{m: m, netID: back.ID, pool: back.Pool}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.close()
	if resp := ask(t, "udp", bs.addr(), "web"); resp.Rcode != dns.RcodeNameError {
		t.Errorf("internal network answered a service: %v", resp)
	}

	// Without a Discovery the names are unknown again.
	m.SetDiscovery(nil)
	if resp := ask(t, "udp", s.addr(), "idle"); resp.Rcode != dns.RcodeNameError {
		t.Errorf("after SetDiscovery(nil): %v", resp)
	}
}
