// Package invoke is the functions engine: it implements functions.Service
// over a function store (functions/store), keeping each function version's
// sandboxes warm in a pool (functions/pool), starting them with a Launcher
// (functions/sandbox's, in the daemon), and running invocations through
// their Runtime API. It also writes each function's log, counts its
// metrics, resolves image functions' images (functions/imagefn) and hands
// asynchronous invocations to a Queue (functions/async).
//
// An invocation (Invoke):
//
//	resolve the qualifier ──> Event: Queue.Enqueue, 202
//	                     └──> RequestResponse: Pool.Acquire ──Throttle──> TooManyRequests
//	                            ├─ UseIdle: thaw the warm sandbox
//	                            └─ Wait: for the first sandbox free, one released or one
//	                               the pool starts (Launch, its init within 10 s; at most
//	                               WithLaunchConcurrency at once); its first use is a cold start
//	                          ──> Runtime API: event, response/error or timeout
//	                          ──> healthy: park (freeze after 10 ms idle), Release (to the
//	                              next waiting invocation, else idle)
//	                              timed out, crashed: Drop and Close
//
// Warm sandboxes idle for the idle timeout are reaped (scale to zero);
// those of a version whose code or configuration changed are closed at
// once, and after an update of $LATEST one sandbox of the new revision is
// started ahead of demand (prewarm.go).
package invoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/imagefn"
	"github.com/wharf-dev/wharf/functions/pool"
	"github.com/wharf-dev/wharf/functions/sandbox"
	"github.com/wharf-dev/wharf/functions/store"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Launcher starts sandboxes: functions/sandbox's ContainerLauncher in the
// daemon, the in-process and process launchers in tests and benchmarks.
type Launcher interface {
	Launch(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error)
}

// Queue is the durable queue of asynchronous invocations
// (functions/async). Without one, Event invocations are refused.
type Queue interface {
	// Enqueue stores an event durably; in carries its request ID and the
	// version it runs.
	Enqueue(ctx context.Context, in functions.InvokeInput) error
	// Failures returns a function's events that failed every attempt.
	Failures(ctx context.Context, name string) ([]functions.Failure, error)
}

// Engine implements functions.Service.
type Engine struct {
	st       *store.Store
	launcher Launcher
	images   *imagefn.Resolver // nil: image functions are refused
	queue    Queue
	log      *slog.Logger
	now      func() time.Time

	imageStore   imagefn.ImageStore
	idleTTL      time.Duration
	defaultLimit int
	maxLaunch    int
	logLimits    logfile.Limits
	prom         *promMetrics

	mu      sync.Mutex
	pools   map[poolKey]*pool.Pool[*instance]
	logs    map[string]*funcLog
	metrics map[string]*counters
	// live holds every sandbox started and not yet closed, idle or busy,
	// so that Close stops them all.
	live   map[*instance]struct{}
	closed bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// poolKey names the pool of a function version at one code and
// configuration revision.
type poolKey struct{ function, version, revision string }

// Option configures an Engine.
type Option func(*Engine)

// WithIdleTimeout sets how long a warm sandbox may stay unused before it
// is reaped (scale to zero).
func WithIdleTimeout(d time.Duration) Option { return func(e *Engine) { e.idleTTL = d } }

// WithDefaultConcurrency sets the concurrency of functions without reserved
// concurrency (Lambda's account limit).
func WithDefaultConcurrency(n int) Option { return func(e *Engine) { e.defaultLimit = n } }

// WithLaunchConcurrency bounds how many sandboxes of one function
// version start at once while invocations wait for one (pool.Pool's
// MaxLaunch); the default is the number of CPUs, at least 2.
func WithLaunchConcurrency(n int) Option { return func(e *Engine) { e.maxLaunch = n } }

// WithLogger sets the engine's logger.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithClock sets the engine's clock (LastModified, idle times).
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithImages gives the engine the image store image functions resolve
// their images in. Without it, creating an image function is refused.
func WithImages(s imagefn.ImageStore) Option { return func(e *Engine) { e.imageStore = s } }

// WithQueue gives the engine the queue of asynchronous invocations. The
// queue's workers invoke the engine: start them (async.Queue.Start) once
// the engine is made.
func WithQueue(q Queue) Option { return func(e *Engine) { e.queue = q } }

// New opens the function store under root and serves invocations with
// sandboxes from launcher. Close stops it.
func New(root string, launcher Launcher, opts ...Option) (*Engine, error) {
	e := &Engine{
		launcher: launcher, log: slog.Default(), now: time.Now,
		idleTTL: 5 * time.Minute, defaultLimit: 100, maxLaunch: max(2, runtime.NumCPU()), logLimits: DefaultLogLimits,
		pools: map[poolKey]*pool.Pool[*instance]{}, logs: map[string]*funcLog{}, metrics: map[string]*counters{},
		live: map[*instance]struct{}{}, stop: make(chan struct{}),
	}
	for _, o := range opts {
		o(e)
	}
	if e.imageStore != nil {
		e.images = imagefn.New(e.imageStore, e.log)
	}
	if e.prom == nil {
		e.prom = newPromMetrics(nil)
	}
	st, err := store.Open(root, store.WithLogger(e.log), store.WithClock(e.now), store.WithChanges(e.changed))
	if err != nil {
		return nil, err
	}
	e.st = st
	// Image functions left Pending by a daemon that stopped before their
	// image was pulled pull it again.
	for _, p := range st.AwaitingImage() {
		e.pullPending(p.Function, p.ImageURI, false, "")
	}
	e.wg.Add(1)
	go e.reaper()
	return e, nil
}

// Close stops the reaper, the background work (pulls, prewarms) and every
// sandbox, idle or busy: an invocation still running fails. The queue, if
// any, is its owner's to close first: its workers invoke the engine.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	close(e.stop)
	e.wg.Wait()
	e.mu.Lock()
	pools, logs, live := e.pools, e.logs, e.live
	e.pools, e.logs, e.live = map[poolKey]*pool.Pool[*instance]{}, map[string]*funcLog{}, map[*instance]struct{}{}
	e.mu.Unlock()
	for _, p := range pools {
		p.Drain()
	}
	for in := range live {
		in.retire()
		_ = in.sb.Close(context.Background())
	}
	for _, l := range logs {
		_ = l.Close()
	}
}

// background runs fn on a goroutine that Close waits for, with a context
// that Close cancels; it reports false, running nothing, once the engine
// is closing.
func (e *Engine) background(fn func(ctx context.Context)) bool {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-e.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		fn(ctx)
	}()
	return true
}

func (e *Engine) reaper() {
	defer e.wg.Done()
	tick := time.NewTicker(e.reapEvery())
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		e.mu.Lock()
		var gone []*instance
		for key, p := range e.pools {
			gone = append(gone, p.Reap(e.now(), e.idleTTL)...)
			e.forgetIdle(key, p)
		}
		e.mu.Unlock()
		if len(gone) > 0 {
			e.log.Info("reaped idle sandboxes", "count", len(gone))
		}
		e.closeAll(gone)
	}
}

func (e *Engine) reapEvery() time.Duration {
	return min(max(e.idleTTL/4, 100*time.Millisecond), 10*time.Second)
}

// errClosed refuses what comes once Close has begun.
var errClosed = fmt.Errorf("the functions engine is shutting down: %w", errdefs.ErrUnavailable)

// acquire serves an invocation from the pool of key under limit
// (pool.Pool.Acquire), making the pool if needed; errClosed once Close has
// begun. The pool is looked up and acquired from under e.mu, so that a
// pool found empty and forgotten (forgetIdle) is never used again.
func (e *Engine) acquire(key poolKey, limit int) (*pool.Pool[*instance], pool.Ticket[*instance], error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, pool.Ticket[*instance]{Action: pool.Throttle}, errClosed
	}
	p := e.poolLocked(key)
	return p, p.Acquire(limit), nil
}

// poolLocked returns the pool of key, made if needed; the caller holds
// e.mu.
func (e *Engine) poolLocked(key poolKey) *pool.Pool[*instance] {
	p := e.pools[key]
	if p == nil {
		p = &pool.Pool[*instance]{MaxLaunch: e.maxLaunch}
		e.pools[key] = p
	}
	return p
}

// reserve takes a slot for a sandbox started ahead of demand in the pool
// of key (pool.Pool.Reserve), as acquire does.
func (e *Engine) reserve(key poolKey, limit int) (*pool.Pool[*instance], bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, false
	}
	p := e.poolLocked(key)
	return p, p.Reserve(limit)
}

// forgetIdle forgets the pool of key if it holds no slot and nobody waits
// on it, so that pools of old revisions and deleted functions do not pile
// up. The caller holds e.mu: a pool with no slot has no holder that will
// use it again.
func (e *Engine) forgetIdle(key poolKey, p *pool.Pool[*instance]) {
	if p.Unused() {
		delete(e.pools, key)
	}
}

// changed follows the store's changes (store.WithChanges), with the store
// locked: the sandboxes of what changed are closed, the log of a deleted
// function removed, and after an update of $LATEST that retired warm
// sandboxes one of the new revision is started.
func (e *Engine) changed(c store.Change) {
	switch {
	case c.Latest != nil:
		if e.drainPools(c.Function, c.Version) > 0 {
			e.prewarm(*c.Latest)
		}
	case c.Version != "":
		e.drainPools(c.Function, c.Version)
	default:
		e.drainPools(c.Function, "")
		if err := e.removeLog(c.Function); err != nil {
			e.log.Warn("removing a deleted function's log", "function", c.Function, "err", err)
		}
	}
}

// drainPools closes the idle sandboxes of a function's version (all
// versions for ""): their configuration or code is no longer current. It
// returns how many there were.
func (e *Engine) drainPools(name, version string) int {
	e.mu.Lock()
	var gone []*instance
	for key, p := range e.pools {
		if key.function == name && (version == "" || key.version == version) {
			gone = append(gone, p.Drain()...)
			e.forgetIdle(key, p)
		}
	}
	e.mu.Unlock()
	go e.closeAll(gone)
	return len(gone)
}

// Failures returns a function's async invocations that failed every
// attempt (the on-failure destination).
func (e *Engine) Failures(ctx context.Context, name string) ([]functions.Failure, error) {
	if e.queue == nil {
		return nil, fmt.Errorf("the event queue is not running: %w", errdefs.ErrUnavailable)
	}
	return e.queue.Failures(ctx, name)
}

// ImageInUse reports whether any function or version runs the image with
// this ID. The daemon adds it to the container engine's ImageInUse so that
// image removal and pruning keep such images.
func (e *Engine) ImageInUse(imageID string) bool { return e.st.ImageInUse(imageID) }

// pullPending pulls the image of a Pending image function in the
// background and moves it to Active or Failed (store.FinishPull). reqID
// is the API request that set the image ("" at a daemon start), for the
// log.
func (e *Engine) pullPending(name, ref string, publish bool, reqID string) {
	e.background(func(ctx context.Context) {
		var pin *functions.Config
		reason := "the daemon has no image store"
		if e.images != nil {
			img, err := e.images.Pull(ctx, ref, reqID)
			if ctx.Err() != nil {
				return // the engine is closing; the next start pulls again
			}
			if err != nil {
				reason = "Source image " + ref + " could not be used."
				var ie *imagefn.Error
				if errors.As(err, &ie) {
					reason = ie.Reason
				}
			} else {
				pin = &functions.Config{ImageURI: ref}
				imagefn.Pin(pin, img)
			}
		}
		if !e.st.FinishPull(ctx, name, ref, pin, reason, publish) {
			return
		}
		if pin == nil {
			e.log.Warn("function image unavailable", "function", name, "image", ref, "request", reqID, "reason", reason)
		} else {
			e.log.Info("function image pulled", "function", name, "image", pin.ResolvedImageURI)
		}
	})
}
