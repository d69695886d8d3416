// Package state is the cluster's state: typed tables over JetStream KV
// buckets, replicated by NATS (R1 with one manager, R3 with three), with
// revisions for optimistic concurrency and watchers for controllers.
//
// Buckets (one per table, created by the first manager that needs them,
// with the cluster's replica count):
//
//	nodes       node id                  -> Node (registration, labels, availability)
//	heartbeats  node id                  -> Heartbeat (rewritten every few seconds;
//	                                        the server's timestamp of the entry is
//	                                        the node's last contact)
//	taskdefs    <family>.<revision>      -> TaskDefinition (immutable but for status)
//	families    <family>                 -> Family (the family's last revision)
//	clusters    <name>                   -> Cluster (ECS clusters; "default" implied)
//	tasks       <node>.<task id>         -> Task (tasks.go): a node's agent watches
//	                                        "<node>.*" and sees its own tasks only
//	services    <cluster>.<service>      -> Service (its deployments, events and the
//	                                        starts its controller has decided)
//	locks       <name>                   -> Lock ("placement": held while tasks are
//	                                        placed, so that two placements never
//	                                        count the same capacity)
//	tasknet     "config"                 -> TaskNetConfig (the cluster's task
//	                                        network, tasknet.go)
//	subnets     <subnet index>           -> SubnetLease (each node's subnet of it)
//
// Values are JSON. A table's Update takes the revision the caller read: a
// write that lost a race fails with errdefs.ErrConflict and is retried by
// the caller from a fresh read, so no update is lost between two managers.
// Errors carry errdefs classes: ErrNotFound for a missing key,
// ErrConflict for a revision that moved, ErrUnavailable when JetStream
// does not answer (no quorum, no manager reachable).
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/errdefs"
)

// opTimeout bounds one JetStream call when the caller's context has no
// deadline: a cluster without quorum must not hang a request forever.
const opTimeout = 5 * time.Second

// Store opens the cluster's buckets on a NATS connection.
type Store struct {
	js       jetstream.JetStream
	replicas int

	mu      sync.Mutex
	buckets map[string]jetstream.KeyValue
	logs    jetstream.Stream // the task logs' (logs.go), once opened
}

// New returns a store on nc whose buckets have replicas copies (1 or 3).
func New(nc *nats.Conn, replicas int) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if replicas < 1 {
		replicas = 1
	}
	return &Store{js: js, replicas: replicas, buckets: map[string]jetstream.KeyValue{}}, nil
}

// bucket opens (creating it if it is missing) the bucket name.
func (s *Store) bucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	s.mu.Lock()
	kv := s.buckets[name]
	s.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	kv, err := s.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Replicas: s.replicas, History: 1, Storage: jetstream.FileStorage})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = s.js.KeyValue(ctx, name)
		}
	}
	if err != nil {
		return nil, classify(err)
	}
	s.mu.Lock()
	s.buckets[name] = kv
	s.mu.Unlock()
	return kv, nil
}

// Ready reports whether the cluster's state answers: it opens every
// bucket.
func (s *Store) Ready(ctx context.Context) error {
	for _, b := range []string{bucketNodes, bucketHeartbeats, bucketTaskDefs, bucketFamilies, bucketClusters, bucketTasks, bucketServices, bucketLocks} {
		if _, err := s.bucket(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, opTimeout)
}

// classify gives a JetStream error its errdefs class.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("%v: %w", err, errdefs.ErrNotFound)
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return fmt.Errorf("%v: %w", err, errdefs.ErrConflict)
	case errors.Is(err, jetstream.ErrInvalidKey):
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return fmt.Errorf("the cluster's state does not answer (no quorum of managers?): %v: %w", err, errdefs.ErrUnavailable)
	}
	var apiErr *jetstream.APIError
	// A compare-and-set lost to another writer. nats.go's Create of a
	// key whose last value is a delete (the placement lock, deleted after
	// every placement) returns the stream's answer unwrapped, and on a
	// replicated stream that is code 10164, not the 10071 ErrKeyExists
	// matches: two managers taking the lock at once got a hard error.
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return fmt.Errorf("%v: %w", err, errdefs.ErrConflict)
	}
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return fmt.Errorf("the cluster's state does not answer: %v: %w", err, errdefs.ErrUnavailable)
	}
	return err
}

// Entry is one value of a table with its key and revision.
type Entry[T any] struct {
	Key      string
	Value    T
	Revision uint64
	// Created is when this revision was written, by the server's clock.
	Created time.Time
	// Deleted is set on a watch event for a deleted key.
	Deleted bool
}

// Table is a typed view of one bucket.
type Table[T any] struct {
	s    *Store
	name string
}

func (t Table[T]) kv(ctx context.Context) (jetstream.KeyValue, error) { return t.s.bucket(ctx, t.name) }

// Get returns key's value and revision.
func (t Table[T]) Get(ctx context.Context, key string) (Entry[T], error) {
	kv, err := t.kv(ctx)
	if err != nil {
		return Entry[T]{}, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	e, err := kv.Get(ctx, key)
	if err != nil {
		return Entry[T]{}, classify(err)
	}
	return decode[T](e)
}

func decode[T any](e jetstream.KeyValueEntry) (Entry[T], error) {
	out := Entry[T]{Key: e.Key(), Revision: e.Revision(), Created: e.Created(), Deleted: e.Operation() != jetstream.KeyValuePut}
	if out.Deleted {
		return out, nil
	}
	if err := json.Unmarshal(e.Value(), &out.Value); err != nil {
		return out, fmt.Errorf("%s/%s: %w", e.Bucket(), e.Key(), err)
	}
	return out, nil
}

// Create stores v at key unless the key holds a value; it returns the
// new revision.
func (t Table[T]) Create(ctx context.Context, key string, v T) (uint64, error) {
	kv, data, err := t.prep(ctx, v)
	if err != nil {
		return 0, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	rev, err := kv.Create(ctx, key, data)
	return rev, classify(err)
}

// Update stores v at key if its revision is still rev.
func (t Table[T]) Update(ctx context.Context, key string, v T, rev uint64) (uint64, error) {
	kv, data, err := t.prep(ctx, v)
	if err != nil {
		return 0, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	nrev, err := kv.Update(ctx, key, data, rev)
	return nrev, classify(err)
}

// Put stores v at key whatever is there (for values only their owner
// writes, such as a node's heartbeat).
func (t Table[T]) Put(ctx context.Context, key string, v T) (uint64, error) {
	kv, data, err := t.prep(ctx, v)
	if err != nil {
		return 0, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	rev, err := kv.Put(ctx, key, data)
	return rev, classify(err)
}

func (t Table[T]) prep(ctx context.Context, v T) (jetstream.KeyValue, []byte, error) {
	kv, err := t.kv(ctx)
	if err != nil {
		return nil, nil, err
	}
	data, err := json.Marshal(v)
	return kv, data, err
}

// Delete removes key if its revision is still rev (0: whatever it is).
func (t Table[T]) Delete(ctx context.Context, key string, rev uint64) error {
	kv, err := t.kv(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var opts []jetstream.KVDeleteOpt
	if rev != 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	return classify(kv.Purge(ctx, key, opts...))
}

// List returns every value of the table.
func (t Table[T]) List(ctx context.Context) ([]Entry[T], error) { return t.Find(ctx, ">") }

// Find returns the values whose keys match pattern, NATS-style: "*"
// matches one dot-separated token, ">" the rest ("n1.*": node n1's
// tasks; "*.abc": the task abc wherever it is).
func (t Table[T]) Find(ctx context.Context, pattern string) ([]Entry[T], error) {
	return t.FindWhere(ctx, pattern, nil)
}

// FindWhere is Find without the values for which skip (given the value's
// stored JSON) says true: they are not decoded, which is most of a
// read's cost on a large table (the tasks of a busy cluster, thousands of
// them STOPPED, read at every placement).
func (t Table[T]) FindWhere(ctx context.Context, pattern string, skip func(raw []byte) bool) ([]Entry[T], error) {
	kv, err := t.kv(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	w, err := kv.Watch(ctx, pattern, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, classify(err)
	}
	defer func() { _ = w.Stop() }()
	var out []Entry[T]
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return out, nil
			}
			if e == nil {
				// The end of the values present when the watch began.
				return out, nil
			}
			if skip != nil && skip(e.Value()) {
				continue
			}
			d, err := decode[T](e)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		case <-ctx.Done():
			return nil, classify(ctx.Err())
		}
	}
}

// Watch sends every value of the table, then every change, until ctx
// ends. The channel is closed when the watch ends.
func (t Table[T]) Watch(ctx context.Context) (<-chan Entry[T], error) { return t.WatchKeys(ctx, ">") }

// WatchKeys is Watch of the keys that match pattern (as Find's).
func (t Table[T]) WatchKeys(ctx context.Context, pattern string) (<-chan Entry[T], error) {
	kv, err := t.kv(ctx)
	if err != nil {
		return nil, err
	}
	w, err := kv.Watch(ctx, pattern)
	if err != nil {
		return nil, classify(err)
	}
	ch := make(chan Entry[T], 64)
	go func() {
		defer close(ch)
		defer func() { _ = w.Stop() }()
		for {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				d, err := decode[T](e)
				if err != nil {
					continue
				}
				select {
				case ch <- d:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// maxAttempts bounds Mutate's retries of a lost race.
const maxAttempts = 50

// Mutate reads key, applies f to its value and writes it back with the
// revision read, retrying from a fresh read when another writer won the
// race; it returns the value written. f may be called several times and
// must only change its argument. An error from f ends Mutate with it
// (ErrNotFound when the key is missing).
func Mutate[T any](ctx context.Context, t Table[T], key string, f func(*T) error) (T, error) {
	var zero T
	for attempt := 0; attempt < maxAttempts; attempt++ {
		e, err := t.Get(ctx, key)
		if err != nil {
			return zero, err
		}
		v := e.Value
		if err := f(&v); err != nil {
			return zero, err
		}
		if _, err := t.Update(ctx, key, v, e.Revision); errdefs.IsConflict(err) {
			continue
		} else if err != nil {
			return zero, err
		}
		return v, nil
	}
	return zero, fmt.Errorf("%s/%s: too many concurrent updates: %w", t.name, key, errdefs.ErrConflict)
}
