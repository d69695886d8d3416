package functions

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

func newEngine(t *testing.T, opts ...EngineOption) *Engine {
	t.Helper()
	e, err := NewEngine(t.TempDir(), ProcessLauncher{}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func create(t *testing.T, e *Engine, name string, env map[string]string) *Config {
	t.Helper()
	c, err := e.Create(context.Background(), CreateInput{
		Config: Config{FunctionName: name, Runtime: "provided.al2023", Timeout: 2, MemorySize: 128, Environment: env},
		Code:   Code{ZipFile: testutil.HelloZip(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type helloReply struct {
	Echo, RequestID, FunctionArn, Function, Memory string
	Pid                                            int
}

func invokeJSON(t *testing.T, e *Engine, name, qualifier, payload string) (*InvokeOutput, helloReply) {
	t.Helper()
	out, err := e.Invoke(context.Background(), InvokeInput{FunctionName: name, Qualifier: qualifier, Payload: []byte(payload), LogTail: true})
	if err != nil {
		t.Fatal(err)
	}
	var r helloReply
	_ = json.Unmarshal(out.Payload, &r)
	return out, r
}

func TestCreateInvokeWarm(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, "hello", nil)
	if c.State != StatePending && c.State != StateActive {
		t.Fatalf("state after create: %s", c.State)
	}
	got, err := e.Get(context.Background(), "hello", "")
	if err != nil || got.State != StateActive || got.CodeSha256 == "" || got.FunctionArn != functionArn("hello") {
		t.Fatalf("get: %+v %v", got, err)
	}
	out, r := invokeJSON(t, e, "hello", "", `{"key1":"v1"}`)
	if out.FunctionError != "" || r.Echo != "v1" || r.RequestID != out.RequestID || r.Function != "hello" || r.Memory != "128" {
		t.Fatalf("cold invoke: %+v %s", r, out.Payload)
	}
	tail, _ := base64.StdEncoding.DecodeString(out.LogResult)
	for _, want := range []string{"START RequestId: " + out.RequestID, "END RequestId: " + out.RequestID, "REPORT RequestId: " + out.RequestID, "Billed Duration:", "Memory Size: 128 MB", "Init Duration:"} {
		if !strings.Contains(string(tail), want) {
			t.Fatalf("tail lacks %q:\n%s", want, tail)
		}
	}
	out2, r2 := invokeJSON(t, e, "hello", "", `{"key1":"v2","print":"hello from the function"}`)
	if r2.Pid != r.Pid || r2.Echo != "v2" {
		t.Fatalf("warm invoke ran elsewhere: %d vs %d", r2.Pid, r.Pid)
	}
	tail2, _ := base64.StdEncoding.DecodeString(out2.LogResult)
	if strings.Contains(string(tail2), "Init Duration") || !strings.Contains(string(tail2), "hello from the function") {
		t.Fatalf("warm tail:\n%s", tail2)
	}
	m, _ := e.Metrics(context.Background(), "hello")
	if m.Invocations != 2 || m.ColdStarts != 1 || m.SandboxesWarm != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestErrorsTimeoutInitCrash(t *testing.T) {
	e := newEngine(t)
	create(t, e, "hello", nil)
	out, _ := invokeJSON(t, e, "hello", "", `{"fail":"boom"}`)
	if out.FunctionError != FunctionErrorUnhandl || !strings.Contains(string(out.Payload), "boom") {
		t.Fatalf("handled error: %+v %s", out, out.Payload)
	}
	out, _ = invokeJSON(t, e, "hello", "", `{"sleepMs":5000}`)
	if out.FunctionError == "" || !strings.Contains(string(out.Payload), "Task timed out after 2.00 seconds") {
		t.Fatalf("timeout: %s", out.Payload)
	}
	// The timed-out sandbox is gone; the next invocation is cold and works.
	out, r := invokeJSON(t, e, "hello", "", `{"key1":"after"}`)
	if out.FunctionError != "" || r.Echo != "after" {
		t.Fatalf("after timeout: %s", out.Payload)
	}

	create(t, e, "crasher", map[string]string{"HELLOFN_MODE": "crash-init"})
	out, _ = invokeJSON(t, e, "crasher", "", `{}`)
	if out.FunctionError == "" || !strings.Contains(string(out.Payload), "Runtime.ExitError") {
		t.Fatalf("init crash: %+v %s", out, out.Payload)
	}
}

func TestThrottleAndScaleOut(t *testing.T) {
	e := newEngine(t)
	create(t, e, "hello", nil)
	if err := e.PutConcurrency(context.Background(), "hello", 1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		invokeJSON(t, e, "hello", "", `{"sleepMs":800}`)
	}()
	time.Sleep(300 * time.Millisecond)
	_, err := e.Invoke(context.Background(), InvokeInput{FunctionName: "hello", Payload: []byte(`{}`)})
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("second concurrent invoke: %v", err)
	}
	wg.Wait()
	_ = e.DeleteConcurrency(context.Background(), "hello")

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
}

func TestIdleReap(t *testing.T) {
	e := newEngine(t, WithIdleTimeout(300*time.Millisecond))
	create(t, e, "hello", nil)
	invokeJSON(t, e, "hello", "", `{}`)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m, _ := e.Metrics(context.Background(), "hello")
		if m.SandboxesTotal == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("idle sandbox was not reaped")
}

func TestVersionsAliasesAndValidation(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	create(t, e, "hello", map[string]string{"A": "1"})
	v1, err := e.PublishVersion(ctx, "hello", "first")
	if err != nil || v1.Version != "1" || !strings.HasSuffix(v1.FunctionArn, ":1") {
		t.Fatalf("publish: %+v %v", v1, err)
	}
	if again, _ := e.PublishVersion(ctx, "hello", ""); again.Version != "1" {
		t.Fatalf("unchanged publish made version %s", again.Version)
	}
	if _, err := e.UpdateConfig(ctx, "hello", ConfigUpdate{Environment: map[string]string{"A": "2"}}); err != nil {
		t.Fatal(err)
	}
	v2, _ := e.PublishVersion(ctx, "hello", "")
	if v2.Version != "2" {
		t.Fatalf("second publish: %s", v2.Version)
	}
	if c, _ := e.Get(ctx, "hello", "1"); c.Environment["A"] != "1" {
		t.Fatal("version 1 changed after an update")
	}
	if _, err := e.CreateAlias(ctx, "hello", Alias{Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	out, _ := invokeJSON(t, e, "hello", "live", `{}`)
	if out.ExecutedVersion != "1" {
		t.Fatalf("alias ran version %s", out.ExecutedVersion)
	}
	if _, err := e.UpdateAlias(ctx, "hello", Alias{Name: "live", FunctionVersion: "2"}); err != nil {
		t.Fatal(err)
	}
	if out, _ := invokeJSON(t, e, "hello", "live", `{}`); out.ExecutedVersion != "2" {
		t.Fatalf("updated alias ran %s", out.ExecutedVersion)
	}
	if err := e.Delete(ctx, "hello", "2"); !errdefs.IsConflict(err) {
		t.Fatalf("deleting an aliased version: %v", err)
	}
	for _, bad := range []Config{
		{FunctionName: "x", Runtime: "provided", MemorySize: 64},
		{FunctionName: "x", Runtime: "provided", Timeout: 901},
		{FunctionName: "x", Runtime: "nodejs20.x"},
		{FunctionName: "bad name", Runtime: "provided"},
		{FunctionName: "x", Runtime: "provided", Environment: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "y"}},
	} {
		if _, err := e.Create(ctx, CreateInput{Config: bad, Code: Code{ZipFile: testutil.HelloZip(t)}}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("create %+v: %v", bad, err)
		}
	}
	if _, err := e.Create(ctx, CreateInput{Config: Config{FunctionName: "hello", Runtime: "provided"}, Code: Code{ZipFile: testutil.HelloZip(t)}}); !errdefs.IsConflict(err) {
		t.Fatalf("duplicate: %v", err)
	}
	noboot := testutil.ZipOf(t, map[string][]byte{"main": []byte("x")}, nil)
	if _, err := e.Create(ctx, CreateInput{Config: Config{FunctionName: "noboot", Runtime: "provided"}, Code: Code{ZipFile: noboot}}); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.Get(ctx, "noboot", ""); c.State != StateFailed || c.StateReasonCode != "InvalidEntrypoint" {
		t.Fatalf("package without bootstrap: %+v", c)
	}
	if _, err := e.Invoke(ctx, InvokeInput{FunctionName: "noboot"}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("invoking a failed function: %v", err)
	}
	if _, err := e.Invoke(ctx, InvokeInput{FunctionName: "hello", Payload: make([]byte, MaxSyncPayload+1)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("7 MB payload: %v", err)
	}
	if out, err := e.Invoke(ctx, InvokeInput{FunctionName: "hello", Type: InvocationDryRun}); err != nil || out.StatusCode != 204 {
		t.Fatalf("dry run: %+v %v", out, err)
	}
	if err := e.Delete(ctx, "hello", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(ctx, "hello", ""); !errdefs.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestUnzipRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	for name, files := range map[string]map[string][]byte{
		"traversal": {"../../escape": []byte("x")},
		"absolute":  {"/etc/escape": []byte("x")},
	} {
		data := testutil.ZipOf(t, files, nil)
		target := dir + "/" + name
		if err := unzip(data, target, nil); err != nil {
			continue // refused outright is fine
		}
		// Accepted: the entry must have landed inside the target.
		if _, err := readAnyFile(target); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := unzip([]byte("not a zip"), dir+"/garbage", nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("garbage: %v", err)
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"hello", "hello:1", "hello:live", "arn:aws:lambda:us-east-1:000000000000:function:hello", "arn:aws:lambda:us-east-1:000000000000:function:hello:$LATEST", "000000000000:function:hello", "::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, _, err := ParseName(s)
		if err == nil && !validName.MatchString(name) {
			t.Fatalf("%q parsed to invalid name %q", s, name)
		}
	})
}
