// Package sandboxtest is the shared test suite of sandbox launchers (Run),
// which every launcher that can run without the daemon passes: the
// in-process one (functions/sandbox/inproc) and the process one
// (functions/sandbox/process). The container launcher is exercised by the
// integration tests, through a daemon.
//
// The suite speaks to the function in the sandbox in the protocol of
// functions/testdata/hellofn (an aws-lambda-go program), which Hello plays
// in-process: an event {"key1": s} is answered with {"echo": s, ...},
// {"fail": m} is a function error with message m, {"sleepMs": n} sleeps,
// and {"print": s} writes s to the runtime's output.
package sandboxtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/functions/runtimeapi"
	"github.com/wharf-dev/wharf/functions/sandbox"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
)

// Event is the hellofn protocol's event.
type Event struct {
	Key1     string `json:"key1,omitempty"`
	Fail     string `json:"fail,omitempty"`
	SleepMs  int    `json:"sleepMs,omitempty"`
	PrintLog string `json:"print,omitempty"`
}

// Reply is the hellofn protocol's answer. Pid tells sandboxes apart (a
// process ID, or the number of an in-process sandbox).
type Reply struct {
	Echo        string `json:"echo"`
	RequestID   string `json:"requestId"`
	FunctionARN string `json:"functionArn"`
	Function    string `json:"function"`
	Memory      string `json:"memory"`
	Pid         int    `json:"pid"`
	DeadlineMs  int64  `json:"deadlineInMs"`
}

var sandboxes atomic.Int64

// Hello plays hellofn in an in-process sandbox. As hellofn, with
// HELLOFN_MODE=crash-init in its environment it exits during its init.
func Hello(spec sandbox.Spec) (inproc.Function, error) {
	var pid int
	return inproc.Function{
		Init: func(ctx context.Context, env map[string]string, _ io.Writer) error {
			pid = int(sandboxes.Add(1))
			if env["HELLOFN_MODE"] == "crash-init" {
				return inproc.ErrExit
			}
			return nil
		},
		Handler: func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
			var e Event
			if len(inv.Payload) > 0 {
				_ = json.Unmarshal(inv.Payload, &e)
			}
			if e.PrintLog != "" {
				fmt.Fprintln(inv.Log, e.PrintLog)
			}
			if e.SleepMs > 0 {
				// As hellofn, it sleeps on past its deadline: the
				// invoker's timeout, not the handler, ends the
				// invocation.
				time.Sleep(time.Duration(e.SleepMs) * time.Millisecond)
			}
			if e.Fail != "" {
				return nil, errors.New(e.Fail)
			}
			dl, _ := ctx.Deadline()
			return json.Marshal(Reply{
				Echo: e.Key1, RequestID: inv.RequestID, FunctionARN: inv.FunctionARN,
				Function: inv.Env["AWS_LAMBDA_FUNCTION_NAME"], Memory: inv.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
				Pid: pid, DeadlineMs: dl.UnixMilli(),
			})
		},
	}, nil
}

// Launcher is what the suite tests.
type Launcher interface {
	Launch(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error)
}

// Target is a launcher and the spec of a sandbox that runs the hellofn
// protocol; the suite sets the spec's Output.
type Target struct {
	Launcher Launcher
	Spec     sandbox.Spec
}

// syncBuffer is an output the runtime writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Run runs the suite against the launcher newTarget gives for each test.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("InitInvokeClose", func(t *testing.T) { testInvoke(t, newTarget(t)) })
	t.Run("FreezeThaw", func(t *testing.T) { testFreeze(t, newTarget(t)) })
	t.Run("Timeout", func(t *testing.T) { testTimeout(t, newTarget(t)) })
	t.Run("FlushOutput", func(t *testing.T) { testFlush(t, newTarget(t)) })
}

func launch(t *testing.T, tg Target) (sandbox.Sandbox, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	spec := tg.Spec
	spec.Output = out
	sb, err := tg.Launcher.Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	select {
	case <-sb.Runtime().Ready():
	case <-sb.Runtime().Failed():
		t.Fatalf("init failed: %+v", sb.Runtime().InitError())
	case <-sb.Exited():
		t.Fatal("the runtime exited during its init")
	case <-time.After(10 * time.Second):
		t.Fatal("init did not complete within 10 s")
	}
	return sb, out
}

var seq atomic.Int64

func invoke(t *testing.T, sb sandbox.Sandbox, timeout time.Duration, ev Event) (*runtimeapi.Result, error) {
	t.Helper()
	payload, _ := json.Marshal(ev)
	id := "00000000-0000-0000-0000-" + fmt.Sprintf("%012d", seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return sb.Runtime().InvokeUntil(ctx, runtimeapi.Invocation{
		RequestID: id, Payload: payload, Deadline: time.Now().Add(timeout), FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:fn",
	}, sb.Exited())
}

func testInvoke(t *testing.T, tg Target) {
	sb, out := launch(t, tg)
	res, err := invoke(t, sb, 5*time.Second, Event{Key1: "a", PrintLog: "printed-by-the-function"})
	if err != nil {
		t.Fatal(err)
	}
	var r Reply
	if err := json.Unmarshal(res.Payload, &r); err != nil || res.FunctionError || r.Echo != "a" || r.FunctionARN != "arn:aws:lambda:us-east-1:000000000000:function:fn" {
		t.Fatalf("result %+v: %s (%v)", res, res.Payload, err)
	}
	res2, err := invoke(t, sb, 5*time.Second, Event{Key1: "b"})
	var r2 Reply
	if err != nil || json.Unmarshal(res2.Payload, &r2) != nil || r2.Echo != "b" || r2.Pid != r.Pid || r2.RequestID == r.RequestID {
		t.Fatalf("second invocation %+v %v: %s", r2, err, res2.Payload)
	}
	res, err = invoke(t, sb, 5*time.Second, Event{Fail: "boom"})
	if err != nil || !res.FunctionError || !strings.Contains(string(res.Payload), "boom") {
		t.Fatalf("failing invocation %+v %v: %s", res, err, res.Payload)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "printed-by-the-function") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "printed-by-the-function") {
		t.Fatalf("output %q", out.String())
	}
	if err := sb.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sb.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("Exited is open after Close")
	}
	if err := sb.Close(context.Background()); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := invoke(t, sb, time.Second, Event{}); !errors.Is(err, runtimeapi.ErrClosed) && !errors.Is(err, runtimeapi.ErrAbandoned) {
		t.Fatalf("invoking a closed sandbox: %v", err)
	}
}

// testFlush checks that a line the function printed just before it
// answered is in the output once FlushOutput returns, invocation after
// invocation (what a Tail invocation's log relies on).
func testFlush(t *testing.T, tg Target) {
	sb, out := launch(t, tg)
	for i := 0; i < 50; i++ {
		line := fmt.Sprintf("flushed-line-%d", i)
		res, err := invoke(t, sb, 5*time.Second, Event{Key1: "x", PrintLog: line})
		if err != nil || res.FunctionError {
			t.Fatalf("invocation %d: %+v %v", i, res, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = sb.FlushOutput(ctx)
		cancel()
		if err != nil {
			t.Fatalf("invocation %d: FlushOutput: %v", i, err)
		}
		if !strings.Contains(out.String(), line+"\n") {
			t.Fatalf("invocation %d: %q is not in the output after FlushOutput:\n%s", i, line, out.String())
		}
	}
}

func testFreeze(t *testing.T, tg Target) {
	sb, _ := launch(t, tg)
	for i := 0; i < 2; i++ {
		if err := sb.Freeze(); err != nil {
			t.Fatal(err)
		}
		if err := sb.Thaw(); err != nil {
			t.Fatal(err)
		}
		res, err := invoke(t, sb, 5*time.Second, Event{Key1: strconv.Itoa(i)})
		if err != nil || res.FunctionError {
			t.Fatalf("after a thaw: %+v %v", res, err)
		}
	}
}

func testTimeout(t *testing.T, tg Target) {
	sb, _ := launch(t, tg)
	start := time.Now()
	_, err := invoke(t, sb, 200*time.Millisecond, Event{SleepMs: 5000})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("a sleeping invocation past its deadline: %v after %v", err, time.Since(start))
	}
	// A timed-out sandbox is discarded: Close ends it.
	start = time.Now()
	if err := sb.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sb.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("Exited is open after Close")
	}
}
