package portproxy

import (
	"container/list"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// UDPIdleTimeout is how long a UDP flow without traffic is kept.
const UDPIdleTimeout = 60 * time.Second

// DefaultUDPFlows is how many UDP flows one published UDP port keeps
// open at once unless WithUDPFlowLimit says otherwise. Every flow holds a
// socket (one descriptor) and a goroutine for up to UDPIdleTimeout, and
// UDP source addresses cost a sender nothing, so without a cap a flood of
// spoofed or distinct sources would exhaust the daemon's descriptors.
// When the cap is reached the least recently used flow is closed to make
// room: a client that is still talking keeps its flow, and an evicted
// client gets a new one (with a new upstream source port) on its next
// datagram, as after an idle timeout.
const DefaultUDPFlows = 1024

// maxDatagram is the largest UDP payload over IPv4 or IPv6 without
// jumbograms.
const maxDatagram = 65535

// datagramPool lends reply buffers only for the time a datagram is in
// hand, so an idle flow costs no buffer: the memory of the reply pumps is
// bounded by the datagrams in flight, not by the number of flows.
var datagramPool = sync.Pool{New: func() any {
	b := make([]byte, maxDatagram)
	return &b
}}

// udpFlow is one client's association: the connected upstream socket
// that carries its datagrams to the target and the replies back.
type udpFlow struct {
	client netip.AddrPort
	up     *net.UDPConn
	elem   *list.Element // in udpProxy.lru
}

type udpProxy struct {
	c      *net.UDPConn
	target netip.AddrPort
	max    int
	log    *slog.Logger

	mu     sync.Mutex
	closed bool
	flows  map[netip.AddrPort]*udpFlow
	lru    *list.List // of *udpFlow, most recently used first
}

func newUDPProxy(c *net.UDPConn, target netip.AddrPort, max int, log *slog.Logger) *udpProxy {
	if max <= 0 {
		max = DefaultUDPFlows
	}
	return &udpProxy{c: c, target: target, max: max, log: log,
		flows: map[netip.AddrPort]*udpFlow{}, lru: list.New()}
}

func (u *udpProxy) serve() {
	// One buffer per published port: datagrams from clients are read and
	// forwarded one at a time.
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := u.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				u.log.Warn("port proxy read", "addr", u.c.LocalAddr().String(), "err", err)
			}
			return
		}
		up, err := u.flow(from)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				u.log.Debug("port proxy udp dial", "target", u.target.String(), "err", err)
			}
			continue
		}
		_ = up.SetReadDeadline(time.Now().Add(UDPIdleTimeout))
		// A flow evicted since flow() returned fails here with a closed
		// socket; the datagram is lost, as UDP allows.
		_, _ = up.Write(buf[:n])
	}
}

// flow returns the upstream socket of a client, creating it (and its
// reply pump) on the client's first datagram and evicting the least
// recently used flow when the port already carries u.max of them.
func (u *udpProxy) flow(from netip.AddrPort) (*net.UDPConn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, net.ErrClosed
	}
	if f, ok := u.flows[from]; ok {
		u.lru.MoveToFront(f.elem)
		return f.up, nil
	}
	for len(u.flows) >= u.max {
		u.removeLocked(u.lru.Back().Value.(*udpFlow))
	}
	up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(u.target))
	if err != nil {
		return nil, err
	}
	f := &udpFlow{client: from, up: up}
	f.elem = u.lru.PushFront(f)
	u.flows[from] = f
	go u.replies(f)
	return up, nil
}

// removeLocked forgets f and closes its socket, which ends its reply
// pump. u.mu is held.
func (u *udpProxy) removeLocked(f *udpFlow) {
	if u.flows[f.client] != f {
		return
	}
	delete(u.flows, f.client)
	u.lru.Remove(f.elem)
	_ = f.up.Close()
}

// replies copies the target's datagrams back to the client until the
// flow idles out, is evicted or the proxy closes.
func (u *udpProxy) replies(f *udpFlow) {
	defer func() {
		u.mu.Lock()
		u.removeLocked(f)
		u.mu.Unlock()
		_ = f.up.Close()
	}()
	rc, err := f.up.SyscallConn()
	if err != nil {
		return
	}
	for {
		_ = f.up.SetReadDeadline(time.Now().Add(UDPIdleTimeout))
		var (
			bp   *[]byte
			n    int
			rerr error
		)
		// Wait for readability without holding a buffer; take one from
		// the pool only to receive a datagram that is already there.
		err := rc.Read(func(fd uintptr) bool {
			b := datagramPool.Get().(*[]byte)
			for {
				n, rerr = unix.Read(int(fd), *b)
				if !errors.Is(rerr, unix.EINTR) {
					break
				}
			}
			if errors.Is(rerr, unix.EAGAIN) {
				datagramPool.Put(b)
				return false
			}
			bp = b
			return true
		})
		if err != nil {
			return
		}
		if rerr != nil {
			datagramPool.Put(bp)
			return
		}
		_, werr := u.c.WriteToUDPAddrPort((*bp)[:n], f.client)
		datagramPool.Put(bp)
		if werr != nil {
			return
		}
	}
}

// flowCount reports how many flows are open.
func (u *udpProxy) flowCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.flows)
}

// Close stops listening and ends every flow.
func (u *udpProxy) Close() error {
	u.mu.Lock()
	u.closed = true
	for _, f := range u.flows {
		_ = f.up.Close()
	}
	u.flows = map[netip.AddrPort]*udpFlow{}
	u.lru.Init()
	u.mu.Unlock()
	return u.c.Close()
}
