package functions

import (
	"context"
	"sync"
	"time"
)

// Pool policy. Decisions are pure functions of the pool's counts and the
// clock, so they are tested without sandboxes or sleeping.

type acquireAction int

const (
	useIdle acquireAction = iota
	launchNew
	throttle
)

// decideAcquire picks how to serve an invocation: reuse a warm sandbox if
// one is idle, start one if the function is under its concurrency, or
// throttle.
func decideAcquire(idle, live, limit int) acquireAction {
	switch {
	case idle > 0:
		return useIdle
	case live < limit:
		return launchNew
	}
	return throttle
}

// expired returns the indexes of idle sandboxes unused for ttl or longer
// (scale to zero).
func expired(lastUsed []time.Time, now time.Time, ttl time.Duration) []int {
	var out []int
	for i, t := range lastUsed {
		if now.Sub(t) >= ttl {
			out = append(out, i)
		}
	}
	return out
}

// instance is one sandbox in a pool.
type instance struct {
	sb       Sandbox
	out      *sandboxOutput
	lastUsed time.Time
	// initDuration is set on a sandbox's first invocation only.
	initDuration time.Duration
	used         bool

	// The sandbox is frozen only once it has idled for freezeDelay: a
	// freeze and thaw on every invocation cost two cgroup writes and,
	// worse, catch the runtime before its next `next` call, adding a
	// round trip to the following invocation.
	fmu         sync.Mutex
	busy        bool // invoking, or closing: no freeze
	frozen      bool
	freezeTimer *time.Timer
}

// freezeDelay is how long a released sandbox may run (its runtime going
// back to `next`, or background work the function left) before it is
// frozen.
const freezeDelay = 10 * time.Millisecond

// wake makes the instance runnable for an invocation: it cancels a pending
// freeze and thaws it if it was frozen.
// It reports whether a thaw was needed (what a back-to-back invocation
// must never pay).
func (in *instance) wake() (thawed bool, err error) {
	in.fmu.Lock()
	defer in.fmu.Unlock()
	in.busy = true
	if in.freezeTimer != nil {
		in.freezeTimer.Stop()
		in.freezeTimer = nil
	}
	if in.frozen {
		if err := in.sb.Thaw(); err != nil {
			return true, err
		}
		in.frozen = false
		return true, nil
	}
	return false, nil
}

// park schedules the freeze of an idle instance.
func (in *instance) park() {
	in.fmu.Lock()
	defer in.fmu.Unlock()
	in.busy = false
	in.freezeTimer = time.AfterFunc(freezeDelay, func() {
		in.fmu.Lock()
		defer in.fmu.Unlock()
		if in.busy || in.frozen {
			return
		}
		// A sandbox that cannot be frozen keeps running; it is still
		// usable, and its Close kills it either way.
		if in.sb.Freeze() == nil {
			in.frozen = true
		}
	})
}

// retire stops any future freeze before the instance is closed (a freeze
// between Close's thaw and its kill would leave it unkillable).
func (in *instance) retire() {
	in.fmu.Lock()
	defer in.fmu.Unlock()
	in.busy = true
	if in.freezeTimer != nil {
		in.freezeTimer.Stop()
		in.freezeTimer = nil
	}
}

// pool holds the sandboxes of one function version (and code revision).
type pool struct {
	mu    sync.Mutex
	idle  []*instance // most recently used last
	live  int         // idle + busy + launching
	limit int
}

// acquire returns a warm instance (thawed), or reserves a slot for a new
// one (nil, true), or reports a throttle (nil, false).
func (p *pool) acquire(limit int) (*instance, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limit = limit
	switch decideAcquire(len(p.idle), p.live, limit) {
	case useIdle:
		in := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		return in, true
	case launchNew:
		p.live++
		return nil, true
	}
	return nil, false
}

// reserve takes a slot for a sandbox started ahead of demand, if the
// pool is under limit and has no idle sandbox.
func (p *pool) reserve(limit int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) > 0 || p.live >= limit {
		return false
	}
	p.live++
	return true
}

// release returns a healthy instance to the idle list.
func (p *pool) release(in *instance, now time.Time) {
	in.lastUsed = now
	p.mu.Lock()
	p.idle = append(p.idle, in)
	p.mu.Unlock()
}

// drop forgets an instance (or a failed launch's slot).
func (p *pool) drop() {
	p.mu.Lock()
	p.live--
	p.mu.Unlock()
}

// reap removes idle instances unused for ttl and returns them for closing.
func (p *pool) reap(now time.Time, ttl time.Duration) []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	times := make([]time.Time, len(p.idle))
	for i, in := range p.idle {
		times[i] = in.lastUsed
	}
	idx := expired(times, now, ttl)
	if len(idx) == 0 {
		return nil
	}
	drop := map[int]bool{}
	for _, i := range idx {
		drop[i] = true
	}
	var keep, gone []*instance
	for i, in := range p.idle {
		if drop[i] {
			gone = append(gone, in)
		} else {
			keep = append(keep, in)
		}
	}
	p.idle = keep
	p.live -= len(gone)
	return gone
}

// drain removes every idle instance (function updated or deleted).
func (p *pool) drain() []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	gone := p.idle
	p.idle = nil
	p.live -= len(gone)
	return gone
}

func (p *pool) counts() (idle, live int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle), p.live
}

func closeAll(ins []*instance) {
	for _, in := range ins {
		in.retire()
		_ = in.sb.Close(context.Background())
	}
}
