package runtimeapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	fnPath    string
	buildErr  error
)

// buildHello builds the aws-lambda-go test function once per test binary.
func buildHello(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hellofn-")
		if err != nil {
			buildErr = err
			return
		}
		fnPath = filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-o", fnPath, ".")
		cmd.Dir = filepath.Join("..", "testdata", "hellofn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building the test function: %v", buildErr)
	}
	return fnPath
}

// startRuntime serves s on loopback and runs the function against it as a
// plain process, as the Lambda emulator would.
func startRuntime(t *testing.T, s *Server, env ...string) *exec.Cmd {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.Serve(l, nil)
	t.Cleanup(func() { s.Close(); _ = srv.Close() })
	cmd := exec.Command(buildHello(t))
	cmd.Env = append([]string{"AWS_LAMBDA_RUNTIME_API=" + l.Addr().String(), "AWS_LAMBDA_FUNCTION_NAME=hello", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"}, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd
}

func invoke(t *testing.T, s *Server, id, payload string, timeout time.Duration) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.Invoke(ctx, Invocation{
		RequestID: id, Payload: []byte(payload), Deadline: time.Now().Add(timeout),
		FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:hello", TraceID: "Root=1-0-0",
	})
}

func TestAWSLambdaGoFunction(t *testing.T) {
	s := New()
	startRuntime(t, s)
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("runtime never asked for an invocation")
	}
	var pid int
	for i, id := range []string{"req-1", "req-2"} {
		res, err := invoke(t, s, id, `{"key1":"v1"}`, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Echo, RequestID, FunctionArn, Function, Memory string
			Pid                                            int
		}
		if err := json.Unmarshal(res.Payload, &r); err != nil || res.FunctionError {
			t.Fatalf("result %s: %v", res.Payload, err)
		}
		if r.Echo != "v1" || r.RequestID != id || !strings.HasSuffix(r.FunctionArn, ":hello") || r.Function != "hello" || r.Memory != "128" {
			t.Fatalf("reply %+v", r)
		}
		if i == 1 && r.Pid != pid {
			t.Fatalf("second invocation ran in another process (%d, %d)", r.Pid, pid)
		}
		pid = r.Pid
	}

	res, err := invoke(t, s, "req-3", `{"fail":"boom"}`, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !res.FunctionError || !strings.Contains(string(res.Payload), "boom") || res.ErrorType == "" {
		t.Fatalf("handled error: %+v %s", res, res.Payload)
	}

	// A timeout leaves the runtime busy: Invoke reports it.
	if _, err := invoke(t, s, "req-4", `{"sleepMs":2000}`, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
}

func TestInitCrash(t *testing.T) {
	s := New()
	cmd := startRuntime(t, s, "HELLOFN_MODE=crash-init")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("crashing init exited 0")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("init crash not seen")
	}
	select {
	case <-s.Ready():
		t.Fatal("a crashed runtime became ready")
	default:
	}
}

func TestProtocolErrors(t *testing.T) {
	s := New()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := s.Serve(l, nil)
	defer srv.Close()
	base := "http://" + l.Addr().String() + "/2018-06-01/runtime"
	post := func(path, body string) int {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/invocation/nope/response", "{}"); code != http.StatusForbidden {
		t.Fatalf("response with no invocation: %d", code)
	}
	// Deliver one invocation, then answer with the wrong id.
	go func() { _, _ = invoke(t, s, "right", "{}", 5*time.Second) }()
	resp, err := http.Get(base + "/invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Lambda-Runtime-Aws-Request-Id"); got != "right" {
		t.Fatalf("request id header %q", got)
	}
	if resp.Header.Get("Lambda-Runtime-Deadline-Ms") == "" || resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn") == "" {
		t.Fatal("missing headers")
	}
	if code := post("/invocation/wrong/response", "{}"); code != http.StatusBadRequest {
		t.Fatalf("wrong id: %d", code)
	}
	if code := post("/invocation/right/response", "{}"); code != http.StatusAccepted {
		t.Fatalf("right id: %d", code)
	}
	if code := post("/init/error", `{"errorType":"X","errorMessage":"m"}`); code != http.StatusAccepted {
		t.Fatalf("init error: %d", code)
	}
	select {
	case <-s.Failed():
	default:
		t.Fatal("init error did not fail the server")
	}
	if _, err := invoke(t, s, "after", "{}", time.Second); !errors.Is(err, ErrInitFailed) {
		t.Fatalf("invoke after init error: %v", err)
	}
}

// An invocation waiting for a runtime that will never answer ends when
// its abandon channel closes, both before and after the runtime took it.
func TestInvokeUntilAbandoned(t *testing.T) {
	s := New()
	abandon := make(chan struct{})
	time.AfterFunc(20*time.Millisecond, func() { close(abandon) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.InvokeUntil(ctx, Invocation{RequestID: "r1"}, abandon); !errors.Is(err, ErrAbandoned) {
		t.Fatalf("not taken: err = %v, want ErrAbandoned", err)
	}

	srv := httptest.NewServer(s)
	defer srv.Close()
	abandon2 := make(chan struct{})
	go func() {
		resp, err := http.Get(srv.URL + "/" + Version + "/runtime/invocation/next")
		if err == nil {
			resp.Body.Close()
		}
		close(abandon2) // the runtime took the event and died
	}()
	if _, err := s.InvokeUntil(ctx, Invocation{RequestID: "r2"}, abandon2); !errors.Is(err, ErrAbandoned) {
		t.Fatalf("taken: err = %v, want ErrAbandoned", err)
	}
}
