package batch

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestOutlived(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	old, recent := now.Add(-8*24*time.Hour), now.Add(-time.Hour)
	jobs := map[string]*Job{
		"old-ok":     {ID: "old-ok", Status: StatusSucceeded, StoppedAt: old},
		"old-failed": {ID: "old-failed", Status: StatusFailed, StoppedAt: old},
		"recent":     {ID: "recent", Status: StatusSucceeded, StoppedAt: recent},
		"old-needed": {ID: "old-needed", Status: StatusSucceeded, StoppedAt: old},
		"old-array":  {ID: "old-array", Status: StatusSucceeded, StoppedAt: old, ArraySize: 3},
		// An unfinished job: never expires, and keeps its dependencies
		// (one of them through a child's id).
		"waiting": {ID: "waiting", Status: StatusPending, CreatedAt: old,
			DependsOn: []Dependency{{JobID: "old-needed"}, {JobID: "old-array:1"}}},
		// A finished job's dependencies are no reason to keep anything.
		"old-dependent": {ID: "old-dependent", Status: StatusSucceeded, StoppedAt: old, DependsOn: []Dependency{{JobID: "old-ok"}}},
	}
	got := Outlived(jobs, now, 7*24*time.Hour)
	want := []string{"old-dependent", "old-failed", "old-ok"}
	if !slices.Equal(got, want) {
		t.Fatalf("expired %v, want %v", got, want)
	}
	if got := Outlived(jobs, now, 0); got != nil {
		t.Fatalf("retention 0 expired %v", got)
	}
}

// A finished job and a finished array are forgotten once their
// retention passes (records and memory); a running job is not.
func TestManagerRetention(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	r := newRig(t, t.TempDir(), WithClock(now), WithRetention(time.Hour))
	r.setup(4)
	plain, err := r.m.Submit(r.ctx, Submit{Name: "p", Queue: "q", Definition: "d"})
	if err != nil {
		t.Fatal(err)
	}
	arr, err := r.m.Submit(r.ctx, Submit{Name: "a", Queue: "q", Definition: "d", ArraySize: 3})
	if err != nil {
		t.Fatal(err)
	}
	r.wait(plain.ID, StatusSucceeded)
	r.wait(arr.ID, StatusSucceeded)
	sleeper, err := r.m.Submit(r.ctx, Submit{Name: "s", Queue: "q", Definition: "d", Overrides: &Overrides{Command: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	r.wait(sleeper.ID, StatusRunning)

	mu.Lock()
	clock = clock.Add(2 * time.Hour)
	mu.Unlock()
	r.m.poke()
	deadline := time.Now().Add(20 * time.Second)
	for len(r.m.Describe([]string{plain.ID, arr.ID, arr.ID + ":1"})) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still described: %+v", r.m.Describe([]string{plain.ID, arr.ID, arr.ID + ":1"}))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v := r.m.Describe([]string{sleeper.ID}); len(v) != 1 || v[0].Status != StatusRunning {
		t.Fatalf("the running job: %+v", v)
	}
	jobs, err := r.m.jobsT.List(r.ctx)
	if err != nil || len(jobs) != 1 || jobs[0].Value.ID != sleeper.ID {
		t.Fatalf("job records left: %d, %v", len(jobs), err)
	}
	kids, err := r.m.childrenT.List(r.ctx)
	if err != nil || len(kids) != 0 {
		t.Fatalf("child records left: %d, %v", len(kids), err)
	}
	// A restarted manager loads only what is left.
	m2 := New(r.st, newFake(), WithClock(now))
	if err := m2.Load(r.ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(m2.AllJobs(100)); n != 1 {
		t.Fatalf("a new manager loaded %d jobs, want 1", n)
	}
}
