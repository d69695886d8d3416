package container

import "time"

// StartTiming is what one start took: preparing the root filesystem,
// network and spec, then spawning the process through the runtime. Err is
// set when the start failed (the phases are then zero).
type StartTiming struct {
	Prepare, Spawn time.Duration
	Err            error
}

// WithStartObserver has f learn every start's outcome and phases (the
// daemon's metrics). f runs on the start's path: it must not block.
func WithStartObserver(f func(StartTiming)) Option { return func(e *Engine) { e.startObs = f } }

func (e *Engine) observeStart(t StartTiming) {
	if e.startObs != nil {
		e.startObs(t)
	}
}
