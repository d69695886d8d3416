package dockerapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/container/testsuite"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/server/dockerapi"
	"github.com/wharf-dev/wharf/stream"
)

// These tests drive the Docker API over a unix socket, as the docker CLI
// does, against a real engine on the fake runtime: routes, status codes,
// error bodies and the JSON shapes of Moby's wire types. No privilege.

type system struct{}

func (system) Version() wharf.Version          { return wharf.Version{Version: "test"} }
func (system) Info(context.Context) wharf.Info { return wharf.Info{} }

// api is a Docker API server on the fake engine, and a client of it.
type api struct {
	t      *testing.T
	engine *container.Engine
	sock   string
	http   *http.Client
}

func newAPI(t *testing.T) *api {
	t.Helper()
	f := testsuite.NewFake(t)
	e := f.Engine(t)
	srv := dockerapi.New(e, f.Images, system{}, dockerapi.WithLogger(slog.New(slog.DiscardHandler)), dockerapi.WithEvents(f.Events))
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() {
		_ = hs.Close()
		srv.Close()
	})
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	return &api{t: t, engine: e, sock: sock, http: &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: 30 * time.Second}}
}

// do sends a request to the versioned path and returns the status and
// the body.
func (a *api) do(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://docker/v1.44"+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, data
}

// expect checks the status of a request and decodes its JSON answer
// into out, if set.
func (a *api) expect(want int, method, path string, body, out any) []byte {
	a.t.Helper()
	status, data := a.do(method, path, body)
	if status != want {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, status, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return data
}

// errorMessage checks a failed request's status and returns Docker's
// error message.
func (a *api) errorMessage(want int, method, path string, body any) string {
	a.t.Helper()
	var e struct {
		Message string `json:"message"`
	}
	a.expect(want, method, path, body, &e)
	if e.Message == "" {
		a.t.Errorf("%s %s: no message in the error body", method, path)
	}
	return e.Message
}

func (a *api) create(name string, cfg mcontainer.Config, hc *mcontainer.HostConfig) string {
	a.t.Helper()
	cfg.Image = testsuite.FakeImage
	if hc == nil {
		hc = &mcontainer.HostConfig{}
	}
	q := ""
	if name != "" {
		q = "?name=" + name
	}
	var resp mcontainer.CreateResponse
	a.expect(http.StatusCreated, "POST", "/containers/create"+q, mcontainer.CreateRequest{Config: &cfg, HostConfig: hc}, &resp)
	if len(resp.ID) != 64 || resp.Warnings == nil {
		a.t.Errorf("create answer %+v", resp)
	}
	return resp.ID
}

func (a *api) run(name string, cmd ...string) string {
	a.t.Helper()
	id := a.create(name, mcontainer.Config{Cmd: cmd}, nil)
	a.expect(http.StatusNoContent, "POST", "/containers/"+id+"/start", nil, nil)
	return id
}

func (a *api) wait(id string) int64 {
	a.t.Helper()
	var w mcontainer.WaitResponse
	a.expect(http.StatusOK, "POST", "/containers/"+id+"/wait", nil, &w)
	return w.StatusCode
}

func (a *api) inspect(id string) mcontainer.InspectResponse {
	a.t.Helper()
	var c mcontainer.InspectResponse
	a.expect(http.StatusOK, "GET", "/containers/"+id+"/json", nil, &c)
	return c
}

// hijack sends a request that takes the connection over (attach, exec
// start) and returns the raw stream after the answer's header.
func (a *api) hijack(path string, body any) (net.Conn, *bufio.Reader) {
	a.t.Helper()
	data, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", "http://docker/v1.44"+path, bytes.NewReader(data))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	conn, err := net.Dial("unix", a.sock)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { conn.Close() })
	if err := req.Write(conn); err != nil {
		a.t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		a.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		a.t.Fatalf("POST %s: %d, want 101", path, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.docker.multiplexed-stream" && ct != "application/vnd.docker.raw-stream" {
		a.t.Errorf("stream content type %q", ct)
	}
	return conn, br
}

func demux(t *testing.T, r io.Reader) (string, string) {
	t.Helper()
	var o, e bytes.Buffer
	if err := stream.Demux(&o, &e, r); err != nil {
		t.Fatalf("demux: %v", err)
	}
	return o.String(), e.String()
}

// create, start, inspect, wait, logs, rm: the round trip of docker run.
func TestContainerRoundTrip(t *testing.T) {
	a := newAPI(t)
	id := a.create("web", mcontainer.Config{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, Labels: map[string]string{"app": "x"}},
		&mcontainer.HostConfig{RestartPolicy: mcontainer.RestartPolicy{Name: "no"}})
	c := a.inspect(id)
	if c.ID != id || c.Name != "/web" || c.State == nil || c.State.Status != "created" || c.Config == nil ||
		strings.Join(c.Config.Cmd, " ") != "sh -c echo out; echo err >&2; exit 3" || c.Config.Labels["app"] != "x" || c.Config.Image != testsuite.FakeImage {
		t.Errorf("inspect of a created container: %+v", c)
	}
	a.expect(http.StatusNoContent, "POST", "/containers/web/start", nil, nil)
	if code := a.wait(id); code != 3 {
		t.Errorf("wait: %d, want 3", code)
	}
	c = a.inspect("web")
	if c.State.Status != "exited" || c.State.ExitCode != 3 || c.State.Running || c.State.FinishedAt == "" || c.State.StartedAt == "" {
		t.Errorf("inspect after the exit: %+v", c.State)
	}
	_, body := a.do("GET", "/containers/"+id+"/logs?stdout=1&stderr=1", nil)
	if o, e := demux(t, bytes.NewReader(body)); o != "out\n" || e != "err\n" {
		t.Errorf("logs: stdout %q stderr %q", o, e)
	}
	_, body = a.do("GET", "/containers/"+id+"/logs?stdout=1&timestamps=1", nil)
	if o, _ := demux(t, bytes.NewReader(body)); !strings.HasSuffix(o, " out\n") || !strings.Contains(o, "T") {
		t.Errorf("logs with timestamps: %q", o)
	}
	a.expect(http.StatusNoContent, "DELETE", "/containers/"+id, nil, nil)
	if msg := a.errorMessage(http.StatusNotFound, "GET", "/containers/"+id+"/json", nil); !strings.Contains(msg, "No such container") {
		t.Errorf("inspect of a removed container: %q", msg)
	}
}

// docker ps: running ones by default, all with all=1, filtered.
func TestContainerList(t *testing.T) {
	a := newAPI(t)
	running := a.create("runner", mcontainer.Config{Cmd: []string{"sleep", "100"}, Labels: map[string]string{"tier": "web"}}, nil)
	a.expect(http.StatusNoContent, "POST", "/containers/"+running+"/start", nil, nil)
	exited := a.run("quitter", "sh", "-c", "exit 2")
	a.wait(exited)
	list := func(q string) []mcontainer.Summary {
		var out []mcontainer.Summary
		a.expect(http.StatusOK, "GET", "/containers/json"+q, nil, &out)
		return out
	}
	if got := list(""); len(got) != 1 || got[0].ID != running || got[0].Names[0] != "/runner" || got[0].State != "running" ||
		!strings.HasPrefix(got[0].Status, "Up ") || got[0].Labels["tier"] != "web" || got[0].Image != testsuite.FakeImage || got[0].Command != "sleep 100" {
		t.Errorf("ps: %+v", got)
	}
	if got := list("?all=1"); len(got) != 2 {
		t.Errorf("ps -a: %d containers", len(got))
	}
	if got := list(`?all=1&filters={"exited":["2"]}`); len(got) != 1 || got[0].ID != exited || !strings.HasPrefix(got[0].Status, "Exited (2)") {
		t.Errorf("ps -a --filter exited=2: %+v", got)
	}
	if got := list(`?all=1&filters={"label":{"tier=web":true}}`); len(got) != 1 || got[0].ID != running {
		t.Errorf("ps -a with a filter in the old form: %+v", got)
	}
	a.errorMessage(http.StatusBadRequest, "GET", `/containers/json?filters={"nope":["x"]}`, nil)
	a.errorMessage(http.StatusBadRequest, "GET", `/containers/json?filters=garbage`, nil)
}

// Docker's status codes for the errors of container calls.
func TestContainerErrors(t *testing.T) {
	a := newAPI(t)
	if msg := a.errorMessage(http.StatusNotFound, "POST", "/containers/create", mcontainer.CreateRequest{Config: &mcontainer.Config{Image: "no/such:image"}}); !strings.Contains(msg, "No such image") {
		t.Errorf("create from a missing image: %q", msg)
	}
	a.create("dup", mcontainer.Config{Cmd: []string{"true"}}, nil)
	if msg := a.errorMessage(http.StatusConflict, "POST", "/containers/create?name=dup", mcontainer.CreateRequest{Config: &mcontainer.Config{Image: testsuite.FakeImage}}); !strings.Contains(msg, "already in use") {
		t.Errorf("name conflict: %q", msg)
	}
	a.errorMessage(http.StatusBadRequest, "POST", "/containers/create", mcontainer.CreateRequest{
		Config: &mcontainer.Config{Image: testsuite.FakeImage}, HostConfig: &mcontainer.HostConfig{RestartPolicy: mcontainer.RestartPolicy{Name: "sometimes"}}})
	a.errorMessage(http.StatusBadRequest, "POST", "/containers/create?name=bad!name", mcontainer.CreateRequest{Config: &mcontainer.Config{Image: testsuite.FakeImage}})

	id := a.run("", "sleep", "100")
	if status, _ := a.do("POST", "/containers/"+id+"/start", nil); status != http.StatusNotModified {
		t.Errorf("start of a running container: %d, want 304", status)
	}
	if msg := a.errorMessage(http.StatusConflict, "DELETE", "/containers/"+id, nil); !strings.Contains(msg, "cannot remove a running container") {
		t.Errorf("rm of a running container: %q", msg)
	}
	a.errorMessage(http.StatusBadRequest, "POST", "/containers/"+id+"/kill?signal=SIGNOPE", nil)
	a.errorMessage(http.StatusBadRequest, "POST", "/containers/"+id+"/wait?condition=sideways", nil)
	a.expect(http.StatusNoContent, "POST", "/containers/"+id+"/pause", nil, nil)
	a.errorMessage(http.StatusConflict, "POST", "/containers/"+id+"/pause", nil)
	a.errorMessage(http.StatusConflict, "POST", "/containers/"+id+"/exec", map[string]any{"Cmd": []string{"true"}})
	a.expect(http.StatusNoContent, "POST", "/containers/"+id+"/unpause", nil, nil)
	a.expect(http.StatusNoContent, "DELETE", "/containers/"+id+"?force=1", nil, nil)

	for _, r := range []struct{ method, path string }{
		{"POST", "/containers/nope/start"}, {"POST", "/containers/nope/stop"}, {"POST", "/containers/nope/kill"},
		{"POST", "/containers/nope/wait"}, {"DELETE", "/containers/nope"}, {"GET", "/containers/nope/logs?stdout=1"},
		{"GET", "/exec/nope/json"}, {"POST", "/containers/nope/rename?name=xy"},
	} {
		a.errorMessage(http.StatusNotFound, r.method, r.path, nil)
	}
	stopped := a.create("", mcontainer.Config{Cmd: []string{"true"}}, nil)
	if status, _ := a.do("POST", "/containers/"+stopped+"/stop", nil); status != http.StatusNotModified {
		t.Errorf("stop of a container that is not running: %d, want 304", status)
	}
	a.errorMessage(http.StatusConflict, "POST", "/containers/"+stopped+"/kill", nil)
	// A command that does not exist: the start fails with docker's 400
	// and the container is left exited with 127.
	missing := a.create("", mcontainer.Config{Cmd: []string{"no-such-command"}}, nil)
	a.errorMessage(http.StatusBadRequest, "POST", "/containers/"+missing+"/start", nil)
	if c := a.inspect(missing); c.State.ExitCode != 127 || c.State.Error == "" {
		t.Errorf("state after a failed start: %+v", c.State)
	}
	// As dockerd does, an auto-remove container whose start failed is
	// removed.
	rm := a.create("", mcontainer.Config{Cmd: []string{"no-such-command"}}, &mcontainer.HostConfig{AutoRemove: true})
	a.errorMessage(http.StatusBadRequest, "POST", "/containers/"+rm+"/start", nil)
	a.errorMessage(http.StatusNotFound, "GET", "/containers/"+rm+"/json", nil)
}

// kill, stop, restart, pause and rename through the API.
func TestContainerLifecycleCalls(t *testing.T) {
	a := newAPI(t)
	id := a.run("life", "sh", "-c", "trap 'exit 9' HUP; echo ready; sleep 100 & wait")
	waitLog(t, a.engine, id, "ready\n")
	a.expect(http.StatusNoContent, "POST", "/containers/life/kill?signal=HUP", nil, nil)
	if code := a.wait(id); code != 9 {
		t.Errorf("exit after HUP: %d", code)
	}
	a.expect(http.StatusNoContent, "POST", "/containers/life/restart?t=0", nil, nil)
	if c := a.inspect(id); c.State.Status != "running" {
		t.Errorf("after restart: %+v", c.State)
	}
	start := time.Now()
	a.expect(http.StatusNoContent, "POST", "/containers/life/stop?t=0", nil, nil)
	if time.Since(start) > 5*time.Second {
		t.Error("stop -t 0 waited")
	}
	if c := a.inspect(id); c.State.Status != "exited" || c.State.ExitCode != 137 {
		t.Errorf("after stop -t 0: %+v", c.State)
	}
	a.expect(http.StatusNoContent, "POST", "/containers/life/rename?name=renamed", nil, nil)
	if c := a.inspect(id); c.Name != "/renamed" {
		t.Errorf("name after rename: %q", c.Name)
	}
	other := a.create("other", mcontainer.Config{Cmd: []string{"true"}}, nil)
	a.errorMessage(http.StatusConflict, "POST", "/containers/"+other+"/rename?name=renamed", nil)
	var pruned mcontainer.PruneReport
	a.expect(http.StatusOK, "POST", "/containers/prune", nil, &pruned)
	if len(pruned.ContainersDeleted) != 2 {
		t.Errorf("prune: %+v", pruned)
	}
}

// wait answers its header at once, so a client can start the container
// after it and see the exit; next-exit waits for a run.
func TestWaitNextExit(t *testing.T) {
	a := newAPI(t)
	id := a.create("", mcontainer.Config{Cmd: []string{"sh", "-c", "exit 7"}}, nil)
	req, _ := http.NewRequest("POST", "http://docker/v1.44/containers/"+id+"/wait?condition=next-exit", nil)
	resp, err := a.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("wait: %d", resp.StatusCode)
	}
	a.expect(http.StatusNoContent, "POST", "/containers/"+id+"/start", nil, nil)
	var w mcontainer.WaitResponse
	if err := json.NewDecoder(resp.Body).Decode(&w); err != nil || w.StatusCode != 7 || w.Error != nil {
		t.Errorf("next-exit: %+v, %v", w, err)
	}
}

// exec: create, start on a taken-over connection, inspect; detached.
func TestExec(t *testing.T) {
	a := newAPI(t)
	id := a.run("", "sleep", "100")
	var created mcontainer.ExecCreateResponse
	a.expect(http.StatusCreated, "POST", "/containers/"+id+"/exec", map[string]any{
		"Cmd": []string{"sh", "-c", "echo hi; echo oops >&2; exit 4"}, "AttachStdout": true, "AttachStderr": true}, &created)
	conn, br := a.hijack("/exec/"+created.ID+"/start", map[string]any{"Detach": false})
	o, e := demux(t, br)
	conn.Close()
	if o != "hi\n" || e != "oops\n" {
		t.Errorf("exec output: stdout %q stderr %q", o, e)
	}
	var in mcontainer.ExecInspectResponse
	a.expect(http.StatusOK, "GET", "/exec/"+created.ID+"/json", nil, &in)
	if in.Running || in.ExitCode == nil || *in.ExitCode != 4 || in.ContainerID != id || in.ProcessConfig == nil || in.ProcessConfig.Entrypoint != "sh" {
		t.Errorf("exec inspect: %+v", in)
	}
	// Detached: answered at once, finished on its own.
	a.expect(http.StatusCreated, "POST", "/containers/"+id+"/exec", map[string]any{"Cmd": []string{"sh", "-c", "sleep 0.2; exit 5"}}, &created)
	a.expect(http.StatusOK, "POST", "/exec/"+created.ID+"/start", map[string]any{"Detach": true}, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.expect(http.StatusOK, "GET", "/exec/"+created.ID+"/json", nil, &in)
		if !in.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("detached exec never ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if in.ExitCode == nil || *in.ExitCode != 5 {
		t.Errorf("detached exec exit %d", in.ExitCode)
	}
	a.errorMessage(http.StatusConflict, "POST", "/exec/"+created.ID+"/start", map[string]any{"Detach": true})
}

// attach before start receives all the output of the run.
func TestAttach(t *testing.T) {
	a := newAPI(t)
	id := a.create("", mcontainer.Config{Cmd: []string{"sh", "-c", "echo one; echo two >&2"}, AttachStdout: true, AttachStderr: true}, nil)
	conn, br := a.hijack("/containers/"+id+"/attach?stream=1&stdout=1&stderr=1", nil)
	defer conn.Close()
	a.expect(http.StatusNoContent, "POST", "/containers/"+id+"/start", nil, nil)
	if o, e := demux(t, br); o != "one\n" || e != "two\n" {
		t.Errorf("attached output: stdout %q stderr %q", o, e)
	}
}

// The event stream tells a container's life as it happens, without a
// poll: the events of a run are in the stream at once, in order, with the
// fields older clients read.
func TestEvents(t *testing.T) {
	a := newAPI(t)
	since := time.Now().Add(-time.Second).Unix()
	id := a.run("ev", "sh", "-c", "exit 0")
	a.wait(id)
	a.expect(http.StatusNoContent, "DELETE", "/containers/"+id, nil, nil)
	// Read at once: the engine told them as they happened.
	if got := strings.Join(containerActions(t, a, id, since), ","); got != "create,start,die,destroy" {
		t.Errorf("events %q, want create,start,die,destroy", got)
	}
	_, body := a.do("GET", fmt.Sprintf("/events?since=%d&until=%d&filters=%s", since, time.Now().Unix()+1, `{"event":["die"]}`), nil)
	var m struct {
		Status, ID, From string
		Type, Action     string
		Actor            struct{ Attributes map[string]string }
		Time, TimeNano   int64
		Scope            string
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &m); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if m.Status != "die" || m.ID != id || m.From != testsuite.FakeImage || m.Action != "die" || m.Actor.Attributes["exitCode"] != "0" ||
		m.Scope != "local" || m.Time == 0 || m.TimeNano/1e9 != m.Time {
		t.Errorf("die event %+v", m)
	}
	// until before since is refused, as dockerd refuses it.
	if msg := a.errorMessage(http.StatusBadRequest, "GET", "/events?since=200&until=100", nil); !strings.Contains(msg, "cannot be after") {
		t.Errorf("until before since: %q", msg)
	}
}

// A live stream gets the events while it is open, filtered as asked.
func TestEventsLive(t *testing.T) {
	a := newAPI(t)
	req, err := http.NewRequest("GET", `http://docker/v1.44/events?filters={"type":["container"],"event":["start","die"]}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	id := a.run("live", "sh", "-c", "exit 3")
	dec := json.NewDecoder(resp.Body)
	var got []string
	for len(got) < 2 {
		var m events.Message
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if m.Actor.ID == id {
			got = append(got, string(m.Action)+":"+m.Actor.Attributes["exitCode"])
		}
	}
	if strings.Join(got, ",") != "start:,die:3" {
		t.Errorf("live events %v", got)
	}
}

// waitLog waits until the container's stdout holds want: a script says so
// once it has set its traps.
func waitLog(t *testing.T, e *container.Engine, id, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out strings.Builder
		_ = e.Logs(context.Background(), id, container.LogsOptions{Stdout: true, Tail: -1}, func(en logfile.Entry) error {
			out.WriteString(en.Log)
			return nil
		})
		if strings.Contains(out.String(), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log never held %q", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// containerActions reads the events of container id since since.
func containerActions(t *testing.T, a *api, id string, since int64) []string {
	t.Helper()
	until := time.Now().Unix() + 1
	_, body := a.do("GET", fmt.Sprintf("/events?since=%d&until=%d", since, until), nil)
	var actions []string
	dec := json.NewDecoder(bytes.NewReader(body))
	for dec.More() {
		var m events.Message
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("event: %v in %s", err, body)
		}
		if m.Type == events.ContainerEventType && m.Actor.ID == id {
			actions = append(actions, string(m.Action))
			if m.Actor.Attributes["name"] != "ev" {
				t.Errorf("event %s without the container's name: %+v", m.Action, m.Actor)
			}
		}
	}
	return actions
}
