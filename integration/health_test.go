package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// health is State.Health as inspect shows it.
type health struct {
	Status        string
	FailingStreak int
	Log           []struct {
		Start, End time.Time
		ExitCode   int
		Output     string
	}
}

// Healthchecks as dockerd runs them, through the docker CLI and the wharf
// CLI: the status in inspect, ps and its health filter, the events, and
// the checks going on after a daemon restart.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)
	t0 := time.Now()
	healthOf := func(ref string) health {
		t.Helper()
		var h health
		out := dk.must(t, "inspect", "--format", "{{json .State.Health}}", ref)
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			t.Fatalf("health %q: %v", out, err)
		}
		return h
	}
	waitHealth := func(ref, want string) health {
		t.Helper()
		var h health
		if !waitFor(20*time.Second, func() bool { h = healthOf(ref); return h.Status == want }) {
			t.Fatalf("%s: health %+v, want %s", ref, h, want)
		}
		return h
	}

	dk.must(t, "run", "-d", "--name", "hc", "--health-cmd", "cat /etc/ok", "--health-interval", "200ms", "--health-retries", "2", busybox, "sleep", "1000")
	if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{json .Config.Healthcheck}}", "hc")); got != `{"Test":["CMD-SHELL","cat /etc/ok"],"Interval":200000000,"Retries":2}` {
		t.Errorf("Config.Healthcheck %s", got)
	}
	h := waitHealth("hc", "unhealthy")
	if h.FailingStreak < 2 || h.Log[0].ExitCode != 1 || !strings.Contains(h.Log[0].Output, "/etc/ok") {
		t.Errorf("unhealthy: %+v", h)
	}
	if out := dk.must(t, "ps", "--format", "{{.Status}}", "--filter", "name=hc"); !strings.HasSuffix(strings.TrimSpace(out), "(unhealthy)") {
		t.Errorf("ps status %q", out)
	}
	dk.must(t, "exec", "hc", "touch", "/etc/ok")
	waitHealth("hc", "healthy")
	if out := dk.must(t, "ps", "--format", "{{.Names}} {{.Status}}", "--filter", "health=healthy"); !strings.HasPrefix(out, "hc Up ") || !strings.HasSuffix(strings.TrimSpace(out), "(healthy)") {
		t.Errorf("ps --filter health=healthy: %q", out)
	}
	if _, errOut, code := dk.run(t, nil, "ps", "--filter", "health=bogus"); code == 0 || !strings.Contains(errOut, "Unrecognised filter value for health: bogus") {
		t.Errorf("health=bogus: exit %d, %q", code, errOut)
	}

	// The wharf CLI's flags, and --no-healthcheck.
	d.MustWharf(t, "run", "-d", "--name", "nohc", "--no-healthcheck", busybox, "sleep", "1000")
	if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{json .Config.Healthcheck}} {{json .State.Health}}", "nohc")); got != `{"Test":["NONE"]} null` {
		t.Errorf("--no-healthcheck: %s", got)
	}
	if out := dk.must(t, "ps", "--format", "{{.Names}}", "--filter", "health=none"); strings.TrimSpace(out) != "nohc" {
		t.Errorf("health=none: %q", out)
	}
	d.MustWharf(t, "run", "-d", "--name", "hc2", "--health-cmd", "echo fine", "--health-interval", "200ms", "--health-start-period", "1m", "--health-start-interval", "100ms", "--health-timeout", "5s", busybox, "sleep", "1000")
	if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{json .Config.Healthcheck}}", "hc2")); got != `{"Test":["CMD-SHELL","echo fine"],"Interval":200000000,"Timeout":5000000000,"StartPeriod":60000000000,"StartInterval":100000000}` {
		t.Errorf("wharf run --health-*: %s", got)
	}
	if h := waitHealth("hc2", "healthy"); h.Log[len(h.Log)-1].Output != "fine\n" {
		t.Errorf("hc2: %+v", h)
	}

	// The checks go on across a daemon restart, from where they were.
	d.Restart(t)
	before := healthOf("hc")
	if before.Status != "healthy" {
		t.Errorf("after a daemon restart: %+v", before)
	}
	if !waitFor(20*time.Second, func() bool {
		l := healthOf("hc").Log
		return l[len(l)-1].Start.After(before.Log[len(before.Log)-1].Start)
	}) {
		t.Error("no probe after the daemon restart")
	}
	dk.must(t, "stop", "-t", "0", "hc")
	if h := healthOf("hc"); h.Status != "unhealthy" {
		t.Errorf("stopped: %+v", h)
	}

	out := dk.must(t, "events", "--since", t0.Format(time.RFC3339Nano), "--until", time.Now().Format(time.RFC3339Nano), "--filter", "event=health_status", "--format", "{{.Actor.Attributes.name}} {{.Action}}")
	if !strings.HasPrefix(out, "hc health_status: unhealthy\nhc health_status: healthy\n") {
		t.Errorf("health_status events:\n%s", out)
	}
	assertNoLeaks(t, d)
}
