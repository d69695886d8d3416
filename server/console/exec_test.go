package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeExec speaks the Docker API's exec calls as the engine's handler
// does: create, a start that takes the connection over and answers 200
// before its raw stream (here: the input echoed in upper case, up to a
// ^D), resize and inspect.
type fakeExec struct {
	mu      sync.Mutex
	created []map[string]any
	resized []string
	ended   chan struct{}
	running bool
}

func (f *fakeExec) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/exec"):
		if strings.HasPrefix(r.URL.Path, "/containers/stopped/") {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"message":"container stopped is not running"}`)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.created = append(f.created, body)
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"Id":"e1"}`)
	case r.URL.Path == "/exec/e1/start":
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		f.mu.Lock()
		f.running = true
		f.mu.Unlock()
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n$ ")
		buf := make([]byte, 1024)
		for {
			n, err := brw.Read(buf)
			if i := bytes.IndexByte(buf[:n], 4); i >= 0 {
				n = i
				err = io.EOF
			}
			if n > 0 {
				_, _ = conn.Write(bytes.ToUpper(buf[:n]))
			}
			if err != nil {
				break
			}
		}
		f.mu.Lock()
		f.running = false
		f.mu.Unlock()
		_ = conn.Close()
		close(f.ended)
	case r.URL.Path == "/exec/e1/resize":
		f.mu.Lock()
		f.resized = append(f.resized, r.URL.RawQuery)
		f.mu.Unlock()
	case r.URL.Path == "/exec/e1/json":
		_, _ = io.WriteString(w, `{"ExitCode":0}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func newExecEnv(t *testing.T) (*env, *fakeExec) {
	e := newEnv(t)
	fx := &fakeExec{ended: make(chan struct{})}
	e.con = New(e.keys, WithDocker(fx, names{}))
	mux := http.NewServeMux()
	mux.Handle("/console/", e.con)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e, fx
}

func dialTerm(t *testing.T, e *env, c *client, ctr string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/console/api/containers/"+ctr+"/exec",
		&websocket.DialOptions{HTTPClient: c.http, HTTPHeader: http.Header{"Origin": {e.srv.URL}}})
	if err != nil {
		t.Fatalf("dialing the terminal: %v", err)
	}
	return ws
}

func TestTerminalBridge(t *testing.T) {
	e, fx := newExecEnv(t)
	c := e.client()
	if code := c.signIn("ADMIN", "s3cret"); code != http.StatusOK {
		t.Fatal(code)
	}
	ws := dialTerm(t, e, c, "web-1")
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"csrf":"`+c.csrf+`","cols":100,"rows":30}`))
	read := func(want string) {
		t.Helper()
		var got strings.Builder
		for !strings.Contains(got.String(), want) {
			typ, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("reading %q: %v (got %q)", want, err, got.String())
			}
			if typ == websocket.MessageBinary {
				got.Write(data)
			}
		}
	}
	read("$ ")
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"i":"echo hi\r"}`))
	read("ECHO HI\r")
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"cols":120,"rows":40}`))
	deadline := time.Now().Add(10 * time.Second)
	for {
		fx.mu.Lock()
		n := len(fx.resized)
		fx.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fx.mu.Lock()
	created, resized := fx.created, fx.resized
	fx.mu.Unlock()
	if len(created) != 1 || created[0]["Tty"] != true || created[0]["AttachStdin"] != true || created[0]["Cmd"].([]any)[0] != "sh" {
		t.Errorf("the exec created: %v", created)
	}
	if size := created[0]["ConsoleSize"].([]any); size[0] != float64(30) || size[1] != float64(100) {
		t.Errorf("the exec's size: %v, want [30 100] (rows, cols)", size)
	}
	if len(resized) != 1 || resized[0] != "h=40&w=120" {
		t.Errorf("resizes: %v", resized)
	}
	// The page goes: the shell gets ^C and ^D, and ends.
	ws.CloseNow()
	select {
	case <-fx.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("a closed terminal's shell still runs")
	}
	// Its slot is free again: two more terminals into web-1 open.
	for i := 0; i < termsPerContainer; i++ {
		fx.ended = make(chan struct{})
		ws := dialTerm(t, e, c, "web-1")
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"csrf":"`+c.csrf+`"}`))
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatalf("terminal %d after the first closed: %v", i+1, err)
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"i":"\u0004"}`))
		<-fx.ended
		// The shell's end: its code, then a normal close.
		for {
			typ, data, err := ws.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
					t.Errorf("the end of a shell: %v", err)
				}
				break
			}
			if typ == websocket.MessageText && string(data) != `{"exit":0}` {
				t.Errorf("the end of a shell: %s", data)
			}
		}
	}
}

func TestTerminalNotStarted(t *testing.T) {
	e, _ := newExecEnv(t)
	c := e.client()
	if code := c.signIn("ADMIN", "s3cret"); code != http.StatusOK {
		t.Fatal(code)
	}
	// A container whose shell cannot start: the Docker API's reason.
	ws := dialTerm(t, e, c, "stopped")
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"csrf":"`+c.csrf+`"}`))
	_, _, err := ws.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusInternalError || !strings.Contains(ce.Reason, "not running") {
		t.Errorf("a terminal into a stopped container: %v", err)
	}
}

func TestTerminalSessionEnds(t *testing.T) {
	e, fx := newExecEnv(t)
	e.con.termCheck = 50 * time.Millisecond
	c := e.client()
	if code := c.signIn("ADMIN", "s3cret"); code != http.StatusOK {
		t.Fatal(code)
	}
	ws := dialTerm(t, e, c, "web-1")
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"csrf":"`+c.csrf+`"}`))
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.do("DELETE", "/console/api/session", "", csrfHeader, c.csrf); code != http.StatusNoContent {
		t.Fatalf("sign-out: %d", code)
	}
	var err error
	for err == nil {
		_, _, err = ws.Read(ctx)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "session ended") {
		t.Errorf("a terminal of a session signed out: %v", err)
	}
	select {
	case <-fx.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the shell of a signed-out session still runs")
	}
}
