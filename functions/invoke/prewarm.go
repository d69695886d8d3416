package invoke

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/functions"
)

// Proactive initialisation. When an update retires a function's warm
// sandboxes, the function is evidently in use, so one sandbox of the new
// revision is started at once instead of on the next invocation, as Lambda
// may proactively initialise execution environments of on-demand
// functions. It is honest about it: the first invocation it serves counts
// as a cold start and its REPORT carries the Init Duration, exactly as
// when the sandbox starts on demand; only the wait is gone.

// prewarm starts one sandbox of c, a function's new $LATEST, in the
// background. It runs with the store locked (changed).
func (e *Engine) prewarm(c functions.Config) {
	if c.State != functions.StateActive {
		return
	}
	limit := e.defaultLimit
	if c.ReservedConcurrency != nil {
		limit = *c.ReservedConcurrency
	}
	p, ok := e.reserve(poolKey{c.FunctionName, functions.LatestVersion, c.RevisionID}, limit)
	if !ok {
		return
	}
	if !e.background(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		inst, err := e.launch(ctx, &c, functions.LatestVersion)
		if err != nil {
			// An invocation waiting for it gets the failure, as its
			// own cold start's.
			e.log.Debug("proactive initialisation failed", "function", c.FunctionName, "err", err)
			e.startLaunches(p, &c, functions.LatestVersion, p.LaunchFailed(err))
			return
		}
		// Keep it only if its revision is still current and the engine
		// not closing; changes are told with the store locked too, so a
		// later update cannot miss it.
		kept := false
		e.st.IfCurrent(c.FunctionName, c.RevisionID, func() {
			select {
			case <-e.stop:
				return
			default:
			}
			inst.park()
			inst.lastUsed = e.now()
			e.startLaunches(p, &c, functions.LatestVersion, p.Launched(inst, inst.lastUsed, inst.initDuration))
			kept = true
		})
		if !kept {
			e.closeInst(inst)
			e.startLaunches(p, &c, functions.LatestVersion, p.Abandon())
		}
	}) {
		e.startLaunches(p, &c, functions.LatestVersion, p.LaunchFailed(errClosed))
	}
}
