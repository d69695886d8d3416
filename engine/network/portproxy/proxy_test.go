package portproxy

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

var lo = netip.MustParseAddr("127.0.0.1")

func TestTCP(t *testing.T) {
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	go func() {
		for {
			c, err := back.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p := New(nil)
	bound, cl, err := p.Publish("tcp", netip.AddrPortFrom(lo, 0), back.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if bound.Port() == 0 {
		t.Fatal("no random port")
	}
	c, err := net.Dial("tcp", bound.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte("ping"))
	_ = c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	if string(got) != "ping" {
		t.Fatalf("echo %q", got)
	}
	if _, _, err := p.Publish("tcp", bound, back.Addr().(*net.TCPAddr).AddrPort()); !errdefs.IsConflict(err) {
		t.Fatalf("port in use: %v", err)
	}
}

func TestUDP(t *testing.T) {
	back, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
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
	p := New(nil)
	bound, cl, err := p.Publish("udp", netip.AddrPortFrom(lo, 0), back.LocalAddr().(*net.UDPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, err := net.Dial("udp", bound.String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("x"))
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "re:x" {
		t.Fatalf("udp echo %q %v", buf[:n], err)
	}
}

// TestTCPConnLimit: a published TCP port proxies at most its limit of
// connections at once; the next client waits (in the listener's backlog)
// until one of them ends, then gets through.
func TestTCPConnLimit(t *testing.T) {
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	upstream := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := back.Accept()
			if err != nil {
				return
			}
			upstream <- c
		}
	}()
	const limit = 3
	bound, cl, err := New(nil, WithTCPConnLimit(limit)).Publish("tcp", netip.AddrPortFrom(lo, 0), back.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var clients []net.Conn
	for i := 0; i < limit+2; i++ {
		c, err := net.Dial("tcp", bound.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	var ups []net.Conn
	for len(ups) < limit {
		select {
		case u := <-upstream:
			defer u.Close()
			ups = append(ups, u)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d connections reached the target", len(ups), limit)
		}
	}
	select {
	case <-upstream:
		t.Fatalf("more than %d connections proxied at once", limit)
	case <-time.After(300 * time.Millisecond):
	}
	// One client leaves, and the target closes its side when it sees the
	// end of the stream, as servers do: the slot goes to a waiting client.
	clients[0].Close()
	for _, u := range ups {
		go func() {
			if _, err := u.Read(make([]byte, 1)); err == io.EOF {
				u.Close()
			}
		}()
	}
	select {
	case u := <-upstream:
		u.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting client did not get through after a connection ended")
	}
}
