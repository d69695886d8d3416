// Package runtimeapi serves the AWS Lambda Runtime API (version 2018-06-01)
// that a function's runtime (its `bootstrap`, e.g. a program built with
// github.com/aws/aws-lambda-go) polls for invocations:
//
//	GET  /2018-06-01/runtime/invocation/next             -> the next event
//	POST /2018-06-01/runtime/invocation/{id}/response    -> its result
//	POST /2018-06-01/runtime/invocation/{id}/error       -> a handled error
//	POST /2018-06-01/runtime/init/error                  -> init failed
//
// One Server serves one sandbox, which runs one invocation at a time. The
// invoker calls Invoke; the runtime's pending `next` receives the event and
// Invoke returns when the runtime posts the response or error.
//
// State machine of a Server:
//
//	initializing --first next--> idle --Invoke--> busy --response/error--> idle
//	initializing --init/error--> failed
//
// The runtime is the function's code: untrusted. Serve bounds what it can
// make the daemon hold (limits.go): a few connections per sandbox, time
// limits on headers, bodies and writes that leave a long-polling `next`
// alone, and no body read before its request ID has been checked against
// the current invocation, and then at most MaxResponse bytes of it.
package runtimeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the path prefix of every Runtime API endpoint.
const Version = "2018-06-01"

// MaxResponse is the largest response a synchronous invocation may return
// (Lambda's 6 MB limit).
const MaxResponse = 6 * 1024 * 1024

// Invocation is one event handed to the runtime.
type Invocation struct {
	RequestID       string
	Payload         []byte
	Deadline        time.Time
	FunctionARN     string
	TraceID         string
	ClientContext   string
	CognitoIdentity string
}

// Result is what the runtime answered.
type Result struct {
	Payload []byte
	// FunctionError is set when the runtime posted to /error; ErrorType is
	// its Lambda-Runtime-Function-Error-Type header or errorType field.
	FunctionError bool
	ErrorType     string
}

// Errors of Invoke.
var (
	// ErrInitFailed: the runtime reported an init error, no invocation can run.
	ErrInitFailed = errors.New("runtime init failed")
	// ErrBusy: an invocation is already running in this sandbox.
	ErrBusy = errors.New("sandbox busy")
	// ErrClosed: the sandbox is gone.
	ErrClosed = errors.New("sandbox closed")
	// ErrAbandoned: the abandon channel given to InvokeUntil closed first
	// (the sandbox's process exited).
	ErrAbandoned = errors.New("invocation abandoned")
)

type pending struct {
	inv  Invocation
	done chan *Result
}

// Server is the Runtime API of one sandbox.
type Server struct {
	mux    *http.ServeMux
	limits Limits
	// capl is the connection cap of the last Serve (its counts for
	// tests).
	capl atomic.Pointer[capListener]

	// next hands invocations to the runtime's blocked `next` call.
	next chan *pending

	mu       sync.Mutex
	current  *pending
	ready    chan struct{}
	readyOne sync.Once
	initErr  *Result
	// initPosting is set while an init error's body is read, so that a
	// second one is refused before its body is read.
	initPosting bool
	failed      chan struct{}
	closed      chan struct{}
	closeOne    sync.Once
}

// Option configures a Server.
type Option func(*Server)

// WithLimits replaces DefaultLimits (tests use short ones).
func WithLimits(l Limits) Option { return func(s *Server) { s.limits = l } }

// New returns a Server; Serve serves it with its limits.
func New(opts ...Option) *Server {
	s := &Server{
		mux:    http.NewServeMux(),
		limits: DefaultLimits,
		next:   make(chan *pending),
		ready:  make(chan struct{}),
		failed: make(chan struct{}),
		closed: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	p := "/" + Version + "/runtime"
	s.mux.HandleFunc("GET "+p+"/invocation/next", s.handleNext)
	s.mux.HandleFunc("POST "+p+"/invocation/{id}/response", s.handleResponse)
	s.mux.HandleFunc("POST "+p+"/invocation/{id}/error", s.handleError)
	s.mux.HandleFunc("POST "+p+"/init/error", s.handleInitError)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Ready is closed when the runtime has finished its init (its first call
// to next).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Failed is closed when the runtime reported an init error; InitError
// returns it.
func (s *Server) Failed() <-chan struct{} { return s.failed }

// InitError returns the init error the runtime posted, if any.
func (s *Server) InitError() *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initErr
}

// Close fails any pending or future Invoke with ErrClosed.
func (s *Server) Close() { s.closeOne.Do(func() { close(s.closed) }) }

// Invoke hands inv to the runtime and waits for its answer. ctx bounds the
// whole call (the function's timeout): when it ends first, Invoke returns
// ctx's error and the sandbox must be discarded, since the runtime is
// still busy with the event.
func (s *Server) Invoke(ctx context.Context, inv Invocation) (*Result, error) {
	return s.InvokeUntil(ctx, inv, nil)
}

// InvokeUntil is Invoke that also gives up with ErrAbandoned when abandon
// closes (the sandbox's process is gone and will never answer). Waiting
// on it here costs nothing, where a watcher goroutine per invocation
// costs a goroutine start and a thread wake-up on the hot path.
func (s *Server) InvokeUntil(ctx context.Context, inv Invocation, abandon <-chan struct{}) (*Result, error) {
	p := &pending{inv: inv, done: make(chan *Result, 1)}
	select {
	case s.next <- p:
	case <-s.failed:
		return nil, ErrInitFailed
	case <-s.closed:
		return nil, ErrClosed
	case <-abandon:
		return nil, ErrAbandoned
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-p.done:
		return r, nil
	case <-s.closed:
		return nil, ErrClosed
	case <-abandon:
		return nil, ErrAbandoned
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Server) handleNext(w http.ResponseWriter, r *http.Request) {
	s.readyOne.Do(func() { close(s.ready) })
	var p *pending
	select {
	case p = <-s.next:
	case <-r.Context().Done():
		return
	case <-s.closed:
		http.Error(w, "sandbox closed", http.StatusGone)
		return
	}
	s.mu.Lock()
	s.current = p
	s.mu.Unlock()
	// The wait for an event has no bound (a sandbox idles, frozen, for
	// minutes); writing the event once there is one does.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", p.inv.RequestID)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(p.inv.Deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", p.inv.FunctionARN)
	h.Set("Lambda-Runtime-Trace-Id", p.inv.TraceID)
	if p.inv.ClientContext != "" {
		h.Set("Lambda-Runtime-Client-Context", p.inv.ClientContext)
	}
	if p.inv.CognitoIdentity != "" {
		h.Set("Lambda-Runtime-Cognito-Identity", p.inv.CognitoIdentity)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(p.inv.Payload)
	_ = rc.Flush()
}

// take returns the current invocation if id names it, and clears it: from
// then on, no other request can post a result for it.
func (s *Server) take(id string) (*pending, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return nil, http.StatusForbidden, "InvalidStateTransition"
	}
	if s.current.inv.RequestID != id {
		return nil, http.StatusBadRequest, "InvalidRequestID"
	}
	p := s.current
	s.current = nil
	return p, 0, ""
}

// giveBack makes p current again after its result could not be read (the
// connection broke or was too slow), so that the runtime may post it
// again; a newer invocation, if one started, stays current.
func (s *Server) giveBack(p *pending) {
	s.mu.Lock()
	if s.current == nil {
		s.current = p
	}
	s.mu.Unlock()
}

func writeStatus(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func apiError(w http.ResponseWriter, code int, typ, msg string) {
	writeStatus(w, code, map[string]string{"errorType": typ, "errorMessage": msg})
}

// errTooLarge: a body over MaxResponse.
var errTooLarge = errors.New("body too large")

// readBody reads a posted body of at most MaxResponse bytes within
// BodyTimeout. A body announced or found larger is errTooLarge, and is
// not read further. On any error the connection is closed after the
// reply (see refuseBody).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxResponse {
		refuseBody(w, r)
		return nil, errTooLarge
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.limits.BodyTimeout))
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1)
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, MaxResponse+1))
	if err == nil && buf.Len() > MaxResponse {
		err = errTooLarge
	}
	if err != nil {
		// The deadline stays: it bounds whatever the server still reads.
		refuseBody(w, r)
		return nil, err
	}
	_ = rc.SetReadDeadline(time.Time{})
	return buf.Bytes(), nil
}

// refuseBody closes the connection after the reply to a request whose
// body is not read (whole): otherwise the server would drain up to 256 KB
// of it first, for as long as the runtime cares to send it.
func refuseBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// tooLargeResult is what an invocation whose response exceeds MaxResponse
// returns, as Lambda's does.
func tooLargeResult() *Result {
	msg, _ := json.Marshal(map[string]string{
		"errorType":    "Function.ResponseSizeTooLarge",
		"errorMessage": fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponse),
	})
	return &Result{Payload: msg, FunctionError: true, ErrorType: "Function.ResponseSizeTooLarge"}
}

// postResult takes the invocation a response or error names, then reads
// its body: a request for any other invocation is answered without a
// byte of its body read.
func (s *Server) postResult(w http.ResponseWriter, r *http.Request, result func(body []byte) *Result) {
	id := r.PathValue("id")
	p, code, typ := s.take(id)
	if p == nil {
		refuseBody(w, r)
		apiError(w, code, typ, fmt.Sprintf("request %s is not the current invocation", id))
		return
	}
	body, err := s.readBody(w, r)
	switch {
	case errors.Is(err, errTooLarge):
		// The invocation fails as Lambda's does, and the runtime is told.
		p.done <- tooLargeResult()
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response too large")
		return
	case err != nil:
		s.giveBack(p)
		apiError(w, http.StatusBadRequest, "InvalidRequest", "reading the body: "+err.Error())
		return
	}
	p.done <- result(body)
	writeStatus(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

func (s *Server) handleResponse(w http.ResponseWriter, r *http.Request) {
	s.postResult(w, r, func(body []byte) *Result { return &Result{Payload: body} })
}

func (s *Server) handleError(w http.ResponseWriter, r *http.Request) {
	s.postResult(w, r, func(body []byte) *Result { return errorResult(r, body) })
}

// errorResult is the Result of an error body the runtime posted.
func errorResult(r *http.Request, body []byte) *Result {
	typ := r.Header.Get("Lambda-Runtime-Function-Error-Type")
	if typ == "" {
		var e struct {
			ErrorType string `json:"errorType"`
		}
		if json.Unmarshal(body, &e) == nil {
			typ = e.ErrorType
		}
	}
	if len(body) == 0 {
		body, _ = json.Marshal(map[string]string{"errorType": typ, "errorMessage": "Unhandled"})
	}
	return &Result{Payload: body, FunctionError: true, ErrorType: typ}
}

func (s *Server) handleInitError(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.initErr != nil || s.initPosting {
		s.mu.Unlock()
		refuseBody(w, r)
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "init error already reported")
		return
	}
	s.initPosting = true
	s.mu.Unlock()
	body, err := s.readBody(w, r)
	var res *Result
	switch {
	case errors.Is(err, errTooLarge):
		res = tooLargeResult()
	case err != nil:
		s.mu.Lock()
		s.initPosting = false
		s.mu.Unlock()
		apiError(w, http.StatusBadRequest, "InvalidRequest", "reading the body: "+err.Error())
		return
	default:
		res = errorResult(r, body)
	}
	s.mu.Lock()
	s.initErr, s.initPosting = res, false
	s.mu.Unlock()
	close(s.failed)
	writeStatus(w, http.StatusAccepted, map[string]string{"status": "OK"})
}
