package nativeapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
)

func TestStatusAndMessage(t *testing.T) {
	err := fmt.Errorf("No such container: x: %w", errdefs.ErrNotFound)
	if statusOf(err) != 404 || userMessage(err) != "No such container: x" {
		t.Fatalf("%d %q", statusOf(err), userMessage(err))
	}
	for class, code := range map[error]int{errdefs.ErrConflict: 409, errdefs.ErrInvalidArgument: 400, errdefs.ErrNotModified: 304, errdefs.ErrUnavailable: 503, fmt.Errorf("plain"): 500} {
		if got := statusOf(fmt.Errorf("m: %w", class)); got != code {
			t.Errorf("%v -> %d, want %d", class, got, code)
		}
	}
}

func TestMatchFilters(t *testing.T) {
	c := &container.Container{ID: "abcdef", Name: "web", Config: container.Config{Image: "local/bb:1", Labels: map[string]string{"app": "x"}},
		ImageID: "sha256:1234", State: container.State{Status: container.StatusExited, ExitCode: 3}}
	yes := []map[string][]string{
		{"id": {"abc"}}, {"name": {"we"}}, {"status": {"exited"}}, {"label": {"app"}}, {"label": {"app=x"}},
		{"ancestor": {"local/bb:1"}}, {"exited": {"3"}}, {"status": {"running", "exited"}}, {"name": {"web"}, "status": {"exited"}},
	}
	for _, f := range yes {
		if ok, err := matchFilters(c, f); !ok || err != nil {
			t.Errorf("filter %v: %v %v", f, ok, err)
		}
	}
	no := []map[string][]string{{"id": {"zzz"}}, {"label": {"app=y"}}, {"exited": {"0"}}, {"name": {"web"}, "status": {"running"}}}
	for _, f := range no {
		if ok, _ := matchFilters(c, f); ok {
			t.Errorf("filter %v matched", f)
		}
	}
	if _, err := matchFilters(c, map[string][]string{"bogus": {"1"}}); err == nil {
		t.Error("unknown filter accepted")
	}
}

func TestParseChanges(t *testing.T) {
	cfg, err := parseChanges([]string{`CMD ["sh"]`, "ENTRYPOINT /bin/init", "ENV A=b", "WORKDIR /w", "USER 1000", "EXPOSE 80 53/udp", "LABEL k=v"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Cmd) != 1 || cfg.Cmd[0] != "sh" || cfg.Entrypoint[2] != "/bin/init" || cfg.Env[0] != "A=b" || cfg.WorkingDir != "/w" ||
		cfg.User != "1000" || len(cfg.ExposedPorts) != 2 || cfg.Labels["k"] != "v" {
		t.Fatalf("%+v", cfg)
	}
	if _, err := parseChanges([]string{"RUN rm -rf /"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("RUN accepted: %v", err)
	}
}

func TestStatusText(t *testing.T) {
	now := time.Now()
	if s := statusText(container.State{Status: container.StatusRunning, StartedAt: now.Add(-3 * time.Minute)}, now); s != "Up 3 minutes" {
		t.Errorf("%q", s)
	}
	if s := statusText(container.State{Status: container.StatusExited, ExitCode: 2, FinishedAt: now.Add(-2 * time.Second)}, now); s != "Exited (2) 2 seconds ago" {
		t.Errorf("%q", s)
	}
	if s := statusText(container.State{Status: container.StatusCreated}, now); s != "Created" {
		t.Errorf("%q", s)
	}
}
