package batch

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

// fakeLauncher runs attempts in goroutines: an attempt whose command is
// ["exit", N] ends with N at once, ["sleep"] runs until stopped, and
// anything else exits 0. It checks the vCPUs held never pass max. An
// attempt's reference is fakeRef(its ID); Stop finds the attempt by
// its reference, or by its ID when the reference is "", as the real
// launchers do.
type fakeLauncher struct {
	mu       sync.Mutex
	ends     chan AttemptEnd
	launched []AttemptSpec
	watched  []string
	stopped  map[string]chan struct{}
	// stops are the Stop calls, as "<attempt id> <ref>"; while
	// dropStops is set they are recorded but reach nothing (the manager
	// went away before its stop landed).
	stops     []string
	dropStops bool
	// found carries, when tellFound is set, the attempts Watch found
	// running (Finder).
	found     chan AttemptFound
	tellFound bool
	vcpus     float64
	maxSeen   float64
	order     []string // job ids in the order their attempts started
	// refuse is how many launches still answer ErrNoCapacity.
	refuse  int
	refused int
	// unknown is how many launches still start their attempt and then
	// answer ErrOutcomeUnknown (the answer lost after the write landed).
	unknown int
	// gate, when set, holds every launch until it is closed; entered
	// counts the launches that reached it.
	gate    chan struct{}
	entered int
	// live are the attempts running, by attempt id, and perJob how many
	// run per job; maxPerJob is the most seen at once for any job.
	live      map[string]bool
	perJob    map[string]int
	maxPerJob int
}

func newFake() *fakeLauncher {
	return &fakeLauncher{ends: make(chan AttemptEnd, 64), found: make(chan AttemptFound, 64), stopped: map[string]chan struct{}{}, live: map[string]bool{}, perJob: map[string]int{}}
}

func (f *fakeLauncher) Launch(ctx context.Context, a AttemptSpec) (string, error) {
	f.mu.Lock()
	if gate := f.gate; gate != nil {
		f.entered++
		f.mu.Unlock()
		select {
		case <-gate:
		case <-ctx.Done():
		}
		f.mu.Lock()
	}
	if f.refuse > 0 {
		f.refuse--
		f.refused++
		f.mu.Unlock()
		return "", fmt.Errorf("RESOURCE:CPU: %w", ErrNoCapacity)
	}
	f.launched = append(f.launched, a)
	f.order = append(f.order, a.JobID)
	f.vcpus += a.VCPUs
	if f.vcpus > f.maxSeen {
		f.maxSeen = f.vcpus
	}
	stop := make(chan struct{})
	f.stopped[a.ID] = stop
	f.live[a.ID] = true
	f.perJob[a.JobID]++
	if f.perJob[a.JobID] > f.maxPerJob {
		f.maxPerJob = f.perJob[a.JobID]
	}
	unknown := f.unknown > 0
	if unknown {
		f.unknown--
	}
	f.mu.Unlock()
	go func() {
		started := time.Now()
		exit := 0
		switch {
		case len(a.Command) == 2 && a.Command[0] == "exit":
			exit, _ = strconv.Atoi(a.Command[1])
		case len(a.Command) == 2 && a.Command[0] == "run":
			d, _ := time.ParseDuration(a.Command[1])
			time.Sleep(d)
		case len(a.Command) == 1 && a.Command[0] == "sleep":
			<-stop
			exit = 143
		default:
			time.Sleep(time.Millisecond)
		}
		f.mu.Lock()
		f.vcpus -= a.VCPUs
		delete(f.live, a.ID)
		f.perJob[a.JobID]--
		f.mu.Unlock()
		f.ends <- AttemptEnd{ID: a.ID, Ref: fakeRef(a.ID), ExitCode: &exit, StartedAt: started, StoppedAt: time.Now()}
	}()
	if unknown {
		return "", fmt.Errorf("running the attempt: the answer was lost: %w", ErrOutcomeUnknown)
	}
	return fakeRef(a.ID), nil
}

// fakeRef is the fake's reference of attempt id.
func fakeRef(id string) string { return "ref-" + id }

func (f *fakeLauncher) Stop(ctx context.Context, a AttemptSpec, ref, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, a.ID+" "+ref)
	if f.dropStops {
		return nil
	}
	id := a.ID
	if ref != "" {
		var ok bool
		if id, ok = strings.CutPrefix(ref, "ref-"); !ok {
			return nil // no attempt has that reference: gone
		}
	}
	if ch, ok := f.stopped[id]; ok {
		close(ch)
		delete(f.stopped, id)
	}
	return nil
}

func (f *fakeLauncher) Watch(ctx context.Context, a AttemptSpec, ref string) error {
	f.mu.Lock()
	f.watched = append(f.watched, a.ID)
	live, tell := f.live[a.ID], f.tellFound
	f.mu.Unlock()
	if live {
		// Found running: its end is reported when it comes.
		if tell {
			f.found <- AttemptFound{ID: a.ID, Ref: fakeRef(a.ID), StartedAt: time.Now()}
		}
		return nil
	}
	// The attempt ran on while the manager was away: it ends now.
	code := 0
	go func() { f.ends <- AttemptEnd{ID: a.ID, Ref: ref, ExitCode: &code, StoppedAt: time.Now()} }()
	return nil
}

func (f *fakeLauncher) Ends() <-chan AttemptEnd { return f.ends }

func (f *fakeLauncher) Found() <-chan AttemptFound { return f.found }

type rig struct {
	t     *testing.T
	box   *natsbox.Box
	st    *state.Store
	m     *Manager
	f     *fakeLauncher
	stop  context.CancelFunc
	ctx   context.Context
	store string
}

func newRig(t *testing.T, dir string, opts ...Option) *rig {
	t.Helper()
	box, err := natsbox.Start(natsbox.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.New(box.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake()
	m := New(st, f, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	r := &rig{t: t, box: box, st: st, m: m, f: f, stop: cancel, ctx: ctx, store: dir}
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	if r.stop != nil {
		r.stop()
		r.box.Close()
		r.stop = nil
	}
}

func (r *rig) setup(maxVCPUs int, cmd ...string) {
	r.t.Helper()
	if _, err := r.m.CreateEnv(r.ctx, ComputeEnvironment{Name: "ce", Type: "MANAGED", ResourceType: "FARGATE", MaxVCPUs: maxVCPUs}); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.m.CreateQueue(r.ctx, JobQueue{Name: "q", Priority: 1, Envs: []EnvOrder{{1, "ce"}}}); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.m.RegisterDefinition(r.ctx, JobDefinition{Name: "d", Type: "container", Parameters: map[string]string{"n": "0"},
		Container: Container{Image: "busybox", Command: cmd, VCPUs: 1, MemoryMiB: 64}}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) wait(id, status string) View {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := r.m.Describe([]string{id})
		if len(v) == 1 && v[0].Status == status {
			return v[0]
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("job %s: %+v, want %s", id, v, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestManagerArrayRunsEachIndexOnce(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.setup(4)
	j, err := r.m.Submit(r.ctx, Submit{Name: "arr", Queue: "q", Definition: "d", ArraySize: 100})
	if err != nil {
		t.Fatal(err)
	}
	v := r.wait(j.ID, StatusSucceeded)
	if v.StatusSummary[StatusSucceeded] != 100 {
		t.Fatalf("summary %v", v.StatusSummary)
	}
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	seen := map[string]int{}
	for _, a := range r.f.launched {
		for _, e := range a.Environment {
			if e.Name == "AWS_BATCH_JOB_ARRAY_INDEX" {
				seen[e.Value]++
				if a.JobID != j.ID+":"+e.Value {
					t.Errorf("attempt of %s has index %s", a.JobID, e.Value)
				}
			}
		}
	}
	if len(seen) != 100 || len(r.f.launched) != 100 {
		t.Fatalf("%d attempts over %d indexes", len(r.f.launched), len(seen))
	}
	if r.f.maxSeen > 4 {
		t.Fatalf("%.0f vCPUs ran at once, maxvCpus is 4", r.f.maxSeen)
	}
	// One record for the parent, one per child started: nothing else.
	kids, err := r.m.childrenT.List(r.ctx)
	if err != nil || len(kids) != 100 {
		t.Fatalf("%d child records, %v", len(kids), err)
	}
}

func TestManagerDependencies(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.setup(8)
	a, _ := r.m.Submit(r.ctx, Submit{Name: "a", Queue: "q", Definition: "d"})
	b, err := r.m.Submit(r.ctx, Submit{Name: "b", Queue: "q", Definition: "d", DependsOn: []Dependency{{JobID: a.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.m.Submit(r.ctx, Submit{Name: "c", Queue: "q", Definition: "d", DependsOn: []Dependency{{JobID: b.ID}}})
	r.wait(c.ID, StatusSucceeded)
	r.f.mu.Lock()
	got := strings.Join(r.f.order, ",")
	r.f.mu.Unlock()
	if got != a.ID+","+b.ID+","+c.ID {
		t.Fatalf("ran %s", got)
	}
	// A failing dependency fails its dependents with Batch's reason.
	f, _ := r.m.Submit(r.ctx, Submit{Name: "f", Queue: "q", Definition: "d", Overrides: &Overrides{Command: []string{"exit", "1"}}})
	g, _ := r.m.Submit(r.ctx, Submit{Name: "g", Queue: "q", Definition: "d", DependsOn: []Dependency{{JobID: f.ID}}})
	if v := r.wait(g.ID, StatusFailed); v.StatusReason != ReasonDependency {
		t.Fatalf("reason %q", v.StatusReason)
	}
	if _, err := r.m.Submit(r.ctx, Submit{Name: "x", Queue: "q", Definition: "d", DependsOn: []Dependency{{JobID: "nope"}}}); err == nil {
		t.Fatal("a dependency on an unknown job accepted")
	}
	// SEQUENTIAL children run one after another, N_TO_N pairs them.
	s, err := r.m.Submit(r.ctx, Submit{Name: "s", Queue: "q", Definition: "d", ArraySize: 5, DependsOn: []Dependency{{Type: DepSequential}}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.m.Submit(r.ctx, Submit{Name: "n", Queue: "q", Definition: "d", ArraySize: 5, DependsOn: []Dependency{{JobID: s.ID, Type: DepNToN}}})
	if err != nil {
		t.Fatal(err)
	}
	r.wait(n.ID, StatusSucceeded)
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	pos := map[string]int{}
	for i, id := range r.f.order {
		pos[id] = i
	}
	for i := 0; i < 5; i++ {
		if i > 0 && pos[ChildID(s.ID, i)] < pos[ChildID(s.ID, i-1)] {
			t.Errorf("sequential child %d ran before %d", i, i-1)
		}
		if pos[ChildID(n.ID, i)] < pos[ChildID(s.ID, i)] {
			t.Errorf("N_TO_N child %d ran before its dependency", i)
		}
	}
}

func TestManagerRetryAndTimeout(t *testing.T) {
	r := newRig(t, t.TempDir(), WithMinTimeout(1))
	r.setup(8)
	rs := &RetryStrategy{Attempts: 3, EvaluateOnExit: []EvaluateOnExit{{OnExitCode: "3", Action: "RETRY"}, {OnExitCode: "*", Action: "EXIT"}}}
	j3, _ := r.m.Submit(r.ctx, Submit{Name: "r3", Queue: "q", Definition: "d", RetryStrategy: rs, Overrides: &Overrides{Command: []string{"exit", "3"}}})
	j4, _ := r.m.Submit(r.ctx, Submit{Name: "r4", Queue: "q", Definition: "d", RetryStrategy: rs, Overrides: &Overrides{Command: []string{"exit", "4"}}})
	if v := r.wait(j3.ID, StatusFailed); len(v.Attempts) != 3 || v.StatusReason != ReasonExited || *v.Attempts[2].ExitCode != 3 {
		t.Fatalf("exit 3: %d attempts, %q", len(v.Attempts), v.StatusReason)
	}
	if v := r.wait(j4.ID, StatusFailed); len(v.Attempts) != 1 {
		t.Fatalf("exit 4: %d attempts", len(v.Attempts))
	}
	jt, err := r.m.Submit(r.ctx, Submit{Name: "t", Queue: "q", Definition: "d", RetryStrategy: rs, TimeoutSeconds: 1, Overrides: &Overrides{Command: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	if v := r.wait(jt.ID, StatusFailed); v.StatusReason != ReasonTimeout || len(v.Attempts) != 1 {
		t.Fatalf("timeout: %q, %d attempts", v.StatusReason, len(v.Attempts))
	}
	// Terminate ends a running job with the user's reason; cancel leaves
	// a running one alone.
	jr, _ := r.m.Submit(r.ctx, Submit{Name: "long", Queue: "q", Definition: "d", Overrides: &Overrides{Command: []string{"sleep"}}})
	r.wait(jr.ID, StatusRunning)
	if err := r.m.Cancel(r.ctx, jr.ID, "no"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	r.wait(jr.ID, StatusRunning)
	if err := r.m.Terminate(r.ctx, jr.ID, "enough"); err != nil {
		t.Fatal(err)
	}
	if v := r.wait(jr.ID, StatusFailed); v.StatusReason != "enough" {
		t.Fatalf("terminate: %q", v.StatusReason)
	}
}

func TestManagerRestartKeepsJobs(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir)
	r.setup(2, "sleep")
	j, err := r.m.Submit(r.ctx, Submit{Name: "arr", Queue: "q", Definition: "d", ArraySize: 10})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := r.m.Describe([]string{j.ID})
		if v[0].StatusSummary[StatusRunning] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("summary %v", v[0].StatusSummary)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.close()
	// A new manager on the same store: the two running children are
	// handed to the launcher, the others still run, each index once.
	r2 := newRig(t, dir)
	v := r2.m.Describe([]string{j.ID})
	if len(v) != 1 {
		t.Fatal("the array is gone after a restart")
	}
	r2.f.mu.Lock()
	watched := len(r2.f.watched)
	r2.f.mu.Unlock()
	if watched != 2 {
		t.Fatalf("%d attempts re-attached, want 2", watched)
	}
	// The rest sleep until stopped: terminate them to finish.
	deadline = time.Now().Add(10 * time.Second)
	for {
		v := r2.m.Describe([]string{j.ID})[0]
		if v.StatusSummary[StatusSucceeded] == 2 && v.StatusSummary[StatusRunning] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("summary %v", v.StatusSummary)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r2.m.Terminate(r2.ctx, j.ID, "done here"); err != nil {
		t.Fatal(err)
	}
	v = []View{r2.wait(j.ID, StatusFailed)}
	if v[0].StatusSummary[StatusSucceeded] != 2 || v[0].StatusSummary[StatusFailed] != 8 || v[0].StatusReason != "done here" {
		t.Fatalf("after terminate: %v %q", v[0].StatusSummary, v[0].StatusReason)
	}
	r2.f.mu.Lock()
	defer r2.f.mu.Unlock()
	idx := map[string]int{}
	for _, a := range r2.f.launched {
		idx[a.JobID]++
	}
	for id, n := range idx {
		if n != 1 {
			t.Errorf("%s launched %d times", id, n)
		}
	}
	_ = fmt.Sprint
}

// A launch that finds no capacity is no attempt: the job (and an array's
// child) goes back to RUNNABLE and starts later, its attempt count and
// retry strategy untouched.
func TestManagerNoCapacityIsNoAttempt(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.setup(8)
	r.f.mu.Lock()
	r.f.refuse = 3
	r.f.mu.Unlock()
	j, err := r.m.Submit(r.ctx, Submit{Name: "plain", Queue: "q", Definition: "d"})
	if err != nil {
		t.Fatal(err)
	}
	v := r.wait(j.ID, StatusSucceeded)
	if len(v.Attempts) != 1 {
		t.Fatalf("%d attempts recorded, want 1: %+v", len(v.Attempts), v.Attempts)
	}
	r.f.mu.Lock()
	r.f.refuse = 2
	r.f.mu.Unlock()
	a, err := r.m.Submit(r.ctx, Submit{Name: "arr", Queue: "q", Definition: "d", ArraySize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if v := r.wait(a.ID, StatusSucceeded); v.StatusSummary[StatusSucceeded] != 3 {
		t.Fatalf("summary %v", v.StatusSummary)
	}
	for i := 0; i < 3; i++ {
		c := r.m.Describe([]string{ChildID(a.ID, i)})
		if len(c) != 1 || len(c[0].Attempts) != 1 {
			t.Fatalf("child %d: %+v", i, c)
		}
	}
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	if r.f.refused != 5 {
		t.Fatalf("%d launches refused, want 5", r.f.refused)
	}
}
