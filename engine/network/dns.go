package network

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// resolver answers the names of one network: container names, aliases
// and short IDs of the containers attached to it.
type resolver interface {
	// lookup returns the addresses (IPv4 and IPv6) of name on the
	// network as the client src sees it; ok is false when the network
	// knows no such name.
	lookup(src netip.Addr, name string) (addrs []netip.Addr, ok bool)
	// allowed reports whether a client may query this server (a client
	// of the network itself, or the host).
	allowed(src netip.Addr) bool
	// forwards reports whether names the network does not know may be
	// resolved upstream for src. An --internal network must not reach
	// outside, not even through its DNS server, unless the client's
	// container has another, external network anyway (dockerd's
	// Sandbox.hasExternalAccess decides the same).
	forwards(src netip.Addr) bool
	// discover answers the names the network does not know but the
	// node's Discovery does (the cluster's services); ok is false when
	// neither knows name.
	discover(name string) (addrs []netip.Addr, ok bool)
}

// dnsServer is the embedded DNS server of one user-defined network. It
// serves on the network's gateway address, port 53, UDP and TCP: the
// containers' resolv.conf names that address. Names of the network are
// answered authoritatively; other names with a dot are forwarded to the
// host's name servers, and single-label names that the network does not
// know are NXDOMAIN (they would only leak to the outside). Clients without
// external access (an --internal network) get SERVFAIL for dotted names
// instead of a forwarded answer, as from dockerd's embedded DNS, which
// does not forward for such containers; the upstream servers never see
// their queries.
type dnsServer struct {
	udp, tcp *dns.Server
}

const dnsTTL = 600

func startDNS(addr netip.AddrPort, r resolver, upstream []string, log *slog.Logger) (*dnsServer, error) {
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("embedded DNS on %s/udp: %w", addr, err)
	}
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr.Addr(), pc.LocalAddr().(*net.UDPAddr).AddrPort().Port())))
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("embedded DNS on %s/tcp: %w", addr, err)
	}
	h := &dnsHandler{r: r, upstream: upstream, log: log}
	s := &dnsServer{
		udp: &dns.Server{PacketConn: pc, Handler: h},
		tcp: &dns.Server{Listener: l, Handler: h},
	}
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	return s, nil
}

// addr returns the UDP address served (tests bind port 0).
func (s *dnsServer) addr() string { return s.udp.PacketConn.LocalAddr().String() }

// close frees the server's address at once and lets the servers finish in
// the background. The manager calls it with its lock held, and handlers in
// flight take that lock to resolve names: the servers' Shutdown waits for
// them, so waiting for it here would deadlock a query that arrives while a
// network is removed.
func (s *dnsServer) close() {
	_ = s.udp.PacketConn.Close()
	_ = s.tcp.Listener.Close()
	go func() {
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
	}()
}

type dnsHandler struct {
	r        resolver
	upstream []string
	log      *slog.Logger
}

func (h *dnsHandler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	src, _ := netip.ParseAddrPort(w.RemoteAddr().String())
	m := new(dns.Msg)
	m.SetReply(req)
	if !h.r.allowed(src.Addr().Unmap()) {
		m.SetRcode(req, dns.RcodeRefused)
		_ = w.WriteMsg(m)
		return
	}
	if len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	addrs, ok := h.r.lookup(src.Addr().Unmap(), name)
	ttl := uint32(dnsTTL)
	if !ok {
		addrs, ok = h.r.discover(name)
		ttl = discoveryTTL
	}
	if !ok {
		if strings.Contains(name, ".") && len(h.upstream) > 0 {
			if !h.r.forwards(src.Addr().Unmap()) {
				m.SetRcode(req, dns.RcodeServerFailure)
				_ = w.WriteMsg(m)
				return
			}
			h.forward(w, req)
			return
		}
		m.Authoritative = true
		m.SetRcode(req, dns.RcodeNameError)
		_ = w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	m.RecursionAvailable = true
	for _, a := range addrs {
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A:   a.AsSlice(),
			})
		case a.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			m.Answer = append(m.Answer, &dns.AAAA{
				Hdr:  dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl},
				AAAA: a.AsSlice(),
			})
		}
	}
	// Other types (MX...), or AAAA of a name without an IPv6 address: an
	// empty NOERROR answer, so that resolvers do not go on to search
	// domains.
	_ = w.WriteMsg(m)
}

// forward relays a query to the host's name servers (host:port) in turn.
func (h *dnsHandler) forward(w dns.ResponseWriter, req *dns.Msg) {
	proto := "udp"
	if _, isTCP := w.RemoteAddr().(*net.TCPAddr); isTCP {
		proto = "tcp"
	}
	c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
	for _, up := range h.upstream {
		resp, _, err := c.Exchange(req, up)
		if err == nil && resp != nil {
			_ = w.WriteMsg(resp)
			return
		}
	}
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	_ = w.WriteMsg(m)
}

// hostNameservers returns the name servers of the host's resolv.conf as
// host:port addresses.
func hostNameservers(path string) []string {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	return out
}
