// Package async is the durable queue of asynchronous invocations
// (X-Amz-Invocation-Type: Event), a NATS JetStream work queue on the
// daemon's NATS (internal/natsbox: embedded, or a cluster's): accepted
// events are on disk before the caller hears 202, so a daemon crash loses
// none. A worker invokes each one; a failure is retried twice with
// back-off, as Lambda does, then the event and its last error go to the
// on-failure destination, a stream the user reads with `wharf fn
// failures` (or any NATS client).
//
// Streams and subjects:
//
//	WHARF_FN_ASYNC   wharf.fn.async.<function>   the events (work queue; headers
//	                 Wharf-Function, Wharf-Qualifier, Wharf-Request-Id; body: payload)
//	WHARF_FN_FAILED  wharf.fn.failed.<function>  functions.Failure records, JSON, 14 days
//
// An event's life: queued ──deliver──> invoked ──ok──> acked (gone)
//
//	failed, attempts left ──> redelivered after the back-off
//	failed, none left (or the function is gone) ──> a Failure, terminated
//	worker died (daemon crash) ──> redelivered after the ack wait
package async

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
)

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

// Invoker runs an event (the functions engine).
type Invoker interface {
	Invoke(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error)
}

// Queue is the durable queue of asynchronous invocations.
type Queue struct {
	js      jetstream.JetStream
	cons    jetstream.Consumer
	backoff []time.Duration
	workers int
	ackWait time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	invoke  Invoker
	cc      jetstream.ConsumeContext
	closing bool
	sem     chan struct{}
	// wg counts the events being run; it grows only under mu and
	// before closing is set.
	wg sync.WaitGroup
}

// Option configures a Queue.
type Option func(*Queue)

// WithBackoff sets the delays before the retries of a failed event
// (Lambda's, and the default: 1 and 2 minutes).
func WithBackoff(d ...time.Duration) Option { return func(q *Queue) { q.backoff = d } }

// WithWorkers bounds the events invoked at once (default 16).
func WithWorkers(n int) Option { return func(q *Queue) { q.workers = n } }

// WithAckWait sets how long an event may go unacknowledged before it is
// delivered again (after a daemon crash mid-invocation); workers extend it
// while an invocation runs. Default 30 s.
func WithAckWait(d time.Duration) Option { return func(q *Queue) { q.ackWait = d } }

// WithLogger sets the queue's logger.
func WithLogger(l *slog.Logger) Option { return func(q *Queue) { q.log = l } }

// Open declares the queue's streams and consumer on nc's JetStream (the
// daemon's NATS, internal/natsbox). Events can be queued at once; Start
// starts the workers that invoke them.
func Open(ctx context.Context, nc *nats.Conn, opts ...Option) (*Queue, error) {
	q := &Queue{backoff: []time.Duration{time.Minute, 2 * time.Minute}, workers: 16, ackWait: 30 * time.Second, log: slog.Default()}
	for _, o := range opts {
		o(q)
	}
	if q.workers <= 0 {
		q.workers = 16
	}
	if q.ackWait <= 0 {
		q.ackWait = 30 * time.Second
	}
	var err error
	q.js, err = jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: asyncStream, Subjects: []string{asyncSubject + ">"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	}); err != nil {
		return nil, fmt.Errorf("async stream: %v: %w", err, errdefs.ErrUnavailable)
	}
	if _, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: failStream, Subjects: []string{failSubject + ">"}, Storage: jetstream.FileStorage, MaxAge: 14 * 24 * time.Hour,
	}); err != nil {
		return nil, fmt.Errorf("failure stream: %v: %w", err, errdefs.ErrUnavailable)
	}
	q.cons, err = q.js.CreateOrUpdateConsumer(ctx, asyncStream, jetstream.ConsumerConfig{
		Durable: asyncConsumer, AckPolicy: jetstream.AckExplicitPolicy,
		// A worker that dies mid-invocation (a daemon crash) has its event
		// delivered again after AckWait; a live one extends it.
		AckWait: q.ackWait, MaxDeliver: -1, MaxAckPending: q.workers,
	})
	if err != nil {
		return nil, fmt.Errorf("async consumer: %v: %w", err, errdefs.ErrUnavailable)
	}
	return q, nil
}

// Start starts the workers, which run each event with inv, at most the
// queue's workers at once. A queue starts once.
func (q *Queue) Start(inv Invoker) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cc != nil {
		return fmt.Errorf("the queue's workers are already running: %w", errdefs.ErrConflict)
	}
	q.invoke, q.sem = inv, make(chan struct{}, q.workers)
	cc, err := q.cons.Consume(q.handle)
	if err != nil {
		return err
	}
	q.cc = cc
	return nil
}

// Close stops the workers and waits for the events they run. Events not
// yet done stay queued. The connection is its owner's.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closing = true
	cc := q.cc
	q.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
	q.wg.Wait()
}

// Enqueue stores an event durably and returns once JetStream has it.
func (q *Queue) Enqueue(ctx context.Context, in functions.InvokeInput) error {
	msg := nats.NewMsg(asyncSubject + in.FunctionName)
	msg.Data = in.Payload
	msg.Header.Set(hdrFunction, in.FunctionName)
	msg.Header.Set(hdrQualifier, in.Qualifier)
	msg.Header.Set(hdrRequestID, in.RequestID)
	if _, err := q.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("queueing the event: %v: %w", err, errdefs.ErrUnavailable)
	}
	return nil
}

func (q *Queue) handle(m jetstream.Msg) {
	q.sem <- struct{}{}
	q.mu.Lock()
	if q.closing {
		// Close has begun: the event waits for the next start.
		q.mu.Unlock()
		<-q.sem
		_ = m.Nak()
		return
	}
	q.wg.Add(1)
	q.mu.Unlock()
	go func() {
		defer func() { <-q.sem; q.wg.Done() }()
		q.process(m)
	}()
}

func (q *Queue) process(m jetstream.Msg) {
	h := m.Headers()
	in := functions.InvokeInput{
		FunctionName: h.Get(hdrFunction), Qualifier: h.Get(hdrQualifier), RequestID: h.Get(hdrRequestID),
		Payload: m.Data(), Type: functions.InvocationSync,
	}
	md, err := m.Metadata()
	attempt := 1
	if err == nil {
		attempt = int(md.NumDelivered)
	}
	// Keep the event ours while the invocation runs (up to 15 minutes).
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(q.ackWait / 3)
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
	out, err := q.invoke.Invoke(context.Background(), in)
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
	// A function that is gone has nothing to retry.
	if attempt <= len(q.backoff) && !errdefs.IsNotFound(err) {
		q.log.Info("async invocation failed; retrying", "function", in.FunctionName, "request", in.RequestID, "attempt", attempt)
		_ = m.NakWithDelay(q.backoff[attempt-1])
		return
	}
	f := functions.Failure{RequestID: in.RequestID, FunctionName: in.FunctionName, Qualifier: in.Qualifier, Payload: json.RawMessage(validJSON(in.Payload)),
		Error: reason, Attempts: attempt, FailedAt: time.Now().UTC()}
	data, _ := json.Marshal(f)
	if _, err := q.js.Publish(context.Background(), failSubject+in.FunctionName, data); err != nil {
		q.log.Error("recording a failed async invocation", "function", in.FunctionName, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	q.log.Warn("async invocation failed every attempt; sent to the failure destination", "function", in.FunctionName, "request", in.RequestID)
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
func (q *Queue) Failures(ctx context.Context, fn string) ([]functions.Failure, error) {
	s, err := q.js.Stream(ctx, failStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []functions.Failure
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
		var f functions.Failure
		if json.Unmarshal(raw.Data, &f) == nil {
			out = append(out, f)
		}
	}
	return out, nil
}

// Pending returns how many events wait in the queue.
func (q *Queue) Pending(ctx context.Context) (uint64, error) {
	s, err := q.js.Stream(ctx, asyncStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
