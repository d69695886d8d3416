// Package pool keeps the warm sandboxes of one function version and
// decides, for each invocation, whether to reuse one, wait for one or
// throttle, and when to start new ones.
//
// The decisions are pure functions of the pool's counts (Decide, Wanted,
// Expired), so they are tested without sandboxes or sleeping; Pool
// applies them under its lock. A Pool knows nothing of what it holds (a
// sandbox, in functions/invoke): starting, freezing and closing them is
// its owner's.
//
// An invocation that finds no idle sandbox waits for the first sandbox
// that is free: one a launch just started, or one another invocation just
// released. Launches are the pool's, not an invocation's: while
// invocations wait, up to MaxLaunch sandboxes start at once (and more as
// those finish, while any still wait), as Lambda scales a function out at
// a bounded rate, unless the sandboxes busy or starting will serve the
// line sooner than a new one would start: the pool keeps the mean time
// of an invocation and of a start (Estimates), and a line of n waiting
// behind s sandboxes waits about n/s invocations. A waiter that has waited
// twice a start's time anyway (the invocations ahead run long for once)
// has sandboxes started for the line (Wait's stall). So a burst of invocations on a cold function is served
// by the first sandbox ready and those that follow, rather than each
// paying for its own container start while all of them compete for the
// same CPUs; the function still scales out to its concurrency under load
// that lasts. A sandbox's first invocation is its cold start, whichever
// invocation it is (the caller reports it so).
//
// The life of a slot in a Pool:
//
//	Acquire: idle ──> busy             (UseIdle: the most recently used)
//	Acquire: ──> waiting               (Wait; Launches says how many to start)
//	Reserve: ──> launching             (a sandbox started ahead of demand)
//	launching ──Launched──> busy       (handed to the first waiter)
//	                   └──> idle       (nobody waits)
//	launching ──LaunchFailed──> gone   (the first waiter gets the error)
//	launching ──Abandon──> gone        (no longer current; nobody fails)
//	busy ──Release──> busy             (handed to the first waiter)
//	             └──> idle             (nobody waits)
//	busy ──Drop──> gone                (timed out, crashed, closing)
//	idle ──Reap (unused for ttl), Drain──> gone (returned for closing)
//
// Acquire, Launched, LaunchFailed and Abandon return how many sandboxes to
// start for the invocations waiting.
package pool

import (
	"context"
	"sync"
	"time"
)

// Action is how an invocation is served.
type Action int

const (
	// UseIdle: a warm sandbox is idle; the invocation runs in it.
	UseIdle Action = iota
	// Wait: none is idle and the function is under its concurrency; the
	// invocation waits for the first sandbox free (Pool.Wait).
	Wait
	// Throttle: the function is at its concurrency.
	Throttle
)

// Counts are a pool's slots: idle sandboxes, busy ones (running an
// invocation), invocations waiting for one, and sandboxes being started.
type Counts struct {
	Idle, Busy, Waiting, Launching int
}

// Live counts the sandboxes: idle, busy and starting.
func (c Counts) Live() int { return c.Idle + c.Busy + c.Launching }

// Decide picks how to serve an invocation under the function's
// concurrency limit: throttle if the invocations running or waiting are
// at the limit, else reuse a warm sandbox if one is idle, else wait. The
// limit bounds invocations, not sandboxes, as Lambda's concurrency does:
// warm sandboxes left from before a lower limit (reserved concurrency 0
// included) never take more invocations than it allows.
func Decide(c Counts, limit int) Action {
	switch {
	case c.Busy+c.Waiting >= limit:
		return Throttle
	case c.Idle > 0:
		return UseIdle
	}
	return Wait
}

// Estimates are a pool's mean times (exponentially weighted): of an
// invocation, from the sandbox's hand-over to its release, and of a
// sandbox's start, until its runtime's init is done. Zero: none seen yet.
type Estimates struct {
	Invoke, Launch time.Duration
}

// observe weighs d into the mean m (a quarter for the newest).
func observe(m *time.Duration, d time.Duration) {
	if *m == 0 {
		*m = d
		return
	}
	*m += (d - *m) / 4
}

// Wanted is how many sandboxes to start now: one per waiting invocation
// that no start under way will serve, at most maxLaunch starting at once;
// none while the sandboxes busy or starting will serve the line sooner
// than a start takes (the line's wait, its length over those sandboxes
// times an invocation's mean time, is under a start's mean time). With
// nothing busy or starting, or nothing seen yet, the line gets its starts.
func Wanted(c Counts, maxLaunch int, est Estimates) int {
	n := max(0, min(c.Waiting, max(1, maxLaunch))-c.Launching)
	if n == 0 {
		return 0
	}
	if servers := c.Busy + c.Launching; servers > 0 && est.Invoke > 0 && est.Launch > 0 {
		if wait := time.Duration(c.Waiting) * est.Invoke / time.Duration(servers); wait < est.Launch {
			return 0
		}
	}
	return n
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

// Waiter is an invocation waiting for a sandbox.
type Waiter[T any] struct {
	ch chan result[T] // gets one result, sent under the pool's lock
}

type result[T any] struct {
	v   T
	err error
}

// Ticket is Acquire's answer.
type Ticket[T any] struct {
	Action Action
	// V is the sandbox to use (UseIdle), now busy.
	V T
	// W is the invocation's place in line (Wait).
	W *Waiter[T]
	// Launches is how many sandboxes the caller starts now; each ends in
	// Launched or LaunchFailed.
	Launches int
}

// Pool holds the sandboxes of one function version (and code revision).
// The zero value is an empty pool starting one sandbox at a time; it is
// safe for concurrent use.
type Pool[T any] struct {
	// MaxLaunch bounds the sandboxes starting at once (<= 0: one). Set it
	// before the pool is used.
	MaxLaunch int

	mu        sync.Mutex
	idle      []entry[T] // most recently used last
	busy      int
	launching int
	waiters   []*Waiter[T] // first come first served
	est       Estimates
}

func (p *Pool[T]) counts() Counts {
	return Counts{Idle: len(p.idle), Busy: p.busy, Waiting: len(p.waiters), Launching: p.launching}
}

// wanted counts the launches to start now as under way.
func (p *Pool[T]) wanted() int {
	n := Wanted(p.counts(), p.MaxLaunch, p.est)
	p.launching += n
	return n
}

// stalled counts as under way, and returns, the starts the line gets
// whatever the estimates say, if w still waits.
func (p *Pool[T]) stalled(w *Waiter[T]) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.waiters {
		if x == w {
			n := Wanted(p.counts(), p.MaxLaunch, Estimates{})
			p.launching += n
			return n
		}
	}
	return 0
}

// Acquire serves an invocation under limit: with UseIdle it returns the
// most recently used idle sandbox, now busy; with Wait a place in line
// for Wait, and how many sandboxes the caller starts; with Throttle it
// changed nothing.
func (p *Pool[T]) Acquire(limit int) Ticket[T] {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := Ticket[T]{Action: Decide(p.counts(), limit)}
	switch t.Action {
	case UseIdle:
		e := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = entry[T]{}
		p.idle = p.idle[:len(p.idle)-1]
		p.busy++
		t.V = e.v
	case Wait:
		t.W = &Waiter[T]{ch: make(chan result[T], 1)}
		p.waiters = append(p.waiters, t.W)
		t.Launches = p.wanted()
	}
	return t
}

// Wait returns the sandbox given to w, now busy, or the error of the
// launch that would have served it. Once ctx is done, w leaves the line
// and Wait returns ctx's error, unless a sandbox was given to w as ctx
// ended: Wait then returns it, and the caller checks ctx itself (and
// Releases the sandbox if it will not use it). If w waits twice a
// start's mean time, and again each time as long, stall is called with
// the number of sandboxes to start for the line (each ends in Launched or
// LaunchFailed), as it were starting them from the start.
func (p *Pool[T]) Wait(ctx context.Context, w *Waiter[T], stall func(n int)) (T, error) {
	p.mu.Lock()
	after := 2 * p.est.Launch
	p.mu.Unlock()
	var tick <-chan time.Time
	if after > 0 {
		t := time.NewTicker(after)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case r := <-w.ch:
			return r.v, r.err
		case <-tick:
			if n := p.stalled(w); n > 0 {
				stall(n)
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	p.mu.Lock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			var zero T
			return zero, ctx.Err()
		}
	}
	p.mu.Unlock()
	// Served as the context ended (the result is in the channel).
	r := <-w.ch
	if r.err != nil {
		return r.v, ctx.Err()
	}
	return r.v, nil
}

// give hands v to the first waiter (it stays busy) and reports whether
// there was one.
func (p *Pool[T]) give(v T) bool {
	if len(p.waiters) == 0 {
		return false
	}
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	w.ch <- result[T]{v: v}
	return true
}

// Reserve counts a sandbox started ahead of demand, if the pool is under
// limit and has no idle sandbox; the caller ends it with Launched or
// LaunchFailed.
func (p *Pool[T]) Reserve(limit int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.counts()
	if c.Idle > 0 || c.Busy+c.Launching >= limit {
		return false
	}
	p.launching++
	return true
}

// Launched adds a started sandbox, used at now, whose start took took: to
// the first waiter, else idle. It returns how many more to start.
func (p *Pool[T]) Launched(v T, now time.Time, took time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.launching--
	if took > 0 {
		observe(&p.est.Launch, took)
	}
	if p.give(v) {
		p.busy++
	} else {
		p.idle = append(p.idle, entry[T]{v: v, lastUsed: now})
	}
	return p.wanted()
}

// LaunchFailed ends a start that failed: the first waiter gets err (the
// cold start that failed is its own, as on Lambda). It returns how many
// more to start for those still waiting.
func (p *Pool[T]) LaunchFailed(err error) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.launching--
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters[0] = nil
		p.waiters = p.waiters[1:]
		w.ch <- result[T]{err: err}
	}
	return p.wanted()
}

// Abandon ends a start whose sandbox will not serve (it is no longer
// current), failing nobody. It returns how many to start for those
// waiting.
func (p *Pool[T]) Abandon() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.launching--
	return p.wanted()
}

// Release gives a busy sandbox, used at now for an invocation of took, to
// the first waiter, else makes it idle.
func (p *Pool[T]) Release(v T, now time.Time, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if took > 0 {
		observe(&p.est.Invoke, took)
	}
	if p.give(v) {
		return
	}
	p.busy--
	p.idle = append(p.idle, entry[T]{v: v, lastUsed: now})
}

// Drop forgets a busy sandbox. (Those waiting have their starts under
// way already: every change of the line starts what it wants.)
func (p *Pool[T]) Drop() {
	p.mu.Lock()
	p.busy--
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
	return gone
}

// Estimates returns the pool's mean times.
func (p *Pool[T]) Estimates() Estimates {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.est
}

// Counts returns the pool's slots.
func (p *Pool[T]) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts()
}

// Unused reports whether the pool holds nothing and nobody waits on it.
func (p *Pool[T]) Unused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.counts()
	return c.Live() == 0 && c.Waiting == 0
}
