package state

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A node's watch of "<node>.*" sees its own tasks only; Find locates a
// task by id wherever it is; concurrent Mutates of disjoint fields lose
// neither write.
func TestTasksPerNode(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tasks := s.Tasks()
	for _, k := range []struct{ node, id string }{{"n1", "a"}, {"n2", "b"}, {"n1", "c"}} {
		if _, err := tasks.Create(ctx, TaskKey(k.node, k.id), Task{ID: k.id, NodeID: k.node, DesiredStatus: "RUNNING"}); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := tasks.WatchKeys(ctx, "n1.*")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case e := <-ch:
			if e.Value.NodeID != "n1" {
				t.Fatalf("n1's watch saw %+v", e)
			}
			got[e.Value.ID] = true
		case <-ctx.Done():
			t.Fatalf("watch: %v", got)
		}
	}
	if _, err := tasks.Create(ctx, TaskKey("n2", "d"), Task{ID: "d", NodeID: "n2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Create(ctx, TaskKey("n1", "e"), Task{ID: "e", NodeID: "n1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-ch:
		if e.Value.ID != "e" {
			t.Fatalf("n1's watch saw %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("no watch event for n1.e")
	}
	f, err := tasks.Find(ctx, "*.b")
	if err != nil || len(f) != 1 || f[0].Key != "n2.b" {
		t.Fatalf("find *.b: %+v %v", f, err)
	}
	if node, id := TaskKeyID(f[0].Key); node != "n2" || id != "b" {
		t.Fatalf("TaskKeyID: %s %s", node, id)
	}

	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := Mutate(ctx, tasks, "n1.a", func(t *Task) error { t.Containers = append(t.Containers, TaskContainer{Name: "x"}); return nil }); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := Mutate(ctx, tasks, "n1.a", func(t *Task) error { t.Tags = append(t.Tags, Tag{Key: "k"}); return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	e, err := tasks.Get(ctx, "n1.a")
	if err != nil || len(e.Value.Containers) != 10 || len(e.Value.Tags) != 10 {
		t.Fatalf("after concurrent mutates: %d containers, %d tags, %v", len(e.Value.Containers), len(e.Value.Tags), err)
	}
}
