package invoke

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/pool"
	"github.com/wharf-dev/wharf/functions/runtimeapi"
)

// Invoke implements functions.Service.
func (e *Engine) Invoke(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error) {
	c, version, err := e.st.Resolve(in.FunctionName, in.Qualifier)
	if err != nil {
		return nil, err
	}
	if c.State != functions.StateActive {
		return nil, fmt.Errorf("The operation cannot be performed at this time. The function is currently in the following state: %s (%s): %w", c.State, c.StateReason, errors.Join(functions.ErrNotReady, errdefs.ErrConflict))
	}
	typ := in.Type
	if typ == "" {
		typ = functions.InvocationSync
	}
	switch typ {
	case functions.InvocationSync:
		if len(in.Payload) > functions.MaxSyncPayload {
			return nil, fmt.Errorf("Request must be smaller than %d bytes for the InvokeFunction operation: %w", functions.MaxSyncPayload, errors.Join(functions.ErrTooLarge, errdefs.ErrInvalidArgument))
		}
	case functions.InvocationEvent:
		if len(in.Payload) > functions.MaxAsyncPayload {
			return nil, fmt.Errorf("Request must be smaller than %d bytes for the InvokeAsync operation: %w", functions.MaxAsyncPayload, errors.Join(functions.ErrTooLarge, errdefs.ErrInvalidArgument))
		}
		q := e.queue
		if q == nil {
			return nil, fmt.Errorf("asynchronous invocations need the daemon's event queue, which is not running: %w", errdefs.ErrUnavailable)
		}
		in.RequestID = newRequestID()
		in.Qualifier = version
		// Lambda passes a client context to synchronous invocations only.
		in.ClientContext = ""
		if err := q.Enqueue(ctx, in); err != nil {
			return nil, err
		}
		return &functions.InvokeOutput{StatusCode: 202, ExecutedVersion: version, RequestID: in.RequestID}, nil
	case functions.InvocationDryRun:
		return &functions.InvokeOutput{StatusCode: 204, ExecutedVersion: version}, nil
	default:
		return nil, fmt.Errorf("invalid invocation type %q: %w", typ, errdefs.ErrInvalidArgument)
	}
	if len(in.Payload) > 0 && !json.Valid(in.Payload) {
		return nil, fmt.Errorf("Could not parse request body into json: %w", errdefs.ErrInvalidArgument)
	}
	limit := e.defaultLimit
	if c.ReservedConcurrency != nil {
		limit = *c.ReservedConcurrency
	}
	return e.invokeSync(ctx, &c, version, limit, in)
}

func (e *Engine) invokeSync(ctx context.Context, c *functions.Config, version string, limit int, in functions.InvokeInput) (*functions.InvokeOutput, error) {
	m := e.countersFor(c.FunctionName)
	p, t, err := e.acquire(poolKey{c.FunctionName, version, c.RevisionID}, limit)
	if err != nil {
		return nil, err
	}
	if t.Action == pool.Throttle {
		m.mu.Lock()
		m.throttles++
		m.mu.Unlock()
		e.prom.throttles.WithLabelValues(c.FunctionName).Inc()
		return nil, fmt.Errorf("Rate Exceeded.: %w", errors.Join(functions.ErrThrottled, errdefs.ErrUnavailable))
	}
	m.mu.Lock()
	m.concurrent++
	m.mu.Unlock()
	gauge := e.prom.concurrent.WithLabelValues(c.FunctionName)
	gauge.Inc()
	defer func() {
		m.mu.Lock()
		m.concurrent--
		m.mu.Unlock()
		gauge.Dec()
	}()

	reqID := in.RequestID
	if reqID == "" {
		reqID = newRequestID()
	}
	inst := t.V
	if t.Action == pool.Wait {
		e.startLaunches(p, c, version, t.Launches)
		inst, err = p.Wait(ctx, t.W, func(n int) { e.startLaunches(p, c, version, n) })
		if err == nil && ctx.Err() != nil {
			e.release(p, inst, 0)
			err = ctx.Err()
		}
		if err != nil {
			return e.initFailure(c, version, reqID, err)
		}
	}
	if thawed, err := inst.wake(); err != nil {
		p.Drop()
		e.closeInst(inst)
		return nil, fmt.Errorf("thawing sandbox: %w", err)
	} else if thawed && e.log.Enabled(ctx, slog.LevelDebug) {
		e.log.Debug("sandbox thawed", "function", c.FunctionName, "idle", e.now().Sub(inst.lastUsed))
	}
	if !inst.used {
		// A sandbox's first invocation is its cold start, whether it
		// was started for this invocation, for another one that waited
		// or ahead of demand (prewarm.go).
		m.mu.Lock()
		m.coldStarts++
		m.mu.Unlock()
		e.prom.coldStarts.WithLabelValues(c.FunctionName).Inc()
	}

	// Only a Tail invocation keeps its output apart.
	var tail bytes.Buffer
	if in.LogTail {
		inst.out.capture(&tail)
	}
	inst.out.start("START RequestId: " + reqID + " Version: " + version)
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, time.Duration(c.Timeout)*time.Second)
	res, err := e.invokeOn(tctx, inst, runtimeapi.Invocation{
		RequestID: reqID, Payload: in.Payload, Deadline: start.Add(time.Duration(c.Timeout) * time.Second),
		FunctionARN: c.FunctionArn, TraceID: fmt.Sprintf("Root=1-%08x-%s", start.Unix(), reqID[:24]),
		ClientContext: in.ClientContext,
	})
	cancel()
	dur := time.Since(start)
	healthy := err == nil
	out := &functions.InvokeOutput{StatusCode: 200, ExecutedVersion: version, RequestID: reqID}
	switch {
	case err == nil:
		out.Payload = res.Payload
		if res.FunctionError {
			out.FunctionError = functions.FunctionErrorUnhandl
		}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		msg := fmt.Sprintf("%s Task timed out after %.2f seconds", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), float64(c.Timeout))
		inst.out.line(msg)
		out.Payload = errorPayload("Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", reqID, float64(c.Timeout)))
		out.FunctionError = functions.FunctionErrorUnhandl
	case errors.Is(err, errSandboxExited):
		typ, msg := "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited without providing a reason", reqID)
		if inst.sb.OOMKilled() {
			typ, msg = "Runtime.OutOfMemory", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: signal: killed", reqID)
		}
		inst.out.line(msg)
		out.Payload = errorPayload(typ, msg)
		out.FunctionError = functions.FunctionErrorUnhandl
	default:
		p.Drop()
		inst.out.flush()
		inst.out.capture(nil)
		e.closeInst(inst)
		return nil, err
	}
	var init time.Duration
	if !inst.used {
		init = inst.initDuration
	}
	inst.used = true
	if in.LogTail {
		e.flushOutput(ctx, c.FunctionName, inst)
	}
	// END and REPORT in one write.
	inst.out.lineBytes(appendEndReport(make([]byte, 0, 256), reqID, dur, c.MemorySize, inst.sb.MaxMemory(), init))
	inst.out.capture(nil)
	if in.LogTail {
		b := tail.Bytes()
		if len(b) > tailSize {
			b = b[len(b)-tailSize:]
		}
		out.LogResult = base64.StdEncoding.EncodeToString(b)
	}
	m.observe(dur, out.FunctionError != "")
	e.prom.observe(c.FunctionName, dur, out.FunctionError != "")
	if healthy {
		e.release(p, inst, dur)
	} else {
		p.Drop()
		go e.closeInst(inst)
	}
	return out, nil
}

var errSandboxExited = errors.New("sandbox exited")

// flushTimeout bounds a Tail invocation's wait for the output its runtime
// wrote before it answered.
const flushTimeout = 2 * time.Second

// flushOutput waits until everything the sandbox's runtime wrote before
// it answered has reached the function's log (Sandbox.FlushOutput), so
// that a Tail invocation's log holds the lines the function printed, ahead
// of END and REPORT: the runtime's writes returned before it sent its
// answer, and the sandbox marks where they end in its output stream.
// Should it fail (a sandbox that cannot flush, or is gone, or a mark that
// does not come within flushTimeout), the tail is cut with what has
// arrived and the failure is logged.
func (e *Engine) flushOutput(ctx context.Context, function string, inst *instance) {
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	err := inst.sb.FlushOutput(fctx)
	cancel()
	if err != nil {
		level := slog.LevelWarn
		if errdefs.IsNotImplemented(err) {
			level = slog.LevelDebug
		}
		e.log.Log(ctx, level, "the invocation's tail may lack output the function printed", "function", function, "err", err)
	}
}

// release parks a healthy sandbox in its pool after an invocation that
// took took (or hands it to the next invocation waiting), or closes it if
// the engine is closing (Close has drained the pools, or is about to).
func (e *Engine) release(p *pool.Pool[*instance], inst *instance, took time.Duration) {
	e.mu.Lock()
	closed := e.closed
	if !closed {
		inst.park()
		inst.lastUsed = e.now()
		p.Release(inst, inst.lastUsed, took)
	}
	e.mu.Unlock()
	if closed {
		p.Drop() // the engine is closing: no more starts
		e.closeInst(inst)
	}
}

// startLaunches starts n sandboxes of c's version for the invocations
// waiting in p, in the background: each, once its runtime's init is done,
// goes to the first invocation waiting (pool.Pool.Launched), and a failed
// one's error to the first waiting (LaunchFailed, Lambda's init error).
// Each end may ask for more (invocations still wait).
func (e *Engine) startLaunches(p *pool.Pool[*instance], c *functions.Config, version string, n int) {
	if n <= 0 {
		return
	}
	cfg := *c
	for ; n > 0; n-- {
		ok := e.background(func(ctx context.Context) {
			inst, err := e.launch(ctx, &cfg, version)
			more := 0
			if err != nil {
				if ctx.Err() == nil {
					e.log.Debug("sandbox start failed", "function", cfg.FunctionName, "err", err)
				}
				more = p.LaunchFailed(err)
			} else {
				inst.park() // frozen if it goes idle; a waiter wakes it
				inst.lastUsed = e.now()
				more = p.Launched(inst, inst.lastUsed, inst.initDuration)
			}
			e.startLaunches(p, &cfg, version, more)
		})
		if !ok {
			// Closing: the invocations waiting get its error, one per
			// start refused, until none waits.
			n += p.LaunchFailed(errClosed)
		}
	}
}

// invokeOn runs one invocation, failing early if the sandbox dies.
func (e *Engine) invokeOn(ctx context.Context, inst *instance, inv runtimeapi.Invocation) (*runtimeapi.Result, error) {
	res, err := inst.sb.Runtime().InvokeUntil(ctx, inv, inst.sb.Exited())
	if errors.Is(err, runtimeapi.ErrAbandoned) {
		return nil, errSandboxExited
	}
	return res, err
}

// Metrics implements functions.Service.
func (e *Engine) Metrics(ctx context.Context, name string) (*functions.Metrics, error) {
	if err := e.st.Exists(name); err != nil {
		return nil, err
	}
	c := e.countersFor(name)
	c.mu.Lock()
	m := &functions.Metrics{Invocations: c.invocations, Errors: c.errors, Throttles: c.throttles, ColdStarts: c.coldStarts,
		Concurrent: c.concurrent, DurationsMs: append([]float64(nil), c.durations...)}
	c.mu.Unlock()
	e.mu.Lock()
	for key, p := range e.pools {
		if key.function == name {
			n := p.Counts()
			m.SandboxesWarm += n.Idle
			m.SandboxesTotal += n.Live()
		}
	}
	e.mu.Unlock()
	return m, nil
}
