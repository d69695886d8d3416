package state

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

// twoStores are two stores on one server, each on its own connection:
// two managers of one cluster.
func twoStores(t *testing.T) (*Store, *Store, *natsbox.Box) {
	t.Helper()
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	s1, err := New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(b.Server()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s2, err := New(nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	return s1, s2, b
}

func newTaskCache(t *testing.T, s *Store, opts ...CacheOption) *Cache[Task] {
	t.Helper()
	c := NewCache(s.Tasks(), append([]CacheOption{WithCacheLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	t.Cleanup(c.Close)
	return c
}

// sameAsServer checks that the cache's snapshot is what a read of the
// bucket returns: the same entries, revisions and times, in the same
// order.
func sameAsServer(t *testing.T, ctx context.Context, s *Store, c *Cache[Task], keep func(*Task) bool, skip func([]byte) bool) []Entry[Task] {
	t.Helper()
	if err := c.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	got, err := c.Snapshot(keep)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Tasks().FindWhere(ctx, ">", skip)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the cache's snapshot differs from a read of the bucket:\n got %+v\nwant %+v", got, want)
	}
	return got
}

func keys(es []Entry[Task]) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Key)
	}
	return out
}

// The cache sees creates, updates and deletes, and a snapshot after
// Sync is, entry for entry, what a read of the bucket returns, with a
// filter on the decoded value as with one on the stored JSON.
func TestCachePutsUpdatesDeletes(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newTaskCache(t, s)
	tasks := s.Tasks()
	// Records present before the watch starts, and after.
	for _, id := range []string{"a", "b", "c"} {
		if _, err := tasks.Create(ctx, TaskKey("n1", id), Task{ID: id, NodeID: "n1", LastStatus: "RUNNING"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := keys(sameAsServer(t, ctx, s, c, nil, nil)); !reflect.DeepEqual(got, []string{"n1.a", "n1.b", "n1.c"}) {
		t.Fatalf("initial: %v", got)
	}
	if _, err := Mutate(ctx, tasks, "n1.a", func(x *Task) error { x.LastStatus = "STOPPED"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := tasks.Delete(ctx, "n1.b", 0); err != nil {
		t.Fatal(err)
	}
	rev, err := tasks.Create(ctx, TaskKey("n2", "d"), Task{ID: "d", NodeID: "n2", LastStatus: "PROVISIONING"})
	if err != nil {
		t.Fatal(err)
	}
	all := sameAsServer(t, ctx, s, c, nil, nil)
	if got := keys(all); !reflect.DeepEqual(got, []string{"n1.c", "n1.a", "n2.d"}) {
		t.Fatalf("after an update, a delete and a create: %v", got)
	}
	if all[2].Revision != rev || all[1].Value.LastStatus != "STOPPED" {
		t.Fatalf("entries: %+v", all)
	}
	live := sameAsServer(t, ctx, s, c, func(x *Task) bool { return x.LastStatus != "STOPPED" }, StoppedTaskRecord)
	if got := keys(live); !reflect.DeepEqual(got, []string{"n1.c", "n2.d"}) {
		t.Fatalf("live: %v", got)
	}
	if c.Revision() != rev {
		t.Fatalf("applied revision %d, want %d", c.Revision(), rev)
	}
	// The same key deleted and created again.
	if err := tasks.Delete(ctx, "n1.c", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Create(ctx, "n1.c", Task{ID: "c", NodeID: "n1", LastStatus: "PENDING"}); err != nil {
		t.Fatal(err)
	}
	if got := keys(sameAsServer(t, ctx, s, c, nil, nil)); !reflect.DeepEqual(got, []string{"n1.a", "n2.d", "n1.c"}) {
		t.Fatalf("after a delete and create of one key: %v", got)
	}
}

// A read after Sync sees a write another manager (another connection)
// made just before it, every time.
func TestCacheSyncSeesOtherManagersWrites(t *testing.T) {
	s1, s2, _ := twoStores(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newTaskCache(t, s1)
	for i := 0; i < 200; i++ {
		key := TaskKey("n1", fmt.Sprint(i))
		rev, err := s2.Tasks().Create(ctx, key, Task{ID: fmt.Sprint(i), NodeID: "n1", LastStatus: "PROVISIONING"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Sync(ctx); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
		es, err := c.Snapshot(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != i+1 || es[i].Key != key || es[i].Revision != rev {
			t.Fatalf("after write %d (revision %d), the cache holds %d entries, the last %+v", i, rev, len(es), es[len(es)-1])
		}
		if i%2 == 1 {
			// Deletes by the other manager are seen as surely.
			prev := TaskKey("n1", fmt.Sprint(i-1))
			if err := s2.Tasks().Delete(ctx, prev, 0); err != nil {
				t.Fatal(err)
			}
			if err := c.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			es, _ := c.Snapshot(func(x *Task) bool { return x.ID == fmt.Sprint(i-1) })
			if len(es) != 0 {
				t.Fatalf("a deleted record is still cached: %+v", es)
			}
			if _, err := s2.Tasks().Create(ctx, prev, Task{ID: fmt.Sprint(i - 1), NodeID: "n1"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sameAsServer(t, ctx, s1, c, nil, nil)
}

// loseWatch stops the cache's watch as a lost connection would, and
// keeps the cache from creating another until Sync asks for it.
func loseWatch(t *testing.T, c *Cache[Task]) {
	t.Helper()
	c.mu.Lock()
	c.retry = time.Hour
	stop := c.stopWatch
	c.mu.Unlock()
	if stop == nil {
		t.Fatal("no watch to lose")
	}
	stop()
}

func watches(c *Cache[Task]) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.watches
}

// syncEventually calls Sync until it succeeds: the first ones may fail
// (ErrUnavailable) while the cache is rebuilt.
func syncEventually(t *testing.T, ctx context.Context, c *Cache[Task]) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := c.Sync(ctx)
		if err == nil {
			return
		}
		if !errdefs.IsUnavailable(err) || time.Now().After(deadline) {
			t.Fatalf("sync: %v", err)
		}
	}
}

// A watch that is lost makes Sync fail within its bound (the caller
// reads the server); the cache then creates a new watch and rebuilds its
// map, changes made while it had none included (a delete among them).
func TestCacheRebuildsLostWatch(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newTaskCache(t, s, WithSyncBound(300*time.Millisecond))
	tasks := s.Tasks()
	for _, id := range []string{"a", "b"} {
		if _, err := tasks.Create(ctx, TaskKey("n1", id), Task{ID: id, NodeID: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	sameAsServer(t, ctx, s, c, nil, nil)
	loseWatch(t, c)
	if err := tasks.Delete(ctx, "n1.a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Create(ctx, "n1.c", Task{ID: "c", NodeID: "n1"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := c.Sync(ctx)
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("sync without a watch: %v, want unavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("sync without a watch took %v, beyond its bound", d)
	}
	syncEventually(t, ctx, c)
	if got := keys(sameAsServer(t, ctx, s, c, nil, nil)); !reflect.DeepEqual(got, []string{"n1.b", "n1.c"}) {
		t.Fatalf("after the rebuild: %v", got)
	}
	if n := watches(c); n != 2 {
		t.Fatalf("%d watches, want 2", n)
	}
	// The new watch follows changes as the first did.
	if _, err := tasks.Create(ctx, "n1.d", Task{ID: "d", NodeID: "n1"}); err != nil {
		t.Fatal(err)
	}
	if got := keys(sameAsServer(t, ctx, s, c, nil, nil)); !reflect.DeepEqual(got, []string{"n1.b", "n1.c", "n1.d"}) {
		t.Fatalf("after the rebuild and a create: %v", got)
	}
}

// The bucket's last sequence names a message that is gone (expired,
// deleted by hand) and that no watch will ever deliver: Sync fails
// within its bound, and the rebuilt cache counts that sequence as
// applied, so that the next Syncs succeed.
func TestCacheSequenceThatNeverArrives(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newTaskCache(t, s, WithSyncBound(300*time.Millisecond))
	tasks := s.Tasks()
	if _, err := tasks.Create(ctx, "n1.a", Task{ID: "a", NodeID: "n1"}); err != nil {
		t.Fatal(err)
	}
	sameAsServer(t, ctx, s, c, nil, nil)
	loseWatch(t, c)
	rev, err := tasks.Create(ctx, "n1.b", Task{ID: "b", NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	str, err := s.js.Stream(ctx, "KV_"+bucketTasks)
	if err != nil {
		t.Fatal(err)
	}
	// As KeyValue.PurgeDeletes removes old delete markers.
	if err := str.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bucketTasks+".n1.b")); err != nil {
		t.Fatal(err)
	}
	if last, err := tasks.lastSeq(ctx); err != nil || last != rev {
		t.Fatalf("last sequence %d (%v), want the deleted message's %d", last, err, rev)
	}
	if err := c.Sync(ctx); !errdefs.IsUnavailable(err) {
		t.Fatalf("sync: %v, want unavailable", err)
	}
	syncEventually(t, ctx, c)
	if got := keys(sameAsServer(t, ctx, s, c, nil, nil)); !reflect.DeepEqual(got, []string{"n1.a"}) {
		t.Fatalf("after the rebuild: %v", got)
	}
	if c.Revision() < rev {
		t.Fatalf("applied %d, want at least %d", c.Revision(), rev)
	}
}

// A value that does not decode fails the snapshot, as it fails a read of
// the bucket, until it is replaced.
func TestCacheUndecodableValue(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newTaskCache(t, s)
	kv, err := s.bucket(ctx, bucketTasks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "n1.bad", []byte("{")); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Snapshot(nil); err == nil {
		t.Fatal("a snapshot with an undecodable value succeeded")
	}
	if _, err := s.Tasks().Put(ctx, "n1.bad", Task{ID: "bad"}); err != nil {
		t.Fatal(err)
	}
	sameAsServer(t, ctx, s, c, nil, nil)
}

// After Close, Sync fails at once (the caller reads the server), and the
// watch is gone.
func TestCacheClose(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newTaskCache(t, s)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.Sync(ctx); !errdefs.IsUnavailable(err) {
		t.Fatalf("sync after close: %v", err)
	}
	// A cache closed before it started.
	c2 := NewCache(s.Tasks())
	c2.Close()
	if err := c2.Sync(ctx); !errdefs.IsUnavailable(err) {
		t.Fatalf("sync of a cache closed before it started: %v", err)
	}
}

// Syncs and snapshots from many goroutines while records change (run
// with -race).
func TestCacheConcurrentReaders(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newTaskCache(t, s)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				key := TaskKey("n1", fmt.Sprintf("g%di%d", g, i))
				rev, err := s.Tasks().Create(ctx, key, Task{ID: key})
				if err != nil {
					t.Error(err)
					return
				}
				if err := c.Sync(ctx); err != nil {
					t.Error(err)
					return
				}
				es, err := c.Snapshot(func(x *Task) bool { return x.ID == key })
				if err != nil || len(es) != 1 || es[0].Revision != rev {
					t.Errorf("%s: %+v %v", key, es, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	sameAsServer(t, ctx, s, c, nil, nil)
}
