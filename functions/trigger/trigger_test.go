package trigger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
)

func TestFind(t *testing.T) {
	routes := []Route{
		{Method: "GET", Path: "/users/{id}", Function: "a"},
		{Method: "GET", Path: "/users/me", Function: "b"},
		{Method: "ANY", Path: "/users/{id}", Function: "c"},
		{Method: "GET", Path: "/files/{proxy+}", Function: "d"},
		{Method: "ANY", Path: "/", Function: "e"},
	}
	cases := []struct {
		method, path, fn string
		params           map[string]string
	}{
		{"GET", "/users/42", "a", map[string]string{"id": "42"}},
		{"GET", "/users/me", "b", nil},
		{"POST", "/users/42", "c", map[string]string{"id": "42"}},
		{"GET", "/files/a/b/c.txt", "d", map[string]string{"proxy": "a/b/c.txt"}},
		{"GET", "/", "e", nil},
		{"GET", "/nothing/here", "", nil},
		{"GET", "/users/", "", nil},
	}
	for _, c := range cases {
		r, params := Find(routes, c.method, c.path)
		got := ""
		if r != nil {
			got = r.Function
		}
		if got != c.fn {
			t.Errorf("%s %s -> %q, want %q", c.method, c.path, got, c.fn)
			continue
		}
		for k, v := range c.params {
			if params[k] != v {
				t.Errorf("%s %s: param %s=%q, want %q", c.method, c.path, k, params[k], v)
			}
		}
	}
	for _, bad := range []Route{{Method: "FETCH", Path: "/x"}, {Method: "GET", Path: "x"}, {Method: "GET", Path: "/a/{b"}, {Method: "GET", Path: "/{p+}/x"}, {Method: "GET", Path: "/2015-03-31/functions"}} {
		if err := ValidateRoute(&bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("route %+v accepted", bad)
		}
	}
}

// echoInvoker answers with what a Lambda function behind API Gateway
// would: the event's path parameter in a 201 response.
type echoInvoker struct {
	mu     sync.Mutex
	events [][]byte
	fail   bool
}

func (e *echoInvoker) Invoke(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error) {
	e.mu.Lock()
	e.events = append(e.events, in.Payload)
	e.mu.Unlock()
	if e.fail {
		return &functions.InvokeOutput{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"x"}`)}, nil
	}
	var ev httpEvent
	_ = json.Unmarshal(in.Payload, &ev)
	body, _ := json.Marshal(map[string]any{"statusCode": 201, "headers": map[string]string{"X-Id": ev.PathParameters["id"]}, "body": "user " + ev.PathParameters["id"] + " " + ev.Body})
	return &functions.InvokeOutput{Payload: body}, nil
}

func TestRouterEventsAndResponses(t *testing.T) {
	tbl, err := Open(filepath.Join(t.TempDir(), "triggers.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.AddRoute(Route{Method: "post", Path: "/users/{id}", Function: "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.AddRoute(Route{Method: "POST", Path: "/users/{id}", Function: "other"}); !errdefs.IsConflict(err) {
		t.Fatalf("duplicate route: %v", err)
	}
	inv := &echoInvoker{}
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(418) })
	srv := httptest.NewServer(tbl.Router(inv, fallback))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/users/42?x=1&x=2", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || string(body) != "user 42 hi" || resp.Header.Get("X-Id") != "42" {
		t.Fatalf("response %d %q %v", resp.StatusCode, body, resp.Header)
	}
	var ev httpEvent
	if err := json.Unmarshal(inv.events[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Version != "2.0" || ev.RouteKey != "POST /users/{id}" || ev.RawPath != "/users/42" || ev.RawQueryString != "x=1&x=2" ||
		ev.QueryStringParameters["x"] != "1,2" || ev.RequestContext.HTTP.Method != "POST" || ev.Headers["content-type"] != "text/plain" {
		t.Fatalf("event %+v", ev)
	}
	if resp, _ := http.Get(srv.URL + "/elsewhere"); resp.StatusCode != 418 {
		t.Fatalf("unrouted request did not fall through: %d", resp.StatusCode)
	}
	inv.fail = true
	if resp, _ := http.Post(srv.URL+"/users/1", "", nil); resp.StatusCode != 500 {
		t.Fatalf("function error: %d", resp.StatusCode)
	}

	again, err := Open(tbl.path)
	if err != nil || len(again.Routes()) != 1 {
		t.Fatalf("routes not persisted: %v", err)
	}
}

func TestWriteResponseShapes(t *testing.T) {
	for payload, want := range map[string]string{
		`"plain string"`:               "plain string",
		`{"a":1}`:                      `{"a":1}`,
		`{"statusCode":204,"body":""}`: "",
		`{"statusCode":200,"body":"aGk=","isBase64Encoded":true}`: "hi",
	} {
		rec := httptest.NewRecorder()
		WriteResponse(rec, []byte(payload))
		if rec.Body.String() != want {
			t.Errorf("%s -> %q, want %q", payload, rec.Body.String(), want)
		}
	}
}

func TestSchedulerFires(t *testing.T) {
	tbl, _ := Open(filepath.Join(t.TempDir(), "triggers.json"))
	if _, err := tbl.AddSchedule(Schedule{Name: "tick", Expression: "rate(1 second)", Function: "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.AddSchedule(Schedule{Name: "bad", Expression: "rate(1 fortnight)", Function: "hello"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad expression: %v", err)
	}
	inv := &echoInvoker{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tbl.RunScheduler(ctx, inv, time.Now, slogDiscard()); close(done) }()
	time.Sleep(2500 * time.Millisecond)
	cancel()
	<-done
	inv.mu.Lock()
	n := len(inv.events)
	first := inv.events[0]
	inv.mu.Unlock()
	if n < 2 || n > 3 {
		t.Fatalf("rate(1 second) fired %d times in 2.5s", n)
	}
	var ev map[string]any
	_ = json.Unmarshal(first, &ev)
	if ev["detail-type"] != "Scheduled Event" || ev["source"] != "aws.events" {
		t.Fatalf("event %v", ev)
	}
}

// An empty or garbage triggers.json does not stop the daemon: the table
// opens empty, the file is set aside and logged, and the table works.
func TestOpenSetsAsideDamagedTable(t *testing.T) {
	for name, content := range map[string]string{"empty": "", "garbage": `{"Routes": [{"Method": "GET", "Pa`} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "triggers.json")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			tbl, err := Open(p, WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
			if err != nil {
				t.Fatalf("a damaged table stops the daemon: %v", err)
			}
			if len(tbl.Routes()) != 0 || len(tbl.Schedules()) != 0 {
				t.Fatalf("table %+v", tbl.data)
			}
			aside, _ := filepath.Glob(p + ".corrupt-*")
			if len(aside) != 1 || !strings.Contains(log.String(), "triggers.json") {
				t.Fatalf("set aside as %v, log %q", aside, log.String())
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != content {
				t.Fatalf("the set-aside file holds %q", b)
			}
			if _, err := tbl.AddRoute(Route{Method: "GET", Path: "/x", Function: "hello"}); err != nil {
				t.Fatal(err)
			}
			if again, err := Open(p); err != nil || len(again.Routes()) != 1 {
				t.Fatalf("after a new route: %v", err)
			}
		})
	}
}

// A routed request's body that stalls is given up after BodyTimeout's
// deadline; the deadline goes with the body, so a function that runs
// longer still answers.
func TestRouterBodyDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tbl, _ := Open(filepath.Join(t.TempDir(), "triggers.json"), WithBodyTimeout(timeout))
	if _, err := tbl.AddRoute(Route{Method: "POST", Path: "/slow", Function: "hello"}); err != nil {
		t.Fatal(err)
	}
	inv := &echoInvoker{}
	srv := httptest.NewServer(tbl.Router(inv, http.NotFoundHandler()))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusBadRequest || took > timeout+2*time.Second {
		t.Fatalf("stalled body: %d after %v", resp.StatusCode, took)
	}

	slow := httptest.NewServer(tbl.Router(slowInvoker{3 * timeout}, http.NotFoundHandler()))
	defer slow.Close()
	resp, err = http.Post(slow.URL+"/slow", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatalf("a function slower than the body deadline: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a function slower than the body deadline: %d", resp.StatusCode)
	}
}

// slowInvoker answers after a while.
type slowInvoker struct{ d time.Duration }

func (s slowInvoker) Invoke(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error) {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &functions.InvokeOutput{Payload: []byte(`"ok"`)}, nil
}
