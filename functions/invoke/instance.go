package invoke

import (
	"context"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/functions/sandbox"
)

// instance is one sandbox in a pool.
type instance struct {
	sb       sandbox.Sandbox
	out      *sandboxOutput
	lastUsed time.Time
	// initDuration is reported on a sandbox's first invocation only.
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

// closeInst closes a sandbox the engine is done with, and forgets it.
func (e *Engine) closeInst(in *instance) {
	e.mu.Lock()
	delete(e.live, in)
	e.mu.Unlock()
	in.retire()
	_ = in.sb.Close(context.Background())
}

// closeAll closes sandboxes a pool gave up.
func (e *Engine) closeAll(ins []*instance) {
	for _, in := range ins {
		e.closeInst(in)
	}
}
