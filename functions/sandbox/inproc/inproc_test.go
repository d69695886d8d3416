package inproc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/functions/runtimeapi"
	"github.com/wharf-dev/wharf/functions/sandbox"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
	"github.com/wharf-dev/wharf/functions/sandbox/sandboxtest"
)

func TestSuite(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandboxtest.Target {
		return sandboxtest.Target{Launcher: inproc.New(sandboxtest.Hello), Spec: sandbox.Spec{Function: "fn", Version: "$LATEST", Env: []string{"AWS_LAMBDA_FUNCTION_NAME=fn"}}}
	})
}

func launch(t *testing.T, l *inproc.Launcher) sandbox.Sandbox {
	t.Helper()
	sb, err := l.Launch(context.Background(), sandbox.Spec{Function: "fn", Env: []string{"A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	return sb
}

func invoke(sb sandbox.Sandbox, payload string, timeout time.Duration) (*runtimeapi.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return sb.Runtime().InvokeUntil(ctx, runtimeapi.Invocation{RequestID: "r-" + payload, Payload: []byte(payload), Deadline: time.Now().Add(timeout)}, sb.Exited())
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

// An init error is posted to the Runtime API with its type, as
// aws-lambda-go posts one.
func TestInitError(t *testing.T) {
	l := inproc.New(func(sandbox.Spec) (inproc.Function, error) {
		return inproc.Function{
			Init: func(context.Context, map[string]string, io.Writer) error {
				return &inproc.Error{Type: "Runtime.Bad", Message: "no config"}
			},
			Handler: inproc.Echo,
		}, nil
	})
	sb := launch(t, l)
	wait(t, sb.Runtime().Failed(), "the init failure")
	if ie := sb.Runtime().InitError(); ie.ErrorType != "Runtime.Bad" || !strings.Contains(string(ie.Payload), "no config") {
		t.Fatalf("init error %+v %s", ie, ie.Payload)
	}
	wait(t, sb.Exited(), "the exit after the init failure")
}

// Errors are posted with the type aws-lambda-go gives them; a panic is
// posted too and ends the sandbox; ErrExit ends it without an answer.
func TestErrorsPanicsExits(t *testing.T) {
	type myErr struct{ error }
	l := inproc.Handle(func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
		switch string(inv.Payload) {
		case `"typed"`:
			return nil, &myErr{errors.New("mine")}
		case `"panic"`:
			panic("at the handler")
		case `"exit"`:
			return nil, fmt.Errorf("crash: %w", inproc.ErrExit)
		}
		if inv.Env["A"] != "1" || inv.Env["AWS_LAMBDA_RUNTIME_API"] == "" {
			return nil, errors.New("environment not given")
		}
		return inv.Payload, nil
	})
	sb := launch(t, l)
	res, err := invoke(sb, `"typed"`, 5*time.Second)
	if err != nil || !res.FunctionError || res.ErrorType != "myErr" || !strings.Contains(string(res.Payload), "mine") {
		t.Fatalf("typed error %+v %v", res, err)
	}
	if res, err := invoke(sb, `"ok"`, 5*time.Second); err != nil || string(res.Payload) != `"ok"` {
		t.Fatalf("ok %+v %v", res, err)
	}
	res, err = invoke(sb, `"panic"`, 5*time.Second)
	if err != nil || !res.FunctionError || res.ErrorType != "string" || !strings.Contains(string(res.Payload), "at the handler") {
		t.Fatalf("panic %+v %v", res, err)
	}
	wait(t, sb.Exited(), "the exit after a panic")

	sb = launch(t, l)
	if _, err := invoke(sb, `"exit"`, 5*time.Second); !errors.Is(err, runtimeapi.ErrAbandoned) {
		t.Fatalf("a runtime that exits mid-invocation: %v", err)
	}
}

// A frozen sandbox runs no handler until it is thawed.
func TestFreezeHoldsTheHandler(t *testing.T) {
	var ran atomic.Int32
	l := inproc.Handle(func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
		ran.Add(1)
		return inv.Payload, nil
	})
	sb := launch(t, l)
	wait(t, sb.Runtime().Ready(), "init")
	sb.Freeze()
	if _, err := invoke(sb, `1`, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) || ran.Load() != 0 {
		t.Fatalf("a frozen sandbox answered: %v, %d runs", err, ran.Load())
	}
	sb.Thaw()
	// The event delivered while frozen runs now; its answer is refused
	// (its invocation is gone) and the sandbox serves the next one.
	deadline := time.Now().Add(5 * time.Second)
	for ran.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if res, err := invoke(sb, `2`, 5*time.Second); err != nil || string(res.Payload) != `2` {
		t.Fatalf("after the thaw: %+v %v", res, err)
	}
}

func TestLaunchesAndLive(t *testing.T) {
	l := inproc.New(func(spec sandbox.Spec) (inproc.Function, error) {
		if spec.Function == "broken" {
			return inproc.Function{}, errors.New("no such code")
		}
		return inproc.Function{Handler: inproc.Echo}, nil
	})
	sb := launch(t, l)
	if _, err := l.Launch(context.Background(), sandbox.Spec{Function: "broken"}); err == nil {
		t.Fatal("a launch the code refused succeeded")
	}
	if got := l.Launches(); len(got) != 2 || got[0].Function != "fn" || got[1].Function != "broken" {
		t.Fatalf("launches %+v", got)
	}
	if l.Live() != 1 {
		t.Fatalf("live %d", l.Live())
	}
	sb.Close(context.Background())
	if l.Live() != 0 {
		t.Fatalf("live after close %d", l.Live())
	}
}
