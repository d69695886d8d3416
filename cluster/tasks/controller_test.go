package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

func newStore(t *testing.T) *state.Store {
	t.Helper()
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	s, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeAgents plays the nodes' agents against the real state: it
// heartbeats the nodes that are up and moves their tasks as an agent
// would (RUNNING when desired RUNNING, STOPPED when desired STOPPED), or
// stops a task at once as a crashing container would.
type fakeAgents struct {
	st    *state.Store
	up    map[string]bool
	crash map[int]bool // revisions whose containers exit at once
}

func (f *fakeAgents) step(t *testing.T, ctx context.Context) {
	t.Helper()
	for n, up := range f.up {
		if up {
			if _, err := f.st.Heartbeats().Put(ctx, n, state.Heartbeat{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	es, err := f.st.Tasks().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if !f.up[e.Value.NodeID] {
			continue
		}
		_, err := state.Mutate(ctx, f.st.Tasks(), e.Key, func(tk *state.Task) error {
			now := time.Now().UTC()
			switch {
			case tk.LastStatus == "STOPPED":
			case tk.DesiredStatus == "STOPPED":
				tk.LastStatus, tk.StoppedAt = "STOPPED", &now
			case f.crash[tk.Revision]:
				tk.DesiredStatus, tk.LastStatus, tk.StoppedAt = "STOPPED", "STOPPED", &now
				tk.StopCode, tk.StoppedReason = string(sched.StopEssentialExited), "Essential container in task exited"
			case tk.LastStatus != "RUNNING":
				tk.LastStatus, tk.StartedAt = "RUNNING", &now
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func register(t *testing.T, ctx context.Context, st *state.Store, family string) state.TaskDefinition {
	t.Helper()
	mem := 64
	td, err := st.RegisterTaskDef(ctx, state.TaskDefinition{Family: family, NetworkMode: "bridge", ContainerDefinitions: []state.ContainerDefinition{
		{Name: "web", Image: "busybox", Cpu: 128, Memory: &mem}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return td
}

func liveTasks(t *testing.T, ctx context.Context, rt *Runtime, svc string) []state.Task {
	t.Helper()
	ts, err := rt.List(ctx, Filter{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	var out []state.Task
	for _, x := range ts {
		if x.LastStatus != "STOPPED" {
			out = append(out, x)
		}
	}
	return out
}

// The controller against the real state and fake agents: a service of
// 6 spreads over three nodes and completes its deployment; a lost node's
// tasks are replaced on the others; an update to a revision that
// crashes trips the circuit breaker and rolls back to the last completed
// one; a forced delete drains the service to INACTIVE.
func TestControllerServiceLifecycle(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := &fakeAgents{st: st, up: map[string]bool{}, crash: map[int]bool{}}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		if _, err := st.Nodes().Create(ctx, id, state.Node{ID: id, Name: id, CPU: 4096, MemoryMiB: 4096, Availability: state.AvailabilityActive}); err != nil {
			t.Fatal(err)
		}
		f.up[id] = true
	}
	rt := New(st, WithHeartbeatTimeout(1500*time.Millisecond))
	c := NewController(rt, func() bool { return true }, slog.New(slog.DiscardHandler), WithStableFor(200*time.Millisecond))
	td1 := register(t, ctx, st, "web")
	six := 6
	if _, err := rt.CreateService(ctx, ServiceSpec{Cluster: "default", Name: "web", TaskDef: td1, DesiredCount: 6,
		Strategies: []state.PlacementStrategy{{Type: "spread", Field: "instanceId"}}, CircuitBreaker: &state.CircuitBreaker{Enable: true, Rollback: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.CreateService(ctx, ServiceSpec{Cluster: "default", Name: "web", TaskDef: td1, DesiredCount: 1}); err == nil {
		t.Fatal("a second service of the same name was created")
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				svc, _ := rt.GetService(ctx, "default", "web")
				t.Fatalf("%s: not reached; service %+v", what, svc)
			}
			f.step(t, ctx)
			if _, err := c.Pass(ctx); err != nil {
				t.Logf("pass: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	until("6 running, deployment completed", func() bool {
		svc, _ := rt.GetService(ctx, "default", "web")
		return len(liveTasks(t, ctx, rt, "web")) == 6 && len(svc.Deployments) == 1 && svc.Deployments[0].RolloutState == "COMPLETED" && svc.Steady
	})
	per := map[string]int{}
	for _, x := range liveTasks(t, ctx, rt, "web") {
		per[x.NodeID]++
	}
	if per["n1"] != 2 || per["n2"] != 2 || per["n3"] != 2 {
		t.Fatalf("spread: %v", per)
	}

	// n3 dies: its two tasks are replaced on n1 and n2.
	f.up["n3"] = false
	until("n3's tasks replaced", func() bool {
		per := map[string]int{}
		for _, x := range liveTasks(t, ctx, rt, "web") {
			if x.DesiredStatus == "RUNNING" {
				per[x.NodeID]++
			}
		}
		return per["n1"] == 3 && per["n2"] == 3 && per["n3"] == 0
	})
	until("n3's tasks STOPPED", func() bool {
		ts, _ := rt.List(ctx, Filter{Service: "web", NodeID: "n3"})
		for _, x := range ts {
			if x.LastStatus != "STOPPED" || x.StopCode != string(sched.StopSchedulerInitiated) {
				return false
			}
		}
		return len(ts) == 2
	})
	f.up["n3"] = true

	// A revision that crashes: the breaker fails it and rolls back.
	td2 := register(t, ctx, st, "web")
	f.crash[td2.Revision] = true
	if _, err := rt.UpdateService(ctx, "default", "web", ServiceUpdate{TaskDef: &td2}); err != nil {
		t.Fatal(err)
	}
	until("rolled back", func() bool {
		svc, _ := rt.GetService(ctx, "default", "web")
		var primary *state.Deployment
		for i := range svc.Deployments {
			if svc.Deployments[i].Status == "PRIMARY" {
				primary = &svc.Deployments[i]
			}
		}
		return primary != nil && primary.Revision == td1.Revision && primary.Rollback && primary.RolloutState == "COMPLETED" &&
			len(liveTasks(t, ctx, rt, "web")) == 6 && svc.Revision == td1.Revision
	})
	svc, _ := rt.GetService(ctx, "default", "web")
	found := false
	for _, e := range svc.Events {
		found = found || strings.Contains(e.Message, "deployment failed")
	}
	if !found {
		t.Fatalf("no deployment failed event: %+v", svc.Events)
	}

	if _, err := rt.DeleteService(ctx, "default", "web", false); err == nil {
		t.Fatal("a service scaled above 0 was deleted without force")
	}
	if _, err := rt.DeleteService(ctx, "default", "web", true); err != nil {
		t.Fatal(err)
	}
	until("INACTIVE", func() bool {
		svc, _ := rt.GetService(ctx, "default", "web")
		return svc.Status == state.ServiceInactive && len(liveTasks(t, ctx, rt, "web")) == 0
	})
	if _, err := rt.UpdateService(ctx, "default", "web", ServiceUpdate{DesiredCount: &six}); err != ErrServiceNotActive {
		t.Fatalf("update of an INACTIVE service: %v", err)
	}
}

// RunTask: binpack fills one node before the next; what no node can take
// is a failure with ECS's reason and no record; StartTask places on the
// named nodes; Stop and Wait see the task to its end.
func TestRunBinpackFailuresStopWait(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 1; i <= 2; i++ {
		id := fmt.Sprintf("n%d", i)
		if _, err := st.Nodes().Create(ctx, id, state.Node{ID: id, CPU: 1024, MemoryMiB: 4096, Availability: state.AvailabilityActive}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Heartbeats().Put(ctx, id, state.Heartbeat{}); err != nil {
			t.Fatal(err)
		}
	}
	rt := New(st)
	td := register(t, ctx, st, "job") // 128 CPU units a task: 8 per node
	res, err := rt.Run(ctx, Spec{Cluster: "default", TaskDef: td, Count: 6, Strategies: []state.PlacementStrategy{{Type: "binpack", Field: "cpu"}}})
	if err != nil || len(res.Tasks) != 6 || len(res.Failures) != 0 {
		t.Fatalf("run 6: %+v %v", res, err)
	}
	first := res.Tasks[0].NodeID
	for _, x := range res.Tasks {
		if x.NodeID != first || x.Group != "family:job" || x.LastStatus != "PROVISIONING" || x.DesiredStatus != "RUNNING" {
			t.Fatalf("binpack put tasks apart: %+v", res.Tasks)
		}
	}
	res, err = rt.Run(ctx, Spec{Cluster: "default", TaskDef: td, Count: 10})
	if err != nil || len(res.Tasks) != 10 || len(res.Failures) != 0 {
		t.Fatalf("run 10 more: %d %+v %v", len(res.Tasks), res.Failures, err)
	}
	res, err = rt.Run(ctx, Spec{Cluster: "default", TaskDef: td, Count: 1})
	if err != nil || len(res.Tasks) != 0 || len(res.Failures) != 1 || res.Failures[0].Reason != sched.ReasonCPU {
		t.Fatalf("a full cluster: %+v %v", res, err)
	}
	if _, err := rt.Run(ctx, Spec{Cluster: "default", TaskDef: td, Count: 11}); err == nil {
		t.Fatal("count 11 accepted")
	}
	if _, err := rt.Run(ctx, Spec{Cluster: "default", TaskDef: td, LaunchType: "FARGATE"}); err == nil {
		t.Fatal("a bridge task definition ran on FARGATE")
	}
	all, _ := rt.List(ctx, Filter{Cluster: "default"})
	if len(all) != 16 {
		t.Fatalf("%d task records, want 16", len(all))
	}

	id := all[0].ID
	done := make(chan state.Task, 2)
	go func() {
		x, err := rt.Wait(ctx, id)
		if err != nil {
			t.Error(err)
		}
		done <- x
	}()
	go func() {
		x, err := rt.WaitOn(ctx, all[0].NodeID, id)
		if err != nil {
			t.Error(err)
		}
		done <- x
	}()
	if _, err := rt.WaitOn(ctx, all[0].NodeID+"x", id); !errdefs.IsNotFound(err) {
		t.Fatalf("WaitOn on another node: %v, want not found", err)
	}
	stopped, err := rt.Stop(ctx, id, "enough")
	if err != nil || stopped.DesiredStatus != "STOPPED" || stopped.StopCode != "UserInitiated" || stopped.StoppedReason != "enough" {
		t.Fatalf("stop: %+v %v", stopped, err)
	}
	select {
	case <-done:
		t.Fatal("Wait returned before the agent reported STOPPED")
	case <-time.After(200 * time.Millisecond):
	}
	e, _ := rt.Find(ctx, id)
	exit := 0
	if _, err := state.Mutate(ctx, st.Tasks(), e.Key, func(x *state.Task) error {
		x.LastStatus = "STOPPED"
		x.Containers = []state.TaskContainer{{Name: "web", Status: "STOPPED", ExitCode: &exit}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case x := <-done:
			if x.LastStatus != "STOPPED" || x.Containers[0].ExitCode == nil {
				t.Fatalf("wait: %+v", x)
			}
		case <-ctx.Done():
			t.Fatal("Wait or WaitOn did not return")
		}
	}
	if _, err := rt.Get(ctx, "nope"); err == nil {
		t.Fatal("a missing task was found")
	}
}

// Concurrent RunTasks (as from several managers) never count the same
// capacity twice: a node with room for 8 tasks gets 8 of 16 asked for.
func TestConcurrentRunsNeverOvercommit(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := st.Nodes().Create(ctx, "n1", state.Node{ID: "n1", CPU: 1024, MemoryMiB: 4096, Availability: state.AvailabilityActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Heartbeats().Put(ctx, "n1", state.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
	td := register(t, ctx, st, "job")
	var mu sync.Mutex
	placed, failed := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := New(st).Run(ctx, Spec{Cluster: "default", TaskDef: td, Count: 4})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			placed += len(res.Tasks)
			failed += len(res.Failures)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if placed != 8 || failed != 8 {
		t.Fatalf("%d placed, %d failed; want 8 and 8", placed, failed)
	}
	if l, _ := st.Locks().List(ctx); len(l) != 0 {
		t.Fatalf("the placement lock is still held: %+v", l)
	}
}

// A STOPPED task of no service is forgotten after StoppedRetention: at
// the first pass, and, between the passes that read every record, at
// the next full read at most fullReadEvery later; a service's STOPPED
// task not yet accounted is kept.
func TestRetentionForgetsStoppedTasks(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Now()
	clock := func() time.Time { return now }
	rt := New(st, WithClock(clock))
	c := NewController(rt, func() bool { return true }, slog.New(slog.DiscardHandler))
	old := now.Add(-StoppedRetention - time.Minute)
	put := func(id, service string) string {
		key := state.TaskKey("n1", id)
		if _, err := st.Tasks().Create(ctx, key, state.Task{ID: id, Cluster: "default", NodeID: "n1", Service: service,
			LastStatus: "STOPPED", DesiredStatus: "STOPPED", StoppedAt: &old}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	gone := func(key string) bool {
		_, err := st.Tasks().Get(ctx, key)
		return errdefs.IsNotFound(err)
	}
	a := put("a", "")
	kept := put("svc", "web")
	if _, err := c.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if !gone(a) || gone(kept) {
		t.Fatalf("first pass: standalone forgotten %v (want true), unaccounted service task forgotten %v (want false)", gone(a), gone(kept))
	}
	b := put("b", "")
	now = now.Add(time.Second)
	if _, err := c.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if gone(b) {
		t.Fatal("a pass between full reads forgot a STOPPED standalone task (it should not read it)")
	}
	now = now.Add(fullReadEvery)
	if _, err := c.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if !gone(b) || gone(kept) {
		t.Fatalf("full pass: standalone forgotten %v (want true), unaccounted service task forgotten %v (want false)", gone(b), gone(kept))
	}
}
