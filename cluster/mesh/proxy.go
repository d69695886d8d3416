package mesh

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy bounds.
const (
	// DefaultMaxConns bounds the connections one published port carries
	// at once; a connection over it is closed at accept.
	DefaultMaxConns = 1024
	// dialTimeout bounds one attempt to reach a backend.
	dialTimeout = 2 * time.Second
	// maxAttempts bounds the backends one connection is offered to.
	maxAttempts = 3
	// failedFor is how long a backend that refused or timed out is
	// skipped while others remain.
	failedFor = 5 * time.Second
	// bufSize is the copy buffer of each direction of a connection.
	bufSize = 32 << 10
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// proxy is the listener of one published port: it forwards each
// connection to one of the port's current backends.
type proxy struct {
	port     int
	ln       net.Listener
	log      *slog.Logger
	maxConns int
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	now      func() time.Time

	backends atomic.Pointer[[]Backend]
	next     atomic.Uint64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	failed map[netip.AddrPort]time.Time
	closed bool
	wg     sync.WaitGroup
}

// listen opens the port on every address of the node and serves it.
func listen(addr string, port int, maxConns int, log *slog.Logger) (*proxy, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, itoa(port)))
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	p := &proxy{port: port, ln: ln, log: log, maxConns: maxConns, dial: d.DialContext, now: time.Now,
		conns: map[net.Conn]struct{}{}, failed: map[netip.AddrPort]time.Time{}}
	empty := []Backend{}
	p.backends.Store(&empty)
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// setBackends replaces the backends new connections go to; connections
// already made stay where they are.
func (p *proxy) setBackends(bs []Backend) {
	c := append([]Backend(nil), bs...)
	p.backends.Store(&c)
}

func (p *proxy) serve() {
	defer p.wg.Done()
	var delay time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as
			// net/http's server does.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			p.log.Warn("mesh: accept", "port", p.port, "err", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// track counts a client connection in, unless the port is closed or
// full.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.conns) >= p.maxConns {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

// pick returns the backends to try for one connection, in order: round
// robin from the next one, those that failed recently last.
func (p *proxy) pick() []Backend {
	bs := *p.backends.Load()
	if len(bs) == 0 {
		return nil
	}
	start := int(p.next.Add(1)-1) % len(bs)
	now := p.now()
	var good, bad []Backend
	p.mu.Lock()
	for i := range bs {
		b := bs[(start+i)%len(bs)]
		if t, ok := p.failed[b.Addr]; ok && now.Sub(t) < failedFor {
			bad = append(bad, b)
		} else {
			delete(p.failed, b.Addr)
			good = append(good, b)
		}
	}
	p.mu.Unlock()
	out := append(good, bad...)
	if len(out) > maxAttempts {
		out = out[:maxAttempts]
	}
	return out
}

func (p *proxy) handle(c net.Conn) {
	defer p.wg.Done()
	var up net.Conn
	for _, b := range p.pick() {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		conn, err := p.dial(ctx, "tcp", b.Addr.String())
		cancel()
		if err == nil {
			up = conn
			break
		}
		p.log.Debug("mesh: backend does not answer", "port", p.port, "task", b.Task, "addr", b.Addr, "err", err)
		p.mu.Lock()
		p.failed[b.Addr] = p.now()
		p.mu.Unlock()
	}
	if up == nil {
		p.untrack(c)
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.untrack(c)
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	splice(c, up)
	p.untrack(c, up)
}

// splice copies both ways until both directions end, passing each
// end-of-stream on as a half-close.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		buf := bufPool.Get().(*[]byte)
		_, err := io.CopyBuffer(dst, src, *buf)
		bufPool.Put(buf)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
			_ = cw.CloseWrite()
		} else {
			// An error either way ends the whole connection.
			_ = a.Close()
			_ = b.Close()
		}
	}
	go cp(b, a)
	go cp(a, b)
	wg.Wait()
	_ = a.Close()
	_ = b.Close()
}

// close stops the listener, which frees the port at once, and ends its
// connections; wait waits for their goroutines (a dial in flight ends
// within dialTimeout).
func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	_ = p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
}

func (p *proxy) wait() { p.wg.Wait() }
