package network

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) lookup(_ netip.Addr, n string) ([]netip.Addr, bool) {
	a, ok := f[n]
	return a, ok
}
func (f fakeResolver) allowed(src netip.Addr) bool { return src.IsLoopback() }
func (f fakeResolver) forwards(netip.Addr) bool    { return true }
func (f fakeResolver) discover(string) ([]netip.Addr, bool) {
	return nil, false
}

func TestDNSAnswers(t *testing.T) {
	r := fakeResolver{"db": {netip.MustParseAddr("10.210.0.2")}, "cache": {netip.MustParseAddr("10.210.0.3"), netip.MustParseAddr("10.210.0.4")},
		"dual": {netip.MustParseAddr("10.210.0.5"), netip.MustParseAddr("fd00:60::2")}}
	s, err := startDNS(netip.MustParseAddrPort("127.0.0.1:0"), r, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, proto := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: proto}
		ask := func(name string, qt uint16) *dns.Msg {
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(name), qt)
			resp, _, err := c.Exchange(m, s.addr())
			if err != nil {
				t.Fatalf("%s %s: %v", proto, name, err)
			}
			return resp
		}
		resp := ask("DB", dns.TypeA)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "10.210.0.2" {
			t.Errorf("%s db: %v", proto, resp)
		}
		if resp := ask("cache", dns.TypeA); len(resp.Answer) != 2 {
			t.Errorf("%s cache: %v", proto, resp)
		}
		if resp := ask("db", dns.TypeAAAA); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 {
			t.Errorf("%s db AAAA: %v", proto, resp)
		}
		// A container of an IPv6 network has an A and an AAAA record.
		if resp := ask("dual", dns.TypeAAAA); len(resp.Answer) != 1 || resp.Answer[0].(*dns.AAAA).AAAA.String() != "fd00:60::2" {
			t.Errorf("%s dual AAAA: %v", proto, resp)
		}
		if resp := ask("dual", dns.TypeA); len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "10.210.0.5" {
			t.Errorf("%s dual A: %v", proto, resp)
		}
		if resp := ask("nosuch", dns.TypeA); resp.Rcode != dns.RcodeNameError {
			t.Errorf("%s nosuch: %v", proto, resp)
		}
		// No upstream configured: a dotted unknown name is NXDOMAIN too,
		// never sent anywhere.
		if resp := ask("example.invalid", dns.TypeA); resp.Rcode != dns.RcodeNameError {
			t.Errorf("%s dotted: %v", proto, resp)
		}
	}
}

func TestDNSRefusesStrangers(t *testing.T) {
	r := fakeResolver{"db": {netip.MustParseAddr("10.0.0.2")}}
	s, err := startDNS(netip.MustParseAddrPort("127.0.0.1:0"), denyAll{r}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	m := new(dns.Msg)
	m.SetQuestion("db.", dns.TypeA)
	resp, _, err := new(dns.Client).Exchange(m, s.addr())
	if err != nil || resp.Rcode != dns.RcodeRefused {
		t.Fatalf("stranger: %v %v", resp, err)
	}
}

type denyAll struct{ fakeResolver }

func (denyAll) allowed(netip.Addr) bool { return false }

// blockingResolver holds every lookup until release is closed, as the
// manager's resolver waits for the manager's lock.
type blockingResolver struct {
	entered chan struct{}
	release chan struct{}
}

func (b blockingResolver) lookup(netip.Addr, string) ([]netip.Addr, bool) {
	b.entered <- struct{}{}
	<-b.release
	return nil, false
}
func (blockingResolver) allowed(netip.Addr) bool              { return true }
func (blockingResolver) forwards(netip.Addr) bool             { return true }
func (blockingResolver) discover(string) ([]netip.Addr, bool) { return nil, false }

// The manager stops a network's DNS server while it holds its lock, and
// the server's handlers take that lock to resolve names: stopping must not
// wait for the handlers in flight, or a query arriving during a network
// removal deadlocks the manager. The address must be free at once, for a
// network created next on the same gateway.
func TestDNSCloseDoesNotWaitForHandlers(t *testing.T) {
	b := blockingResolver{entered: make(chan struct{}, 1), release: make(chan struct{})}
	s, err := startDNS(netip.MustParseAddrPort("127.0.0.1:0"), b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.addr()
	go func() {
		m := new(dns.Msg)
		m.SetQuestion("db.", dns.TypeA)
		_, _, _ = (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(m, addr)
	}()
	<-b.entered
	closed := make(chan struct{})
	go func() { s.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		close(b.release)
		t.Fatal("close waited for a handler in flight")
	}
	again, err := startDNS(netip.MustParseAddrPort(addr), fakeResolver{}, nil, nil)
	if err != nil {
		close(b.release)
		t.Fatalf("the address is still taken after close: %v", err)
	}
	again.close()
	close(b.release)
}
