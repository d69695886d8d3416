package state

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	s, err := New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// An update with a stale revision is a conflict; a create over a value
// too; a missing key is not found.
func TestRevisions(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	nodes := s.Nodes()
	if _, err := nodes.Get(ctx, "n1"); !errdefs.IsNotFound(err) {
		t.Fatalf("missing key: %v", err)
	}
	rev, err := nodes.Create(ctx, "n1", Node{ID: "n1", Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.Create(ctx, "n1", Node{ID: "n1"}); !errdefs.IsConflict(err) {
		t.Fatalf("create over a value: %v", err)
	}
	rev2, err := nodes.Update(ctx, "n1", Node{ID: "n1", Name: "b"}, rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.Update(ctx, "n1", Node{ID: "n1", Name: "c"}, rev); !errdefs.IsConflict(err) {
		t.Fatalf("update with a stale revision: %v", err)
	}
	e, err := nodes.Get(ctx, "n1")
	if err != nil || e.Value.Name != "b" || e.Revision != rev2 {
		t.Fatalf("got %+v, %v", e, err)
	}
	if err := nodes.Delete(ctx, "n1", rev); !errdefs.IsConflict(err) {
		t.Fatalf("delete with a stale revision: %v", err)
	}
	if err := nodes.Delete(ctx, "n1", rev2); err != nil {
		t.Fatal(err)
	}
	if l, err := nodes.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("list after delete: %v %v", l, err)
	}
}

// Concurrent registrations of one family get distinct, dense revisions.
func TestRegisterTaskDefConcurrent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]bool{}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			td, err := s.RegisterTaskDef(ctx, TaskDefinition{Family: "web"}, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[td.Revision] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	for r := 1; r <= 8; r++ {
		if !seen[r] {
			t.Fatalf("revision %d missing: %v", r, seen)
		}
	}
	td, err := s.DeregisterTaskDef(ctx, "web", 3, time.Now())
	if err != nil || td.Status != TaskDefInactive {
		t.Fatalf("deregister: %+v %v", td, err)
	}
	l, err := s.TaskDefs().List(ctx)
	if err != nil || len(l) != 8 {
		t.Fatalf("list: %d %v", len(l), err)
	}
}

// A watcher sees the values present, then changes and deletions.
func TestWatch(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hb := s.Heartbeats()
	if _, err := hb.Put(ctx, "a", Heartbeat{}); err != nil {
		t.Fatal(err)
	}
	ch, err := hb.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func() Entry[Heartbeat] {
		select {
		case e := <-ch:
			return e
		case <-ctx.Done():
			t.Fatal("no watch event")
		}
		return Entry[Heartbeat]{}
	}
	if e := next(); e.Key != "a" || e.Deleted {
		t.Fatalf("first: %+v", e)
	}
	if _, err := hb.Put(ctx, "b", Heartbeat{Leader: true}); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Key != "b" || !e.Value.Leader {
		t.Fatalf("second: %+v", e)
	}
	if err := hb.Delete(ctx, "a", 0); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Key != "a" || !e.Deleted {
		t.Fatalf("third: %+v", e)
	}
}

func TestNodeStatus(t *testing.T) {
	now := time.Now()
	if NodeStatus(time.Time{}, now, time.Second) != StatusDown || NodeStatus(now.Add(-2*time.Second), now, time.Second) != StatusDown || NodeStatus(now, now, time.Second) != StatusReady {
		t.Fatal("NodeStatus")
	}
}
