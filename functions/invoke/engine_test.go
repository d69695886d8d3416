package invoke_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/async"
	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/functions/invoke"
	"github.com/wharf-dev/wharf/functions/sandbox"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
	"github.com/wharf-dev/wharf/functions/sandbox/sandboxtest"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// newEnv is the engine over in-process sandboxes that play hellofn.
func newEnv(t *testing.T, opts ...fntest.Option) *fntest.Env {
	t.Helper()
	return fntest.New(t, append([]fntest.Option{fntest.WithFunctions(sandboxtest.Hello)}, opts...)...)
}

func create(t *testing.T, e *invoke.Engine, name string, env map[string]string) *functions.Config {
	t.Helper()
	c, err := e.Create(context.Background(), functions.CreateInput{
		Config: functions.Config{FunctionName: name, Runtime: "provided.al2023", Timeout: 2, MemorySize: 128, Environment: env},
		Code:   functions.Code{ZipFile: fntest.Zip(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func invokeJSON(t *testing.T, e *invoke.Engine, name, qualifier, payload string) (*functions.InvokeOutput, sandboxtest.Reply) {
	t.Helper()
	out, err := e.Invoke(context.Background(), functions.InvokeInput{FunctionName: name, Qualifier: qualifier, Payload: []byte(payload), LogTail: true})
	if err != nil {
		t.Fatal(err)
	}
	var r sandboxtest.Reply
	_ = json.Unmarshal(out.Payload, &r)
	return out, r
}

func tail(t *testing.T, out *functions.InvokeOutput) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(out.LogResult)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met in time")
}

func TestCreateInvokeWarm(t *testing.T) {
	env := newEnv(t)
	e := env.Engine
	c := create(t, e, "hello", nil)
	if c.State != functions.StateActive {
		t.Fatalf("state after create: %s", c.State)
	}
	got, err := e.Get(context.Background(), "hello", "")
	if err != nil || got.State != functions.StateActive || got.CodeSha256 == "" || got.FunctionArn != functions.FunctionArn("hello") {
		t.Fatalf("get: %+v %v", got, err)
	}
	out, r := invokeJSON(t, e, "hello", "", `{"key1":"v1"}`)
	if out.FunctionError != "" || r.Echo != "v1" || r.RequestID != out.RequestID || r.Function != "hello" || r.Memory != "128" || r.FunctionARN != functions.FunctionArn("hello") {
		t.Fatalf("cold invoke: %+v %s", r, out.Payload)
	}
	if dl := time.UnixMilli(r.DeadlineMs); dl.Before(time.Now().Add(time.Second)) || dl.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("deadline %v for a 2 s timeout", dl)
	}
	tl := tail(t, out)
	for _, want := range []string{"START RequestId: " + out.RequestID + " Version: $LATEST", "END RequestId: " + out.RequestID, "REPORT RequestId: " + out.RequestID, "Billed Duration:", "Memory Size: 128 MB", "Init Duration:"} {
		if !strings.Contains(tl, want) {
			t.Fatalf("tail lacks %q:\n%s", want, tl)
		}
	}
	out2, r2 := invokeJSON(t, e, "hello", "", `{"key1":"v2","print":"hello from the function"}`)
	if r2.Pid != r.Pid || r2.Echo != "v2" {
		t.Fatalf("warm invoke ran elsewhere: %d vs %d", r2.Pid, r.Pid)
	}
	if tl := tail(t, out2); strings.Contains(tl, "Init Duration") || !strings.Contains(tl, "hello from the function") {
		t.Fatalf("warm tail:\n%s", tl)
	}
	// Without Tail, no log comes back; the log file has everything.
	out3, err := e.Invoke(context.Background(), functions.InvokeInput{FunctionName: "hello", Payload: []byte(`{"print":"untold"}`)})
	if err != nil || out3.LogResult != "" {
		t.Fatalf("invoke without tail: %+v %v", out3, err)
	}
	data, _ := os.ReadFile(e.LogPath("hello"))
	for _, want := range []string{"START RequestId: " + out.RequestID, "hello from the function", "untold", "REPORT RequestId: " + out3.RequestID} {
		if !strings.Contains(string(data), want) {
			t.Fatalf("log lacks %q:\n%s", want, data)
		}
	}
	m, _ := e.Metrics(context.Background(), "hello")
	if m.Invocations != 3 || m.ColdStarts != 1 || m.SandboxesWarm != 1 || m.SandboxesTotal != 1 || len(m.DurationsMs) != 3 || m.Concurrent != 0 {
		t.Fatalf("metrics %+v", m)
	}
	if _, err := e.Metrics(context.Background(), "missing"); !errdefs.IsNotFound(err) {
		t.Fatalf("metrics of a missing function: %v", err)
	}
}

func TestErrorsTimeoutInitCrash(t *testing.T) {
	e := newEnv(t).Engine
	create(t, e, "hello", nil)
	out, _ := invokeJSON(t, e, "hello", "", `{"fail":"boom"}`)
	if out.FunctionError != functions.FunctionErrorUnhandl || !strings.Contains(string(out.Payload), "boom") {
		t.Fatalf("handled error: %+v %s", out, out.Payload)
	}
	out, _ = invokeJSON(t, e, "hello", "", `{"sleepMs":5000}`)
	if out.FunctionError == "" || !strings.Contains(string(out.Payload), "Task timed out after 2.00 seconds") || !strings.Contains(tail(t, out), "Task timed out") {
		t.Fatalf("timeout: %s", out.Payload)
	}
	// The timed-out sandbox is gone; the next invocation is cold and works.
	out, r := invokeJSON(t, e, "hello", "", `{"key1":"after"}`)
	if out.FunctionError != "" || r.Echo != "after" || !strings.Contains(tail(t, out), "Init Duration") {
		t.Fatalf("after timeout: %s", out.Payload)
	}
	if m, _ := e.Metrics(context.Background(), "hello"); m.Invocations != 3 || m.Errors != 2 || m.ColdStarts != 2 || m.SandboxesTotal != 1 {
		t.Fatalf("metrics %+v", m)
	}

	create(t, e, "crasher", map[string]string{"HELLOFN_MODE": "crash-init"})
	out, _ = invokeJSON(t, e, "crasher", "", `{}`)
	if out.FunctionError == "" || !strings.Contains(string(out.Payload), "Runtime.ExitError") {
		t.Fatalf("init crash: %+v %s", out, out.Payload)
	}
	data, _ := os.ReadFile(e.LogPath("crasher"))
	if !strings.Contains(string(data), "INIT_REPORT Init Duration: failed Phase: init Status: error Error Type: Runtime.ExitError") {
		t.Fatalf("init crash log:\n%s", data)
	}
	if m, _ := e.Metrics(context.Background(), "crasher"); m.Invocations != 1 || m.Errors != 1 || m.SandboxesTotal != 0 {
		t.Fatalf("metrics of a failed init %+v", m)
	}
}

func TestThrottleAndScaleOut(t *testing.T) {
	e := newEnv(t).Engine
	ctx := context.Background()
	create(t, e, "hello", nil)
	// Reserved concurrency 0 stops the function, warm sandbox or not.
	invokeJSON(t, e, "hello", "", `{}`)
	if err := e.PutConcurrency(ctx, "hello", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Payload: []byte(`{}`)}); !errors.Is(err, functions.ErrThrottled) || !errdefs.IsUnavailable(err) {
		t.Fatalf("at reserved concurrency 0: %v", err)
	}
	if err := e.PutConcurrency(ctx, "hello", 1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		invokeJSON(t, e, "hello", "", `{"sleepMs":800}`)
	}()
	waitFor(t, 5*time.Second, func() bool {
		m, _ := e.Metrics(ctx, "hello")
		return m.Concurrent == 1
	})
	_, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Payload: []byte(`{}`)})
	if !errors.Is(err, functions.ErrThrottled) {
		t.Fatalf("second concurrent invoke: %v", err)
	}
	wg.Wait()
	if m, _ := e.Metrics(ctx, "hello"); m.Throttles != 2 {
		t.Fatalf("throttles %d", m.Throttles)
	}
	_ = e.DeleteConcurrency(ctx, "hello")

	pids := map[int]bool{}
	var mu sync.Mutex
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, r := invokeJSON(t, e, "hello", "", `{"sleepMs":300}`)
			mu.Lock()
			pids[r.Pid] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(pids) < 2 {
		t.Fatalf("8 concurrent invocations ran in %d sandboxes", len(pids))
	}
	// The account-wide default bounds functions without a reservation.
	e2 := newEnv(t, fntest.WithEngineOptions(invoke.WithDefaultConcurrency(1))).Engine
	create(t, e2, "one", nil)
	wg.Add(1)
	go func() {
		defer wg.Done()
		invokeJSON(t, e2, "one", "", `{"sleepMs":500}`)
	}()
	waitFor(t, 5*time.Second, func() bool {
		m, _ := e2.Metrics(ctx, "one")
		return m.Concurrent == 1
	})
	if _, err := e2.Invoke(ctx, functions.InvokeInput{FunctionName: "one", Payload: []byte(`{}`)}); !errors.Is(err, functions.ErrThrottled) {
		t.Fatalf("over the default concurrency: %v", err)
	}
	wg.Wait()
}

func TestIdleReap(t *testing.T) {
	e := newEnv(t, fntest.WithEngineOptions(invoke.WithIdleTimeout(300*time.Millisecond))).Engine
	create(t, e, "hello", nil)
	invokeJSON(t, e, "hello", "", `{}`)
	waitFor(t, 5*time.Second, func() bool {
		m, _ := e.Metrics(context.Background(), "hello")
		return m.SandboxesTotal == 0
	})
}

func TestVersionsAndAliasesRun(t *testing.T) {
	env := newEnv(t)
	e := env.Engine
	ctx := context.Background()
	create(t, e, "hello", map[string]string{"A": "1"})
	if _, err := e.PublishVersion(ctx, "hello", "first"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateConfig(ctx, "hello", functions.ConfigUpdate{Environment: map[string]string{"A": "2"}}); err != nil {
		t.Fatal(err)
	}
	if v2, _ := e.PublishVersion(ctx, "hello", ""); v2.Version != "2" {
		t.Fatalf("second publish: %s", v2.Version)
	}
	if _, err := e.CreateAlias(ctx, "hello", functions.Alias{Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	out, _ := invokeJSON(t, e, "hello", "live", `{}`)
	if out.ExecutedVersion != "1" || !strings.Contains(tail(t, out), "Version: 1") {
		t.Fatalf("alias ran version %s", out.ExecutedVersion)
	}
	if _, err := e.UpdateAlias(ctx, "hello", functions.Alias{Name: "live", FunctionVersion: "2"}); err != nil {
		t.Fatal(err)
	}
	if out, _ := invokeJSON(t, e, "hello", "live", `{}`); out.ExecutedVersion != "2" {
		t.Fatalf("updated alias ran %s", out.ExecutedVersion)
	}
	// Each version runs its own configuration, in sandboxes of its own.
	for v, want := range map[string]string{"1": "A=1", "2": "A=2", "$LATEST": "A=2"} {
		invokeJSON(t, e, "hello", v, `{}`)
		specs := env.Launcher.Launches()
		s := specs[len(specs)-1]
		if s.Version != v && !(v == "$LATEST" && s.Version == "$LATEST") {
			continue // warm: no launch
		}
		found := false
		for _, kv := range s.Env {
			found = found || kv == want
		}
		if !found {
			t.Errorf("version %s ran with %v", v, s.Env)
		}
	}
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Qualifier: "9"}); !errdefs.IsNotFound(err) {
		t.Fatalf("a missing version: %v", err)
	}
	if err := e.Delete(ctx, "hello", "2"); !errdefs.IsConflict(err) {
		t.Fatalf("deleting an aliased version: %v", err)
	}
}

func TestInvokeChecks(t *testing.T) {
	e := newEnv(t, fntest.WithoutQueue()).Engine
	ctx := context.Background()
	create(t, e, "hello", nil)
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Payload: make([]byte, functions.MaxSyncPayload+1)}); !errors.Is(err, functions.ErrTooLarge) || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("7 MB payload: %v", err)
	}
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Type: functions.InvocationEvent, Payload: make([]byte, functions.MaxAsyncPayload+1)}); !errors.Is(err, functions.ErrTooLarge) {
		t.Fatalf("300 KB event: %v", err)
	}
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Type: functions.InvocationEvent, Payload: []byte(`{}`)}); !errdefs.IsUnavailable(err) {
		t.Fatalf("an event without a queue: %v", err)
	}
	if _, err := e.Failures(ctx, "hello"); !errdefs.IsUnavailable(err) {
		t.Fatalf("failures without a queue: %v", err)
	}
	if out, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Type: functions.InvocationDryRun}); err != nil || out.StatusCode != 204 || out.ExecutedVersion != "$LATEST" {
		t.Fatalf("dry run: %+v %v", out, err)
	}
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Type: "Sometimes"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad type: %v", err)
	}
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Payload: []byte(`{`)}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad JSON: %v", err)
	}
	noboot := fntest.Zip(t)
	noboot[0] = 'X' // not a zip at all
	if _, err := e.Create(ctx, functions.CreateInput{Config: functions.Config{FunctionName: "garbage", Runtime: "provided"}, Code: functions.Code{ZipFile: noboot}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("garbage package: %v", err)
	}
	if _, err := e.Create(ctx, functions.CreateInput{Config: functions.Config{FunctionName: "nozip", Runtime: "provided"}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("no package: %v", err)
	}
	if _, err := e.Create(ctx, functions.CreateInput{Config: functions.Config{FunctionName: "img", PackageType: functions.PackageImage}, Code: functions.Code{ImageURI: "local/fn:1"}}); err != nil {
		t.Fatal(err) // Pending: the image store has no such image
	}
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "img"}); !errors.Is(err, functions.ErrNotReady) || !errdefs.IsConflict(err) {
		t.Fatalf("invoking a function that is not Active: %v", err)
	}
}

// An init error the runtime reports is the invocation's function error,
// with the runtime's own error document.
// failingInit is the engine over sandboxes whose init fails with
// Runtime.ConfigError "missing TABLE", with function "bad" created.
func failingInit(t *testing.T, opts ...fntest.Option) *fntest.Env {
	t.Helper()
	env := fntest.New(t, append(opts, fntest.WithFunctions(func(spec sandbox.Spec) (inproc.Function, error) {
		return inproc.Function{
			Init: func(context.Context, map[string]string, io.Writer) error {
				return &inproc.Error{Type: "Runtime.ConfigError", Message: "missing TABLE"}
			},
			Handler: inproc.Echo,
		}, nil
	}))...)
	create(t, env.Engine, "bad", nil)
	return env
}

func TestInitErrorReported(t *testing.T) {
	env := failingInit(t)
	out, err := env.Engine.Invoke(context.Background(), functions.InvokeInput{FunctionName: "bad"})
	if err != nil || out.FunctionError != functions.FunctionErrorUnhandl || !strings.Contains(string(out.Payload), "missing TABLE") || !strings.Contains(string(out.Payload), "Runtime.ConfigError") {
		t.Fatalf("init error: %+v %s %v", out, out.Payload, err)
	}
}

// Deleting a function removes its log with every rotated file, and leaves
// the logs of other functions alone; a function created again under the
// same name starts an empty log.
func TestDeleteRemovesRotatedLogs(t *testing.T) {
	// Small files, so that a few invocations rotate the log.
	e := newEnv(t, fntest.WithEngineOptions(invoke.WithLogLimits(logfile.Limits{MaxSize: 300, MaxFiles: 3}))).Engine
	ctx := context.Background()
	create(t, e, "hello", nil)
	create(t, e, "hello-2", nil)
	for i := 0; i < 4; i++ {
		invokeJSON(t, e, "hello", "", `{"print":"old-life-line"}`)
	}
	invokeJSON(t, e, "hello-2", "", `{"print":"other"}`)
	logs := filepath.Dir(e.LogPath("hello"))
	if _, err := os.Stat(e.LogPath("hello") + ".1"); err != nil {
		t.Fatalf("the log did not rotate: %v", err)
	}
	if err := e.Delete(ctx, "hello", ""); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(logs)
	var left []string
	for _, de := range ents {
		left = append(left, de.Name())
	}
	for _, n := range left {
		if n == "hello.log" || strings.HasPrefix(n, "hello.log.") {
			t.Fatalf("a deleted function's log is left: %v", left)
		}
	}
	if _, err := os.Stat(e.LogPath("hello-2")); err != nil {
		t.Fatalf("another function's log went too: %v (%v)", err, left)
	}

	create(t, e, "hello", nil)
	invokeJSON(t, e, "hello", "", `{"print":"new-life-line"}`)
	// Read across the rotated files: the records of a new life may
	// already fill more than one of these small files.
	var buf bytes.Buffer
	err := e.CopyLog(ctx, "hello", false, &buf)
	data := buf.Bytes()
	if err != nil || !strings.Contains(string(data), "new-life-line") || strings.Contains(string(data), "old-life-line") {
		t.Fatalf("the log of the function created again: %v\n%s", err, data)
	}
}

// An update that retires a warm sandbox starts one of the new revision at
// once; its first invocation is still reported as a cold start.
func TestPrewarmAfterUpdate(t *testing.T) {
	e := newEnv(t).Engine
	create(t, e, "hello", nil)
	_, r1 := invokeJSON(t, e, "hello", "", `{"key1":"a"}`)
	desc := "changed"
	if _, err := e.UpdateConfig(context.Background(), "hello", functions.ConfigUpdate{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		m, _ := e.Metrics(context.Background(), "hello")
		return m.SandboxesWarm == 1
	})
	out, r2 := invokeJSON(t, e, "hello", "", `{"key1":"b"}`)
	if r2.Pid == r1.Pid || r2.Echo != "b" {
		t.Fatalf("invocation after update ran in the old sandbox: %+v", r2)
	}
	if !strings.Contains(tail(t, out), "Init Duration:") {
		t.Fatalf("first use of a prewarmed sandbox lacks Init Duration:\n%s", tail(t, out))
	}
	m, _ := e.Metrics(context.Background(), "hello")
	if m.ColdStarts != 2 || m.SandboxesTotal != 1 {
		t.Fatalf("metrics: cold starts %d, sandboxes %d", m.ColdStarts, m.SandboxesTotal)
	}
	out3, r3 := invokeJSON(t, e, "hello", "", `{"key1":"c"}`)
	if r3.Pid != r2.Pid || strings.Contains(tail(t, out3), "Init Duration") {
		t.Fatalf("second use should be warm: pid %d vs %d\n%s", r3.Pid, r2.Pid, tail(t, out3))
	}
}

// A deleted version's sandboxes, and a deleted function's, are closed.
func TestDeleteClosesSandboxes(t *testing.T) {
	env := newEnv(t)
	e := env.Engine
	ctx := context.Background()
	create(t, e, "hello", nil)
	e.PublishVersion(ctx, "hello", "")
	invokeJSON(t, e, "hello", "1", `{}`)
	invokeJSON(t, e, "hello", "", `{}`)
	if env.Launcher.Live() != 2 {
		t.Fatalf("%d sandboxes", env.Launcher.Live())
	}
	if err := e.Delete(ctx, "hello", "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return env.Launcher.Live() == 1 })
	if err := e.Delete(ctx, "hello", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return env.Launcher.Live() == 0 })
}

func TestAsyncEffectAndFailureDestination(t *testing.T) {
	env := newEnv(t, fntest.WithAsyncOptions(async.WithBackoff(50*time.Millisecond, 100*time.Millisecond)))
	e := env.Engine
	create(t, e, "hello", nil)
	out, err := e.Invoke(context.Background(), functions.InvokeInput{FunctionName: "hello", Type: functions.InvocationEvent, Payload: []byte(`{"print":"async-effect-1234"}`)})
	if err != nil || out.StatusCode != 202 || out.RequestID == "" || out.ExecutedVersion != "$LATEST" {
		t.Fatalf("event: %+v %v", out, err)
	}
	waitFor(t, 10*time.Second, func() bool {
		data, _ := os.ReadFile(e.LogPath("hello"))
		return strings.Contains(string(data), "async-effect-1234") && strings.Contains(string(data), "START RequestId: "+out.RequestID)
	})

	out, err = e.Invoke(context.Background(), functions.InvokeInput{FunctionName: "hello", Type: functions.InvocationEvent, Payload: []byte(`{"fail":"always"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var fails []functions.Failure
	waitFor(t, 15*time.Second, func() bool {
		fails, _ = e.Failures(context.Background(), "hello")
		return len(fails) == 1
	})
	f := fails[0]
	if f.RequestID != out.RequestID || f.Attempts != 3 || !strings.Contains(f.Error, "always") || !strings.Contains(string(f.Payload), "always") {
		t.Fatalf("failure record %+v", f)
	}
	if m, _ := e.Metrics(context.Background(), "hello"); m.Invocations != 4 || m.Errors != 3 {
		t.Fatalf("metrics after the events: %+v", m)
	}
}

// Once closed, the engine refuses invocations, and one that was running
// when Close began leaves no sandbox behind (fntest checks).
func TestClose(t *testing.T) {
	env := newEnv(t)
	e := env.Engine
	create(t, e, "hello", nil)
	done := make(chan error, 1)
	go func() {
		_, err := e.Invoke(context.Background(), functions.InvokeInput{FunctionName: "hello", Payload: []byte(`{"sleepMs":300}`)})
		done <- err
	}()
	waitFor(t, 5*time.Second, func() bool { return env.Launcher.Live() == 1 })
	env.Close()
	if _, err := e.Invoke(context.Background(), functions.InvokeInput{FunctionName: "hello", Payload: []byte(`{}`)}); !errdefs.IsUnavailable(err) {
		t.Fatalf("invoke after Close: %v", err)
	}
	<-done
	if n := env.Launcher.Live(); n != 0 {
		t.Fatalf("%d sandboxes after Close", n)
	}
}

// A burst on a function nothing has run: every invocation is served, by
// the first sandboxes ready rather than one container start each (at most
// WithLaunchConcurrency start at once), and each sandbox's first
// invocation, and only that, counts as a cold start.
func TestBurstOnColdFunction(t *testing.T) {
	var starts sync.Map
	env := fntest.New(t, fntest.WithEngineOptions(invoke.WithLaunchConcurrency(2)),
		fntest.WithFunctions(func(spec sandbox.Spec) (inproc.Function, error) {
			return inproc.Function{
				Init: func(context.Context, map[string]string, io.Writer) error {
					time.Sleep(100 * time.Millisecond) // a slow init
					return nil
				},
				Handler: func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
					starts.Store(spec.Output, true)
					return []byte(`{}`), nil
				},
			}, nil
		}))
	e := env.Engine
	create(t, e, "burst", nil)
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.Invoke(context.Background(), functions.InvokeInput{FunctionName: "burst", Payload: []byte(`{}`)})
			if err == nil && out.FunctionError != "" {
				err = errors.New(string(out.Payload))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sandboxes := 0
	starts.Range(func(any, any) bool { sandboxes++; return true })
	m, err := e.Metrics(context.Background(), "burst")
	if err != nil {
		t.Fatal(err)
	}
	// (Starts under way when the burst ended join the pool unused.)
	if m.Invocations != n || m.ColdStarts != int64(sandboxes) || m.SandboxesTotal < sandboxes || m.SandboxesTotal > n/2 {
		t.Fatalf("%d invocations, %d cold starts, %d sandboxes in the pool, %d served", m.Invocations, m.ColdStarts, m.SandboxesTotal, sandboxes)
	}
	// Starts end 100 ms apart, two at a time, while the first two serve
	// the burst in microseconds each.
	if sandboxes < 1 || sandboxes > n/2 {
		t.Fatalf("%d invocations at once took %d sandboxes", n, sandboxes)
	}
}

// A burst on a function whose init fails: every invocation gets the init
// error (each the failure of a start of its own), none waits for ever.
func TestBurstInitErrors(t *testing.T) {
	env := failingInit(t, fntest.WithEngineOptions(invoke.WithLaunchConcurrency(2)))
	const n = 12
	var wg sync.WaitGroup
	outs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := env.Engine.Invoke(ctx, functions.InvokeInput{FunctionName: "bad"})
			if err != nil {
				outs <- err.Error()
				return
			}
			outs <- out.FunctionError + " " + string(out.Payload)
		}()
	}
	wg.Wait()
	close(outs)
	for o := range outs {
		if !strings.Contains(o, "Unhandled") || !strings.Contains(o, "Runtime.ConfigError") {
			t.Fatalf("an invocation of the burst: %s", o)
		}
	}
}
