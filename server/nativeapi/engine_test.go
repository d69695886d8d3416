package nativeapi_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/container/testsuite"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/server/nativeapi"
	"github.com/wharf-dev/wharf/stream"
)

// These tests drive the native API through the CLI's client (api/wharf)
// over a unix socket, against a real engine on the fake runtime: routes,
// the error classes the client reads back from status codes, JSON shapes,
// and the one-request run and exec paths. No privilege.

type system struct{}

func (system) Version() wharf.Version {
	return wharf.Version{Version: "test", APIVersion: wharf.APIVersion}
}
func (system) Info(context.Context) wharf.Info { return wharf.Info{ServerVersion: "test"} }

func newClient(t *testing.T) (*wharf.Client, *container.Engine) {
	t.Helper()
	f := testsuite.NewFake(t)
	e := f.Engine(t)
	srv := nativeapi.New(e, f.Images, system{}, slog.New(slog.DiscardHandler))
	sock := filepath.Join(t.TempDir(), "w.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })
	c, err := wharf.NewClient("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return c, e
}

var ctx = context.Background()

func create(t *testing.T, c *wharf.Client, name string, cfg wharf.Config, hc *wharf.HostConfig) string {
	t.Helper()
	cfg.Image = testsuite.FakeImage
	var resp wharf.CreateResponse
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if err := c.Do(ctx, "POST", "/containers/create", q, wharf.CreateRequest{Config: cfg, HostConfig: hc}, &resp); err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(resp.ID) != 64 || resp.Warnings == nil {
		t.Errorf("create answer %+v", resp)
	}
	return resp.ID
}

func inspect(t *testing.T, c *wharf.Client, ref string) *wharf.ContainerJSON {
	t.Helper()
	var j wharf.ContainerJSON
	if err := c.Do(ctx, "GET", "/containers/"+ref+"/json", nil, nil, &j); err != nil {
		t.Fatalf("inspect: %v", err)
	}
	return &j
}

// create, start, wait, inspect, list, logs and rm through the client.
func TestContainerCalls(t *testing.T) {
	c, _ := newClient(t)
	id := create(t, c, "job", wharf.Config{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, Labels: map[string]string{"k": "v"}}, nil)
	if j := inspect(t, c, "job"); j.ID != id || j.Name != "/job" || j.State.Status != "created" || j.Config.Labels["k"] != "v" ||
		j.HostConfig.LogConfig.Type != container.LogDriverJSONFile || j.Path != "sh" {
		t.Errorf("inspect of a created container: %+v %+v", j, j.State)
	}
	if err := c.Do(ctx, "POST", "/containers/job/start", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	var w wharf.WaitResponse
	if err := c.Do(ctx, "POST", "/containers/job/wait", nil, nil, &w); err != nil || w.StatusCode != 3 {
		t.Fatalf("wait: %+v, %v", w, err)
	}
	if j := inspect(t, c, id); j.State.Status != "exited" || j.State.ExitCode != 3 || j.State.Running {
		t.Errorf("inspect after the exit: %+v", j.State)
	}
	var list []wharf.Container
	if err := c.Do(ctx, "GET", "/containers/json", url.Values{"all": {"1"}, "filters": {`{"label":["k=v"]}`}}, nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].Names[0] != "/job" || !strings.HasPrefix(list[0].Status, "Exited (3)") {
		t.Errorf("list: %+v", list)
	}
	if err := c.Do(ctx, "GET", "/containers/json", nil, nil, &list); err != nil || len(list) != 0 {
		t.Errorf("list of running containers: %+v, %v", list, err)
	}
	rc, err := c.Stream(ctx, "GET", "/containers/job/logs", url.Values{"stdout": {"1"}, "stderr": {"1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var o, e bytes.Buffer
	err = stream.Demux(&o, &e, rc)
	rc.Close()
	if err != nil || o.String() != "out\n" || e.String() != "err\n" {
		t.Errorf("logs: %q %q, %v", o.String(), e.String(), err)
	}
	if err := c.Do(ctx, "DELETE", "/containers/job", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "GET", "/containers/job/json", nil, nil, nil); !errdefs.IsNotFound(err) {
		t.Errorf("inspect of a removed container: %v", err)
	}
}

// The errors of container calls reach the client with their class.
func TestErrorClasses(t *testing.T) {
	c, _ := newClient(t)
	create(t, c, "taken", wharf.Config{Cmd: []string{"sleep", "100"}}, nil)
	for name, tc := range map[string]struct {
		method, path string
		body         any
		class        error
	}{
		"missing image":   {"POST", "/containers/create", wharf.CreateRequest{Config: wharf.Config{Image: "no/such:1"}}, errdefs.ErrNotFound},
		"name taken":      {"POST", "/containers/create?name=taken", wharf.CreateRequest{Config: wharf.Config{Image: testsuite.FakeImage}}, errdefs.ErrConflict},
		"bad policy":      {"POST", "/containers/create", wharf.CreateRequest{Config: wharf.Config{Image: testsuite.FakeImage}, HostConfig: &wharf.HostConfig{RestartPolicy: wharf.RestartPolicy{Name: "never"}}}, errdefs.ErrInvalidArgument},
		"unknown start":   {"POST", "/containers/nope/start", nil, errdefs.ErrNotFound},
		"stop not run":    {"POST", "/containers/taken/stop", nil, errdefs.ErrNotModified},
		"kill not run":    {"POST", "/containers/taken/kill", nil, errdefs.ErrConflict},
		"bad wait":        {"POST", "/containers/taken/wait?condition=later", nil, errdefs.ErrInvalidArgument},
		"exec not run":    {"POST", "/containers/taken/exec", wharf.ExecConfig{Cmd: []string{"true"}}, errdefs.ErrConflict},
		"unknown exec":    {"GET", "/exec/nope/json", nil, errdefs.ErrNotFound},
		"logs no streams": {"GET", "/containers/taken/logs", nil, errdefs.ErrInvalidArgument},
		"resize not run":  {"POST", "/containers/taken/resize?h=1&w=1", nil, errdefs.ErrConflict},
	} {
		path, q, _ := strings.Cut(tc.path, "?")
		vals, _ := url.ParseQuery(q)
		if err := c.Do(ctx, tc.method, path, vals, tc.body, nil); !errors.Is(err, tc.class) {
			t.Errorf("%s: %v, want %v", name, err, tc.class)
		}
	}
	if err := c.Do(ctx, "POST", "/containers/taken/start", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/containers/taken/start", nil, nil, nil); !errdefs.IsNotModified(err) {
		t.Errorf("second start: %v", err)
	}
	if err := c.Do(ctx, "DELETE", "/containers/taken", nil, nil, nil); !errdefs.IsConflict(err) {
		t.Errorf("rm of a running container: %v", err)
	}
	if err := c.Do(ctx, "DELETE", "/containers/taken", url.Values{"force": {"1"}}, nil, nil); err != nil {
		t.Errorf("rm -f: %v", err)
	}
	quiet := create(t, c, "", wharf.Config{Cmd: []string{"true"}}, &wharf.HostConfig{LogConfig: wharf.LogConfig{Type: "none"}})
	if _, err := c.Stream(ctx, "GET", "/containers/"+quiet+"/logs", url.Values{"stdout": {"1"}}, nil); !errdefs.IsNotImplemented(err) {
		t.Errorf("logs of a container without a log: %v", err)
	}
}

// The CLI's `run` in one request: the container's ID in a header, its
// output, and an Exit frame with its code; a command that does not exist
// ends with docker's 127; --rm removes the container.
func TestRunInOneRequest(t *testing.T) {
	c, e := newClient(t)
	run := func(hc *wharf.HostConfig, cmd ...string) (string, string, string, int, error) {
		t.Helper()
		conn, br, hdr, err := c.HijackHeader(ctx, "POST", "/containers/run", nil,
			wharf.CreateRequest{Config: wharf.Config{Image: testsuite.FakeImage, Cmd: cmd}, HostConfig: hc})
		if err != nil {
			t.Fatalf("run %v: %v", cmd, err)
		}
		defer conn.Close()
		var o, er bytes.Buffer
		code, exited, err := stream.DemuxExit(&o, &er, br)
		if !exited {
			t.Fatalf("run %v: no exit frame (%v)", cmd, err)
		}
		return hdr.Get("X-Wharf-Container-Id"), o.String(), er.String(), code, err
	}
	id, o, er, code, err := run(nil, "sh", "-c", "echo hello; echo warn >&2; exit 4")
	if len(id) != 64 || o != "hello\n" || er != "warn\n" || code != 4 || err != nil {
		t.Errorf("run: id %q stdout %q stderr %q code %d err %v", id, o, er, code, err)
	}
	_, _, _, code, err = run(nil, "no-such-command")
	if code != 127 || err == nil {
		t.Errorf("run of a missing command: code %d, %v", code, err)
	}
	id, _, _, code, _ = run(&wharf.HostConfig{AutoRemove: true}, "sh", "-c", "exit 2")
	if code != 2 {
		t.Errorf("run --rm: code %d", code)
	}
	if _, err := e.Get(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("a --rm container outlived its run: %v", err)
	}
	// A TTY container is run in several requests.
	if _, _, err := c.Hijack(ctx, "POST", "/containers/run", nil, wharf.CreateRequest{Config: wharf.Config{Image: testsuite.FakeImage, Tty: true}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("run with a TTY: %v", err)
	}
}

// The CLI's `exec` in one request, and exec create/start/inspect.
func TestExecCalls(t *testing.T) {
	c, _ := newClient(t)
	id := create(t, c, "", wharf.Config{Cmd: []string{"sleep", "100"}}, nil)
	if err := c.Do(ctx, "POST", "/containers/"+id+"/start", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	conn, br, hdr, err := c.HijackHeader(ctx, "POST", "/containers/"+id+"/exec/run", nil,
		wharf.ExecConfig{Cmd: []string{"sh", "-c", "echo in-exec; exit 6"}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	var o, er bytes.Buffer
	code, exited, err := stream.DemuxExit(&o, &er, br)
	conn.Close()
	if !exited || code != 6 || err != nil || o.String() != "in-exec\n" {
		t.Errorf("exec run: %d %v %v %q", code, exited, err, o.String())
	}
	execID := hdr.Get("X-Wharf-Exec-Id")
	var x wharf.ExecInspect
	if err := c.Do(ctx, "GET", "/exec/"+execID+"/json", nil, nil, &x); err != nil {
		t.Fatal(err)
	}
	if x.Running || x.ExitCode == nil || *x.ExitCode != 6 || x.ContainerID != id || x.ProcessConfig.Entrypoint != "sh" {
		t.Errorf("exec inspect: %+v", x)
	}
	var created wharf.IDResponse
	if err := c.Do(ctx, "POST", "/containers/"+id+"/exec", nil, wharf.ExecConfig{Cmd: []string{"sh", "-c", "exit 8"}}, &created); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/exec/"+created.ID+"/start", nil, wharf.ExecStartRequest{Detach: true}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.Do(ctx, "GET", "/exec/"+created.ID+"/json", nil, nil, &x); err != nil {
			t.Fatal(err)
		}
		if !x.Running && x.ExitCode != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("detached exec never ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if *x.ExitCode != 8 {
		t.Errorf("detached exec exit %d", *x.ExitCode)
	}
	var top wharf.TopResponse
	if err := c.Do(ctx, "GET", "/containers/"+id+"/top", nil, nil, &top); err != nil || !contains(top.Titles, "PID") {
		t.Errorf("top: %+v, %v", top, err)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// kill, stop, restart, pause, rename and prune.
func TestLifecycleCalls(t *testing.T) {
	c, e := newClient(t)
	id := create(t, c, "life", wharf.Config{Cmd: []string{"sh", "-c", "trap 'exit 9' HUP; echo ready; sleep 100 & wait"}}, nil)
	if err := c.Do(ctx, "POST", "/containers/life/start", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitLog(t, e, id, "ready\n")
	if err := c.Do(ctx, "POST", "/containers/life/kill", url.Values{"signal": {"HUP"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	var w wharf.WaitResponse
	if err := c.Do(ctx, "POST", "/containers/life/wait", nil, nil, &w); err != nil || w.StatusCode != 9 {
		t.Errorf("exit after HUP: %+v, %v", w, err)
	}
	if err := c.Do(ctx, "POST", "/containers/life/restart", url.Values{"t": {"0"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/containers/life/pause", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if j := inspect(t, c, id); !j.State.Paused || j.State.Status != "paused" {
		t.Errorf("paused: %+v", j.State)
	}
	if err := c.Do(ctx, "POST", "/containers/life/pause", nil, nil, nil); !errdefs.IsConflict(err) {
		t.Errorf("second pause: %v", err)
	}
	if err := c.Do(ctx, "POST", "/containers/life/unpause", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/containers/life/stop", url.Values{"t": {"0"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if j := inspect(t, c, id); j.State.Status != "exited" || j.State.ExitCode != 137 {
		t.Errorf("after stop: %+v", j.State)
	}
	if err := c.Do(ctx, "POST", "/containers/life/rename", url.Values{"name": {"renamed"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if j := inspect(t, c, "renamed"); j.ID != id {
		t.Errorf("renamed: %s", j.ID)
	}
	var pruned wharf.ContainerPruneReport
	if err := c.Do(ctx, "POST", "/containers/prune", nil, nil, &pruned); err != nil || len(pruned.ContainersDeleted) != 1 || pruned.ContainersDeleted[0] != id {
		t.Errorf("prune: %+v, %v", pruned, err)
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
