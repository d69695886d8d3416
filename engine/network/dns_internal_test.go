package network

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// fakeUpstream is a name server on loopback (UDP and TCP on one port)
// that answers every A query with 192.0.2.1 and counts the queries it
// gets.
type fakeUpstream struct {
	addr    string
	queries atomic.Int64
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	u := &fakeUpstream{addr: pc.LocalAddr().String()}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		u.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(req)
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A:   net.IPv4(192, 0, 2, 1),
		})
		_ = w.WriteMsg(m)
	})
	us := &dns.Server{PacketConn: pc, Handler: h}
	ts := &dns.Server{Listener: l, Handler: h}
	go func() { _ = us.ActivateAndServe() }()
	go func() { _ = ts.ActivateAndServe() }()
	t.Cleanup(func() { _ = us.Shutdown(); _ = ts.Shutdown() })
	return u
}

func ask(t *testing.T, proto, server, name string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	resp, _, err := (&dns.Client{Net: proto}).Exchange(m, server)
	if err != nil {
		t.Fatalf("%s %s: %v", proto, name, err)
	}
	return resp
}

// internalNet builds a Manager state (no kernel needed) with an
// --internal network "back" and an ordinary network "front":
// container "lonely" is only on back; container "both" is on back and
// front.
func internalNet(t *testing.T) (m *Manager, back *Network) {
	t.Helper()
	pool := func(s string) *Pool {
		p, err := NewPool(netip.MustParsePrefix(s), netip.Prefix{}, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	back = &Network{ID: "back-id", Name: "back", Driver: DriverBridge, Internal: true, Pool: pool("10.231.0.0/24")}
	front := &Network{ID: "front-id", Name: "front", Driver: DriverBridge, Pool: pool("10.232.0.0/24")}
	m = &Manager{st: state{
		Networks: map[string]*Network{back.ID: back, front.ID: front},
		Sandboxes: map[string]*Sandbox{
			"lonelyid": {ContainerID: "lonelyid", Name: "lonely", Endpoints: []*Endpoint{
				{NetworkID: back.ID, IP: netip.MustParseAddr("10.231.0.2")},
			}},
			"bothid": {ContainerID: "bothid", Name: "both", Endpoints: []*Endpoint{
				{NetworkID: back.ID, IP: netip.MustParseAddr("10.231.0.3")},
				{NetworkID: front.ID, IP: netip.MustParseAddr("10.232.0.2"), Gateway: front.Pool.Gateway},
			}},
		},
	}}
	return m, back
}

// TestDNSInternalNeverForwards serves an --internal network's names with
// a real upstream configured: outside names get SERVFAIL and the upstream
// never sees a query, while the network's own names still resolve.
func TestDNSInternalNeverForwards(t *testing.T) {
	up := startUpstream(t)
	m, back := internalNet(t)
	s, err := startDNS(netip.MustParseAddrPort("127.0.0.1:0"), &netResolver{m: m, netID: back.ID, pool: back.Pool}, []string{up.addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, proto := range []string{"udp", "tcp"} {
		if resp := ask(t, proto, s.addr(), "example.com"); resp.Rcode != dns.RcodeServerFailure || len(resp.Answer) != 0 {
			t.Errorf("%s: outside name on an internal network: %v", proto, resp)
		}
		resp := ask(t, proto, s.addr(), "lonely")
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "10.231.0.2" {
			t.Errorf("%s: container name on an internal network: %v", proto, resp)
		}
	}
	if n := up.queries.Load(); n != 0 {
		t.Fatalf("the internal network's DNS server sent %d queries upstream", n)
	}

	// The same network without --internal forwards to the same upstream:
	// the check above would have seen a leak.
	m.mu.Lock()
	back.Internal = false
	m.mu.Unlock()
	if resp := ask(t, "udp", s.addr(), "example.com"); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Fatalf("forwarded answer: %v", resp)
	}
	if n := up.queries.Load(); n != 1 {
		t.Fatalf("upstream got %d queries, want 1", n)
	}
}

// TestNetResolverForwards checks who may have names resolved outside: on
// an internal network only a container that also has an external network.
func TestNetResolverForwards(t *testing.T) {
	m, back := internalNet(t)
	r := &netResolver{m: m, netID: back.ID, pool: back.Pool}
	for src, want := range map[string]bool{
		"10.231.0.2": false, // only on the internal network
		"10.231.0.3": true,  // also on "front", which has a gateway
		"10.231.0.9": false, // no container
		"127.0.0.1":  false, // the host
	} {
		if got := r.forwards(netip.MustParseAddr(src)); got != want {
			t.Errorf("forwards(%s) = %v, want %v", src, got, want)
		}
	}
	front := &netResolver{m: m, netID: "front-id", pool: m.st.Networks["front-id"].Pool}
	if !front.forwards(netip.MustParseAddr("10.232.0.2")) {
		t.Error("a network without --internal must forward")
	}
}
