package events

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

const (
	// DefaultLogBytes bounds the on-disk log: a few thousand events.
	DefaultLogBytes = 4 << 20
	// DefaultBuffer is how many events a subscriber may fall behind
	// before it loses some.
	DefaultBuffer = 1024
	// memoryEvents is how many events a bus without a log keeps for
	// replay, as dockerd keeps.
	memoryEvents = 256
)

// Bus is the event bus. Its methods are safe for concurrent use.
type Bus struct {
	log      *slog.Logger
	now      func() time.Time
	dir      string
	logBytes int64

	mu     sync.Mutex
	disk   *diskLog // nil: memory only
	recent []Event  // without a disk log: the last memoryEvents
	subs   map[*Subscription]struct{}
	closed bool
	// writeErrs counts failed appends, so that a full disk is logged
	// once, not at every event.
	writeErrs int
}

// Option configures a Bus.
type Option func(*Bus)

// WithLog keeps the events in an on-disk log under dir, bounded to about
// maxBytes (DefaultLogBytes when 0), replayed for since and until.
func WithLog(dir string, maxBytes int64) Option {
	return func(b *Bus) {
		b.dir = dir
		b.logBytes = maxBytes
		if b.logBytes <= 0 {
			b.logBytes = DefaultLogBytes
		}
	}
}

// WithLogger sets the bus's logger.
func WithLogger(l *slog.Logger) Option { return func(b *Bus) { b.log = l } }

// WithClock sets what Publish stamps events with (tests).
func WithClock(now func() time.Time) Option { return func(b *Bus) { b.now = now } }

// New returns a bus. With WithLog it opens (and repairs) the on-disk log.
func New(opts ...Option) (*Bus, error) {
	b := &Bus{log: slog.Default(), now: time.Now, subs: map[*Subscription]struct{}{}}
	for _, o := range opts {
		o(b)
	}
	if b.dir != "" {
		d, err := openLog(b.dir, b.logBytes)
		if err != nil {
			return nil, fmt.Errorf("event log: %w", err)
		}
		b.disk = d
	}
	return b, nil
}

// Publish implements Publisher: it stamps the event, appends it to the
// log and hands it to every subscriber whose filter takes it.
func (b *Bus) Publish(ev Event) {
	if ev.Scope == "" {
		ev.Scope = ScopeLocal
	}
	if ev.Actor.Attributes == nil {
		ev.Actor.Attributes = map[string]string{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = b.now()
	}
	// Wall-clock time only: a monotonic reading would not survive the
	// log, and events compare by their wall time.
	ev.Time = ev.Time.Round(0)
	if b.disk != nil {
		if err := b.disk.append(ev); err != nil {
			if b.writeErrs == 0 {
				b.log.Warn("event log: an event was not written; replays will miss it", "err", err)
			}
			b.writeErrs++
		} else {
			b.writeErrs = 0
		}
	} else {
		if len(b.recent) == memoryEvents {
			copy(b.recent, b.recent[1:])
			b.recent = b.recent[:memoryEvents-1]
		}
		b.recent = append(b.recent, ev)
	}
	for s := range b.subs {
		s.offer(ev)
	}
}

// SubscribeOptions select the events of a subscription.
type SubscribeOptions struct {
	// Since and Until, when set, replay the logged events of that time
	// range (both ends included) before the live ones; a subscription
	// ends once Until has passed.
	Since, Until time.Time
	// Filter, when set, selects the events (replayed and live). It runs
	// on the publisher's goroutine: it must be quick and must not block.
	Filter func(Event) bool
	// Buffer is how many live events the subscriber may fall behind by
	// (DefaultBuffer when 0).
	Buffer int
	// Internal marks a subscription of the daemon's own controllers (a
	// node's task runner, Batch's launcher): Listeners does not count
	// it, as dockerd's NEventsListener counts only its API's listeners.
	Internal bool
}

// Subscribe starts a subscription. No event falls between the replayed
// ones and the live ones, and none is seen twice.
func (b *Bus) Subscribe(o SubscribeOptions) (*Subscription, error) {
	if !o.Until.IsZero() && o.Until.Before(o.Since) {
		return nil, fmt.Errorf("since (%s) cannot be after until (%s): %w", o.Since, o.Until, errdefs.ErrInvalidArgument)
	}
	max := o.Buffer
	if max <= 0 {
		max = DefaultBuffer
	}
	s := &Subscription{b: b, internal: o.Internal, filter: o.Filter, since: o.Since, until: o.Until, max: max, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("the event bus is closed: %w", errdefs.ErrUnavailable)
	}
	if !o.Since.IsZero() || !o.Until.IsZero() {
		if b.disk != nil {
			r, err := b.disk.replay()
			if err != nil {
				return nil, fmt.Errorf("event log: %w", err)
			}
			s.replay = r
		} else {
			s.replay = &sliceReplay{evs: append([]Event(nil), b.recent...)}
		}
	}
	now := b.now()
	if !o.Until.IsZero() {
		if !o.Until.After(now) {
			// Only past events: no live ones.
			s.pastOnly = true
			return s, nil
		}
		s.untilTimer = time.AfterFunc(o.Until.Sub(now), func() { s.finish() })
	}
	b.subs[s] = struct{}{}
	return s, nil
}

// Subscribers is the number of live subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Listeners is the number of subscriptions that are not Internal: the
// clients following events through an API.
func (b *Bus) Listeners() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for s := range b.subs {
		if !s.internal {
			n++
		}
	}
	return n
}

// Close ends every subscription (after what they hold) and closes the
// log. Events published after Close are dropped.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := b.subs
	b.subs = map[*Subscription]struct{}{}
	var err error
	if b.disk != nil {
		err = b.disk.close()
	}
	b.mu.Unlock()
	for s := range subs {
		s.finish()
	}
	return err
}

func (b *Bus) unsubscribe(s *Subscription) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}

// LostError is what Next answers where a subscriber that fell behind its
// buffer lost events: N of them, between the event before and the event
// after.
type LostError struct{ N int }

func (e *LostError) Error() string {
	return fmt.Sprintf("%d events lost: the subscriber did not keep up", e.N)
}

// item is a queued event, or a marker of lost events.
type item struct {
	ev   Event
	lost int
}

// Subscription is one subscriber's stream of events.
type Subscription struct {
	b            *Bus
	internal     bool
	filter       func(Event) bool
	since, until time.Time
	max          int
	untilTimer   *time.Timer
	pastOnly     bool

	// replay is read by Next before the queue; rmu keeps Close from
	// closing it under a Next that reads it.
	rmu    sync.Mutex
	replay replayer

	mu       sync.Mutex
	queue    []item
	finished bool
	wake     chan struct{}
	done     chan struct{}
}

// offer queues a live event; called with the bus's lock held.
func (s *Subscription) offer(ev Event) {
	if s.filter != nil && !s.filter(ev) {
		return
	}
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	switch n := len(s.queue); {
	case n < s.max:
		s.queue = append(s.queue, item{ev: ev})
	case s.queue[n-1].lost > 0:
		s.queue[n-1].lost++
	default:
		// The last queued event gives its place to the marker of the
		// events lost from there on.
		s.queue[n-1] = item{lost: 2}
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// finish ends the subscription after what it holds.
func (s *Subscription) finish() {
	s.mu.Lock()
	if !s.finished {
		s.finished = true
		close(s.done)
	}
	s.mu.Unlock()
}

// Next returns the next event: the replayed ones first, then the live
// ones. It answers io.EOF once the subscription has ended (its Until has
// passed, Close, or the bus closed), a *LostError where events were lost,
// and ctx's error when ctx ends first. It is not safe for concurrent use.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	if ev, ok := s.nextReplayed(); ok {
		return ev, nil
	}
	if s.pastOnly {
		return Event{}, io.EOF
	}
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			it := s.queue[0]
			s.queue[0] = item{}
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
			s.mu.Unlock()
			if it.lost > 0 {
				return Event{}, &LostError{N: it.lost}
			}
			if !s.until.IsZero() && it.ev.Time.After(s.until) {
				return Event{}, io.EOF
			}
			return it.ev, nil
		}
		finished := s.finished
		s.mu.Unlock()
		if finished {
			return Event{}, io.EOF
		}
		select {
		case <-s.wake:
		case <-s.done:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// nextReplayed returns the next replayed event in the subscription's
// range and filter, if one is left.
func (s *Subscription) nextReplayed() (Event, bool) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for s.replay != nil {
		ev, err := s.replay.next()
		if err != nil {
			if err != io.EOF {
				s.b.log.Warn("event log: replay stopped early", "err", err)
			}
			s.replay.close()
			s.replay = nil
			break
		}
		if ev.Time.Before(s.since) || !s.until.IsZero() && ev.Time.After(s.until) {
			continue
		}
		if s.filter == nil || s.filter(ev) {
			return ev, true
		}
	}
	return Event{}, false
}

// Close ends the subscription and releases what it holds. It may be
// called while another goroutine waits in Next, which then answers
// io.EOF.
func (s *Subscription) Close() {
	s.b.unsubscribe(s)
	if s.untilTimer != nil {
		s.untilTimer.Stop()
	}
	s.finish()
	s.mu.Lock()
	s.queue = nil
	s.mu.Unlock()
	s.rmu.Lock()
	if s.replay != nil {
		s.replay.close()
		s.replay = nil
	}
	s.rmu.Unlock()
}

// replayer reads logged events, oldest first; io.EOF at the end.
type replayer interface {
	next() (Event, error)
	close()
}

type sliceReplay struct{ evs []Event }

func (r *sliceReplay) next() (Event, error) {
	if len(r.evs) == 0 {
		return Event{}, io.EOF
	}
	ev := r.evs[0]
	r.evs = r.evs[1:]
	return ev, nil
}

func (r *sliceReplay) close() { r.evs = nil }
