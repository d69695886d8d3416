package container

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/runtime/task"
)

// Healthchecks, as dockerd runs them (daemon/health.go):
//
//	created ──start──▶ starting ──probe ok──▶ healthy
//	                       │                    │  ▲
//	              Retries failures      Retries │  │ probe ok
//	              (after StartPeriod)   failures▼  │
//	                       └──────────────▶ unhealthy
//
// A probe is one exec of the check's command in the container (through
// the runtime, as `docker exec` is), with its output kept up to 4096
// bytes; the last 5 results are kept. Between probes a container holds a
// timer and nothing else: no goroutine, no buffer. The first probe comes
// Interval after the start (StartInterval while the container is within
// its StartPeriod and still starting), the next Interval after the end
// of the previous one. Failures within the StartPeriod do not count until
// a probe has succeeded. A stop, an exit or a pause ends the checks and
// leaves the status unhealthy, as dockerd leaves it; unpausing resumes
// them. The status, the streak and the log are in the container's record:
// a daemon restart finds them and resumes the checks of the containers it
// re-adopts.

// Health statuses.
const (
	HealthNone      = "none"
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// dockerd's defaults and limits.
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultStartInterval = 5 * time.Second
	defaultProbeRetries  = 3
	maxHealthLog         = 5
	maxProbeOutput       = 4096
	minHealthDuration    = time.Millisecond
)

// HealthConfig is a container's healthcheck (docker's HealthConfig).
// Test is ["NONE"] (no check), ["CMD", args...], or ["CMD-SHELL",
// command] (run by the shell); empty inherits the image's. Zero
// durations and retries take dockerd's defaults.
type HealthConfig struct {
	Test          []string      `json:",omitempty"`
	Interval      time.Duration `json:",omitempty"`
	Timeout       time.Duration `json:",omitempty"`
	StartPeriod   time.Duration `json:",omitempty"`
	StartInterval time.Duration `json:",omitempty"`
	Retries       int           `json:",omitempty"`
}

// HealthResult is one probe's result.
type HealthResult struct {
	Start, End time.Time
	ExitCode   int
	Output     string
}

// Health is a container's health state (State.Health): nil until a
// container with a healthcheck first starts.
type Health struct {
	Status        string
	FailingStreak int
	Log           []HealthResult
}

func (h *Health) clone() *Health {
	if h == nil {
		return nil
	}
	cp := *h
	cp.Log = append([]HealthResult{}, h.Log...)
	return &cp
}

// validateHealthcheck refuses what dockerd refuses.
func validateHealthcheck(h *HealthConfig) error {
	if h == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", h.Interval}, {"Timeout", h.Timeout}, {"StartPeriod", h.StartPeriod}, {"StartInterval", h.StartInterval}} {
		if d.v != 0 && d.v < minHealthDuration {
			return fmt.Errorf("%s in Healthcheck cannot be less than %s: %w", d.name, minHealthDuration, errdefs.ErrInvalidArgument)
		}
	}
	if h.Retries < 0 {
		return fmt.Errorf("Retries in Healthcheck cannot be negative: %w", errdefs.ErrInvalidArgument)
	}
	// An unknown test type is accepted and runs no check, as in dockerd.
	return nil
}

// mergeImageHealthcheck fills what the user's healthcheck leaves unset
// from the image's HEALTHCHECK, as dockerd merges them at create.
func mergeImageHealthcheck(c *Config, img *store.Image) {
	if img.Config == nil {
		return
	}
	if len(c.Shell) == 0 {
		c.Shell = append([]string(nil), img.Config.Config.Shell...)
	}
	if img.Config.Config.Healthcheck == nil {
		return
	}
	// (The image library's config has no StartInterval: an image's
	// start interval is not read.)
	ih := img.Config.Config.Healthcheck
	im := HealthConfig{Test: ih.Test, Interval: ih.Interval, Timeout: ih.Timeout, StartPeriod: ih.StartPeriod, Retries: ih.Retries}
	if c.Healthcheck == nil {
		im.Test = append([]string(nil), im.Test...)
		c.Healthcheck = &im
		return
	}
	h := c.Healthcheck
	if len(h.Test) == 0 {
		h.Test = append([]string(nil), im.Test...)
	}
	if h.Interval == 0 {
		h.Interval = im.Interval
	}
	if h.Timeout == 0 {
		h.Timeout = im.Timeout
	}
	if h.StartPeriod == 0 {
		h.StartPeriod = im.StartPeriod
	}
	if h.Retries == 0 {
		h.Retries = im.Retries
	}
}

// probeCommand is the command a healthcheck runs; nil when the container
// has no check (none configured, NONE, or nothing to run).
func probeCommand(c *Config) []string {
	h := c.Healthcheck
	if h == nil || len(h.Test) < 2 {
		return nil
	}
	switch h.Test[0] {
	case "CMD":
		return h.Test[1:]
	case "CMD-SHELL":
		shell := c.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		return append(append([]string{}, shell...), h.Test[1:]...)
	}
	return nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// probeDelay is how long after now the next probe comes: StartInterval
// while the container is within its start period and still starting,
// Interval otherwise. It is pure.
func probeDelay(h *HealthConfig, startedAt, now time.Time, status string) time.Duration {
	if now.Sub(startedAt) < h.StartPeriod && status == HealthStarting {
		return orDefault(h.StartInterval, defaultStartInterval)
	}
	return orDefault(h.Interval, defaultProbeInterval)
}

// applyProbe records a probe's result in h and reports whether the status
// changed. It is pure: dockerd's handleProbeResult.
func applyProbe(h *Health, cfg *HealthConfig, startedAt time.Time, r HealthResult) bool {
	old := h.Status
	retries := cfg.Retries
	if retries <= 0 {
		retries = defaultProbeRetries
	}
	if len(h.Log) >= maxHealthLog {
		h.Log = append(h.Log[len(h.Log)+1-maxHealthLog:], r)
	} else {
		h.Log = append(h.Log, r)
	}
	if r.ExitCode == 0 {
		h.FailingStreak = 0
		h.Status = HealthHealthy
		return h.Status != old
	}
	// Failures before the first success do not count within the start
	// period.
	if h.Status == HealthStarting && r.Start.Sub(startedAt) < cfg.StartPeriod {
		return false
	}
	h.FailingStreak++
	if h.FailingStreak >= retries {
		h.Status = HealthUnhealthy
	}
	return h.Status != old
}

// probeOutput keeps the first maxProbeOutput bytes of a probe's output,
// with "..." when more came, as dockerd's limitedBuffer.
type probeOutput struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

func (b *probeOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(maxProbeOutput-b.buf.Len(), len(p))
	if keep > 0 {
		b.buf.Write(p[:keep])
	}
	if keep < len(p) {
		b.truncated = true
	}
	return len(p), nil
}

func (b *probeOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return b.buf.String() + "..."
	}
	return b.buf.String()
}

// startingHealth is the health state of a container that starts: its
// log kept, the status starting; nil without a check.
func startingHealth(c *Container) *Health {
	if probeCommand(&c.Config) == nil {
		return c.State.Health.clone()
	}
	h := c.State.Health.clone()
	if h == nil {
		h = &Health{Log: []HealthResult{}}
	}
	h.Status, h.FailingStreak = HealthStarting, 0
	return h
}

// armHealth starts the checks of a running container (a start made its
// status starting); a container re-adopted after a daemon restart or
// unpaused keeps its status.
func (e *Engine) armHealth(en *entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := en.c
	if probeCommand(&c.Config) == nil || c.State.Status != StatusRunning || en.removed || e.closed {
		return
	}
	if en.healthTimer != nil {
		en.healthTimer.Stop()
	}
	en.healthGen++
	status := HealthStarting
	if c.State.Health != nil {
		status = c.State.Health.Status
	}
	e.scheduleProbeLocked(en, en.healthGen, probeDelay(c.Config.Healthcheck, c.State.StartedAt, time.Now(), status))
}

func (e *Engine) scheduleProbeLocked(en *entry, gen int, d time.Duration) {
	en.healthTimer = time.AfterFunc(d, func() { e.runProbe(en, gen) })
}

// disarmHealth ends the checks of a container; a probe in flight finishes
// but its result is dropped. Called with e.mu held.
func (en *entry) disarmHealthLocked() {
	en.healthGen++
	if en.healthTimer != nil {
		en.healthTimer.Stop()
		en.healthTimer = nil
	}
}

// healthStopped is what a stop, exit or pause leaves of the health
// state: dockerd marks a container whose checks ended unhealthy.
func healthStopped(h *Health) *Health {
	if h == nil {
		return nil
	}
	h = h.clone()
	h.Status = HealthUnhealthy
	return h
}

// runProbe runs one probe (the timer's goroutine) and schedules the next.
func (e *Engine) runProbe(en *entry, gen int) {
	e.mu.Lock()
	if en.healthGen != gen || en.removed || e.closed {
		e.mu.Unlock()
		return
	}
	c := en.c.clone()
	e.mu.Unlock()
	r := e.probe(en, c)
	var changed bool
	var after *Container
	e.updateVolatileIf(en, func(ct *Container) bool {
		if en.healthGen != gen || ct.State.Health == nil || ct.State.Status != StatusRunning {
			return false
		}
		changed = applyProbe(ct.State.Health, ct.Config.Healthcheck, ct.State.StartedAt, r)
		after = ct.clone()
		return true
	})
	if after == nil {
		return
	}
	if changed {
		e.publish(after, "health_status: "+after.State.Health.Status, nil)
	}
	e.mu.Lock()
	if en.healthGen == gen && !en.removed && !e.closed {
		e.scheduleProbeLocked(en, gen, probeDelay(after.Config.Healthcheck, after.State.StartedAt, time.Now(), after.State.Health.Status))
	}
	e.mu.Unlock()
}

// probe runs the check's command once, as an exec, with its timeout.
func (e *Engine) probe(en *entry, c *Container) HealthResult {
	start := time.Now().UTC()
	fail := func(err error) HealthResult {
		return HealthResult{Start: start, End: time.Now().UTC(), ExitCode: -1, Output: err.Error()}
	}
	cmd := probeCommand(&c.Config)
	timeout := orDefault(c.Config.Healthcheck.Timeout, defaultProbeTimeout)
	out := &probeOutput{}
	x := &execEntry{x: Exec{ID: newID(), ContainerID: c.ID, Config: ExecConfig{Cmd: cmd, AttachStdout: true, AttachStderr: true}}}
	e.publish(c, execAction("exec_create", cmd), map[string]string{"execID": x.x.ID})
	p, err := e.startExec(context.Background(), en, x, task.ExecOptions{Stdout: out, Stderr: out, Background: true})
	if err != nil {
		_ = e.execDone(x, 126, nil)
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	code, err := p.Wait(ctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		// Kill it and wait, so that dying probes do not pile up.
		_ = p.Kill(context.Background(), syscall.SIGKILL)
		code, _ = p.Wait(context.Background())
		_ = e.execDone(x, code, nil)
		msg := fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
		if o := out.String(); o != "" {
			msg += ": " + o
		}
		return HealthResult{Start: start, End: time.Now().UTC(), ExitCode: -1, Output: msg}
	}
	if err != nil {
		_ = e.execDone(x, 126, nil)
		return fail(err)
	}
	_ = e.execDone(x, code, nil)
	return HealthResult{Start: start, End: time.Now().UTC(), ExitCode: code, Output: out.String()}
}
