package batch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// A job never has two attempts live at once. These tests take the ways
// a manager could start a second attempt beside one that runs: a launch
// whose answer is lost after its task was placed, an attempt launched
// without its record written (a manager that took over later would not
// know of it), and a manager that stopped (another leads now) acting on
// a launch that answered after it stopped.

// A launch whose outcome is unknown is looked for (Watch, by its ID),
// not counted as failed and retried: the job runs once and succeeds with
// one attempt.
func TestManagerUnknownLaunchOutcomeIsFound(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.setup(8)
	r.f.mu.Lock()
	r.f.unknown = 1
	r.f.mu.Unlock()
	rs := &RetryStrategy{Attempts: 3}
	j, err := r.m.Submit(r.ctx, Submit{Name: "lost-answer", Queue: "q", Definition: "d", RetryStrategy: rs, Overrides: &Overrides{Command: []string{"run", "300ms"}}})
	if err != nil {
		t.Fatal(err)
	}
	v := r.wait(j.ID, StatusSucceeded)
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	if len(r.f.launched) != 1 || r.f.maxPerJob != 1 {
		t.Fatalf("%d launches, at most %d attempts live at once; want 1 and 1", len(r.f.launched), r.f.maxPerJob)
	}
	if len(v.Attempts) != 1 || v.Attempts[0].ExitCode == nil || *v.Attempts[0].ExitCode != 0 {
		t.Fatalf("attempts %+v, want the one that ran", v.Attempts)
	}
	if len(r.f.watched) != 1 || r.f.watched[0] != r.f.launched[0].ID {
		t.Fatalf("watched %v, want the launched attempt %s", r.f.watched, r.f.launched[0].ID)
	}
}

// until polls cond until it holds; past a deadline generous for a loaded
// machine the test fails with what fail says.
func until(t *testing.T, cond func() bool, fail func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(fail())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// counts are the fake's launches, refusals and launches held at its
// gate so far.
func (f *fakeLauncher) counts() (launched, refused, entered int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.launched), f.refused, f.entered
}

func (l *logTap) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.msgs)
}

// logTap records the messages logged, each followed by its "status"
// attribute when it has one.
type logTap struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logTap) Enabled(context.Context, slog.Level) bool { return true }
func (l *logTap) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "status" {
			msg += " " + a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	l.msgs = append(l.msgs, msg)
	l.mu.Unlock()
	return nil
}
func (l *logTap) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logTap) WithGroup(string) slog.Handler      { return l }

func (l *logTap) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// An attempt whose STARTING record cannot be written is not launched: a
// manager that took over would not know of it and would start another,
// and a manager that cannot write (no quorum, another leads) must not
// start anything.
func TestManagerLaunchesOnlyRecordedAttempts(t *testing.T) {
	tap := &logTap{}
	r := newRig(t, t.TempDir(), WithLogger(slog.New(tap)))
	r.setup(8)
	r.f.mu.Lock()
	r.f.refuse = 1
	r.f.mu.Unlock()
	j, err := r.m.Submit(r.ctx, Submit{Name: "unrecorded", Queue: "q", Definition: "d"})
	if err != nil {
		t.Fatal(err)
	}
	// The first launch finds no room: the job waits (capacityRetry)
	// while the state store goes away.
	until(t, func() bool {
		_, refused, _ := r.f.counts()
		return refused == 1 && r.m.Describe([]string{j.ID})[0].Status == StatusRunnable
	}, func() string { return "the first launch was not refused" })
	r.box.Close()
	// Two rounds of dispatch that could not write the attempt's record:
	// the first round's launches, if any, were started before the second.
	want := "batch: writing a job " + StatusStarting
	until(t, func() bool {
		launched, _, _ := r.f.counts()
		return tap.count(want) >= 2 || launched > 0
	}, func() string { return "no dispatch tried: " + tap.String() })
	time.Sleep(100 * time.Millisecond)
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	if len(r.f.launched) != 0 {
		t.Fatalf("%d attempts launched without their record", len(r.f.launched))
	}
	if v := r.m.Describe([]string{j.ID})[0]; v.Status != StatusRunnable || v.Running != nil {
		t.Fatalf("the job is %s (attempt %+v), want RUNNABLE", v.Status, v.Running)
	}
}

// A manager that stopped (its term ended: another manager leads and has
// loaded the tables) writes nothing of a launch that answers afterwards:
// the record keeps the attempt STARTING, and the next manager finds the
// attempt (Watch by its ID) instead of launching another. Before, the
// stopped manager requeued the job over the next one's record.
func TestManagerStoppedWritesNothing(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.setup(8)
	gate := make(chan struct{})
	r.f.mu.Lock()
	r.f.gate = gate
	r.f.refuse = 1
	r.f.mu.Unlock()
	j, err := r.m.Submit(r.ctx, Submit{Name: "in-flight", Queue: "q", Definition: "d"})
	if err != nil {
		t.Fatal(err)
	}
	until(t, func() bool { _, _, entered := r.f.counts(); return entered == 1 }, func() string { return "no launch" })
	rec, err := r.m.jobsT.Get(context.Background(), j.ID)
	if err != nil || rec.Value.Status != StatusStarting || rec.Value.Running == nil {
		t.Fatalf("record %+v: %v", rec.Value, err)
	}
	aid := rec.Value.Running.ID
	// The term ends, then the launch answers (no capacity).
	r.stop()
	close(gate)
	until(t, func() bool { _, refused, _ := r.f.counts(); return refused == 1 }, func() string { return "the launch did not answer" })
	// Whatever the stopped manager would write, it writes within this.
	time.Sleep(200 * time.Millisecond)
	rec, err = r.m.jobsT.Get(context.Background(), j.ID)
	if err != nil || rec.Value.Status != StatusStarting || rec.Value.Running == nil || rec.Value.Running.ID != aid {
		t.Fatalf("after the manager stopped the record became %s %+v (%v), want STARTING with attempt %s", rec.Value.Status, rec.Value.Running, err, aid)
	}
	// The next manager looks for the attempt and launches nothing.
	f2 := newFake()
	m2 := New(r.st, f2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	go m2.Run(ctx)
	until(t, func() bool {
		v := m2.Describe([]string{j.ID})
		return len(v) == 1 && v[0].Status == StatusSucceeded
	}, func() string { return fmt.Sprintf("next manager: %+v", m2.Describe([]string{j.ID})) })
	f2.mu.Lock()
	defer f2.mu.Unlock()
	if len(f2.launched) != 0 || len(f2.watched) != 1 || f2.watched[0] != aid {
		t.Fatalf("next manager launched %d, watched %v; want 0 and [%s]", len(f2.launched), f2.watched, aid)
	}
}

// Two managers on the same tables (a leader deposed that does not know
// it yet beside the new one; or a new one that loaded a record from a
// replica that lagged) both hold a job RUNNABLE: only one launches it.
// Every write of a job's record is a compare-and-set, the attempt is
// launched only once its STARTING record is written, and the manager
// whose write loses loads the tables again and finds the other's
// attempt instead of starting its own.
func TestManagerTwoManagersLaunchOnce(t *testing.T) {
	tapA := &logTap{}
	a := newRig(t, t.TempDir(), WithLogger(slog.New(tapA)))
	a.setup(8)
	a.f.mu.Lock()
	a.f.refuse = 1
	a.f.mu.Unlock()
	j, err := a.m.Submit(a.ctx, Submit{Name: "both", Queue: "q", Definition: "d"})
	if err != nil {
		t.Fatal(err)
	}
	until(t, func() bool {
		_, refused, _ := a.f.counts()
		return refused == 1 && a.m.Describe([]string{j.ID})[0].Status == StatusRunnable
	}, func() string { return "the first launch was not refused" })
	// A waits out its no-capacity hold; B loads the job RUNNABLE and
	// launches it at once. Then A's hold passes.
	fb := newFake()
	b := New(a.st, fb)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	go b.Run(ctx)
	launched := func(f *fakeLauncher) int { n, _, _ := f.counts(); return n }
	const fenced = "batch: a job's record changed under this manager (another manager wrote it, or it was read from a replica that lagged); loading the tables again"
	until(t, func() bool { return tapA.count(fenced+" "+StatusStarting) > 0 || launched(a.f) > 0 },
		func() string { return "A neither launched nor lost its write: " + tapA.String() })
	// A has loaded the tables again: it knows B's attempt.
	until(t, func() bool { return a.m.Describe([]string{j.ID})[0].Status == StatusSucceeded || launched(a.f) > 0 },
		func() string { return fmt.Sprintf("A: %+v", a.m.Describe([]string{j.ID})) })
	if na, nb := launched(a.f), launched(fb); na+nb != 1 || nb != 1 {
		t.Fatalf("launched by A %d, by B %d; want 0 and 1", na, nb)
	}
	if v := b.Describe([]string{j.ID}); len(v) != 1 || v[0].Status != StatusSucceeded || len(v[0].Attempts) != 1 {
		t.Fatalf("B: %+v", v)
	}
}

// stopsOf are the Stop calls the fake received for attempt id, by the
// reference each carried.
func (f *fakeLauncher) stopsOf(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var refs []string
	for _, s := range f.stops {
		if aid, ref, _ := strings.Cut(s, " "); aid == id {
			refs = append(refs, ref)
		}
	}
	return refs
}

// unknownLaunchRunning submits a job whose only launch answers
// ErrOutcomeUnknown though its attempt runs (until stopped), and waits
// until the manager has looked for the attempt and found it running: the
// job is STARTING with an attempt whose reference the manager never
// learnt.
func unknownLaunchRunning(t *testing.T, r *rig) (*Job, AttemptSpec) {
	t.Helper()
	r.f.mu.Lock()
	r.f.unknown = 1
	r.f.mu.Unlock()
	j, err := r.m.Submit(r.ctx, Submit{Name: "unknown-then-stopped", Queue: "q", Definition: "d", Overrides: &Overrides{Command: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	until(t, func() bool {
		r.f.mu.Lock()
		defer r.f.mu.Unlock()
		return len(r.f.watched) == 1 && len(r.f.launched) == 1 && r.f.live[r.f.launched[0].ID]
	}, func() string { return "the attempt was not looked for" })
	r.f.mu.Lock()
	a := r.f.launched[0]
	r.f.mu.Unlock()
	if v := r.m.Describe([]string{j.ID})[0]; v.Status != StatusStarting || v.Running == nil || v.Running.ID != a.ID || v.Running.Ref != "" {
		t.Fatalf("job %s, attempt %+v; want STARTING with attempt %s and no reference", v.Status, v.Running, a.ID)
	}
	return j, a
}

// TerminateJob stops an attempt whose launch outcome was unknown and
// which Watch found running: the manager holds no reference for it, so
// the launcher is asked to stop it by its ID. Before, the stop was
// skipped: the attempt ran on and the job stayed STARTING.
func TestManagerTerminateStopsAttemptWithoutRef(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.setup(8)
	j, a := unknownLaunchRunning(t, r)
	if err := r.m.Terminate(r.ctx, j.ID, "no longer needed"); err != nil {
		t.Fatal(err)
	}
	v := r.wait(j.ID, StatusFailed)
	if refs := r.f.stopsOf(a.ID); len(refs) == 0 || refs[0] != "" {
		t.Fatalf("stops of the attempt %q, want one by its ID (no reference)", refs)
	}
	r.f.mu.Lock()
	live := r.f.live[a.ID]
	r.f.mu.Unlock()
	if live {
		t.Fatal("the attempt runs on after the job was terminated")
	}
	if v.StatusReason != "no longer needed" || len(v.Attempts) != 1 || v.Attempts[0].ExitCode == nil || *v.Attempts[0].ExitCode != 143 {
		t.Fatalf("job %s (%s), attempts %+v; want the stopped attempt", v.Status, v.StatusReason, v.Attempts)
	}
}

// A TerminateJob that arrives while the launch is under way, whose
// outcome turns out unknown, is sent once the launch answers, by the
// attempt's ID: no reference will ever come for it.
func TestManagerTerminateDuringUnknownLaunch(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.setup(8)
	gate := make(chan struct{})
	r.f.mu.Lock()
	r.f.gate, r.f.unknown = gate, 1
	r.f.mu.Unlock()
	j, err := r.m.Submit(r.ctx, Submit{Name: "terminated-while-launched", Queue: "q", Definition: "d", Overrides: &Overrides{Command: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	until(t, func() bool { _, _, entered := r.f.counts(); return entered == 1 }, func() string { return "no launch" })
	if err := r.m.Terminate(r.ctx, j.ID, "no longer needed"); err != nil {
		t.Fatal(err)
	}
	close(gate)
	v := r.wait(j.ID, StatusFailed)
	if len(v.Attempts) != 1 || v.Attempts[0].ExitCode == nil || *v.Attempts[0].ExitCode != 143 || v.StatusReason != "no longer needed" {
		t.Fatalf("job %s (%s), attempts %+v; want the stopped attempt", v.Status, v.StatusReason, v.Attempts)
	}
}

// A stop that did not reach the launcher before the manager went away
// (a TerminateJob recorded, then a restart) is asked again by the next
// manager when it loads the job, by the attempt's ID when the reference
// was never learnt.
func TestManagerLoadStopsAgain(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.setup(8)
	r.f.mu.Lock()
	r.f.dropStops = true
	r.f.mu.Unlock()
	j, a := unknownLaunchRunning(t, r)
	if err := r.m.Terminate(r.ctx, j.ID, "no longer needed"); err != nil {
		t.Fatal(err)
	}
	until(t, func() bool { return len(r.f.stopsOf(a.ID)) == 1 }, func() string { return "no stop sent" })
	r.stop()
	// The attempt still runs; the next manager finds it (the same
	// runtime, so the same fake) and stops it.
	r.f.mu.Lock()
	r.f.dropStops = false
	live := r.f.live[a.ID]
	r.f.mu.Unlock()
	if !live {
		t.Fatal("a dropped stop ended the attempt")
	}
	m2 := New(r.st, r.f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	go m2.Run(ctx)
	until(t, func() bool {
		v := m2.Describe([]string{j.ID})
		return len(v) == 1 && v[0].Status == StatusFailed
	}, func() string {
		return fmt.Sprintf("next manager: %+v; stops %q", m2.Describe([]string{j.ID}), r.f.stopsOf(a.ID))
	})
	if refs := r.f.stopsOf(a.ID); len(refs) != 2 || refs[1] != "" {
		t.Fatalf("stops of the attempt %q, want the dropped one and the next manager's, both by ID", refs)
	}
}

// An attempt whose launch outcome was unknown, found running by Watch
// (Finder), gets its reference and makes its job RUNNING: its timeout
// counts, and the stop at the timeout carries the reference. Before, the
// job stayed STARTING and its timeout never fired.
func TestManagerFoundAttemptTimesOut(t *testing.T) {
	r := newRig(t, t.TempDir(), WithMinTimeout(1))
	r.setup(8)
	r.f.mu.Lock()
	r.f.unknown, r.f.tellFound = 1, true
	r.f.mu.Unlock()
	j, err := r.m.Submit(r.ctx, Submit{Name: "found-then-timed-out", Queue: "q", Definition: "d", TimeoutSeconds: 1, Overrides: &Overrides{Command: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	v := r.wait(j.ID, StatusRunning)
	r.f.mu.Lock()
	a := r.f.launched[0]
	r.f.mu.Unlock()
	if v.Running == nil || v.Running.ID != a.ID || v.Running.Ref != fakeRef(a.ID) || v.Running.StartedAt.IsZero() {
		t.Fatalf("running attempt %+v, want %s with reference %s", v.Running, a.ID, fakeRef(a.ID))
	}
	if rec, err := r.m.jobsT.Get(r.ctx, j.ID); err != nil || rec.Value.Status != StatusRunning || rec.Value.Running.Ref != fakeRef(a.ID) {
		t.Fatalf("record %s %+v (%v), want RUNNING with the reference", rec.Value.Status, rec.Value.Running, err)
	}
	v = r.wait(j.ID, StatusFailed)
	if v.StatusReason != ReasonTimeout || len(v.Attempts) != 1 || v.Attempts[0].ExitCode == nil || *v.Attempts[0].ExitCode != 143 {
		t.Fatalf("job %s (%s), attempts %+v; want the attempt stopped at its timeout", v.Status, v.StatusReason, v.Attempts)
	}
	if refs := r.f.stopsOf(a.ID); len(refs) != 1 || refs[0] != fakeRef(a.ID) {
		t.Fatalf("stops %q, want one with the reference found", refs)
	}
}
