// Package portproxy publishes container ports on the host with an
// in-daemon TCP and UDP proxy: the daemon listens on the host port and
// copies every connection (TCP) or datagram flow (UDP) to the container's
// address. The network manager uses it through its Publisher interface so
// that a kernel fast path (nftables DNAT) can replace it.
//
// Lifecycle: Publish binds the host socket at once, so a port already in
// use fails the container's start with a clear error; the returned
// Closer stops the listener and every flow it carries.
//
// Bounds: each published TCP port proxies at most DefaultTCPConns
// connections at once (see WithTCPConnLimit); a UDP flow (one per client address) holds a connected upstream
// socket and a goroutine until it idles out (UDPIdleTimeout); each
// published UDP port keeps at most DefaultUDPFlows of them (see
// WithUDPFlowLimit) and evicts the least recently used one beyond that.
// Reply buffers come from a shared pool only while a datagram is in hand.
package portproxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/engine/network/portspec"
	"github.com/wharf-dev/wharf/errdefs"
)

// Proxy is the userland publisher.
type Proxy struct {
	log      *slog.Logger
	udpFlows int
	tcpConns int
}

// Option configures a Proxy.
type Option func(*Proxy)

// DefaultTCPConns is how many connections one published TCP port proxies
// at once. Each costs two sockets and two splice pipes; beyond it the
// proxy accepts no more until one ends, so further clients wait in the
// listener's backlog (and the kernel refuses them once that is full)
// instead of growing the daemon's descriptors and memory without bound.
const DefaultTCPConns = 4096

// WithTCPConnLimit sets how many connections each published TCP port
// proxies at once; n <= 0 keeps DefaultTCPConns.
func WithTCPConnLimit(n int) Option {
	return func(p *Proxy) {
		if n > 0 {
			p.tcpConns = n
		}
	}
}

// WithUDPFlowLimit sets how many UDP flows (distinct client addresses)
// each published UDP port keeps open at once; n <= 0 keeps
// DefaultUDPFlows.
func WithUDPFlowLimit(n int) Option {
	return func(p *Proxy) {
		if n > 0 {
			p.udpFlows = n
		}
	}
}

// New returns a userland proxy that logs through log.
func New(log *slog.Logger, opts ...Option) *Proxy {
	if log == nil {
		log = slog.Default()
	}
	p := &Proxy{log: log, udpFlows: DefaultUDPFlows, tcpConns: DefaultTCPConns}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Publish listens on host (port 0: a random free port) for proto "tcp"
// or "udp" and forwards to target. It returns the address actually bound.
// A port in use is errdefs.ErrConflict.
func (p *Proxy) Publish(proto string, host, target netip.AddrPort) (netip.AddrPort, io.Closer, error) {
	switch proto {
	case "tcp":
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(host))
		if err != nil {
			return netip.AddrPort{}, nil, bindErr(host, proto, err)
		}
		t := &tcpProxy{l: l, target: target, log: p.log, conns: map[net.Conn]struct{}{}, slots: make(chan struct{}, p.tcpConns)}
		go t.serve()
		return l.Addr().(*net.TCPAddr).AddrPort(), t, nil
	case "udp":
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(host))
		if err != nil {
			return netip.AddrPort{}, nil, bindErr(host, proto, err)
		}
		u := newUDPProxy(c, target, p.udpFlows, p.log)
		go u.serve()
		return c.LocalAddr().(*net.UDPAddr).AddrPort(), u, nil
	}
	return netip.AddrPort{}, nil, fmt.Errorf("unsupported protocol %q: %w", proto, errdefs.ErrInvalidArgument)
}

func bindErr(host netip.AddrPort, proto string, err error) error {
	if errors.Is(err, errAddrInUse) || isAddrInUse(err) {
		return fmt.Errorf("Bind for %s/%s failed: %w: %w", host, proto, portspec.ErrPortAllocated, errdefs.ErrConflict)
	}
	return fmt.Errorf("listening on %s/%s: %v: %w", host, proto, err, errdefs.ErrUnavailable)
}

var errAddrInUse = errors.New("address already in use")

type tcpProxy struct {
	l      *net.TCPListener
	target netip.AddrPort
	log    *slog.Logger

	// slots holds a token per connection being proxied (see
	// DefaultTCPConns); serve takes one before it accepts.
	slots chan struct{}

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (t *tcpProxy) serve() {
	for {
		t.slots <- struct{}{}
		c, err := t.l.AcceptTCP()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				t.log.Warn("port proxy accept", "addr", t.l.Addr().String(), "err", err)
			}
			return
		}
		go func() {
			defer func() { <-t.slots }()
			t.forward(c)
		}()
	}
}

func (t *tcpProxy) track(c net.Conn, add bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if add {
		if t.closed {
			return false
		}
		t.conns[c] = struct{}{}
	} else {
		delete(t.conns, c)
	}
	return true
}

func (t *tcpProxy) forward(in *net.TCPConn) {
	defer in.Close()
	d := net.Dialer{Timeout: 5 * time.Second}
	oc, err := d.Dial("tcp", t.target.String())
	if err != nil {
		t.log.Debug("port proxy dial", "target", t.target.String(), "err", err)
		return
	}
	out := oc.(*net.TCPConn)
	defer out.Close()
	if !t.track(in, true) || !t.track(out, true) {
		return
	}
	defer t.track(in, false)
	defer t.track(out, false)
	done := make(chan struct{})
	go func() {
		_ = spliceCopy(out, in)
		_ = out.CloseWrite()
		close(done)
	}()
	_ = spliceCopy(in, out)
	_ = in.CloseWrite()
	<-done
}

// Close stops listening and ends every proxied connection.
func (t *tcpProxy) Close() error {
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
	return t.l.Close()
}
