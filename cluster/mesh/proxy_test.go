package mesh

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// echoServer answers each connection with "<name>:" and what it read
// until the client's end of stream.
func echoServer(t *testing.T, name string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				data, _ := io.ReadAll(c)
				_, _ = c.Write([]byte(name + ":" + string(data)))
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func startProxy(t *testing.T, maxConns int) (*proxy, string) {
	t.Helper()
	p, err := listen("127.0.0.1", 0, maxConns, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close(); p.wait() })
	return p, p.ln.Addr().String()
}

// roundTrip sends msg through addr, half-closes and returns the answer
// ("" when the proxy closed the connection without one).
func roundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write([]byte(msg))
	_ = c.(*net.TCPConn).CloseWrite()
	out, _ := io.ReadAll(c)
	return string(out)
}

func TestProxyRoundRobinAndFailover(t *testing.T) {
	a, b := echoServer(t, "a"), echoServer(t, "b")
	p, addr := startProxy(t, 16)
	if got := roundTrip(t, addr, "x"); got != "" {
		t.Fatalf("without backends: %q, want the connection closed", got)
	}
	p.setBackends([]Backend{{Task: "a", Addr: a}, {Task: "b", Addr: b}})
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		got := roundTrip(t, addr, "hello")
		if !strings.HasSuffix(got, ":hello") {
			t.Fatalf("answer %q", got)
		}
		seen[got[:1]]++
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Fatalf("round robin: %v", seen)
	}

	// A backend that refuses: every connection is still served, by the
	// other.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := netip.MustParseAddrPort(dead.Addr().String())
	dead.Close()
	p.setBackends([]Backend{{Task: "dead", Addr: deadAddr}, {Task: "b", Addr: b}})
	for i := 0; i < 4; i++ {
		if got := roundTrip(t, addr, "again"); got != "b:again" {
			t.Fatalf("with a dead backend: %q", got)
		}
	}
	p.mu.Lock()
	_, marked := p.failed[deadAddr]
	p.mu.Unlock()
	if !marked {
		t.Fatal("the dead backend is not remembered as failed")
	}
}

func TestProxyBoundsAndClose(t *testing.T) {
	// A backend that holds its connections open.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, addr := startProxy(t, 1)
	p.setBackends([]Backend{{Task: "hold", Addr: netip.MustParseAddrPort(ln.Addr().String())}})
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_ = first.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := first.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(first).ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("first connection: %q %v", line, err)
	}
	// The port carries one connection: a second is closed at once.
	if got := roundTrip(t, addr, "x"); got != "" {
		t.Fatalf("over the bound: %q", got)
	}
	// Closing the port ends the connection it carries and frees the
	// port.
	p.close()
	if _, err := io.ReadAll(first); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the connection outlived its port's close")
	}
	p.wait()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the port still answers after close")
	}
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port is not free after close: %v", err)
	}
	l2.Close()
}
