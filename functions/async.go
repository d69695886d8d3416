package functions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/errdefs"
)

// Asynchronous invocations (X-Amz-Invocation-Type: Event) are kept in a
// NATS JetStream work queue, embedded in the daemon unless a NATS URL
// points at a cluster: accepted events are on disk before the caller hears
// 202, so a daemon crash loses none. A worker invokes each one; a failure
// is retried twice with back-off, as Lambda does, then the event and its
// last error go to the on-failure destination, a stream the user reads
// with `wharf fn failures` (or any NATS client).
const (
	asyncStream   = "WHARF_FN_ASYNC"
	asyncSubject  = "wharf.fn.async."
	failStream    = "WHARF_FN_FAILED"
	failSubject   = "wharf.fn.failed."
	asyncConsumer = "wharf-async-worker"
	hdrFunction   = "Wharf-Function"
	hdrQualifier  = "Wharf-Qualifier"
	hdrRequestID  = "Wharf-Request-Id"
)

// Failure is one async event that failed every attempt.
type Failure struct {
	RequestID    string
	FunctionName string
	Qualifier    string
	Payload      json.RawMessage
	Error        string
	Attempts     int
	FailedAt     time.Time
}

// Async is the durable queue of asynchronous invocations.
type Async struct {
	srv     *server.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	invoke  func(ctx context.Context, in InvokeInput) (*InvokeOutput, error)
	backoff []time.Duration
	log     *slog.Logger
	cc      jetstream.ConsumeContext
	sem     chan struct{}
	ackWait time.Duration
	wg      sync.WaitGroup
}

// AsyncOptions configure the queue.
type AsyncOptions struct {
	// Dir is the JetStream store of the embedded server.
	Dir string
	// URL, if set, is an external NATS server with JetStream to use instead.
	URL string
	// Backoff are the delays before the retries (Lambda: 1 and 2 minutes).
	Backoff []time.Duration
	// Workers bounds concurrent async invocations.
	Workers int
	// Paused starts the queue without workers: events are accepted and
	// wait on disk until a queue with workers runs (maintenance, tests).
	Paused bool
	// AckWait is how long an event may go unacknowledged before it is
	// delivered again (after a daemon crash mid-invocation); workers
	// extend it while an invocation runs. Default 30s.
	AckWait time.Duration
	Log     *slog.Logger
}

// StartAsync starts (or connects to) JetStream, declares the streams and
// starts the workers, which call invoke for each event.
func StartAsync(ctx context.Context, o AsyncOptions, invoke func(context.Context, InvokeInput) (*InvokeOutput, error)) (*Async, error) {
	if o.Backoff == nil {
		o.Backoff = []time.Duration{time.Minute, 2 * time.Minute}
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	a := &Async{invoke: invoke, backoff: o.Backoff, log: o.Log, sem: make(chan struct{}, o.Workers), ackWait: o.AckWait}
	var err error
	if o.URL != "" {
		a.nc, err = nats.Connect(o.URL, nats.Name("wharf-daemon"))
	} else {
		a.srv, err = server.NewServer(&server.Options{
			ServerName: "wharf", JetStream: true, StoreDir: o.Dir,
			DontListen: true, NoSigs: true, NoLog: true,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		go a.srv.Start()
		if !a.srv.ReadyForConnections(10 * time.Second) {
			a.srv.Shutdown()
			return nil, errors.New("embedded NATS did not start")
		}
		a.nc, err = nats.Connect("", nats.InProcessServer(a.srv), nats.Name("wharf-daemon"))
	}
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	a.js, err = jetstream.New(a.nc)
	if err != nil {
		a.Close()
		return nil, err
	}
	if _, err := a.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: asyncStream, Subjects: []string{asyncSubject + ">"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	}); err != nil {
		a.Close()
		return nil, fmt.Errorf("async stream: %w", err)
	}
	if _, err := a.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: failStream, Subjects: []string{failSubject + ">"}, Storage: jetstream.FileStorage, MaxAge: 14 * 24 * time.Hour,
	}); err != nil {
		a.Close()
		return nil, fmt.Errorf("failure stream: %w", err)
	}
	cons, err := a.js.CreateOrUpdateConsumer(ctx, asyncStream, jetstream.ConsumerConfig{
		Durable: asyncConsumer, AckPolicy: jetstream.AckExplicitPolicy,
		// A worker that dies mid-invocation (a daemon crash) has its event
		// delivered again after AckWait; a live one extends it.
		AckWait: o.AckWait, MaxDeliver: -1, MaxAckPending: o.Workers,
	})
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("async consumer: %w", err)
	}
	if o.Paused {
		return a, nil
	}
	a.cc, err = cons.Consume(a.handle)
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close stops the workers and the embedded server. Events not yet done
// stay queued.
func (a *Async) Close() {
	if a.cc != nil {
		a.cc.Stop()
	}
	a.wg.Wait()
	if a.nc != nil {
		a.nc.Close()
	}
	if a.srv != nil {
		a.srv.Shutdown()
		a.srv.WaitForShutdown()
	}
}

// Enqueue stores an event durably and returns once JetStream has it.
func (a *Async) Enqueue(ctx context.Context, in InvokeInput) error {
	msg := nats.NewMsg(asyncSubject + in.FunctionName)
	msg.Data = in.Payload
	msg.Header.Set(hdrFunction, in.FunctionName)
	msg.Header.Set(hdrQualifier, in.Qualifier)
	msg.Header.Set(hdrRequestID, in.RequestID)
	if _, err := a.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("queueing the event: %v: %w", err, errdefs.ErrUnavailable)
	}
	return nil
}

func (a *Async) handle(m jetstream.Msg) {
	a.sem <- struct{}{}
	a.wg.Add(1)
	go func() {
		defer func() { <-a.sem; a.wg.Done() }()
		a.process(m)
	}()
}

func (a *Async) process(m jetstream.Msg) {
	h := m.Headers()
	in := InvokeInput{
		FunctionName: h.Get(hdrFunction), Qualifier: h.Get(hdrQualifier), RequestID: h.Get(hdrRequestID),
		Payload: m.Data(), Type: InvocationSync,
	}
	md, err := m.Metadata()
	attempt := 1
	if err == nil {
		attempt = int(md.NumDelivered)
	}
	// Keep the event ours while the invocation runs (up to 15 minutes).
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(a.ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	out, err := a.invoke(context.Background(), in)
	close(stop)
	reason := ""
	switch {
	case err != nil:
		reason = err.Error()
	case out.FunctionError != "":
		reason = string(out.Payload)
	}
	if reason == "" {
		_ = m.Ack()
		return
	}
	if errdefs.IsNotFound(err) {
		// The function is gone: nothing to retry.
		attempt = len(a.backoff) + 1
	}
	if attempt <= len(a.backoff) {
		a.log.Info("async invocation failed; retrying", "function", in.FunctionName, "request", in.RequestID, "attempt", attempt)
		_ = m.NakWithDelay(a.backoff[attempt-1])
		return
	}
	f := Failure{RequestID: in.RequestID, FunctionName: in.FunctionName, Qualifier: in.Qualifier, Payload: json.RawMessage(validJSON(in.Payload)),
		Error: reason, Attempts: attempt, FailedAt: time.Now().UTC()}
	data, _ := json.Marshal(f)
	if _, err := a.js.Publish(context.Background(), failSubject+in.FunctionName, data); err != nil {
		a.log.Error("recording a failed async invocation", "function", in.FunctionName, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	a.log.Warn("async invocation failed every attempt; sent to the failure destination", "function", in.FunctionName, "request", in.RequestID)
	_ = m.Term()
}

func validJSON(b []byte) []byte {
	if json.Valid(b) && len(b) > 0 {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

// Failures returns the recorded failures of a function, oldest first.
func (a *Async) Failures(ctx context.Context, fn string) ([]Failure, error) {
	s, err := a.js.Stream(ctx, failStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []Failure
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted or expired
		}
		if !strings.HasSuffix(raw.Subject, "."+fn) {
			continue
		}
		var f Failure
		if json.Unmarshal(raw.Data, &f) == nil {
			out = append(out, f)
		}
	}
	return out, nil
}

// Pending returns how many events wait in the queue.
func (a *Async) Pending(ctx context.Context) (uint64, error) {
	s, err := a.js.Stream(ctx, asyncStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
