// Package inproc launches sandboxes whose runtime is a goroutine of the
// calling process: a Lambda runtime client, as aws-lambda-go's, that polls
// its sandbox's own Runtime API (a real functions/runtimeapi server on
// loopback) over HTTP and runs a Go Handler for each event. Above the
// sandbox everything is the real engine's: the store, versions, aliases,
// validation, pools, concurrency and throttling, timeouts, init errors,
// logs, metrics, the async queue. Tests of the engine, the API servers and
// the CLI run on it without root, containers or a built bootstrap.
//
// What a sandbox does, step by step, as a bootstrap would:
//
//	start ──Init (if any)──> GET next ──> wait while frozen ──> Handler
//	   │         └─ error: POST init/error, exit              │
//	   │                                   POST response, or POST error
//	   │                                   (a returned error; a panic, then exit)
//	   └─ Close, or a Handler error wrapping ErrExit: exit (Exited closes)
//
// A frozen sandbox takes no step: an event delivered while it is frozen
// waits for Thaw, as a frozen process would.
package inproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/functions/runtimeapi"
	"github.com/wharf-dev/wharf/functions/sandbox"
)

// Invocation is one event as a Handler gets it.
type Invocation struct {
	RequestID   string
	FunctionARN string
	Deadline    time.Time
	Payload     []byte
	// ClientContext is the Lambda-Runtime-Client-Context header: the
	// invoking client's context as JSON, "" when it gave none.
	ClientContext string
	// Env is the sandbox's environment: the Lambda variables
	// (AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION, ...) and
	// the function's own.
	Env map[string]string
	// Log is the runtime's standard output, which goes to the function's
	// log.
	Log io.Writer
}

// Handler runs one invocation and returns the response payload, or an
// error, which the runtime posts as the invocation's error the way
// aws-lambda-go does: {"errorMessage": err.Error(), "errorType": the
// error's type name, or an *Error's Type}. ctx ends at the invocation's
// deadline or when the sandbox closes. A Handler that panics has the panic
// posted as the error and its sandbox exits.
type Handler func(ctx context.Context, inv *Invocation) ([]byte, error)

// Error is a function error of a given errorType.
type Error struct {
	Type, Message string
}

func (e *Error) Error() string { return e.Message }

// ErrExit, returned by a Handler or Init (or wrapped), makes the runtime
// exit without an answer, as a bootstrap that crashes.
var ErrExit = errors.New("the runtime exits")

// Function is what one sandbox runs.
type Function struct {
	// Init, if set, runs once when the sandbox starts, before its first
	// `next`; an error is posted to init/error and the runtime exits (an
	// error wrapping ErrExit is not posted: the runtime just exits).
	Init func(ctx context.Context, env map[string]string, log io.Writer) error
	// Handler runs each invocation.
	Handler Handler
}

// Launcher starts in-process sandboxes.
type Launcher struct {
	code func(spec sandbox.Spec) (Function, error)

	mu       sync.Mutex
	launches []sandbox.Spec
	live     int
}

// New returns a launcher whose sandboxes run what code says for their
// spec; an error from code fails the launch.
func New(code func(spec sandbox.Spec) (Function, error)) *Launcher {
	return &Launcher{code: code}
}

// Handle returns a launcher whose every sandbox runs h.
func Handle(h Handler) *Launcher {
	return New(func(sandbox.Spec) (Function, error) { return Function{Handler: h}, nil })
}

// Echo is a Handler that answers with the event and logs one line.
func Echo(_ context.Context, inv *Invocation) ([]byte, error) {
	fmt.Fprintf(inv.Log, "echo from %s %s\n", inv.Env["AWS_LAMBDA_FUNCTION_NAME"], inv.Env["AWS_LAMBDA_FUNCTION_VERSION"])
	return inv.Payload, nil
}

// Launches returns the specs of every launch asked for so far, failed
// ones too.
func (l *Launcher) Launches() []sandbox.Spec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sandbox.Spec(nil), l.launches...)
}

// Live returns how many sandboxes are launched and not yet closed.
func (l *Launcher) Live() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live
}

// Launch starts a sandbox for spec: a Runtime API on a loopback port and
// the runtime polling it.
func (l *Launcher) Launch(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	l.mu.Lock()
	l.launches = append(l.launches, spec)
	l.mu.Unlock()
	fn, err := l.code(spec)
	if err != nil {
		return nil, err
	}
	if fn.Handler == nil {
		return nil, errors.New("inproc: the function has no handler")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rt := runtimeapi.New()
	srv := rt.Serve(ln, nil)
	rctx, cancel := context.WithCancel(context.Background())
	s := &sb{
		rt: rt, srv: srv, cancel: cancel, exited: make(chan struct{}), thawed: make(chan struct{}),
		base:   "http://" + ln.Addr().String() + "/" + runtimeapi.Version + "/runtime",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}},
		out:    spec.Output,
		env:    map[string]string{},
		l:      l,
	}
	close(s.thawed)
	if s.out == nil {
		s.out = io.Discard
	}
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		s.env[k] = v
	}
	s.env["AWS_LAMBDA_RUNTIME_API"] = ln.Addr().String()
	l.mu.Lock()
	l.live++
	l.mu.Unlock()
	go s.run(rctx, fn)
	return s, nil
}

// sb is one in-process sandbox.
type sb struct {
	rt     *runtimeapi.Server
	srv    *http.Server
	client *http.Client
	base   string
	env    map[string]string
	out    io.Writer
	cancel context.CancelFunc
	exited chan struct{}
	l      *Launcher

	// thawed is closed while the sandbox may run; Freeze replaces it.
	fmu    sync.Mutex
	thawed chan struct{}

	closeOnce sync.Once
}

func (s *sb) Runtime() *runtimeapi.Server { return s.rt }
func (s *sb) Exited() <-chan struct{}     { return s.exited }
func (s *sb) MaxMemory() uint64           { return 0 }
func (s *sb) OOMKilled() bool             { return false }

// FlushOutput implements sandbox.Sandbox: the handler writes to the
// spec's Output itself, and its writes return before its answer is
// posted, so what it wrote before answering is already there.
func (s *sb) FlushOutput(context.Context) error { return nil }

// Freeze stops the runtime before its next step.
func (s *sb) Freeze() error {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	select {
	case <-s.thawed:
		s.thawed = make(chan struct{})
	default:
	}
	return nil
}

// Thaw lets a frozen runtime go on.
func (s *sb) Thaw() error {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	select {
	case <-s.thawed:
	default:
		close(s.thawed)
	}
	return nil
}

// waitThawed waits until the sandbox is not frozen.
func (s *sb) waitThawed(ctx context.Context) error {
	s.fmu.Lock()
	ch := s.thawed
	s.fmu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the runtime, as a kill would, and its Runtime API.
func (s *sb) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.rt.Close()
		s.cancel()
		<-s.exited
		_ = s.srv.Close()
		s.client.CloseIdleConnections()
		s.l.mu.Lock()
		s.l.live--
		s.l.mu.Unlock()
	})
	return nil
}

// run is the runtime: it returns when the runtime exits.
func (s *sb) run(ctx context.Context, fn Function) {
	defer close(s.exited)
	if fn.Init != nil {
		// Init runs on a goroutine of its own, so that a Close (a kill)
		// does not wait for it.
		done := make(chan error, 1)
		go func() { done <- fn.Init(ctx, s.env, s.out) }()
		select {
		case err := <-done:
			if err != nil {
				if !errors.Is(err, ErrExit) {
					_ = s.post(ctx, "/init/error", errorBody(err))
				}
				return
			}
		case <-ctx.Done():
			return
		}
	}
	for {
		if s.waitThawed(ctx) != nil {
			return
		}
		inv, err := s.next(ctx)
		if err != nil {
			return
		}
		if s.waitThawed(ctx) != nil {
			return
		}
		if exit := s.invoke(ctx, fn.Handler, inv); exit {
			return
		}
	}
}

// next is the long poll for the next event.
func (s *sb) next(ctx context.Context) (*Invocation, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/invocation/next", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("next: %s", resp.Status)
	}
	ms, _ := strconv.ParseInt(resp.Header.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	return &Invocation{
		RequestID:     resp.Header.Get("Lambda-Runtime-Aws-Request-Id"),
		FunctionARN:   resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn"),
		Deadline:      time.UnixMilli(ms),
		Payload:       payload,
		ClientContext: resp.Header.Get("Lambda-Runtime-Client-Context"),
		Env:           s.env,
		Log:           s.out,
	}, nil
}

// outcome is what a Handler did.
type outcome struct {
	payload []byte
	err     error
	panic   any
	paniced bool
}

// invoke runs h for inv and posts its answer; it reports whether the
// runtime exits.
func (s *sb) invoke(ctx context.Context, h Handler, inv *Invocation) (exit bool) {
	hctx, cancel := context.WithDeadline(ctx, inv.Deadline)
	defer cancel()
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if v := recover(); v != nil {
				o.panic, o.paniced = v, true
			}
			done <- o
		}()
		o.payload, o.err = h(hctx, inv)
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		return true
	}
	id := "/invocation/" + inv.RequestID
	switch {
	case o.paniced:
		_ = s.post(ctx, id+"/error", errorBody(&Error{Type: typeName(o.panic), Message: fmt.Sprint(o.panic)}))
		return true
	case errors.Is(o.err, ErrExit):
		return true
	case o.err != nil:
		return s.post(ctx, id+"/error", errorBody(o.err)) != nil
	}
	return s.post(ctx, id+"/response", o.payload) != nil
}

// post sends a result to the Runtime API.
func (s *sb) post(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if strings.HasSuffix(path, "/error") {
		var e struct {
			ErrorType string `json:"errorType"`
		}
		_ = json.Unmarshal(body, &e)
		req.Header.Set("Lambda-Runtime-Function-Error-Type", e.ErrorType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

// errorBody is the error document aws-lambda-go posts for err.
func errorBody(err error) []byte {
	typ := typeName(err)
	var e *Error
	if errors.As(err, &e) {
		typ = e.Type
	}
	b, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": typ})
	return b
}

// typeName is the name of v's type, without a pointer, as aws-lambda-go
// reports an error's type.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
