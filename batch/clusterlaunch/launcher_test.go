package clusterlaunch

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/errdefs"
)

// fakeCluster is the cluster's task runtime in memory: nodes of a given
// CPU capacity take tasks in order while they have room; Wait blocks on
// the task until it is STOPPED, which the test does as the node's agent
// would (exit) or Stop does at once (exit 143) on a node that is not
// lost.
type fakeCluster struct {
	mu      sync.Mutex
	cpu     map[string]int64 // node -> free CPU units
	nodes   []string
	lost    map[string]bool
	tasks   map[string]*state.Task
	changed chan struct{}
	tds     map[string][]state.TaskDefinition
	runs    []tasks.Spec
	regs    int
	// staleNew is how many reads (WaitOn, Get, List) miss each task
	// placed from now on, as a lagging replica would, and stale what is
	// left of those misses by task; misses counts them.
	staleNew int
	stale    map[string]int
	misses   int
	// lostAnswer makes Run fail once it has placed the task (a timeout
	// after the record's write landed), failRun makes it fail before
	// placing anything, listErr makes List fail.
	lostAnswer bool
	failRun    bool
	listErr    error
	// maxLive is the most tasks one job (startedBy) had live at once.
	maxLive int
}

// missLocked reports whether this read misses task id (stale).
func (f *fakeCluster) missLocked(id string) bool {
	if f.stale[id] > 0 {
		f.stale[id]--
		f.misses++
		return true
	}
	return false
}

func (f *fakeCluster) liveLocked(startedBy string) int {
	n := 0
	for _, t := range f.tasks {
		if t.StartedBy == startedBy && t.LastStatus != "STOPPED" {
			n++
		}
	}
	return n
}

func newFakeCluster(nodes ...string) *fakeCluster {
	f := &fakeCluster{cpu: map[string]int64{}, nodes: nodes, lost: map[string]bool{}, tasks: map[string]*state.Task{},
		changed: make(chan struct{}), tds: map[string][]state.TaskDefinition{}, stale: map[string]int{}}
	for _, n := range nodes {
		f.cpu[n] = 2048
	}
	return f
}

func (f *fakeCluster) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeCluster) Run(ctx context.Context, sp tasks.Spec) (tasks.RunResult, error) {
	if err := sp.Validate(); err != nil {
		return tasks.RunResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRun {
		return tasks.RunResult{}, fmt.Errorf("another placement holds the cluster's placement lock: %w", errdefs.ErrUnavailable)
	}
	f.runs = append(f.runs, sp)
	eff := tasks.Effective(sp.TaskDef, sp.Overrides)
	cpu := int64(eff.ContainerDefinitions[0].Cpu)
	for _, n := range f.nodes {
		if !f.lost[n] && f.cpu[n] >= cpu {
			f.cpu[n] -= cpu
			t := state.Task{ID: tasks.NewID(), Cluster: sp.Cluster, NodeID: n, Family: sp.TaskDef.Family, Revision: sp.TaskDef.Revision,
				StartedBy: sp.StartedBy, Group: sp.Group, Overrides: sp.Overrides, Tags: sp.Tags, CPU: cpu,
				DesiredStatus: "RUNNING", LastStatus: "RUNNING", CreatedAt: time.Now(),
				Containers: []state.TaskContainer{{Name: ContainerName, Status: "RUNNING"}}}
			f.tasks[t.ID] = &t
			f.stale[t.ID] = f.staleNew
			f.maxLive = max(f.maxLive, f.liveLocked(t.StartedBy))
			if f.lostAnswer {
				return tasks.RunResult{}, fmt.Errorf("the cluster's state does not answer: context deadline exceeded: %w", errdefs.ErrUnavailable)
			}
			return tasks.RunResult{Tasks: []state.Task{t}}, nil
		}
	}
	return tasks.RunResult{Failures: []sched.Failure{{Reason: "RESOURCE:CPU"}}}, nil
}

// exit ends a task as its agent would.
func (f *fakeCluster) exit(id string, code int, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tasks[id]
	now := time.Now()
	t.LastStatus, t.DesiredStatus, t.StoppedAt = "STOPPED", "STOPPED", &now
	t.Containers[0].ExitCode, t.Containers[0].Reason, t.Containers[0].Status = &code, reason, "STOPPED"
	f.cpu[t.NodeID] += t.CPU
	f.notifyLocked()
}

func (f *fakeCluster) WaitOn(ctx context.Context, node, id string) (state.Task, error) {
	for {
		f.mu.Lock()
		t, ok := f.tasks[id]
		ch := f.changed
		if !ok || t.NodeID != node || f.missLocked(id) {
			f.mu.Unlock()
			return state.Task{}, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
		}
		if t.LastStatus == "STOPPED" {
			v := *t
			f.mu.Unlock()
			return v, nil
		}
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return state.Task{}, ctx.Err()
		}
	}
}

func (f *fakeCluster) Get(ctx context.Context, id string) (state.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tasks[id]
	if !ok || f.missLocked(id) {
		return state.Task{}, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
	}
	return *t, nil
}

func (f *fakeCluster) Stop(ctx context.Context, id, reason string) (state.Task, error) {
	f.mu.Lock()
	t, ok := f.tasks[id]
	if !ok {
		f.mu.Unlock()
		return state.Task{}, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
	}
	t.DesiredStatus, t.StoppedReason = "STOPPED", reason
	lost := f.lost[t.NodeID]
	v := *t
	f.mu.Unlock()
	if !lost && v.LastStatus != "STOPPED" {
		f.exit(id, 143, "")
	}
	return v, nil
}

func (f *fakeCluster) List(ctx context.Context, fl tasks.Filter) ([]state.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []state.Task
	for _, t := range f.tasks {
		if (fl.StartedBy == "" || t.StartedBy == fl.StartedBy) && (fl.Cluster == "" || t.Cluster == fl.Cluster) && !f.missLocked(t.ID) {
			out = append(out, *t)
		}
	}
	return out, nil
}

func (f *fakeCluster) TaskDefs(ctx context.Context, family string) ([]state.TaskDefinition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]state.TaskDefinition(nil), f.tds[family]...), nil
}

func (f *fakeCluster) Register(ctx context.Context, td state.TaskDefinition) (state.TaskDefinition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs++
	td.Revision = len(f.tds[td.Family]) + 1
	td.Status = state.TaskDefActive
	f.tds[td.Family] = append(f.tds[td.Family], td)
	return td, nil
}

func (f *fakeCluster) Lost(ctx context.Context, node string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lost[node], nil
}

func spec(job, def string, vcpus float64, cmd ...string) batch.AttemptSpec {
	return batch.AttemptSpec{ID: tasks.NewID(), JobID: job, Attempt: 1, Queue: "q", Image: "busybox", Command: cmd,
		Environment: []batch.KeyValue{{Name: "AWS_BATCH_JOB_ID", Value: job}}, VCPUs: vcpus, MemoryMiB: 64,
		Definition: def, DefinitionContainer: batch.Container{Image: "busybox", Command: []string{"echo", "Ref::x"},
			Environment: []batch.KeyValue{{Name: "A", Value: "1"}}, VCPUs: 1, MemoryMiB: 32, User: "nobody", ReadonlyRootFilesystem: true}}
}

func nextEnd(t *testing.T, l *Launcher) batch.AttemptEnd {
	t.Helper()
	select {
	case e := <-l.Ends():
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no end reported")
		return batch.AttemptEnd{}
	}
}

func noEnd(t *testing.T, l *Launcher) {
	t.Helper()
	select {
	case e := <-l.Ends():
		t.Fatalf("unexpected end %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
}

// An attempt is a task of its job definition revision's task definition
// (registered once, found again by a new launcher by its tag), run with
// the attempt's command, environment and size as overrides; its end is
// the essential container's exit.
func TestLaunchMapsAttemptToTask(t *testing.T) {
	f := newFakeCluster("n1", "n2")
	l := New(f, WithStopGrace(5*time.Second))
	defer l.Close()
	ctx := context.Background()
	a := spec("job-1", "d:3", 0.5, "sh", "-c", "exit 3")
	ref, err := l.Launch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	tds := f.tds["batch-d"]
	if len(tds) != 1 {
		t.Fatalf("task definitions %+v", f.tds)
	}
	td := tds[0]
	c := td.ContainerDefinitions[0]
	if tagValue(td.Tags, TagRevision) != "3" || c.Name != ContainerName || c.Image != "busybox" || c.Cpu != 1024 || c.Memory == nil || *c.Memory != 32 ||
		!reflect.DeepEqual(c.Command, []string{"echo", "Ref::x"}) || !reflect.DeepEqual(c.Environment, []state.KeyValue{{Name: "A", Value: "1"}}) ||
		c.User != "nobody" || c.ReadonlyRootFS == nil || !*c.ReadonlyRootFS || c.StopTimeout == nil || *c.StopTimeout != 5 || c.Essential == nil || !*c.Essential {
		t.Fatalf("task definition %+v", td)
	}
	sp := f.runs[0]
	co := sp.Overrides.ContainerOverrides[0]
	if sp.StartedBy != "batch/job-1" || sp.Group != "batch:q" || sp.Cluster != "default" || sp.Count != 1 ||
		tagValue(sp.Tags, TagAttempt) != a.ID || co.Name != ContainerName || !reflect.DeepEqual(co.Command, a.Command) ||
		*co.Cpu != 512 || *co.Memory != 64 || !reflect.DeepEqual(co.Environment, []state.KeyValue{{Name: "AWS_BATCH_JOB_ID", Value: "job-1"}}) {
		t.Fatalf("run %+v / %+v", sp, co)
	}
	if eff := tasks.Effective(td, sp.Overrides); eff.ContainerDefinitions[0].Cpu != 512 {
		t.Fatalf("the task takes %d CPU units, want 512", eff.ContainerDefinitions[0].Cpu)
	}
	f.exit(ref, 3, "")
	e := nextEnd(t, l)
	if e.ID != a.ID || e.Ref != ref || e.ExitCode == nil || *e.ExitCode != 3 || e.StoppedAt.IsZero() {
		t.Fatalf("end %+v", e)
	}
	noEnd(t, l)

	// A second attempt of the revision reuses its task definition; a new
	// launcher (another leader) finds it by its tag; a new revision gets
	// its own.
	if _, err := l.Launch(ctx, spec("job-2", "d:3", 1)); err != nil {
		t.Fatal(err)
	}
	l2 := New(f)
	defer l2.Close()
	if _, err := l2.Launch(ctx, spec("job-3", "d:3", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := l2.Launch(ctx, spec("job-4", "d:4", 1)); err != nil {
		t.Fatal(err)
	}
	if f.regs != 2 || len(f.tds["batch-d"]) != 2 || f.runs[3].TaskDef.Revision != 2 || f.runs[2].TaskDef.Revision != 1 {
		t.Fatalf("%d registrations: %+v", f.regs, f.tds)
	}
}

// A task no node can take is no attempt (ErrNoCapacity); a bad spec is
// a failed launch.
func TestLaunchWithoutCapacity(t *testing.T) {
	f := newFakeCluster("n1")
	l := New(f)
	defer l.Close()
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := l.Launch(ctx, spec(fmt.Sprint("job-", i), "d:1", 1)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := l.Launch(ctx, spec("job-3", "d:1", 1))
	if !errors.Is(err, batch.ErrNoCapacity) {
		t.Fatalf("a full cluster: %v", err)
	}
	_, err = l.Launch(ctx, spec("job-4", "nocolon", 1))
	if err == nil || errors.Is(err, batch.ErrNoCapacity) {
		t.Fatalf("a bad definition: %v", err)
	}
}

// Stop stops the task and its end is reported once; the attempt of a
// lost node is stopped and reported lost (no exit code), once, even if
// its task reports an end later.
func TestStopAndLostNode(t *testing.T) {
	f := newFakeCluster("n1", "n2")
	l := New(f, WithNodeCheck(time.Hour))
	defer l.Close()
	ctx := context.Background()
	a := spec("job-a", "d:1", 2)
	ra, err := l.Launch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	b := spec("job-b", "d:1", 2)
	rb, err := l.Launch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Stop(ctx, a, ra, "Terminated by the user"); err != nil {
		t.Fatal(err)
	}
	if e := nextEnd(t, l); e.ID != a.ID || e.ExitCode == nil || *e.ExitCode != 143 {
		t.Fatalf("stopped: %+v", e)
	}
	tb, _ := f.Get(ctx, rb)
	f.mu.Lock()
	f.lost[tb.NodeID] = true
	f.mu.Unlock()
	l.CheckNodes(ctx)
	e := nextEnd(t, l)
	if e.ID != b.ID || e.ExitCode != nil || e.Reason != LostReason(tb.NodeID) {
		t.Fatalf("lost: %+v", e)
	}
	if tb, _ = f.Get(ctx, rb); tb.DesiredStatus != "STOPPED" || tb.StoppedReason != LostReason(tb.NodeID) {
		t.Fatalf("the lost node's task: %+v", tb)
	}
	f.exit(rb, 137, "")
	l.CheckNodes(ctx)
	noEnd(t, l)
	if err := l.Stop(ctx, spec("job-gone", "d:1", 1), "gone", "x"); err != nil {
		t.Fatalf("stopping a task that is gone: %v", err)
	}
}

// Stop without a reference (the manager never learnt it: Launch's
// outcome was unknown, or the manager restarted before it answered)
// finds the attempt's task as Watch does, by its job's startedBy and its
// tag, though the first reads miss it, and stops it; one this launcher
// follows is stopped by the task it follows. An attempt without a task
// is gone (no error); a state that cannot be read is an error, not a
// stop taken for done.
func TestStopWithoutRef(t *testing.T) {
	f := newFakeCluster("n1")
	old := New(f)
	ctx := context.Background()
	a, b := spec("job-a", "d:1", 0.25), spec("job-b", "d:1", 0.25)
	ra, err := old.Launch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	l := New(f, WithGoneAfter(300*time.Millisecond))
	defer l.Close()
	f.mu.Lock()
	f.stale[ra] = 2
	f.mu.Unlock()
	if err := l.Stop(ctx, a, "", "Terminated by the user"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	ta := *f.tasks[ra]
	f.mu.Unlock()
	if ta.DesiredStatus != "STOPPED" || ta.StoppedReason != "Terminated by the user" || ta.LastStatus != "STOPPED" {
		t.Fatalf("the attempt's task after a stop without its reference: desired %s, last %s, reason %q", ta.DesiredStatus, ta.LastStatus, ta.StoppedReason)
	}

	// Followed by this launcher (Launch answered, but not to the
	// manager): its end is reported as any stopped attempt's.
	rb, err := l.Launch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.listErr = errors.New("List must not be needed")
	f.mu.Unlock()
	if err := l.Stop(ctx, b, "", "Terminated by the user"); err != nil {
		t.Fatal(err)
	}
	if e := nextEnd(t, l); e.ID != b.ID || e.Ref != rb || e.ExitCode == nil || *e.ExitCode != 143 {
		t.Fatalf("stopped: %+v", e)
	}

	// The state cannot be read: an error, once the gone window passed.
	c := spec("job-c", "d:1", 0.25)
	if err := l.Stop(ctx, c, "", "x"); err == nil {
		t.Fatal("a stop that could not look for the task answered nil")
	}
	f.mu.Lock()
	f.listErr = nil
	f.mu.Unlock()
	// Never placed: gone, nothing to stop.
	if err := l.Stop(ctx, c, "", "x"); err != nil {
		t.Fatalf("stopping an attempt without a task: %v", err)
	}
}

// After a restart, Watch finds an attempt's task by its reference or,
// without one, by its job's startedBy and its tag, though its first
// reads miss it; an attempt without a task (missing for the gone window)
// is reported lost; a task that ended meanwhile reports its end.
func TestWatchAfterRestart(t *testing.T) {
	f := newFakeCluster("n1")
	old := New(f)
	ctx := context.Background()
	a, b, c := spec("job-a", "d:1", 0.25), spec("job-b", "d:1", 0.25), spec("job-c", "d:1", 0.25)
	ra, _ := old.Launch(ctx, a)
	rb, _ := old.Launch(ctx, b)
	old.Close()
	f.exit(ra, 0, "")

	// The new launcher's first reads of a task miss it (a lagging
	// replica): the tasks are found all the same.
	f.mu.Lock()
	f.stale[ra], f.stale[rb] = 2, 2
	f.mu.Unlock()
	l := New(f, WithGoneAfter(300*time.Millisecond))
	defer l.Close()
	if err := l.Watch(ctx, a, ra); err != nil {
		t.Fatal(err)
	}
	if e := nextEnd(t, l); e.ID != a.ID || e.ExitCode == nil || *e.ExitCode != 0 {
		t.Fatalf("ended meanwhile: %+v", e)
	}
	if err := l.Watch(ctx, b, ""); err != nil {
		t.Fatal(err)
	}
	// Found running: the manager learns its task id (the ended one
	// was not found running).
	select {
	case fd := <-l.Found():
		if fd.ID != b.ID || fd.Ref != rb {
			t.Fatalf("found %+v, want attempt %s as task %s", fd, b.ID, rb)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the attempt found by startedBy was not reported found")
	}
	noEnd(t, l)
	f.exit(rb, 1, "OutOfMemoryError: Container killed due to memory usage")
	if e := nextEnd(t, l); e.ID != b.ID || e.Ref != rb || *e.ExitCode != 1 || e.Reason != "OutOfMemoryError: Container killed due to memory usage" {
		t.Fatalf("found by startedBy: %+v", e)
	}
	if err := l.Watch(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	if e := nextEnd(t, l); e.ID != c.ID || e.ExitCode != nil {
		t.Fatalf("never placed: %+v", e)
	}
	select {
	case fd := <-l.Found():
		t.Fatalf("found %+v, want only the attempt that runs", fd)
	default:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.misses != 4 {
		t.Fatalf("%d reads missed a task, want 4", f.misses)
	}
}

// End takes the essential container's exit, or the task's reason when
// it never ran.
func TestEndOfTask(t *testing.T) {
	now := time.Now()
	e := End("a", state.Task{ID: "t", StoppedReason: "CannotPullContainerError: no such image", StoppedAt: &now,
		Containers: []state.TaskContainer{{Name: ContainerName, Status: "STOPPED"}}})
	if e.ExitCode != nil || e.Reason != "CannotPullContainerError: no such image" || !e.StoppedAt.Equal(now) || e.Ref != "t" {
		t.Fatalf("%+v", e)
	}
}
