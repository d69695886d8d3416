package container_test

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/runtime/fake"
)

func healthOf(t *testing.T, e *container.Engine, id string) container.Health {
	t.Helper()
	st := state(t, e, id)
	if st.Health == nil {
		t.Fatalf("no health state: %+v", st)
	}
	return *st.Health
}

func waitHealth(t *testing.T, e *container.Engine, id, want string) container.Health {
	t.Helper()
	var h container.Health
	waitFor(t, "health "+want, func() bool {
		h = healthOf(t, e, id)
		return h.Status == want
	})
	return h
}

// A container's healthcheck runs as execs while it runs: starting, then
// unhealthy after Retries failures, healthy after a success, each change
// told as a health_status event; a pause or a stop ends the checks and
// leaves it unhealthy; a daemon restart finds the state and resumes the
// checks.
func TestHealthcheckLifecycle(t *testing.T) {
	f := newFakeEngine(t)
	// The first daemon's engine is closed by the test (a daemon restart).
	e := f.Start(t)
	ctx := context.Background()
	o := cmd("sleep", "100")
	o.Config.Healthcheck = &container.HealthConfig{Test: []string{"CMD-SHELL", "cat /tmp/ok"}, Interval: 30 * time.Millisecond, Retries: 2}
	id := mustCreate(t, e, o)
	if st := state(t, e, id); st.Health != nil {
		t.Fatalf("a created container has a health state: %+v", st.Health)
	}
	sub, err := f.Events.Subscribe(events.SubscribeOptions{Filter: events.Filter{"event": {"health_status"}}.Match})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, e, id); h.Status != container.HealthStarting || h.Log == nil {
		t.Fatalf("after the start: %+v", h)
	}
	if c, _ := e.Get(ctx, id); !strings.HasSuffix(c.State.StatusText(time.Now()), "(health: starting)") {
		t.Errorf("status text %q", c.State.StatusText(time.Now()))
	}
	h := waitHealth(t, e, id, container.HealthUnhealthy)
	if h.FailingStreak < 2 || len(h.Log) < 2 || h.Log[0].ExitCode == 0 || !strings.Contains(h.Log[0].Output, "/tmp/ok") {
		t.Fatalf("unhealthy: %+v", h)
	}
	x, err := e.ExecCreate(ctx, id, container.ExecConfig{Cmd: []string{"sh", "-c", "echo yes > /tmp/ok"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ExecStart(ctx, x, container.ExecStartOptions{}); err != nil {
		t.Fatal(err)
	}
	h = waitHealth(t, e, id, container.HealthHealthy)
	last := h.Log[len(h.Log)-1]
	if h.FailingStreak != 0 || last.ExitCode != 0 || last.Output != "yes\n" || last.End.Before(last.Start) {
		t.Fatalf("healthy: %+v", h)
	}
	if c, _ := e.Get(ctx, id); !strings.HasSuffix(c.State.StatusText(time.Now()), "(healthy)") {
		t.Errorf("status text %q", c.State.StatusText(time.Now()))
	}
	for _, want := range []string{"health_status: unhealthy", "health_status: healthy"} {
		ev, err := sub.Next(ctx)
		if err != nil || ev.Action != want || ev.Actor.ID != id {
			t.Fatalf("event %+v, %v; want %s", ev, err, want)
		}
	}

	// A pause stops the checks: unhealthy, and no probe runs.
	if err := e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, e, id); h.Status != container.HealthUnhealthy {
		t.Fatalf("paused: %+v", h)
	}
	n := len(healthOf(t, e, id).Log)
	time.Sleep(150 * time.Millisecond)
	if h := healthOf(t, e, id); len(h.Log) != n || !h.Log[len(h.Log)-1].End.Equal(healthOf(t, e, id).Log[n-1].End) {
		t.Fatalf("probes ran while paused: %+v", h)
	}
	if err := e.Unpause(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, e, id, container.HealthHealthy)

	// The daemon goes away and comes back: the state is found, and the
	// checks resume.
	e.Close()
	e = f.Engine(t)
	if h := healthOf(t, e, id); h.Status != container.HealthHealthy || len(h.Log) == 0 {
		t.Fatalf("after a daemon restart: %+v", h)
	}
	before := healthOf(t, e, id).Log
	waitFor(t, "a probe after the daemon restart", func() bool {
		l := healthOf(t, e, id).Log
		return l[len(l)-1].Start.After(before[len(before)-1].Start)
	})

	// A stop ends the checks.
	zero := 0
	if err := e.Stop(ctx, id, &zero, ""); err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, e, id); h.Status != container.HealthUnhealthy {
		t.Fatalf("stopped: %+v", h)
	}
	n = len(healthOf(t, e, id).Log)
	last = healthOf(t, e, id).Log[n-1]
	time.Sleep(150 * time.Millisecond)
	if l := healthOf(t, e, id).Log; !l[len(l)-1].Start.Equal(last.Start) {
		t.Fatal("probes ran after the stop")
	}
	// A new start begins again from starting, with the log kept.
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, e, id); h.Status != container.HealthStarting || h.FailingStreak != 0 || len(h.Log) == 0 {
		t.Fatalf("restarted: %+v", h)
	}
}

// A probe that outlives its timeout is killed and fails with dockerd's
// message; its output is capped.
func TestHealthcheckTimeoutAndOutput(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	o := cmd("sleep", "100")
	o.Config.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "sh", "-c", "echo started; sleep 100"}, Interval: 20 * time.Millisecond, Timeout: 50 * time.Millisecond, Retries: 1}
	id := mustRun(t, e, o)
	h := waitHealth(t, e, id, container.HealthUnhealthy)
	r := h.Log[0]
	if r.ExitCode != -1 || r.Output != "Health check exceeded timeout (50ms): started\n" {
		t.Fatalf("timed-out probe: %+v", r)
	}
	if d := r.End.Sub(r.Start); d > 5*time.Second {
		t.Errorf("the probe was not killed: it took %v", d)
	}

	o = cmd("sleep", "100")
	o.Config.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "echo", strings.Repeat("x", 5000)}, Interval: 20 * time.Millisecond}
	id = mustRun(t, e, o)
	h = waitHealth(t, e, id, container.HealthHealthy)
	if out := h.Log[0].Output; len(out) != 4099 || !strings.HasSuffix(out, "x...") {
		t.Fatalf("output of %d bytes", len(out))
	}
}

// The image's HEALTHCHECK is the container's, merged with the user's
// settings; NONE turns it off.
func TestHealthcheckFromImage(t *testing.T) {
	f := newFakeEngine(t)
	tb, err := fake.RootfsTar()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &v1.Config{Cmd: []string{"sleep", "100"}, Healthcheck: &v1.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 20 * time.Millisecond, Retries: 4}}
	if _, err := f.Images.Import(context.Background(), bytes.NewReader(tb), "fake/health:1", cfg); err != nil {
		t.Fatal(err)
	}
	e := f.Engine(t)
	ctx := context.Background()
	c, err := e.Create(ctx, container.CreateOptions{Config: container.Config{Image: "fake/health:1", Healthcheck: &container.HealthConfig{Retries: 2}}, HostConfig: container.HostConfig{NetworkMode: "none"}})
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Config.Healthcheck; h == nil || strings.Join(h.Test, " ") != "CMD-SHELL true" || h.Interval != 20*time.Millisecond || h.Retries != 2 {
		t.Fatalf("merged healthcheck %+v", h)
	}
	if err := e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, e, c.ID, container.HealthHealthy)
	list := e.List(ctx)
	if ok, err := container.MatchFilters(list[0], map[string][]string{"health": {"healthy"}}, nil); !ok || err != nil {
		t.Errorf("health=healthy: %v, %v", ok, err)
	}
	if _, err := container.MatchFilters(list[0], map[string][]string{"health": {"bogus"}}, nil); err == nil {
		t.Error("health=bogus accepted")
	}

	off, err := e.Create(ctx, container.CreateOptions{Config: container.Config{Image: "fake/health:1", Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}}, HostConfig: container.HostConfig{NetworkMode: "none"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, off.ID); err != nil {
		t.Fatal(err)
	}
	if st := state(t, e, off.ID); st.Health != nil || st.HealthStatus() != container.HealthNone {
		t.Fatalf("NONE: %+v", st.Health)
	}
	if ok, _ := container.MatchFilters(&container.Container{State: state(t, e, off.ID)}, map[string][]string{"health": {"none"}}, nil); !ok {
		t.Error("health=none misses a container without a check")
	}
}

// Between probes a container with a healthcheck costs a timer: no
// goroutine more than a container without one.
func TestHealthcheckIdleCost(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	const n = 20
	start := func(check bool) {
		for i := 0; i < n; i++ {
			o := cmd("sleep", "100")
			if check {
				o.Config.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Hour}
			}
			mustRun(t, e, o)
		}
	}
	settle := func() int {
		time.Sleep(100 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	base := settle()
	start(false)
	without := settle() - base
	start(true)
	with := settle() - base - without
	if with > without+2 {
		t.Errorf("%d containers with a healthcheck hold %d goroutines, without one %d", n, with, without)
	}
}
