package clusterlaunch

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

// waitFor polls cond until it holds (a generous deadline: the machine
// may be loaded).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (f *fakeCluster) missed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.misses
}

// A task that reads as missing right after it was placed (a lagging
// replica answered) has not ended: its attempt's end is the task's, when
// it comes. Reported as an end, it made the manager start a second
// attempt of the job beside it (TestBatchClusterLeaderChange, once in
// CI). A task really gone is reported once it has been missing for the
// gone window.
func TestMissingTaskIsNotAnEnd(t *testing.T) {
	f := newFakeCluster("n1")
	f.staleNew = 3
	l := New(f, WithGoneAfter(time.Second))
	defer l.Close()
	ctx := context.Background()
	a := spec("job-a", "d:1", 0.5)
	ref, err := l.Launch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three reads that miss the task", func() bool {
		select {
		case e := <-l.Ends():
			t.Fatalf("an end reported for a task that read as missing: %+v", e)
		default:
		}
		return f.missed() == 3
	})
	noEnd(t, l)
	f.exit(ref, 0, "")
	if e := nextEnd(t, l); e.ID != a.ID || e.Ref != ref || e.ExitCode == nil || *e.ExitCode != 0 {
		t.Fatalf("end %+v, want the task's exit 0", e)
	}

	f.mu.Lock()
	f.staleNew = 0
	f.mu.Unlock()
	b := spec("job-b", "d:1", 0.5)
	rb, err := l.Launch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	delete(f.tasks, rb)
	f.notifyLocked()
	f.mu.Unlock()
	if e := nextEnd(t, l); e.ID != b.ID || e.ExitCode != nil || e.Reason != "the attempt's task was deleted" {
		t.Fatalf("a deleted task: %+v", e)
	}
}

// Run may fail after the task's record was written (its answer lost to a
// timeout): the task is the attempt, found by its job's startedBy and
// its tag (though the first read misses it), not "no capacity", which
// requeued the job and started a second task beside the first. A Run
// that placed nothing is no capacity; one whose outcome cannot be read
// back is an unknown outcome.
func TestLaunchFindsTaskPlacedDespiteError(t *testing.T) {
	f := newFakeCluster("n1")
	f.lostAnswer, f.staleNew = true, 1
	l := New(f, WithGoneAfter(300*time.Millisecond))
	defer l.Close()
	ctx := context.Background()
	a := spec("job-a", "d:1", 0.5)
	ref, err := l.Launch(ctx, a)
	if err != nil {
		t.Fatalf("a task placed whose answer was lost: %v", err)
	}
	f.mu.Lock()
	placed := len(f.tasks)
	task := f.tasks[ref]
	f.mu.Unlock()
	if placed != 1 || task == nil || tagValue(task.Tags, TagAttempt) != a.ID || f.missed() != 1 {
		t.Fatalf("launch answered %q; %d tasks, %d reads missed", ref, placed, f.missed())
	}
	f.exit(ref, 0, "")
	if e := nextEnd(t, l); e.ID != a.ID || e.ExitCode == nil || *e.ExitCode != 0 {
		t.Fatalf("end %+v", e)
	}

	f.mu.Lock()
	f.lostAnswer, f.failRun = false, true
	f.mu.Unlock()
	if _, err := l.Launch(ctx, spec("job-b", "d:1", 0.5)); !errors.Is(err, batch.ErrNoCapacity) {
		t.Fatalf("a Run that placed nothing: %v", err)
	}
	f.mu.Lock()
	f.listErr = fmt.Errorf("the cluster's state does not answer: %w", errdefs.ErrUnavailable)
	f.mu.Unlock()
	if _, err := l.Launch(ctx, spec("job-c", "d:1", 0.5)); !errors.Is(err, batch.ErrOutcomeUnknown) || errors.Is(err, batch.ErrNoCapacity) {
		t.Fatalf("a Run whose outcome cannot be read: %v", err)
	}
}

// The manager over this launcher on a cluster whose reads lag: every
// child of an array runs once, as one task, and succeeds with one
// attempt; no job ever has two tasks live.
func TestArrayOnLaggingReadsRunsEachChildOnce(t *testing.T) {
	box, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	st, err := state.New(box.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeCluster("n1", "n2", "n3")
	f.staleNew = 2
	l := New(f, WithGoneAfter(2*time.Second))
	defer l.Close()
	m := batch.New(st, l)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	if _, err := m.CreateEnv(ctx, batch.ComputeEnvironment{Name: "ce", Type: "MANAGED", ResourceType: "FARGATE", MaxVCPUs: 16}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateQueue(ctx, batch.JobQueue{Name: "q", Priority: 1, Envs: []batch.EnvOrder{{Order: 1, Env: "ce"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RegisterDefinition(ctx, batch.JobDefinition{Name: "d", Type: "container",
		Container: batch.Container{Image: "busybox", Command: []string{"true"}, VCPUs: 1, MemoryMiB: 32}}); err != nil {
		t.Fatal(err)
	}
	j, err := m.Submit(ctx, batch.Submit{Name: "arr", Queue: "q", Definition: "d", ArraySize: 4, RetryStrategy: &batch.RetryStrategy{Attempts: 2}})
	if err != nil {
		t.Fatal(err)
	}
	done := func() bool {
		f.mu.Lock()
		maxLive := f.maxLive
		f.mu.Unlock()
		if maxLive > 1 {
			t.Fatalf("a job had %d tasks live at once: %v", maxLive, m.Describe([]string{j.ID})[0].StatusSummary)
		}
		s := m.Describe([]string{j.ID})[0].Status
		return s == batch.StatusSucceeded || s == batch.StatusFailed
	}
	waitFor(t, "four children running", func() bool {
		return m.Describe([]string{j.ID})[0].StatusSummary[batch.StatusRunning] == 4 || done()
	})
	// Every task's first reads have missed it by now.
	waitFor(t, "the reads that miss the tasks", func() bool { return f.missed() >= 8 || done() })
	f.mu.Lock()
	var ids []string
	for id, t := range f.tasks {
		if t.LastStatus != "STOPPED" {
			ids = append(ids, id)
		}
	}
	f.mu.Unlock()
	for _, id := range ids {
		f.exit(id, 0, "")
	}
	waitFor(t, "the array done", done)
	f.mu.Lock()
	runs, maxLive := len(f.runs), f.maxLive
	f.mu.Unlock()
	if v := m.Describe([]string{j.ID})[0]; v.Status != batch.StatusSucceeded {
		t.Fatalf("array %s %v; %d tasks run, at most %d live for one job", v.Status, v.StatusSummary, runs, maxLive)
	}
	for i := 0; i < 4; i++ {
		c := m.Describe([]string{batch.ChildID(j.ID, i)})
		if len(c) != 1 || len(c[0].Attempts) != 1 {
			t.Fatalf("child %d: %+v", i, c)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.runs) != 4 || f.maxLive != 1 || len(ids) != 4 {
		t.Fatalf("%d tasks run, %d live at the end, at most %d live for one job; want 4, 4, 1", len(f.runs), len(ids), f.maxLive)
	}
}
