package console

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/identity"
)

// fakeNative answers the native API's reads the console makes.
type fakeNative struct{ paths []string }

func (f *fakeNative) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.paths = append(f.paths, r.URL.RequestURI())
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/wharf/v1/registry/repositories":
		_, _ = io.WriteString(w, `[{"Name":"team/app","Images":2},{"Name":"other/db","Images":1}]`)
	case "/wharf/v1/registry/images":
		_, _ = io.WriteString(w, `[{"Digest":"sha256:ab","Tags":["v1"]}]`)
	case "/wharf/v1/cluster/nodes":
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, `{"message":"this daemon is in no cluster (wharf daemon --cluster-init or --join)"}`)
	case "/wharf/v1/batch/jobs":
		_, _ = io.WriteString(w, `[{"ID":"1","Name":"a","Queue":"team-q"},{"ID":"2","Name":"b","Queue":"ops-q"}]`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"no such route"}`)
	}
}

func TestNativeReads(t *testing.T) {
	e := newEnv(t)
	nat := &fakeNative{}
	e.keys.pairs["TEAM"] = "t"
	e.keys.stmts["TEAM"] = []identity.Statement{
		{Service: "ecr", Actions: []string{"DescribeRepositories", "DescribeImages"}, Resource: "team/*"},
		{Service: "batch", Actions: []string{"ListJobs"}, Resource: "team-*"},
	}
	e.con = New(e.keys, WithDocker(e.docker, names{}), WithNative(nat))
	mux := http.NewServeMux()
	mux.Handle("/console/", e.con)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)

	admin := e.client()
	if code := admin.signIn("ADMIN", "s3cret"); code != http.StatusOK {
		t.Fatalf("sign-in: %d", code)
	}
	code, body := admin.do("GET", "/console/api/registry/repositories", "")
	if code != http.StatusOK || !strings.Contains(body, "team/app") || !strings.Contains(body, "other/db") {
		t.Fatalf("admin's repositories: %d %s", code, body)
	}
	// Not in a cluster: the native API's 409 and message, given on.
	code, body = admin.do("GET", "/console/api/cluster/nodes", "")
	if code != http.StatusConflict || !strings.Contains(body, "in no cluster") {
		t.Fatalf("nodes outside a cluster: %d %s", code, body)
	}
	// A repository's images: the query reaches the native API escaped.
	if code, _ := admin.do("GET", "/console/api/registry/images?repository=team/app%26x", ""); code != http.StatusOK {
		t.Fatalf("images: %d", code)
	}
	if got := nat.paths[len(nat.paths)-1]; got != "/wharf/v1/registry/images?repository=team%2Fapp%26x" {
		t.Fatalf("the native API was asked %s", got)
	}
	// Routes off the allowlist are not reached, nor are writes.
	before := len(nat.paths)
	for _, r := range [][2]string{{"GET", "/console/api/cluster/tokens"}, {"DELETE", "/console/api/registry/repositories"}, {"POST", "/console/api/batch/jobs"}} {
		if code, _ := admin.do(r[0], r[1], "", csrfHeader, admin.csrf); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 404 or 405", r[0], r[1], code)
		}
	}
	if len(nat.paths) != before {
		t.Errorf("refused calls reached the native API: %v", nat.paths[before:])
	}

	// A key limited to team/ sees only its repositories and jobs, and
	// may not read the cluster.
	team := e.client()
	if code := team.signIn("TEAM", "t"); code != http.StatusOK {
		t.Fatalf("sign-in: %d", code)
	}
	code, body = team.do("GET", "/console/api/registry/repositories", "")
	var repos []struct{ Name string }
	_ = json.Unmarshal([]byte(body), &repos)
	if code != http.StatusOK || len(repos) != 1 || repos[0].Name != "team/app" {
		t.Fatalf("team's repositories: %d %s", code, body)
	}
	if code, _ := team.do("GET", "/console/api/registry/images?repository=other/db", ""); code != http.StatusForbidden {
		t.Errorf("team reading other/db's images: %d, want 403", code)
	}
	code, body = team.do("GET", "/console/api/batch/jobs", "")
	if code != http.StatusOK || !strings.Contains(body, `"team-q"`) || strings.Contains(body, "ops-q") {
		t.Fatalf("team's jobs: %d %s", code, body)
	}
	for _, p := range []string{"/console/api/cluster/nodes", "/console/api/batch/queues"} {
		if code, _ := team.do("GET", p, ""); code != http.StatusForbidden {
			t.Errorf("team reading %s: %d, want 403", p, code)
		}
	}
}

func TestTerminalBounds(t *testing.T) {
	ts := newTerminals()
	var rels []func()
	for i := 0; i < termsPerContainer; i++ {
		rel, err := ts.acquire("s1", "web")
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, rel)
	}
	if _, err := ts.acquire("s1", "web"); err == nil {
		t.Fatalf("terminal %d into one container of a session was allowed", termsPerContainer+1)
	}
	// Another session, or another container, still may.
	if rel, err := ts.acquire("s2", "web"); err != nil {
		t.Fatal(err)
	} else {
		rel()
	}
	for i := termsPerContainer; i < termsPerSession; i++ {
		rel, err := ts.acquire("s1", "c"+string(rune('a'+i)))
		if err != nil {
			t.Fatalf("terminal %d of a session: %v", i+1, err)
		}
		rels = append(rels, rel)
	}
	if _, err := ts.acquire("s1", "other"); err == nil {
		t.Fatalf("terminal %d of a session was allowed", termsPerSession+1)
	}
	// A release frees its slot, once however often it is called.
	rels[0]()
	rels[0]()
	if _, err := ts.acquire("s1", "web"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := ts.acquire("s1", "x"); err == nil {
		t.Fatal("a double release freed two slots")
	}
	// The daemon's bound.
	ts = newTerminals()
	for i := 0; i < maxTerms; i++ {
		if _, err := ts.acquire(string(rune('A'+i)), "web"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ts.acquire("new", "web"); err == nil {
		t.Fatalf("terminal %d of the daemon was allowed", maxTerms+1)
	}
}

func TestTerminalRefusedBeforeUpgrade(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	// No session.
	if code, _ := c.do("GET", "/console/api/containers/web-1/exec", "", "Origin", e.srv.URL); code != http.StatusUnauthorized {
		t.Errorf("without a session: %d, want 401", code)
	}
	if code := c.signIn("ADMIN", "s3cret"); code != http.StatusOK {
		t.Fatal(code)
	}
	for what, origin := range map[string]string{"another origin": "http://evil.example", "no Origin": ""} {
		hdr := []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
		if origin != "" {
			hdr = append(hdr, "Origin", origin)
		}
		if code, _ := c.do("GET", "/console/api/containers/web-1/exec", "", hdr...); code != http.StatusForbidden {
			t.Errorf("with %s: %d, want 403", what, code)
		}
	}
	// A key without exec statements.
	web := e.client()
	if code := web.signIn("WEB", "w"); code != http.StatusOK {
		t.Fatal(code)
	}
	if code, _ := web.do("GET", "/console/api/containers/web-1/exec", "", "Origin", e.srv.URL); code != http.StatusForbidden {
		t.Errorf("a key without ContainerExecCreate: %d, want 403", code)
	}
	if r := e.docker.last(); r != nil && strings.Contains(r.URL.Path, "exec") {
		t.Errorf("a refused terminal reached the Docker API: %s", r.URL.Path)
	}
}
