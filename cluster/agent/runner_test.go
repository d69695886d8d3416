package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// fakeEngine is an engine that keeps containers in memory and tells
// their start, exit and health on a real event bus, as the engine does.
type fakeEngine struct {
	bus *events.Bus
	mu  sync.Mutex
	cs  map[string]*container.Container
	n   int
	// created counts creates per name, to catch duplicates.
	created map[string]int
	// exitAt once started: container name label → exit code.
	exitOnStart map[string]int
	// output: container name label → the lines its log holds.
	output map[string][]string
	// beforeList, when set, runs (once) at the start of the next List.
	beforeList func()
}

func newFakeEngine(t *testing.T) *fakeEngine {
	bus, err := events.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	return &fakeEngine{bus: bus, cs: map[string]*container.Container{}, created: map[string]int{}, exitOnStart: map[string]int{}, output: map[string][]string{}}
}

func (f *fakeEngine) publish(c *container.Container, action string) {
	attrs := map[string]string{"name": c.Name}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	f.bus.Publish(events.Event{Type: events.TypeContainer, Action: action, Actor: events.Actor{ID: c.ID, Attributes: attrs}})
}

func (f *fakeEngine) Create(_ context.Context, o container.CreateOptions) (*container.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.cs {
		if c.Name == o.Name {
			return nil, fmt.Errorf("name %s in use: %w", o.Name, errdefs.ErrConflict)
		}
	}
	f.n++
	c := &container.Container{ID: fmt.Sprintf("c%d", f.n), Name: o.Name, Config: o.Config, HostConfig: o.HostConfig, State: container.State{Status: container.StatusCreated}}
	f.cs[c.ID] = c
	f.created[o.Name]++
	cp := *c
	return &cp, nil
}

func (f *fakeEngine) Start(_ context.Context, ref string) error {
	f.mu.Lock()
	c := f.cs[ref]
	if c == nil {
		f.mu.Unlock()
		return errdefs.ErrNotFound
	}
	c.State.Status, c.State.StartedAt = container.StatusRunning, time.Now()
	if c.Config.Healthcheck != nil {
		c.State.Health = &container.Health{Status: container.HealthHealthy}
	}
	code, exits := f.exitOnStart[c.Config.Labels[LabelContainerName]]
	snap := *c
	f.mu.Unlock()
	f.publish(&snap, "start")
	if exits {
		f.exit(ref, code)
	}
	return nil
}

func (f *fakeEngine) exit(ref string, code int) {
	f.mu.Lock()
	c := f.cs[ref]
	c.State.Status, c.State.ExitCode, c.State.FinishedAt = container.StatusExited, code, time.Now()
	snap := *c
	f.mu.Unlock()
	f.publish(&snap, "die")
}

func (f *fakeEngine) Stop(_ context.Context, ref string, _ *int, _ string) error {
	f.mu.Lock()
	c := f.cs[ref]
	running := c != nil && c.State.Status == container.StatusRunning
	f.mu.Unlock()
	if c == nil {
		return errdefs.ErrNotFound
	}
	if running {
		f.exit(ref, 143)
	}
	return nil
}

func (f *fakeEngine) Remove(_ context.Context, ref string, _ container.RemoveOptions) error {
	f.mu.Lock()
	c := f.cs[ref]
	delete(f.cs, ref)
	f.mu.Unlock()
	if c == nil {
		return errdefs.ErrNotFound
	}
	f.publish(c, "destroy")
	return nil
}

func (f *fakeEngine) List(context.Context) []*container.Container {
	f.mu.Lock()
	hook := f.beforeList
	f.beforeList = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*container.Container, 0, len(f.cs))
	for _, c := range f.cs {
		cp := *c
		out = append(out, &cp)
	}
	return out
}

func (f *fakeEngine) Logs(_ context.Context, ref string, _ container.LogsOptions, emit func(logfile.Entry) error) error {
	f.mu.Lock()
	c := f.cs[ref]
	var lines []string
	if c != nil {
		lines = f.output[c.Config.Labels[LabelContainerName]]
	}
	f.mu.Unlock()
	if c == nil {
		return errdefs.ErrNotFound
	}
	for _, l := range lines {
		if err := emit(logfile.Entry{Log: l + "\n", Stream: "stdout", Time: time.Now()}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeEngine) running() int {
	n := 0
	for _, c := range f.List(context.Background()) {
		if c.State.Status == container.StatusRunning {
			n++
		}
	}
	return n
}

type fakeImages struct {
	mu     sync.Mutex
	have   map[string]bool
	pulled []string
}

func (f *fakeImages) Get(_ context.Context, ref string) (*store.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.have[ref] {
		return &store.Image{}, nil
	}
	return nil, errdefs.ErrNotFound
}

func (f *fakeImages) Pull(_ context.Context, ref string, _ func(store.Progress)) (*store.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ref == "missing" {
		return nil, fmt.Errorf("manifest unknown: %w", errdefs.ErrNotFound)
	}
	f.have[ref] = true
	f.pulled = append(f.pulled, ref)
	return &store.Image{}, nil
}

func waitTask(t *testing.T, ctx context.Context, rt *tasks.Runtime, id, what string, cond func(state.Task) bool) state.Task {
	t.Helper()
	for {
		x, err := rt.Get(ctx, id)
		if err == nil && cond(x) {
			return x
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached; task %+v", what, x)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The runner against fake engine and images and the real state: a task
// of two containers, the second depending on the first's HEALTHY, is
// pulled, started in order with its definition's options and reported
// RUNNING and HEALTHY; a restarted runner re-adopts it without a second
// container; a stop stops and removes its containers, in reverse order,
// and reports STOPPED with the exit codes; an essential container that
// exits stops its task with EssentialContainerExited; an image that
// cannot be pulled fails the task to start; a container of a task the
// cluster does not have is removed.
func TestRunnerTaskLifecycle(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := st.Nodes().Create(ctx, "n1", state.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, Availability: state.AvailabilityActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Heartbeats().Put(ctx, "n1", state.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
	mem, two := 64, 2
	no := false
	td, err := st.RegisterTaskDef(ctx, state.TaskDefinition{Family: "web", NetworkMode: "bridge", ContainerDefinitions: []state.ContainerDefinition{
		{Name: "app", Image: "busybox", Cpu: 256, Memory: &mem, Command: []string{"httpd", "-f"}, StopTimeout: &two,
			Environment:  []state.KeyValue{{Name: "A", Value: "1"}},
			PortMappings: []state.PortMapping{{ContainerPort: 80, HostPort: 8080, Protocol: "tcp"}},
			HealthCheck:  &state.HealthCheck{Command: []string{"CMD-SHELL", "true"}, Interval: 5, Timeout: 2, Retries: 3}},
		{Name: "side", Image: "busybox", Memory: &mem, Essential: &no, Command: []string{"sleep", "1000"},
			DependsOn: []state.Dependency{{ContainerName: "app", Condition: "HEALTHY"}}},
	}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	eng := newFakeEngine(t)
	imgs := &fakeImages{have: map[string]bool{}}
	log := slog.New(slog.DiscardHandler)
	rctx, rcancel := context.WithCancel(ctx)
	go NewRunner(st, "n1", eng, imgs, eng.bus, log).Run(rctx)

	rt := tasks.New(st)
	res, err := rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td, Overrides: &state.TaskOverrides{ContainerOverrides: []state.ContainerOverride{
		{Name: "app", Environment: []state.KeyValue{{Name: "B", Value: "2"}}}}}})
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	id := res.Tasks[0].ID
	x := waitTask(t, ctx, rt, id, "RUNNING", func(x state.Task) bool { return x.LastStatus == "RUNNING" })
	if x.Health != "HEALTHY" || len(x.Containers) != 2 || x.Containers[0].Status != "RUNNING" || x.Containers[1].Status != "RUNNING" ||
		x.StartedAt == nil || x.PullStartedAt == nil || !slices.Contains(imgs.pulled, "busybox") {
		t.Fatalf("running task: %+v", x)
	}
	var app *container.Container
	for _, c := range eng.List(ctx) {
		if c.Config.Labels[LabelContainerName] == "app" {
			app = c
		}
	}
	if app == nil || app.Name != "ecs-web-1-app-"+id || app.HostConfig.CPUShares != 256 || app.HostConfig.Memory != 64<<20 ||
		!slices.Contains(app.Config.Env, "A=1") || !slices.Contains(app.Config.Env, "B=2") || len(app.HostConfig.PortBindings) != 1 ||
		app.HostConfig.PortBindings[0].HostPort != 8080 || app.Config.Healthcheck == nil || app.Config.Labels[LabelTaskARN] != tasks.TaskARN("default", id) ||
		app.HostConfig.RestartPolicy.Name != "no" {
		t.Fatalf("app's container: %+v", app)
	}

	// A restarted runner (the daemon after kill -9) adopts the task.
	rcancel()
	rctx, rcancel = context.WithCancel(ctx)
	defer rcancel()
	go NewRunner(st, "n1", eng, imgs, eng.bus, log).Run(rctx)
	time.Sleep(300 * time.Millisecond)
	for name, n := range eng.created {
		if n != 1 {
			t.Fatalf("container %s created %d times", name, n)
		}
	}

	if _, err := rt.Stop(ctx, id, "done"); err != nil {
		t.Fatal(err)
	}
	x = waitTask(t, ctx, rt, id, "STOPPED", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if x.StopCode != "UserInitiated" || x.StoppedAt == nil || x.Containers[0].ExitCode == nil || *x.Containers[0].ExitCode != 143 || len(eng.List(ctx)) != 0 {
		t.Fatalf("stopped task: %+v; engine %d containers", x, len(eng.List(ctx)))
	}

	// An essential container that exits.
	eng.mu.Lock()
	eng.exitOnStart["app"] = 3
	eng.mu.Unlock()
	res, err = rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td})
	if err != nil {
		t.Fatal(err)
	}
	x = waitTask(t, ctx, rt, res.Tasks[0].ID, "exited", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if x.StopCode != "EssentialContainerExited" || x.Containers[0].ExitCode == nil || *x.Containers[0].ExitCode != 3 || x.Containers[1].Status == "RUNNING" {
		t.Fatalf("task whose essential container exited: %+v", x)
	}

	// An image that cannot be pulled.
	td2, err := st.RegisterTaskDef(ctx, state.TaskDefinition{Family: "bad", ContainerDefinitions: []state.ContainerDefinition{
		{Name: "x", Image: "missing", Memory: &mem}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err = rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td2})
	if err != nil {
		t.Fatal(err)
	}
	x = waitTask(t, ctx, rt, res.Tasks[0].ID, "pull failure", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if x.StopCode != "TaskFailedToStart" || x.StoppedReason == "" {
		t.Fatalf("task whose image is missing: %+v", x)
	}

	// An orphan: a task container whose record is gone.
	if _, err := eng.Create(ctx, container.CreateOptions{Name: "orphan", Config: container.Config{Labels: map[string]string{LabelTaskID: "gone", LabelContainerName: "x"}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * resyncEvery)
	for len(eng.List(ctx)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the orphan was not removed: %d containers", len(eng.List(ctx)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A container that logs with awslogs has its log shipped to the cluster's
// task logs before its task is STOPPED, under ECS's group and stream
// names; a container without awslogs ships nothing.
func TestRunnerShipsAwslogs(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := st.Nodes().Create(ctx, "n1", state.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, Availability: state.AvailabilityActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Heartbeats().Put(ctx, "n1", state.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
	mem := 64
	no := false
	td, err := st.RegisterTaskDef(ctx, state.TaskDefinition{Family: "job", ContainerDefinitions: []state.ContainerDefinition{
		{Name: "default", Image: "busybox", Memory: &mem, LogConfiguration: &state.LogConfiguration{LogDriver: "awslogs",
			Options: map[string]string{"awslogs-group": "/aws/batch/job", "awslogs-stream-prefix": "render"}}},
		{Name: "quiet", Image: "busybox", Memory: &mem, Essential: &no},
	}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	eng := newFakeEngine(t)
	eng.exitOnStart["default"] = 0
	eng.output["default"] = []string{"frame 1", "frame 2"}
	eng.output["quiet"] = []string{"not shipped"}
	go NewRunner(st, "n1", eng, &fakeImages{have: map[string]bool{}}, eng.bus, slog.New(slog.DiscardHandler)).Run(ctx)
	rt := tasks.New(st)
	res, err := rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td})
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	id := res.Tasks[0].ID
	waitTask(t, ctx, rt, id, "STOPPED", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	var got []string
	if err := st.ReadLogs(ctx, "/aws/batch/job", "render/default/"+id, func(e state.LogEvent) error {
		got = append(got, e.Message)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"frame 1", "frame 2"}) {
		t.Fatalf("shipped %q", got)
	}
}

// A task placed while a resync runs (after its read of the node's tasks,
// before its read of the engine's containers) keeps its container: it is
// not a leftover. A task whose container disappears from the engine
// behind the agent's back is STOPPED (its essential container is gone)
// instead of staying RUNNING for ever with its resources held.
func TestRunnerLateTaskAndGoneContainer(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng := newFakeEngine(t)
	imgs := &fakeImages{have: map[string]bool{}}
	log := slog.New(slog.DiscardHandler)

	r := NewRunner(st, "n1", eng, imgs, eng.bus, log)
	eng.beforeList = func() {
		if _, err := st.Tasks().Create(ctx, state.TaskKey("n1", "late"), state.Task{ID: "late", Cluster: "default", Family: "none", Revision: 1,
			LastStatus: "PROVISIONING", DesiredStatus: "RUNNING"}); err != nil {
			t.Error(err)
		}
		if _, err := eng.Create(ctx, container.CreateOptions{Name: "late-x", Config: container.Config{Labels: map[string]string{LabelTaskID: "late", LabelContainerName: "x"}}}); err != nil {
			t.Error(err)
		}
	}
	rctx, rcancel := context.WithCancel(ctx)
	r.resync(rctx)
	rcancel()
	if n := len(eng.List(ctx)); n != 1 {
		t.Fatalf("the container of a task placed during a resync was removed as a leftover: %d containers left", n)
	}
	if err := st.Tasks().Delete(ctx, state.TaskKey("n1", "late"), 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range eng.List(ctx) {
		_ = eng.Remove(ctx, c.ID, container.RemoveOptions{})
	}

	// A STOPPED task (which resync does not read) with a container left
	// here: found by its container, its reconciliation removes it.
	if _, err := st.TaskDefs().Create(ctx, state.TaskDefKey("left", 1), state.TaskDefinition{Family: "left", Revision: 1,
		ContainerDefinitions: []state.ContainerDefinition{{Name: "x", Image: "busybox"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Tasks().Create(ctx, state.TaskKey("n1", "left"), state.Task{ID: "left", Cluster: "default", NodeID: "n1", Family: "left", Revision: 1,
		LastStatus: "STOPPED", DesiredStatus: "STOPPED"}); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Create(ctx, container.CreateOptions{Name: "left-x", Config: container.Config{Labels: map[string]string{LabelTaskID: "left", LabelContainerName: "x"}}}); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel = context.WithCancel(ctx)
	r.resync(rctx)
	for deadline := time.Now().Add(20 * time.Second); len(eng.List(ctx)) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the container of a STOPPED task was left: %d containers", len(eng.List(ctx)))
		}
	}
	rcancel()
	if err := st.Tasks().Delete(ctx, state.TaskKey("n1", "left"), 0); err != nil {
		t.Fatal(err)
	}

	if _, err := st.Nodes().Create(ctx, "n1", state.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, Availability: state.AvailabilityActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Heartbeats().Put(ctx, "n1", state.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
	mem := 16
	td, err := st.RegisterTaskDef(ctx, state.TaskDefinition{Family: "job", NetworkMode: "bridge", ContainerDefinitions: []state.ContainerDefinition{
		{Name: "main", Image: "busybox", Memory: &mem, Command: []string{"sleep", "1000"}}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel = context.WithCancel(ctx)
	defer rcancel()
	go NewRunner(st, "n1", eng, imgs, eng.bus, log).Run(rctx)
	rt := tasks.New(st)
	res, err := rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td})
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	id := res.Tasks[0].ID
	waitTask(t, ctx, rt, id, "RUNNING", func(x state.Task) bool { return x.LastStatus == "RUNNING" })
	for _, c := range eng.List(ctx) {
		if err := eng.Remove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	x := waitTask(t, ctx, rt, id, "STOPPED after its container vanished", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if x.StopCode != "EssentialContainerExited" || len(x.Containers) != 1 || x.Containers[0].Status != "STOPPED" ||
		x.Containers[0].Reason != ReasonContainerGone || x.Containers[0].ExitCode != nil {
		t.Fatalf("task whose container vanished: %+v", x)
	}
}
