package container

import (
	"strings"
	"testing"
	"time"
)

// The pure scheduling and result logic, against dockerd's rules, with
// the clock as an input.

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func TestProbeDelay(t *testing.T) {
	for _, c := range []struct {
		name   string
		cfg    HealthConfig
		since  time.Duration // since the start
		status string
		want   time.Duration
	}{
		{"defaults", HealthConfig{}, 0, HealthStarting, 30 * time.Second},
		{"interval", HealthConfig{Interval: 2 * time.Second}, 0, HealthStarting, 2 * time.Second},
		{"start interval within the start period", HealthConfig{Interval: time.Minute, StartPeriod: 10 * time.Second, StartInterval: time.Second}, 3 * time.Second, HealthStarting, time.Second},
		{"default start interval", HealthConfig{Interval: time.Minute, StartPeriod: 10 * time.Second}, 3 * time.Second, HealthStarting, 5 * time.Second},
		{"healthy within the start period", HealthConfig{Interval: time.Minute, StartPeriod: 10 * time.Second, StartInterval: time.Second}, 3 * time.Second, HealthHealthy, time.Minute},
		{"after the start period", HealthConfig{Interval: time.Minute, StartPeriod: 10 * time.Second, StartInterval: time.Second}, 10 * time.Second, HealthStarting, time.Minute},
	} {
		if got := probeDelay(&c.cfg, t0, t0.Add(c.since), c.status); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func result(at time.Duration, code int) HealthResult {
	return HealthResult{Start: t0.Add(at), End: t0.Add(at + time.Millisecond), ExitCode: code}
}

// Retries consecutive failures make a container unhealthy, one success
// healthy again; failures within the start period count only after a
// success; the log keeps the last five results.
func TestApplyProbe(t *testing.T) {
	cfg := &HealthConfig{Retries: 2, StartPeriod: 10 * time.Second}
	h := &Health{Status: HealthStarting, Log: []HealthResult{}}
	var changes []string
	step := func(at time.Duration, code int) {
		if applyProbe(h, cfg, t0, result(at, code)) {
			changes = append(changes, h.Status)
		}
	}
	step(time.Second, 1)
	step(2*time.Second, 1)
	step(3*time.Second, 1)
	if h.Status != HealthStarting || h.FailingStreak != 0 {
		t.Fatalf("failures within the start period counted: %+v", h)
	}
	step(4*time.Second, 0)
	step(5*time.Second, 1) // counts now: it has been healthy
	if h.Status != HealthHealthy || h.FailingStreak != 1 {
		t.Fatalf("after one failure: %+v", h)
	}
	step(6*time.Second, 2)
	if h.Status != HealthUnhealthy || h.FailingStreak != 2 {
		t.Fatalf("after two failures: %+v", h)
	}
	step(7*time.Second, 1)
	step(8*time.Second, 0)
	if h.Status != HealthHealthy || h.FailingStreak != 0 {
		t.Fatalf("after a success: %+v", h)
	}
	if strings.Join(changes, ",") != "healthy,unhealthy,healthy" {
		t.Errorf("status changes %v", changes)
	}
	if len(h.Log) != maxHealthLog || !h.Log[0].Start.Equal(t0.Add(4*time.Second)) || !h.Log[4].Start.Equal(t0.Add(8*time.Second)) {
		t.Errorf("log %+v", h.Log)
	}

	// Without a start period, the first failures count: the default is
	// three retries.
	h = &Health{Status: HealthStarting}
	for i := 1; i <= 3; i++ {
		applyProbe(h, &HealthConfig{}, t0, result(time.Duration(i)*time.Second, 1))
	}
	if h.Status != HealthUnhealthy || h.FailingStreak != 3 {
		t.Fatalf("default retries: %+v", h)
	}
}

// A probe's output is kept up to 4096 bytes, then "..." as dockerd.
func TestProbeOutputCapped(t *testing.T) {
	var b probeOutput
	_, _ = b.Write([]byte(strings.Repeat("a", 4000)))
	_, _ = b.Write([]byte(strings.Repeat("b", 200)))
	got := b.String()
	if len(got) != 4099 || !strings.HasSuffix(got, "bb...") {
		t.Fatalf("output of %d bytes ending %q", len(got), got[len(got)-8:])
	}
	var small probeOutput
	_, _ = small.Write([]byte("ok\n"))
	if small.String() != "ok\n" {
		t.Fatalf("small output %q", small.String())
	}
}

// An image's HEALTHCHECK fills what the container's leaves unset; NONE
// disables it; CMD-SHELL runs the shell.
func TestProbeCommand(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Healthcheck: &HealthConfig{Test: []string{"NONE"}}}, ""},
		{Config{Healthcheck: &HealthConfig{Test: []string{"CMD"}}}, ""},
		{Config{Healthcheck: &HealthConfig{Test: []string{"CMD", "cat", "/ok"}}}, "cat /ok"},
		{Config{Healthcheck: &HealthConfig{Test: []string{"CMD-SHELL", "cat /ok || exit 1"}}}, "/bin/sh -c cat /ok || exit 1"},
		{Config{Shell: []string{"/bin/bash", "-e", "-c"}, Healthcheck: &HealthConfig{Test: []string{"CMD-SHELL", "true"}}}, "/bin/bash -e -c true"},
	} {
		if got := strings.Join(probeCommand(&c.cfg), " "); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cfg.Healthcheck, got, c.want)
		}
	}
	if err := validateHealthcheck(&HealthConfig{Interval: time.Microsecond}); err == nil {
		t.Error("an interval under 1ms accepted")
	}
	if err := validateHealthcheck(&HealthConfig{Retries: -1}); err == nil {
		t.Error("negative retries accepted")
	}
	if probeCommand(&Config{Healthcheck: &HealthConfig{Test: []string{"SHELL", "x"}}}) != nil {
		t.Error("an unknown test type runs a check")
	}
}
