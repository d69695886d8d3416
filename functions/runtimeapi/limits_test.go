package runtimeapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve starts s on loopback and returns its address.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.Serve(l, nil)
	t.Cleanup(func() { s.Close(); _ = srv.Close() })
	return l.Addr().String()
}

// rawConn is a client connection that writes requests by hand, so that a
// test controls how much of a body is ever sent.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

// send writes a request's head (with Content-Length n when n >= 0) and
// the first bytes of its body.
func (rc *rawConn) send(method, path string, n int, body string) {
	rc.t.Helper()
	head := method + " /" + Version + "/runtime" + path + " HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"
	if n >= 0 {
		head += fmt.Sprintf("Content-Length: %d\r\n", n)
	}
	if _, err := io.WriteString(rc.c, head+"\r\n"+body); err != nil {
		rc.t.Fatal(err)
	}
}

// response reads one response within d.
func (rc *rawConn) response(d time.Duration) (*http.Response, string, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// closed reports whether the server closed the connection within d.
func (rc *rawConn) closed(d time.Duration) bool {
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	_, err := rc.r.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || err != nil && strings.Contains(err.Error(), "reset")
}

// pendingInvoke starts an invocation and has the runtime (conn) take it.
func pendingInvoke(t *testing.T, s *Server, rc *rawConn, id string) <-chan *Result {
	t.Helper()
	done := make(chan *Result, 1)
	go func() {
		r, err := s.Invoke(context.Background(), Invocation{RequestID: id, Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
		if err != nil {
			r = &Result{ErrorType: "invoke: " + err.Error()}
		}
		done <- r
	}()
	rc.send("GET", "/invocation/next", -1, "")
	resp, _, err := rc.response(5 * time.Second)
	if err != nil || resp.Header.Get("Lambda-Runtime-Aws-Request-Id") != id {
		t.Fatalf("next: %v %v", resp, err)
	}
	return done
}

// A result posted for another request ID is refused before a byte of
// its body is read: a runtime cannot make the daemon read (and hold) a
// body for an invocation that is not the current one.
func TestResultIDCheckedBeforeBody(t *testing.T) {
	s := New()
	addr := serve(t, s)
	rt := dial(t, addr)
	done := pendingInvoke(t, s, rt, "right")

	for _, path := range []string{"/invocation/wrong/response", "/invocation/wrong/error"} {
		c := dial(t, addr)
		c.send("POST", path, MaxResponse, `{"partial":`)
		resp, _, err := c.response(2 * time.Second)
		if err != nil {
			t.Fatalf("%s: no answer before the body was sent (%v): the body is read before the ID is checked", path, err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
	}
	// A second result for an invocation that already has one is refused
	// the same way.
	rt.send("POST", "/invocation/right/response", 2, "ok")
	if resp, _, err := rt.response(2 * time.Second); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the right result: %v %v", resp, err)
	}
	if r := <-done; string(r.Payload) != "ok" {
		t.Fatalf("result %+v", r)
	}
	c := dial(t, addr)
	c.send("POST", "/invocation/right/response", MaxResponse, "x")
	if resp, _, err := c.response(2 * time.Second); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a second result: %v %v", resp, err)
	}
}

// A result announced over 6 MB fails the invocation with Lambda's error
// at once, without the body being read; one that turns out larger than
// announced (chunked) fails the same way after MaxResponse+1 bytes.
func TestOversizedResultNotRead(t *testing.T) {
	s := New()
	addr := serve(t, s)
	rt := dial(t, addr)
	done := pendingInvoke(t, s, rt, "big")
	rt.send("POST", "/invocation/big/response", MaxResponse+1, "{")
	resp, _, err := rt.response(2 * time.Second)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("announced too large: %v %v", resp, err)
	}
	r := <-done
	if !r.FunctionError || r.ErrorType != "Function.ResponseSizeTooLarge" || !strings.Contains(string(r.Payload), "Response payload size exceeded") {
		t.Fatalf("result %+v %s", r, r.Payload)
	}

	rt2 := dial(t, addr)
	done = pendingInvoke(t, s, rt2, "chunked")
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+addr+"/"+Version+"/runtime/invocation/chunked/error", io.LimitReader(zeros{}, MaxResponse+100))
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		errc <- err
	}()
	if r := <-done; r.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Fatalf("chunked error body: %+v", r)
	}
	if err := <-errc; err != nil && !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("chunked error body: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// A body that stalls is given up after BodyTimeout, and the invocation
// stays current so that the runtime may post it again.
func TestStalledBodyTimesOut(t *testing.T) {
	lim := DefaultLimits
	lim.BodyTimeout = 200 * time.Millisecond
	s := New(WithLimits(lim))
	addr := serve(t, s)
	rt := dial(t, addr)
	done := pendingInvoke(t, s, rt, "slow")
	c := dial(t, addr)
	c.send("POST", "/invocation/slow/response", 100, `{"a":`)
	start := time.Now()
	resp, _, err := c.response(3 * time.Second)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a stalled body is waited for past BodyTimeout: %v %v", resp, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the stalled body was given up after %v", took)
	}
	if !c.closed(time.Second) {
		t.Fatal("the connection of a stalled body stays open")
	}
	rt.send("POST", "/invocation/slow/response", 2, "ok")
	if resp, _, err := rt.response(2 * time.Second); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("posting again: %v %v", resp, err)
	}
	if r := <-done; string(r.Payload) != "ok" {
		t.Fatalf("result %+v", r)
	}
}

// A runtime's long poll of next outlives every timeout; so does a
// connection idle between a result and the next poll for less than
// IdleTimeout.
func TestLongPollOutlivesTimeouts(t *testing.T) {
	lim := Limits{MaxConns: 2, HeaderTimeout: 100 * time.Millisecond, BodyTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, IdleTimeout: time.Second}
	s := New(WithLimits(lim))
	addr := serve(t, s)
	rt := dial(t, addr)
	rt.send("GET", "/invocation/next", -1, "")
	time.Sleep(500 * time.Millisecond)
	done := make(chan *Result, 1)
	go func() {
		r, _ := s.Invoke(context.Background(), Invocation{RequestID: "late", Payload: []byte(`{"x":1}`)})
		done <- r
	}()
	resp, body, err := rt.response(2 * time.Second)
	if err != nil || resp.Header.Get("Lambda-Runtime-Aws-Request-Id") != "late" || body != `{"x":1}` {
		t.Fatalf("the long poll was cut: %v %v %q", resp, err, body)
	}
	time.Sleep(300 * time.Millisecond) // busy, then idle on the same connection
	rt.send("POST", "/invocation/late/response", 2, "ok")
	if resp, _, err := rt.response(2 * time.Second); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("result after a pause: %v %v", resp, err)
	}
	if r := <-done; string(r.Payload) != "ok" {
		t.Fatalf("result %+v", r)
	}
	// Idle past IdleTimeout: closed.
	if !rt.closed(3 * time.Second) {
		t.Fatal("an idle connection outlived IdleTimeout")
	}
}

// capCounts waits until the server's connection cap counts open
// connections, idle of them.
func capCounts(t *testing.T, s *Server, open, idle int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, i := s.capl.Load().counts()
		if o == open && i == idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cap counts %d open, %d idle; want %d, %d", o, i, open, idle)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// At most MaxConns connections are open: at the cap a new one replaces
// the connection idle the longest, or is closed when all are busy.
func TestConnectionCap(t *testing.T) {
	lim := DefaultLimits
	lim.MaxConns = 3
	s := New(WithLimits(lim))
	addr := serve(t, s)
	var busy []*rawConn
	for i := 0; i < 2; i++ {
		c := dial(t, addr)
		c.send("GET", "/invocation/next", -1, "") // long poll: busy
		busy = append(busy, c)
	}
	idle := dial(t, addr)
	idle.send("POST", "/invocation/x/response", 0, "")
	if resp, _, err := idle.response(2 * time.Second); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("idle connection's request: %v %v", resp, err)
	}
	// Three open (two busy, one idle): the fourth takes the idle one's
	// place. (The server marks a connection idle after its answer is
	// out: wait for it to see what the test sees.)
	capCounts(t, s, 3, 1)
	fourth := dial(t, addr)
	if !idle.closed(2 * time.Second) {
		t.Fatal("at the cap, the idle connection was not closed for a new one")
	}
	fourth.send("POST", "/invocation/x/response", 0, "")
	if resp, _, err := fourth.response(2 * time.Second); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the connection that replaced the idle one: %v %v", resp, err)
	}
	// fourth is idle now; make it busy with a stalled request.
	fourth.send("POST", "/invocation/x/response", 10, "")
	capCounts(t, s, 3, 0)
	// All busy: a fifth is closed at once, and every busy one survives.
	fifth := dial(t, addr)
	if !fifth.closed(2 * time.Second) {
		t.Fatal("a connection over the cap was kept open")
	}
	for i, c := range busy {
		if c.closed(50 * time.Millisecond) {
			t.Fatalf("busy connection %d was closed", i)
		}
	}
}

// FuzzResponseBodies posts arbitrary bodies, request IDs and error types
// as results and init errors: nothing panics, a result for the current
// invocation is delivered whole (or as Lambda's size error), and one for
// any other ID leaves the invocation pending.
func FuzzResponseBodies(f *testing.F) {
	f.Add([]byte(`{"errorType":"X","errorMessage":"m"}`), "right", "", true)
	f.Add([]byte{0xff, 0x00}, "", "Runtime.Crash", false)
	f.Add([]byte(`{"errorType":`), "right/../wrong", "", true)
	f.Add([]byte("{}"), "right%2F..", "\r\nX-Injected: 1", false)
	f.Add([]byte(`[`+strings.Repeat(`"a",`, 100)+`"b"]`), "RIGHT", "", false)
	f.Fuzz(func(t *testing.T, body []byte, id, errType string, asError bool) {
		s := New()
		srv := newTestServer(t, s)
		done := make(chan *Result, 1)
		go func() {
			r, err := s.Invoke(context.Background(), Invocation{RequestID: "right"})
			if err != nil {
				r = nil
			}
			done <- r
		}()
		resp, err := http.Get(srv + "/invocation/next")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		kind := "response"
		if asError {
			kind = "error"
		}
		req, err := http.NewRequest("POST", srv+"/invocation/"+pathEscape(id)+"/"+kind, strings.NewReader(string(body)))
		if err != nil {
			return
		}
		if errType != "" && validHeader(errType) {
			req.Header.Set("Lambda-Runtime-Function-Error-Type", errType)
		}
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if id == "right" {
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("result for the current invocation: %d", resp.StatusCode)
			}
			r := <-done
			if r == nil || r.FunctionError != asError {
				t.Fatalf("result %+v", r)
			}
			if !asError && string(r.Payload) != string(body) {
				t.Fatalf("payload changed")
			}
			if asError && len(r.Payload) == 0 {
				t.Fatalf("empty error payload")
			}
		} else {
			if resp.StatusCode == http.StatusAccepted {
				t.Fatalf("a result for %q was accepted for the invocation %q", id, "right")
			}
			select {
			case r := <-done:
				t.Fatalf("the invocation ended on a result for %q: %+v", id, r)
			default:
			}
			s.Close()
			<-done
		}
		// An init error body: whatever it holds, it is recorded.
		s2 := New()
		srv2 := newTestServer(t, s2)
		resp, err = http.Post(srv2+"/init/error", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ie := s2.InitError(); resp.StatusCode != http.StatusAccepted || ie == nil || len(ie.Payload) == 0 {
			t.Fatalf("init error: %d %+v", resp.StatusCode, ie)
		}
	})
}

func newTestServer(t *testing.T, s *Server) string {
	return "http://" + serve(t, s) + "/" + Version + "/runtime"
}

// pathEscape escapes id as one path segment.
func pathEscape(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return false
		}
	}
	return true
}

// A body sent to a path nothing serves is drained for at most
// BodyTimeout, not for as long as the runtime trickles it.
func TestUnservedBodyBounded(t *testing.T) {
	lim := DefaultLimits
	lim.BodyTimeout = 200 * time.Millisecond
	s := New(WithLimits(lim))
	c := dial(t, serve(t, s))
	c.send("POST", "/nothing/here", 1000, "x")
	if _, _, err := c.response(3 * time.Second); err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if !c.closed(time.Second) {
		t.Fatal("an unserved body holds its connection past BodyTimeout")
	}
}
