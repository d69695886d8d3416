package enginelaunch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// fakeEngine keeps containers in memory and finds them by ID or name,
// as the engine does; a stopped container exits 143 and its die is
// published on the bus with its labels, as the engine publishes it.
type fakeEngine struct {
	bus *events.Bus
	mu  sync.Mutex
	cs  map[string]*container.Container
	n   int
}

func newFakeEngine(bus *events.Bus) *fakeEngine {
	return &fakeEngine{bus: bus, cs: map[string]*container.Container{}}
}

func (f *fakeEngine) findLocked(ref string) (*container.Container, error) {
	if c, ok := f.cs[ref]; ok {
		return c, nil
	}
	for _, c := range f.cs {
		if c.Name == ref {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no such container: %s: %w", ref, errdefs.ErrNotFound)
}

func (f *fakeEngine) Create(ctx context.Context, o container.CreateOptions) (*container.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.findLocked(o.Name); err == nil {
		return nil, fmt.Errorf("name %s in use: %w", o.Name, errdefs.ErrConflict)
	}
	f.n++
	c := &container.Container{ID: fmt.Sprintf("c%062d", f.n), Name: o.Name, Config: o.Config, HostConfig: o.HostConfig,
		Created: time.Now(), State: container.State{Status: container.StatusCreated}}
	f.cs[c.ID] = c
	cp := *c
	return &cp, nil
}

func (f *fakeEngine) Start(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	c.State.Status, c.State.StartedAt = container.StatusRunning, time.Now()
	return nil
}

func (f *fakeEngine) Get(ctx context.Context, ref string) (*container.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		return nil, err
	}
	cp := *c
	return &cp, nil
}

func (f *fakeEngine) Stop(ctx context.Context, ref string, timeout *int, signal string) error {
	f.mu.Lock()
	c, err := f.findLocked(ref)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if !c.State.Running() {
		f.mu.Unlock()
		return nil
	}
	c.State.Status, c.State.ExitCode, c.State.FinishedAt = container.StatusExited, 143, time.Now()
	ev := events.Event{Type: events.TypeContainer, Action: "die", Actor: events.Actor{ID: c.ID, Attributes: c.Config.Labels}}
	f.mu.Unlock()
	f.bus.Publish(ev)
	return nil
}

func (f *fakeEngine) Remove(ctx context.Context, ref string, o container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	delete(f.cs, c.ID)
	return nil
}

func (f *fakeEngine) Logs(ctx context.Context, ref string, o container.LogsOptions, emit func(logfile.Entry) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.findLocked(ref)
	return err // no output
}

func (f *fakeEngine) List(ctx context.Context) []*container.Container {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*container.Container
	for _, c := range f.cs {
		cp := *c
		out = append(out, &cp)
	}
	return out
}

func (f *fakeEngine) status(ref string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		return "gone"
	}
	return c.State.Status
}

// Stop without a reference (the manager never learnt it: Launch's
// outcome was unknown, or the manager restarted before it answered)
// stops the attempt's container found by its name, as Watch finds it,
// and the attempt's end is reported; an attempt without a container is
// gone, which is no error.
func TestStopWithoutRef(t *testing.T) {
	bus, err := events.New()
	if err != nil {
		t.Fatal(err)
	}
	e := newFakeEngine(bus)
	l, err := New(e, bus, t.TempDir(), WithStopGrace(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	a := batch.AttemptSpec{ID: "0123456789abcdef0123456789abcdef", JobID: "job-a", Attempt: 1, Image: "busybox", Command: []string{"sleep", "1000"}}
	ref, err := l.Launch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Stop(ctx, a, "", "Terminated by the user"); err != nil {
		t.Fatal(err)
	}
	select {
	case end := <-l.Ends():
		if end.ID != a.ID || end.Ref != ref || end.ExitCode == nil || *end.ExitCode != 143 {
			t.Fatalf("end %+v, want attempt %s stopped (143)", end, a.ID)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no end reported; the attempt's container is %s", e.status(ref))
	}
	if st := e.status(ref); st != "gone" {
		t.Fatalf("the attempt's container is %s after its end, want removed", st)
	}
	b := batch.AttemptSpec{ID: "fedcba9876543210fedcba9876543210", JobID: "job-b", Attempt: 1}
	if err := l.Stop(ctx, b, "", "x"); err != nil {
		t.Fatalf("stopping an attempt without a container: %v", err)
	}
}

// Watch of an attempt whose Launch never answered finds its container
// by name and tells its id (Found); stopped then by that reference, its
// end is reported once.
func TestWatchFindsRunningAttempt(t *testing.T) {
	bus, err := events.New()
	if err != nil {
		t.Fatal(err)
	}
	e := newFakeEngine(bus)
	old, err := New(e, bus, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := batch.AttemptSpec{ID: "00112233445566778899aabbccddeeff", JobID: "job-a", Attempt: 1, Image: "busybox", Command: []string{"sleep", "1000"}}
	ref, err := old.Launch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	l, err := New(e, bus, t.TempDir(), WithStopGrace(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Watch(ctx, a, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-l.Found():
		if f.ID != a.ID || f.Ref != ref || f.StartedAt.IsZero() {
			t.Fatalf("found %+v, want attempt %s as container %s", f, a.ID, ref)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the running attempt was not reported found")
	}
	if err := l.Stop(ctx, a, ref, "Terminated by the user"); err != nil {
		t.Fatal(err)
	}
	select {
	case end := <-l.Ends():
		if end.ID != a.ID || end.ExitCode == nil || *end.ExitCode != 143 {
			t.Fatalf("end %+v", end)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no end reported")
	}
}
