package portproxy

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// udpEcho starts a UDP echo server on loopback that prefixes "re:".
func udpEcho(t *testing.T) netip.AddrPort {
	t.Helper()
	back, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := back.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = back.WriteToUDP(append([]byte("re:"), buf[:n]...), from)
		}
	}()
	return back.LocalAddr().(*net.UDPAddr).AddrPort()
}

// socketsTo counts this process's open sockets whose peer is addr: the
// proxy's upstream sockets of one published port, as the kernel sees
// them. It walks the process's descriptors rather than /proc/net/udp,
// which is not a consistent snapshot while other processes of the machine
// open and close sockets.
func socketsTo(t *testing.T, addr netip.AddrPort) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	want := addr.Addr().As4()
	n := 0
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := unix.Getpeername(fd)
		if err != nil {
			continue // not a socket, not connected, or the directory's own fd
		}
		if in4, ok := sa.(*unix.SockaddrInet4); ok && in4.Addr == want && in4.Port == int(addr.Port()) {
			n++
		}
	}
	return n
}

// roundTrip sends msg from c to the proxy and waits for the echo.
func roundTrip(t *testing.T, c *net.UDPConn, proxy netip.AddrPort, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.WriteToUDPAddrPort([]byte(msg), proxy); err != nil {
		t.Fatalf("%s: send: %v", c.LocalAddr(), err)
	}
	buf := make([]byte, 100)
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "re:"+msg {
		t.Fatalf("%s: echo %q %v", c.LocalAddr(), buf[:n], err)
	}
}

// TestUDPFlowCap floods one published UDP port with more client
// addresses than DefaultUDPFlows: the proxy must never hold more flows
// (or upstream sockets, counted by the kernel) than the cap, every new
// client must still be served, and an evicted client must be served again
// on its next datagram.
func TestUDPFlowCap(t *testing.T) {
	back := udpEcho(t)
	p := New(nil)
	bound, cl, err := p.Publish("udp", netip.AddrPortFrom(lo, 0), back)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	u := cl.(*udpProxy)

	const clients = DefaultUDPFlows + 200
	conns := make([]*net.UDPConn, clients)
	for i := range conns {
		// Distinct source addresses across 127.0.1.0/24, 127.0.2.0/24...,
		// each with its own ephemeral port.
		src := net.IPv4(127, 0, byte(1+i/250), byte(1+i%250))
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: src})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		roundTrip(t, c, bound, fmt.Sprint(i))
		if got := u.flowCount(); got > DefaultUDPFlows {
			t.Fatalf("after %d clients the proxy holds %d flows, cap %d", i+1, got, DefaultUDPFlows)
		}
		if i%100 == 0 || i >= DefaultUDPFlows-2 && i <= DefaultUDPFlows+2 {
			if got, want := socketsTo(t, back), min(i+1, DefaultUDPFlows); got != want {
				t.Fatalf("after %d clients: %d upstream sockets open, want %d", i+1, got, want)
			}
		}
	}
	if got := socketsTo(t, back); got != DefaultUDPFlows {
		t.Fatalf("%d upstream sockets open after the flood, want the cap %d", got, DefaultUDPFlows)
	}
	// The newest client keeps its flow; the oldest was evicted and gets a
	// fresh one, which evicts the least recently used in its turn.
	roundTrip(t, conns[clients-1], bound, "again")
	roundTrip(t, conns[0], bound, "back")
	if got := u.flowCount(); got != DefaultUDPFlows {
		t.Fatalf("%d flows, want %d", got, DefaultUDPFlows)
	}
	if got := socketsTo(t, back); got != DefaultUDPFlows {
		t.Fatalf("%d upstream sockets, want %d", got, DefaultUDPFlows)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := socketsTo(t, back); got != 0 {
		t.Fatalf("%d upstream sockets left after Close", got)
	}
}

// TestUDPFlowLimitOption checks that WithUDPFlowLimit sets the cap and
// that eviction is least-recently-used: a client that keeps talking
// keeps its upstream socket.
func TestUDPFlowLimitOption(t *testing.T) {
	back := udpEcho(t)
	p := New(nil, WithUDPFlowLimit(4))
	bound, cl, err := p.Publish("udp", netip.AddrPortFrom(lo, 0), back)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	u := cl.(*udpProxy)
	var conns []*net.UDPConn
	for i := range 10 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 3, byte(1+i))})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		roundTrip(t, c, bound, "hi")
		// Client 0 talks between every newcomer, so it is never the
		// least recently used one.
		roundTrip(t, conns[0], bound, "keep")
		if got := u.flowCount(); got > 4 {
			t.Fatalf("%d flows, cap 4", got)
		}
	}
	if got := socketsTo(t, back); got != 4 {
		t.Fatalf("%d upstream sockets, want 4", got)
	}
	u.mu.Lock()
	_, kept := u.flows[conns[0].LocalAddr().(*net.UDPAddr).AddrPort()]
	u.mu.Unlock()
	if !kept {
		t.Fatal("the most active client's flow was evicted")
	}
}
