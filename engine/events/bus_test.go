package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the bus.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var t0 = time.Unix(1_700_000_000, 0)

func ev(action, id string) Event {
	return Event{Type: TypeContainer, Action: action, Actor: Actor{ID: id, Attributes: map[string]string{"name": "n-" + id}}}
}

// drain reads a subscription to its end (or n events) and names them.
func drain(t *testing.T, s *Subscription, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []string
	for n < 0 || len(out) < n {
		e, err := s.Next(ctx)
		var lost *LostError
		switch {
		case errors.As(err, &lost):
			out = append(out, fmt.Sprintf("lost(%d)", lost.N))
			continue
		case err == io.EOF:
			return out
		case err != nil:
			t.Fatalf("next after %v: %v", out, err)
		}
		out = append(out, e.Action+":"+e.Actor.ID)
	}
	return out
}

func join(s []string) string { return strings.Join(s, " ") }

// Live subscribers get every event in publishing order, stamped with the
// bus's time and the local scope.
func TestLiveOrder(t *testing.T) {
	c := &clock{t: t0}
	b, err := New(WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Subscribe(SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range []string{"create", "start", "die", "destroy"} {
		c.set(t0.Add(time.Duration(i) * time.Second))
		b.Publish(ev(a, "c1"))
	}
	e, err := s.Next(context.Background())
	if err != nil || e.Action != "create" || e.Scope != ScopeLocal || !e.Time.Equal(t0) {
		t.Fatalf("first event %+v, %v", e, err)
	}
	if got := join(drain(t, s, 3)); got != "start:c1 die:c1 destroy:c1" {
		t.Fatalf("events %q", got)
	}
	s.Close()
	if b.Subscribers() != 0 {
		t.Fatal("a closed subscription is still counted")
	}
	if _, err := s.Next(context.Background()); err != io.EOF {
		t.Fatalf("next after close: %v", err)
	}
}

// since and until replay the logged events of their range, then the
// subscription goes on live until until has passed; an until in the past
// replays only.
func TestReplayRange(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprint("disk=", disk), func(t *testing.T) {
			c := &clock{t: t0}
			opts := []Option{WithClock(c.now)}
			if disk {
				opts = append(opts, WithLog(t.TempDir(), 0))
			}
			b, err := New(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for i := 0; i < 5; i++ {
				c.set(t0.Add(time.Duration(i) * time.Second))
				b.Publish(ev("start", fmt.Sprint(i)))
			}
			// Past only: events 1..3, both ends included.
			s, err := b.Subscribe(SubscribeOptions{Since: t0.Add(time.Second), Until: t0.Add(3 * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			if got := join(drain(t, s, -1)); got != "start:1 start:2 start:3" {
				t.Fatalf("past range: %q", got)
			}
			s.Close()
			// Since only, with a filter: replay then live.
			s, err = b.Subscribe(SubscribeOptions{Since: t0.Add(3 * time.Second), Filter: func(e Event) bool { return e.Actor.ID != "4" }})
			if err != nil {
				t.Fatal(err)
			}
			b.Publish(ev("die", "9"))
			if got := join(drain(t, s, 2)); got != "start:3 die:9" {
				t.Fatalf("since: %q", got)
			}
			s.Close()
			if _, err := b.Subscribe(SubscribeOptions{Since: t0.Add(2 * time.Second), Until: t0}); err == nil {
				t.Fatal("until before since accepted")
			}
		})
	}
}

// An until in the future ends a live subscription when it passes.
func TestUntilEndsLive(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Subscribe(SubscribeOptions{Until: time.Now().Add(200 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(ev("start", "a"))
	start := time.Now()
	if got := join(drain(t, s, -1)); got != "start:a" {
		t.Fatalf("events %q", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("ended after %v", d)
	}
}

// The log survives the bus (a daemon restart): a new bus over the same
// directory replays what the last one published.
func TestLogSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	b, err := New(WithLog(dir, 0), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(Event{Type: TypeImage, Action: "tag", Actor: Actor{ID: "sha256:1", Attributes: map[string]string{"name": "x:1"}}})
	b.Close()
	b2, err := New(WithLog(dir, 0), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	s, err := b2.Subscribe(SubscribeOptions{Since: t0, Until: t0})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Next(context.Background())
	if err != nil || e.Type != TypeImage || e.Action != "tag" || e.Actor.ID != "sha256:1" || e.Actor.Attributes["name"] != "x:1" || !e.Time.Equal(t0) || e.Scope != ScopeLocal {
		t.Fatalf("replayed %+v, %v", e, err)
	}
}

// A line torn by a crash is cut at open; the events before it replay,
// and new ones are appended after them.
func TestTornTailRepaired(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	b, err := New(WithLog(dir, 0), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(ev("create", "a"))
	b.Publish(ev("start", "a"))
	b.Close()
	path := filepath.Join(dir, currentName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The second line half written, then a line whose checksum fails.
	lines := strings.SplitAfter(string(data), "\n")
	torn := lines[0] + lines[1][:len(lines[1])/2]
	if err := os.WriteFile(path, []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err = New(WithLog(dir, 0), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(ev("die", "a"))
	s, _ := b.Subscribe(SubscribeOptions{Since: t0, Until: t0})
	if got := join(drain(t, s, -1)); got != "create:a die:a" {
		t.Fatalf("after a torn line: %q", got)
	}
	b.Close()

	bad := strings.Replace(lines[0], "create", "crEate", 1)
	if err := os.WriteFile(path, []byte(lines[0]+bad+lines[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err = New(WithLog(dir, 0), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, _ = b.Subscribe(SubscribeOptions{Since: t0, Until: t0})
	if got := join(drain(t, s, -1)); got != "create:a" {
		t.Fatalf("after a corrupt line: %q", got)
	}
}

// The log stays within its bound and keeps the latest events.
func TestLogBounded(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	const bound = 16 << 10
	b, err := New(WithLog(dir, bound), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 0; i < 2000; i++ {
		b.Publish(ev("start", fmt.Sprint(i)))
	}
	var total int64
	for _, n := range []string{currentName, previousName} {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	if total > bound {
		t.Fatalf("log holds %d bytes, bound %d", total, bound)
	}
	s, _ := b.Subscribe(SubscribeOptions{Since: t0, Until: t0})
	got := drain(t, s, -1)
	if len(got) < 50 || got[len(got)-1] != "start:1999" {
		t.Fatalf("kept %d events, last %v", len(got), got[len(got)-1:])
	}
	// Consecutive: nothing lost in the middle of what is kept.
	var first int
	fmt.Sscanf(got[0], "start:%d", &first)
	for i, g := range got {
		if g != fmt.Sprintf("start:%d", first+i) {
			t.Fatalf("event %d is %s", i, g)
		}
	}
}

// A replay sees the log as it was at subscribe time, even if segments
// rotate while it reads, and the live events follow without a gap.
func TestReplayAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	b, err := New(WithLog(dir, 8<<10), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 0; i < 20; i++ {
		b.Publish(ev("a", fmt.Sprint(i)))
	}
	s, err := b.Subscribe(SubscribeOptions{Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	first := drain(t, s, 1)
	// Rotate twice under the reader: the segments it opened go.
	for i := 20; i < 200; i++ {
		b.Publish(ev("a", fmt.Sprint(i)))
	}
	got := append(first, drain(t, s, 199)...)
	for i, g := range got {
		if g != fmt.Sprintf("a:%d", i) {
			t.Fatalf("event %d is %s (%v)", i, g, got)
		}
	}
}

// A subscriber that does not read never blocks the publisher: it loses
// the events past its buffer and is told how many, where.
func TestSlowSubscriberLoses(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Subscribe(SubscribeOptions{Buffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			b.Publish(ev("e", fmt.Sprint(i)))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publishing blocked on a subscriber that does not read")
	}
	b.Publish(ev("e", "late"))
	// 0..2 kept, 3..9 lost (the marker took 3's place), and "late" went
	// too: the buffer was full.
	if got := join(drain(t, s, 4)); got != "e:0 e:1 e:2 lost(8)" {
		t.Fatalf("slow subscriber saw %q", got)
	}
	b.Publish(ev("e", "next"))
	if got := join(drain(t, s, 1)); got != "e:next" {
		t.Fatalf("after catching up: %q", got)
	}
}

// Closing the bus ends its subscriptions after what they hold.
func TestCloseEndsSubscriptions(t *testing.T) {
	b, err := New(WithLog(t.TempDir(), 0))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := b.Subscribe(SubscribeOptions{})
	b.Publish(ev("start", "a"))
	waiting := make(chan []string)
	go func() { waiting <- drain(t, s, -1) }()
	time.Sleep(20 * time.Millisecond)
	b.Close()
	select {
	case got := <-waiting:
		if join(got) != "start:a" {
			t.Fatalf("got %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting subscriber")
	}
	b.Publish(ev("start", "b")) // dropped, no panic
	if _, err := b.Subscribe(SubscribeOptions{}); err == nil {
		t.Fatal("subscribed to a closed bus")
	}
}

// Listeners counts the API clients' subscriptions, not the daemon's own.
func TestListenersLeaveOutInternal(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	own, err := b.Subscribe(SubscribeOptions{Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	client, err := b.Subscribe(SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Listeners() != 1 || b.Subscribers() != 2 {
		t.Fatalf("listeners %d, subscribers %d; want 1 and 2", b.Listeners(), b.Subscribers())
	}
	client.Close()
	own.Close()
	if b.Listeners() != 0 || b.Subscribers() != 0 {
		t.Fatalf("after closing: listeners %d, subscribers %d", b.Listeners(), b.Subscribers())
	}
}
