// Package pool keeps the warm sandboxes of one function version and
// decides, for each invocation, whether to reuse one, start one or
// throttle.
//
// The decisions are pure functions of the pool's counts and the clock
// (Decide, Expired), so they are tested without sandboxes or sleeping;
// Pool applies them under its lock. A Pool knows nothing of what it holds
// (a sandbox, in functions/invoke): starting, freezing and closing them is
// its owner's.
//
// The life of a slot in a Pool:
//
//	Acquire: idle ──> busy             (UseIdle: the most recently used)
//	Acquire, Reserve: ──> launching    (LaunchNew: counted in live at once)
//	launching ──Release──> idle        (started)
//	launching ──Drop──> gone           (the start failed)
//	busy ──Release──> idle             (healthy after its invocation)
//	busy ──Drop──> gone                (timed out, crashed, closing)
//	idle ──Reap (unused for ttl), Drain──> gone (returned for closing)
//
// live counts every slot but the gone ones; live minus idle are the
// invocations running, which the function's concurrency limit bounds.
package pool

import (
	"sync"
	"time"
)

// Action is how an invocation is served.
type Action int

const (
	// UseIdle: a warm sandbox is idle; the invocation runs in it.
	UseIdle Action = iota
	// LaunchNew: none is idle and the function is under its
	// concurrency; a new sandbox is started for the invocation.
	LaunchNew
	// Throttle: the function is at its concurrency.
	Throttle
)

// Decide picks how to serve an invocation, given the pool's idle
// sandboxes, its live slots (idle, busy and launching) and the function's
// concurrency limit: throttle if the invocations running (busy and
// launching slots) are at the limit, else reuse a warm sandbox if one is
// idle, else start one. The limit bounds invocations, not sandboxes, as
// Lambda's concurrency does: warm sandboxes left from before a lower
// limit (reserved concurrency 0 included) never take more invocations
// than it allows.
func Decide(idle, live, limit int) Action {
	switch {
	case live-idle >= limit:
		return Throttle
	case idle > 0:
		return UseIdle
	}
	return LaunchNew
}

// Expired returns the indexes of idle sandboxes unused for ttl or longer
// at now (scale to zero).
func Expired(lastUsed []time.Time, now time.Time, ttl time.Duration) []int {
	var out []int
	for i, t := range lastUsed {
		if now.Sub(t) >= ttl {
			out = append(out, i)
		}
	}
	return out
}

// entry is an idle sandbox and when it was last used.
type entry[T any] struct {
	v        T
	lastUsed time.Time
}

// Pool holds the sandboxes of one function version (and code revision).
// The zero value is an empty pool; it is safe for concurrent use.
type Pool[T any] struct {
	mu   sync.Mutex
	idle []entry[T] // most recently used last
	live int        // idle + busy + launching
}

// Acquire serves an invocation under limit: with UseIdle it returns the
// most recently used idle sandbox, now busy; with LaunchNew it has counted
// a slot for a sandbox the caller starts (and then Releases or Drops);
// with Throttle it changed nothing.
func (p *Pool[T]) Acquire(limit int) (T, Action) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var zero T
	a := Decide(len(p.idle), p.live, limit)
	switch a {
	case UseIdle:
		e := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = entry[T]{}
		p.idle = p.idle[:len(p.idle)-1]
		return e.v, a
	case LaunchNew:
		p.live++
	}
	return zero, a
}

// Reserve counts a slot for a sandbox started ahead of demand, if the pool
// is under limit and has no idle sandbox; the caller then Releases or
// Drops it.
func (p *Pool[T]) Reserve(limit int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if Decide(len(p.idle), p.live, limit) != LaunchNew {
		return false
	}
	p.live++
	return true
}

// Release makes a busy or launching sandbox idle, used at now.
func (p *Pool[T]) Release(v T, now time.Time) {
	p.mu.Lock()
	p.idle = append(p.idle, entry[T]{v: v, lastUsed: now})
	p.mu.Unlock()
}

// Drop forgets a busy sandbox or a launching slot.
func (p *Pool[T]) Drop() {
	p.mu.Lock()
	p.live--
	p.mu.Unlock()
}

// Reap removes the idle sandboxes unused for ttl at now and returns them
// for closing.
func (p *Pool[T]) Reap(now time.Time, ttl time.Duration) []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	times := make([]time.Time, len(p.idle))
	for i, e := range p.idle {
		times[i] = e.lastUsed
	}
	idx := Expired(times, now, ttl)
	if len(idx) == 0 {
		return nil
	}
	gone := make([]T, 0, len(idx))
	keep := p.idle[:0]
	next := 0
	for i, e := range p.idle {
		if next < len(idx) && idx[next] == i {
			gone = append(gone, e.v)
			next++
			continue
		}
		keep = append(keep, e)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.live -= len(gone)
	return gone
}

// Drain removes every idle sandbox (the function was updated or deleted)
// and returns them for closing.
func (p *Pool[T]) Drain() []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	gone := make([]T, len(p.idle))
	for i, e := range p.idle {
		gone[i] = e.v
	}
	p.idle = nil
	p.live -= len(gone)
	return gone
}

// Counts returns how many sandboxes are idle and how many slots are live.
func (p *Pool[T]) Counts() (idle, live int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle), p.live
}
