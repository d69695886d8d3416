package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/identity"
)

// fakeKeys is a KeyStore of fixed pairs.
type fakeKeys struct {
	mu    sync.Mutex
	pairs map[string]string
	stmts map[string][]identity.Statement
}

func (k *fakeKeys) Verify(id, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.pairs[id]; !ok || s != secret {
		return fmt.Errorf("wrong: %w", errdefs.ErrUnauthorized)
	}
	return nil
}

func (k *fakeKeys) Statements(id string) ([]identity.Statement, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.pairs[id]; !ok {
		return nil, false
	}
	return identity.Effective(k.stmts[id]), true
}

func (k *fakeKeys) revoke(id string) {
	k.mu.Lock()
	delete(k.pairs, id)
	k.mu.Unlock()
}

// dockerRecorder is a Docker API handler that records what it was asked.
type dockerRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (d *dockerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.reqs = append(d.reqs, r)
	d.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/stop"):
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(r.URL.Path, "/containers/nosuch"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"No such container: nosuch"}`)
	case strings.HasSuffix(r.URL.Path, "/logs"):
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
		w.WriteHeader(http.StatusOK)
		// Two frames in one write, one split over two.
		_, _ = w.Write([]byte{1, 0, 0, 0, 0, 0, 0, 3, 'h', 'i', '\n', 2, 0, 0, 0, 0, 0, 0, 4, 'e', 'r', 'r', '\n', 1, 0, 0})
		_, _ = w.Write([]byte{0, 0, 0, 0, 2, 'o', 'k'})
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "[]")
	}
}

func (d *dockerRecorder) last() *http.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.reqs) == 0 {
		return nil
	}
	return d.reqs[len(d.reqs)-1]
}

// names resolves container IDs "id-<name>" to "<name>".
type names struct{}

func (names) Name(_ context.Context, ref string) (string, error) {
	if n, ok := strings.CutPrefix(ref, "id-"); ok {
		return n, nil
	}
	return ref, nil
}

// fakeFunctions is a functions engine of one function.
type fakeFunctions struct{ invoked []functions.InvokeInput }

func (f *fakeFunctions) List(context.Context) ([]*functions.Config, error) {
	return []*functions.Config{{FunctionName: "hello"}}, nil
}
func (f *fakeFunctions) Get(_ context.Context, name, _ string) (*functions.Config, error) {
	if name != "hello" {
		return nil, fmt.Errorf("Function not found: %s: %w", name, errdefs.ErrNotFound)
	}
	return &functions.Config{FunctionName: "hello"}, nil
}
func (f *fakeFunctions) ListVersions(context.Context, string) ([]*functions.Config, error) {
	return []*functions.Config{{FunctionName: "hello", Version: "$LATEST"}}, nil
}
func (f *fakeFunctions) ListAliases(context.Context, string) ([]*functions.Alias, error) {
	return nil, nil
}
func (f *fakeFunctions) Invoke(_ context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error) {
	f.invoked = append(f.invoked, in)
	return &functions.InvokeOutput{StatusCode: 200, Payload: in.Payload, LogResult: "UkVQT1JUIFJlcXVlc3RJZDogeA==", ExecutedVersion: "$LATEST", RequestID: "x"}, nil
}
func (f *fakeFunctions) CopyLog(_ context.Context, _ string, _ bool, w io.Writer) error {
	_, err := io.WriteString(w, "START RequestId: a\nREPORT RequestId: a\tDuration: 1 ms\nline\nREPORT RequestId: b\tDuration: 2 ms")
	return err
}

type env struct {
	t      *testing.T
	srv    *httptest.Server
	con    *Server
	keys   *fakeKeys
	docker *dockerRecorder
	fns    *fakeFunctions
}

func newEnv(t *testing.T) *env {
	keys := &fakeKeys{pairs: map[string]string{"ADMIN": "s3cret", "WEB": "w", "FN": "f"}, stmts: map[string][]identity.Statement{
		"ADMIN": {identity.AdminStatement},
		"WEB":   {{Service: "docker", Actions: []string{"ContainerList", "ContainerStop", "ContainerLogs"}, Resource: "web-*"}},
	}}
	e := &env{t: t, keys: keys, docker: &dockerRecorder{}, fns: &fakeFunctions{}}
	e.con = New(keys, WithDocker(e.docker, names{}), WithFunctions(e.fns), WithBaseURL("http://127.0.0.1:9280"))
	mux := http.NewServeMux()
	mux.Handle("/console/", e.con)
	mux.Handle("/links", e.con.LinkHandler())
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser: a cookie jar and the CSRF token of its session.
type client struct {
	e    *env
	http *http.Client
	csrf string
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar}}
}

func (c *client) do(method, path, body string, hdr ...string) (int, string) {
	c.e.t.Helper()
	req, _ := http.NewRequest(method, c.e.srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *client) signIn(id, secret string) int {
	c.e.t.Helper()
	code, body := c.do("POST", "/console/api/session", fmt.Sprintf(`{"accessKeyId":%q,"secretAccessKey":%q}`, id, secret))
	if code == http.StatusOK {
		var info SessionInfo
		if err := json.Unmarshal([]byte(body), &info); err != nil {
			c.e.t.Fatal(err)
		}
		c.csrf = info.CSRF
	}
	return code
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t)
	for path, ct := range map[string]string{"/console/": "text/html", "/console/static/app.js": "javascript", "/console/static/app.css": "text/css"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), ct) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s has no CSP", path)
		}
	}
}

func TestSignInAndSession(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	if code, _ := c.do("GET", "/console/api/session", ""); code != 401 {
		t.Fatalf("session before sign-in: %d", code)
	}
	if code := c.signIn("ADMIN", "wrong"); code != 401 {
		t.Fatalf("a wrong secret: %d", code)
	}
	if code, _ := c.do("POST", "/console/api/session", `accessKeyId=ADMIN&secretAccessKey=s3cret`, "Content-Type", "application/x-www-form-urlencoded"); code != 400 {
		t.Fatalf("a form post: %d, want 400", code)
	}
	if code, _ := c.do("POST", "/console/api/session", `{"accessKeyId":"ADMIN","secretAccessKey":"s3cret"}`, "Origin", "http://evil"); code != 403 {
		t.Fatalf("a cross-origin sign-in: %d", code)
	}
	if code := c.signIn("ADMIN", "s3cret"); code != 200 {
		t.Fatalf("sign-in: %d", code)
	}
	code, body := c.do("GET", "/console/api/session", "")
	if code != 200 || !strings.Contains(body, `"admin":true`) || strings.Contains(body, "s3cret") {
		t.Fatalf("session: %d %s", code, body)
	}
	if code, _ := c.do("DELETE", "/console/api/session", ""); code != 403 {
		t.Fatalf("sign-out without CSRF: %d", code)
	}
	if code, _ := c.do("DELETE", "/console/api/session", "", csrfHeader, c.csrf); code != 204 {
		t.Fatalf("sign-out: %d", code)
	}
	if code, _ := c.do("GET", "/console/api/session", ""); code != 401 {
		t.Fatalf("after sign-out: %d", code)
	}
}

func TestSignInThrottled(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for i := 0; i < maxSignInFailures; i++ {
		if code := c.signIn("ADMIN", "guess"); code != 401 {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code := c.signIn("ADMIN", "s3cret"); code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d, want 429", maxSignInFailures, code)
	}
}

func TestCSRFAndProxy(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.signIn("ADMIN", "s3cret")
	if code, _ := c.do("POST", "/console/api/docker/containers/web-1/stop", ""); code != 403 {
		t.Fatalf("a stop without CSRF: %d", code)
	}
	if code, _ := c.do("POST", "/console/api/docker/containers/web-1/stop", "", csrfHeader, "nope"); code != 403 {
		t.Fatalf("a stop with a wrong token: %d", code)
	}
	if r := e.docker.last(); r != nil {
		t.Fatalf("a refused call reached the Docker API: %s", r.URL)
	}
	if code, _ := c.do("POST", "/console/api/docker/containers/web-1/stop?t=3", "", csrfHeader, c.csrf); code != 204 {
		t.Fatalf("a stop: %d", code)
	}
	r := e.docker.last()
	if r.URL.Path != "/containers/web-1/stop" || r.URL.RawQuery != "t=3" || r.Header.Get("Cookie") != "" || r.Header.Get(csrfHeader) != "" {
		t.Fatalf("the Docker API got %s %s with headers %v", r.Method, r.URL, r.Header)
	}
	// Routes outside the allowlist.
	for _, p := range []string{"/console/api/docker/containers/create", "/console/api/docker/containers/web-1/exec", "/console/api/docker/build"} {
		if code, _ := c.do("POST", p, "{}", csrfHeader, c.csrf); code != 404 && code != 405 {
			t.Errorf("%s: %d", p, code)
		}
	}
	// The Docker API's errors come through.
	if code, body := c.do("GET", "/console/api/docker/containers/nosuch/json", ""); code != 404 || !strings.Contains(body, "No such container") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestPolicy(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	if code := c.signIn("WEB", "w"); code != 200 {
		t.Fatal(code)
	}
	stop := func(ref string) int {
		code, _ := c.do("POST", "/console/api/docker/containers/"+ref+"/stop", "", csrfHeader, c.csrf)
		return code
	}
	if code := stop("web-1"); code != 204 {
		t.Fatalf("web-1: %d", code)
	}
	// By ID: the policy is asked about the container's name.
	if code := stop("id-web-2"); code != 204 {
		t.Fatalf("web-2 by id: %d", code)
	}
	if code := stop("id-db"); code != 403 {
		t.Fatalf("db by id: %d", code)
	}
	if code, _ := c.do("DELETE", "/console/api/docker/containers/web-1", "", csrfHeader, c.csrf); code != 403 {
		t.Fatalf("a remove the policy does not allow: %d", code)
	}
	// ContainerList names no resource: a web-* statement does not allow it.
	if code, _ := c.do("GET", "/console/api/docker/containers/json", ""); code != 403 {
		t.Fatalf("list: %d", code)
	}
	if code, _ := c.do("GET", "/console/api/functions", ""); code != 403 {
		t.Fatalf("functions for a docker-only key: %d", code)
	}
	// Revoked: the session ends.
	e.keys.revoke("WEB")
	if code := stop("web-1"); code != 401 {
		t.Fatalf("a revoked key: %d", code)
	}
	if code := stop("web-1"); code != 401 {
		t.Fatalf("a revoked key, again: %d", code)
	}
}

func TestContainerLogsSSE(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.signIn("ADMIN", "s3cret")
	code, body := c.do("GET", "/console/api/containers/web-1/logs?tail=5", "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	want := []string{`{"stream":"stdout","text":"hi\n"}`, `{"stream":"stderr","text":"err\n"}`, `{"stream":"stdout","text":"ok"}`}
	for _, w := range want {
		if !strings.Contains(body, "event: log\ndata: "+w+"\n\n") {
			t.Fatalf("no event %s in\n%s", w, body)
		}
	}
	if r := e.docker.last(); r.URL.Query().Get("follow") != "1" || r.URL.Query().Get("tail") != "5" {
		t.Fatalf("asked %s", r.URL)
	}
	if code, body := c.do("GET", "/console/api/containers/nosuch/logs", ""); code != 404 || !strings.Contains(body, "No such container") {
		t.Fatalf("logs of a missing container: %d %s", code, body)
	}
}

func TestFunctions(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.signIn("FN", "f") // the default policy: all of Lambda
	if code, body := c.do("GET", "/console/api/functions", ""); code != 200 || !strings.Contains(body, "hello") {
		t.Fatalf("%d %s", code, body)
	}
	if code, body := c.do("GET", "/console/api/functions/hello", ""); code != 200 || !strings.Contains(body, `"versions":[{`) {
		t.Fatalf("%d %s", code, body)
	}
	if code, _ := c.do("POST", "/console/api/functions/hello/invoke", `{"payload":{"a":1}}`); code != 403 {
		t.Fatalf("invoke without CSRF: %d", code)
	}
	code, body := c.do("POST", "/console/api/functions/hello/invoke", `{"payload":{"a":1},"qualifier":"1"}`, csrfHeader, c.csrf)
	var res InvokeResult
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil || res.Payload != `{"a":1}` || res.LogTail != "REPORT RequestId: x" {
		t.Fatalf("%d %s", code, body)
	}
	if in := e.fns.invoked[0]; in.Qualifier != "1" || !in.LogTail || in.Type != functions.InvocationSync {
		t.Fatalf("invoked %+v", in)
	}
	if code, _ := c.do("POST", "/console/api/functions/hello:1/invoke", `{}`, csrfHeader, c.csrf); code != 400 {
		t.Fatalf("a qualified name in the path: %d", code)
	}
	// REPORT lines need CloudWatch Logs' GetLogEvents, which the default
	// policy (Lambda only) does not give.
	if code, _ := c.do("GET", "/console/api/functions/hello/reports", ""); code != 403 {
		t.Fatalf("reports for a lambda-only key: %d", code)
	}
	a := e.client()
	a.signIn("ADMIN", "s3cret")
	code, body = a.do("GET", "/console/api/functions/hello/reports", "")
	if code != 200 || body != "[\"REPORT RequestId: a\\tDuration: 1 ms\",\"REPORT RequestId: b\\tDuration: 2 ms\"]\n" {
		t.Fatalf("%d %q", code, body)
	}
}

func TestLinks(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Post(e.srv.URL+"/links", "application/json", strings.NewReader(`{"AccessKeyID":"nobody"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("a link for an unknown key: %d", resp.StatusCode)
	}
	resp, err = http.Post(e.srv.URL+"/links", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var link LinkResponse
	_ = json.NewDecoder(resp.Body).Decode(&link)
	resp.Body.Close()
	tok, ok := strings.CutPrefix(link.URL, "http://127.0.0.1:9280/console/#link=")
	if !ok {
		t.Fatalf("link %q", link.URL)
	}
	c := e.client()
	if code, _ := c.do("POST", "/console/api/session/link", `{"token":"`+tok+`"}`); code != 200 {
		t.Fatalf("redeem: %d", code)
	}
	if code, body := c.do("GET", "/console/api/session", ""); code != 200 || !strings.Contains(body, "local root") {
		t.Fatalf("%d %s", code, body)
	}
	if code, _ := e.client().do("POST", "/console/api/session/link", `{"token":"`+tok+`"}`); code != 401 {
		t.Fatalf("a second redeem: %d", code)
	}
}

func TestMetricsScope(t *testing.T) {
	e := newEnv(t)
	e.con.Ring().Add(e.con.now(), map[string]float64{"ctr/web-1/cpu": 0.5, "ctr/db/cpu": 1, "fn/hello/inv": 2, "fn/hello2/inv": 3})
	web := e.client()
	web.signIn("WEB", "w")
	// ContainerStats is not in WEB's statement: no charts.
	if code, _ := web.do("GET", "/console/api/metrics?scope=containers", ""); code != 403 {
		t.Fatalf("%d", code)
	}
	a := e.client()
	a.signIn("ADMIN", "s3cret")
	code, body := a.do("GET", "/console/api/metrics?scope=function&name=hello", "")
	if code != 200 || !strings.Contains(body, `"fn/hello/inv":[2]`) || strings.Contains(body, "hello2") || strings.Contains(body, "ctr/") {
		t.Fatalf("%d %s", code, body)
	}
	if code, _ := a.do("GET", "/console/api/metrics?scope=nope", ""); code != 400 {
		t.Fatalf("%d", code)
	}
}
