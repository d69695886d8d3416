package tasks

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

// twoManagers are two stores on one server, each on its own connection,
// as two managers of a cluster are.
func twoManagers(t *testing.T) (*state.Store, *state.Store) {
	t.Helper()
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	s1, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(b.Server()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s2, err := state.New(nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	return s1, s2
}

func quietRuntime(t *testing.T, st *state.Store, opts ...Option) *Runtime {
	t.Helper()
	rt := New(st, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	t.Cleanup(rt.Close)
	return rt
}

func addNode(t *testing.T, ctx context.Context, st *state.Store, id string, cpu int) {
	t.Helper()
	if _, err := st.Nodes().Create(ctx, id, state.Node{ID: id, CPU: cpu, MemoryMiB: 4096, Availability: state.AvailabilityActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Heartbeats().Put(ctx, id, state.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
}

// sampleTasks are records of every kind the selections tell apart.
func sampleTasks() []state.Task {
	marker := `"lastStatus":"STOPPED"`
	return []state.Task{
		{ID: "run", Cluster: "default", NodeID: "n1", LastStatus: "RUNNING", DesiredStatus: "RUNNING", CPU: 128},
		{ID: "prov", Cluster: "default", NodeID: "n1", LastStatus: "PROVISIONING", DesiredStatus: "RUNNING", CPU: 128,
			StoppedReason: marker, Tags: []state.Tag{{Key: marker, Value: `"service":`}}},
		{ID: "stopping", Cluster: "default", NodeID: "n1", LastStatus: "RUNNING", DesiredStatus: "STOPPED"},
		{ID: "batch", Cluster: "default", NodeID: "n1", LastStatus: "STOPPED", DesiredStatus: "STOPPED", StartedBy: "batch/j:1", Group: "service:x"},
		{ID: "svc", Cluster: "default", NodeID: "n1", LastStatus: "STOPPED", DesiredStatus: "STOPPED", Service: "web"},
		{ID: "svcacc", Cluster: "default", NodeID: "n1", LastStatus: "STOPPED", DesiredStatus: "STOPPED", Service: "web", Accounted: true},
		{ID: "svcrun", Cluster: "default", NodeID: "n1", LastStatus: "RUNNING", DesiredStatus: "RUNNING", Service: "web",
			Containers: []state.TaskContainer{{Name: "c", Status: "STOPPED"}}},
	}
}

// Each selection's filter of a decoded record (the cache's) and of its
// stored JSON (a read of the server) agree on every kind of record.
func TestSelectionsAgree(t *testing.T) {
	for name, sel := range map[string]taskSel{"live": selLive, "pass": selPass} {
		for _, x := range sampleTasks() {
			raw, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			if keep, skip := sel.keep(&x), sel.skip(raw); keep == skip {
				t.Errorf("%s, task %s: keep %v and skip %v", name, x.ID, keep, skip)
			}
		}
	}
}

// Placement's and the controller's reads, from the cache, return what a
// read of the server returns: the same entries, revisions and order;
// after Close they read the server.
func TestReadsFromCacheMatchServer(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addNode(t, ctx, st, "n1", 4096)
	rt := quietRuntime(t, st)
	check := func(when string) {
		t.Helper()
		for name, sel := range map[string]taskSel{"all": selAll, "live": selLive, "pass": selPass} {
			snap, err := rt.read(ctx, sel)
			if err != nil {
				t.Fatal(err)
			}
			want, err := st.Tasks().FindWhere(ctx, ">", sel.skip)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(snap.Tasks, want) {
				t.Fatalf("%s, read %s: from the cache %+v\nfrom the server %+v", when, name, snap.Tasks, want)
			}
			if len(snap.Nodes) != 1 || snap.Nodes[0].LastHeartbeat.IsZero() {
				t.Fatalf("%s: nodes %+v", when, snap.Nodes)
			}
		}
	}
	check("empty")
	for _, x := range sampleTasks() {
		if _, err := st.Tasks().Create(ctx, state.TaskKey(x.NodeID, x.ID), x); err != nil {
			t.Fatal(err)
		}
	}
	check("created")
	if rt.taskCache().Revision() == 0 {
		t.Fatal("the reads did not use the cache")
	}
	if _, err := state.Mutate(ctx, st.Tasks(), "n1.run", func(x *state.Task) error { x.LastStatus = "STOPPED"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := st.Tasks().Delete(ctx, "n1.svc", 0); err != nil {
		t.Fatal(err)
	}
	check("updated")
	rt.Close()
	if _, err := st.Tasks().Create(ctx, "n1.late", state.Task{ID: "late", NodeID: "n1", LastStatus: "RUNNING"}); err != nil {
		t.Fatal(err)
	}
	check("closed")
}

// Two managers place at once, each with its own runtime (and cache) on
// its own connection, holding the cluster's placement lock: no node is
// ever given more than it has, and capacity freed by one manager's
// writes is seen by the other's next placement.
func TestTwoManagersPlaceConcurrently(t *testing.T) {
	s1, s2 := twoManagers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addNode(t, ctx, s1, "n1", 1024) // 8 tasks of 128 CPU units
	addNode(t, ctx, s1, "n2", 512)  // 4 more
	td := register(t, ctx, s1, "job")
	rts := []*Runtime{quietRuntime(t, s1), quietRuntime(t, s2)}
	capacity := map[string]int64{"n1": 1024, "n2": 512}
	// load checks the nodes' task records: none over capacity.
	load := func() map[string]int64 {
		t.Helper()
		es, err := s1.Tasks().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]int64{}
		for _, e := range es {
			if e.Value.LastStatus != "STOPPED" {
				used[e.Value.NodeID] += e.Value.CPU
			}
		}
		for n, u := range used {
			if u > capacity[n] {
				t.Fatalf("node %s given %d CPU units of %d: %v", n, u, capacity[n], used)
			}
		}
		return used
	}
	round := func(want int) {
		t.Helper()
		var mu sync.Mutex
		placed := 0
		var wg sync.WaitGroup
		for g := 0; g < 6; g++ {
			rt := rts[g%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					res, err := rt.Run(ctx, Spec{Cluster: "default", TaskDef: td, Count: 1})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					placed += len(res.Tasks)
					mu.Unlock()
					if len(res.Failures) > 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		if placed != want {
			t.Fatalf("%d tasks placed, want %d", placed, want)
		}
		load()
	}
	round(12)
	// The agents stop five of n1's tasks (on the first manager's
	// connection): both managers' next placements count the room.
	es, err := s1.Tasks().Find(ctx, "n1.*")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es[:5] {
		if _, err := state.Mutate(ctx, s1.Tasks(), e.Key, func(x *state.Task) error { x.LastStatus = "STOPPED"; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	round(5)
	if used := load(); used["n1"] != 1024 || used["n2"] != 512 {
		t.Fatalf("load %v, want both nodes full", used)
	}
	for i, rt := range rts {
		if rt.taskCache().Revision() == 0 {
			t.Fatalf("runtime %d did not use its cache", i)
		}
	}
	if l, _ := s1.Locks().List(ctx); len(l) != 0 {
		t.Fatalf("the placement lock is still held: %+v", l)
	}
}
