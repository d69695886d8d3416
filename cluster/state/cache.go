package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/errdefs"
)

// A Cache keeps a table's values in the process, fed by one long-lived
// watch of its bucket, so that a reader of the whole table (placement,
// the controller's passes) does not pull every record from the server
// at every read: a fresh watch per read is O(records) of server and
// client work, and a Batch array places thousands of tasks while
// thousands of STOPPED records are kept for DescribeTasks.
//
// # What the cache holds
//
// The watch sends the last value of every key, then every change (puts,
// and deletes and purges as markers), in the order of the bucket's
// stream. Each change is decoded once, when it arrives; Snapshot only
// filters and copies. The cache knows the highest revision (stream
// sequence) it has applied. A watch that ends (a reconnection gave up, a
// stream that moved) is created again and the map is rebuilt from
// scratch: nothing of the lost watch's map is kept.
//
// # Read-your-writes, across managers (Sync)
//
// A KV bucket is the stream KV_<bucket>; a revision is a stream sequence.
// Sync asks the stream for its last sequence L (stream info, answered by
// the stream's leader) and waits until the cache has applied a revision
// >= L. Then every record stored before Sync was called is in the cache,
// at its revision or at a later one (or is gone, deleted by a later
// change the cache applied too):
//
//   - a write is acknowledged only once the stream's leader has stored
//     it, so a write acknowledged before Sync began has a sequence <= L;
//   - the watch delivers the stream's messages in sequence order without
//     gaps (its ordered consumer starts again after the last sequence
//     delivered when it notices one), and a message it does not deliver
//     was removed by a later message of the same key (History 1, a purge
//     with rollup), which it delivers; so a cache at revision >= L holds
//     the last value of each key as of L or later;
//   - a rebuilt watch starts from the last value of every key; it reads
//     the stream's last sequence L0 before it subscribes, so once it has
//     delivered a message with nothing pending behind it (or found
//     nothing to deliver), every message <= L0 that still exists was
//     delivered or superseded by one that was, and the cache counts L0
//     as applied: a sequence that exists no more (an expired message, the
//     last one deleted by hand) then cannot hold Sync back forever.
//
// Hence a placement that takes the cluster's placement lock and then
// calls Sync sees every task record written before it took the lock, by
// any manager: the placement before it wrote its records (each one
// acknowledged) before it released the lock, the release happened before
// this placement's create of the lock succeeded, and Sync's stream info
// is asked after that. This is the same guarantee a fresh watch of the
// bucket gave (its consumer is created after the lock was taken).
//
// Sync is bounded (WithSyncBound, 2 s): a watch that stalls without
// ending, or a sequence the watch cannot deliver, makes Sync fail with
// ErrUnavailable, and the caller reads the table from the server (Find)
// as it did without a cache; the failed Sync also asks for a rebuild.
type Cache[T any] struct {
	t     Table[T]
	log   *slog.Logger
	bound time.Duration
	// retry is how long the loop waits before a new watch after one
	// ended or could not be created (a kick skips the wait).
	retry time.Duration

	start  sync.Once
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{}

	mu      sync.Mutex
	entries map[string]*cached[T]
	bad     int    // entries whose value did not decode
	applied uint64 // the highest revision applied (see Sync)
	ready   bool   // a watch has delivered its initial values
	closed  bool
	// changed is closed (and replaced) whenever applied moves: Sync
	// waits on it.
	changed chan struct{}
	// stopWatch stops the current watch (tests lose it on purpose).
	stopWatch func()
	// watches counts the watches created.
	watches int
}

type cached[T any] struct {
	e   Entry[T]
	err error // the value did not decode
}

// CacheOption configures a Cache.
type CacheOption func(*cacheOpts)

type cacheOpts struct {
	log   *slog.Logger
	bound time.Duration
}

// WithCacheLogger sets where the cache logs its lost watches and
// rebuilds (at debug; slog.Default by default).
func WithCacheLogger(l *slog.Logger) CacheOption { return func(o *cacheOpts) { o.log = l } }

// WithSyncBound sets how long Sync waits for the cache to catch up
// before it gives up (DefaultSyncBound).
func WithSyncBound(d time.Duration) CacheOption { return func(o *cacheOpts) { o.bound = d } }

// DefaultSyncBound is how long Sync waits for the cache by default: far
// longer than a healthy watch lags (milliseconds), short enough that a
// placement falls back to reading the server before its caller gives
// up.
const DefaultSyncBound = 2 * time.Second

// NewCache returns a cache of t. Its watch starts at the first Sync (or
// Start) and runs until Close.
func NewCache[T any](t Table[T], opts ...CacheOption) *Cache[T] {
	o := cacheOpts{bound: DefaultSyncBound}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return &Cache[T]{t: t, log: o.log, bound: o.bound, retry: time.Second, done: make(chan struct{}),
		kick: make(chan struct{}, 1), changed: make(chan struct{}), entries: map[string]*cached[T]{}}
}

// Start starts the cache's watch, once; Sync calls it.
func (c *Cache[T]) Start() {
	c.start.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		c.mu.Lock()
		c.cancel = cancel
		closed := c.closed
		c.mu.Unlock()
		if closed {
			cancel()
			close(c.done)
			return
		}
		go c.run(ctx)
	})
}

// Close stops the watch and waits for it. Sync fails after Close.
func (c *Cache[T]) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.Start() // a cache never started has nothing to stop but done
	c.cancel()
	<-c.done
	c.mu.Lock()
	c.broadcast()
	c.mu.Unlock()
}

// errCacheBehind is Sync's error when the cache cannot catch up.
var errCacheBehind = errors.New("the cache did not catch up with the bucket")

// Sync waits until the cache holds every change the bucket had stored
// when Sync was called (see the type's doc for why that is every change
// acknowledged before). It fails with ErrUnavailable when the cache does
// not get there within its bound (the caller then reads the server), and
// with ctx's error when ctx ends.
func (c *Cache[T]) Sync(ctx context.Context) error {
	c.Start()
	target, err := c.t.lastSeq(ctx)
	if err != nil {
		return err
	}
	timer := time.NewTimer(c.bound)
	defer timer.Stop()
	for {
		c.mu.Lock()
		ok, closed, ch, at := c.ready && c.applied >= target, c.closed, c.changed, c.applied
		c.mu.Unlock()
		switch {
		case closed:
			return fmt.Errorf("%s: the cache is closed: %w", c.t.name, errdefs.ErrUnavailable)
		case ok:
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			// A stalled watch or a sequence it cannot deliver: a new
			// watch gets past both.
			select {
			case c.kick <- struct{}{}:
			default:
			}
			return fmt.Errorf("%s: %w at revision %d of %d within %v: %w", c.t.name, errCacheBehind, at, target, c.bound, errdefs.ErrUnavailable)
		}
	}
}

// Snapshot returns the cached entries whose value keep accepts (nil:
// all), by revision as a fresh read of the bucket returns them. keep
// must not change the value it is given, nor may the caller change the
// values returned: they are the cache's (their pointers and slices are
// shared). A value that did not decode fails the snapshot, as it fails a
// read of the bucket.
func (c *Cache[T]) Snapshot(keep func(*T) bool) ([]Entry[T], error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bad > 0 {
		for _, e := range c.entries {
			if e.err != nil {
				return nil, e.err
			}
		}
	}
	var out []Entry[T]
	for _, e := range c.entries {
		if keep == nil || keep(&e.e.Value) {
			out = append(out, e.e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, nil
}

// Revision is the highest revision the cache has applied.
func (c *Cache[T]) Revision() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

// broadcast wakes Sync's waiters; c.mu is held.
func (c *Cache[T]) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// run keeps a watch of the bucket until ctx ends, creating a new one
// when one ends.
func (c *Cache[T]) run(ctx context.Context) {
	defer close(c.done)
	for ctx.Err() == nil {
		err := c.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		if c.t.s.js.Conn().IsClosed() {
			// A closed connection never comes back: Sync's callers
			// fall back to reading the server, which fails alike.
			c.log.Debug("state cache: the connection is closed, the cache stops", "bucket", c.t.name)
			return
		}
		c.log.Debug("state cache: the watch ended, it is created again", "bucket", c.t.name, "err", err)
		if errors.Is(err, errKicked) {
			continue
		}
		c.mu.Lock()
		retry := c.retry
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-time.After(retry):
		}
	}
}

// errKicked ends a watch that Sync found behind.
var errKicked = errors.New("the watch fell behind")

// watch runs one watch: it builds a new map from the initial values,
// swaps it in, then applies every change until the watch ends.
func (c *Cache[T]) watch(ctx context.Context) error {
	kv, err := c.t.kv(ctx)
	if err != nil {
		return err
	}
	// L0: read before the watch subscribes (see the type's doc).
	l0, err := c.t.lastSeq(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := kv.Watch(wctx, ">")
	if err != nil {
		return classify(err)
	}
	updates := w.Updates()
	stop := sync.OnceFunc(func() {
		_ = w.Stop()
	})
	defer func() {
		stop()
		// The watch's callback blocks on a full channel: drain it so
		// that its subscription can finish closing.
		go func() {
			for range updates {
			}
		}()
	}()
	c.mu.Lock()
	c.stopWatch = stop
	c.watches++
	c.mu.Unlock()

	fresh := map[string]*cached[T]{}
	bad := 0
	var top uint64
	initial := true
	// covered is set once the watch has had nothing pending (an entry
	// with no more behind it, or no initial values at all): every
	// message <= l0 that exists has been delivered or superseded by one
	// that was. (The watch's end-of-initial-values marker alone does not
	// prove it: it comes after the first entry if the client could not
	// learn how many to expect.)
	covered := false
	last := time.Now() // when the watch last sent something
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case e, ok = <-updates:
			last = time.Now()
		case <-c.kick:
			// A watch that sends is slow, not lost: a new one would
			// start over from every key and be slower still. One
			// that sent nothing for the whole of Sync's bound while
			// Sync waited is stalled, or waits for a sequence it
			// cannot deliver.
			if time.Since(last) < c.bound {
				continue
			}
			return errKicked
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return errors.New("the watch ended")
		}
		if e == nil {
			if !initial {
				continue
			}
			initial = false
			if len(fresh) == 0 && top == 0 {
				covered = true
			}
			c.mu.Lock()
			c.entries, c.bad = fresh, bad
			c.applied = max(c.applied, top)
			if covered {
				c.applied = max(c.applied, l0)
			}
			c.ready = true
			c.broadcast()
			c.mu.Unlock()
			fresh = nil
			continue
		}
		d, derr := decode[T](e)
		covered = covered || e.Delta() == 0
		if initial {
			top = max(top, e.Revision())
			bad += apply(fresh, e.Key(), d, derr)
			continue
		}
		c.mu.Lock()
		c.bad += apply(c.entries, e.Key(), d, derr)
		rev := e.Revision()
		if covered {
			rev = max(rev, l0)
		}
		if rev > c.applied {
			c.applied = rev
			c.broadcast()
		}
		c.mu.Unlock()
	}
}

// apply puts one change into m and returns how it changed the count of
// undecodable entries.
func apply[T any](m map[string]*cached[T], key string, d Entry[T], err error) int {
	delta := 0
	if old, ok := m[key]; ok && old.err != nil {
		delta--
	}
	if d.Deleted {
		delete(m, key)
		return delta
	}
	if err != nil {
		delta++
	}
	m[key] = &cached[T]{e: d, err: err}
	return delta
}

// lastSeq is the last sequence of the table's stream (the revision of
// its newest change), from the stream's leader.
func (t Table[T]) lastSeq(ctx context.Context) (uint64, error) {
	kv, err := t.kv(ctx)
	if err != nil {
		return 0, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, classify(err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return 0, fmt.Errorf("%s: the bucket's status has no stream info: %w", t.name, errdefs.ErrUnavailable)
	}
	return bs.StreamInfo().State.LastSeq, nil
}
