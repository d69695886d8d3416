package functions

import (
	"context"
	"time"
)

// Proactive initialisation. When an update retires a function's warm
// sandboxes, the function is evidently in use, so one sandbox of the new
// revision is started at once instead of on the next invocation, as Lambda
// may proactively initialise execution environments of on-demand
// functions. It is honest about it: the first invocation it serves counts
// as a cold start and its REPORT carries the Init Duration, exactly as
// when the sandbox starts on demand; only the wait is gone.

// prewarmLocked starts one sandbox of r's $LATEST in the background. The
// caller holds e.st.mu.
func (e *Engine) prewarmLocked(r *record) {
	c := r.Latest
	if c.State != StateActive {
		return
	}
	limit := e.defaultLimit
	if c.ReservedConcurrency != nil {
		limit = *c.ReservedConcurrency
	}
	select {
	case <-e.stop:
		return
	default:
	}
	p := e.poolFor(poolKey(c.FunctionName, LatestVersion, c.RevisionID))
	if !p.reserve(limit) {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		go func() {
			select {
			case <-e.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		inst, err := e.launch(ctx, &c, LatestVersion)
		if err != nil {
			// The next invocation starts one on demand and reports the
			// failure to its caller.
			p.drop()
			e.log.Debug("proactive initialisation failed", "function", c.FunctionName, "err", err)
			return
		}
		// Keep it only if its revision is still current; drainPools runs
		// under st.mu too, so a later update cannot miss it.
		e.st.mu.Lock()
		cur, gerr := e.st.get(c.FunctionName)
		current := gerr == nil && cur.Latest.RevisionID == c.RevisionID
		select {
		case <-e.stop:
			current = false
		default:
		}
		if current {
			inst.park()
			p.release(inst, e.now())
		}
		e.st.mu.Unlock()
		if !current {
			p.drop()
			_ = inst.sb.Close(context.Background())
		}
	}()
}
