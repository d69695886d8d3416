package nativeapi

import (
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
)

func TestMatchFilters(t *testing.T) {
	c := &container.Container{ID: "abcdef", Name: "web", Config: container.Config{Image: "local/bb:1", Labels: map[string]string{"app": "x"}},
		ImageID: "sha256:1234", State: container.State{Status: container.StatusExited, ExitCode: 3}}
	yes := []map[string][]string{
		{"id": {"abc"}}, {"name": {"we"}}, {"status": {"exited"}}, {"label": {"app"}}, {"label": {"app=x"}},
		{"ancestor": {"local/bb:1"}}, {"exited": {"3"}}, {"status": {"running", "exited"}}, {"name": {"web"}, "status": {"exited"}},
	}
	for _, f := range yes {
		if ok, err := container.MatchFilters(c, f, nil); !ok || err != nil {
			t.Errorf("filter %v: %v %v", f, ok, err)
		}
	}
	no := []map[string][]string{{"id": {"zzz"}}, {"label": {"app=y"}}, {"exited": {"0"}}, {"name": {"web"}, "status": {"running"}}}
	for _, f := range no {
		if ok, _ := container.MatchFilters(c, f, nil); ok {
			t.Errorf("filter %v matched", f)
		}
	}
	if _, err := container.MatchFilters(c, map[string][]string{"bogus": {"1"}}, nil); err == nil {
		t.Error("unknown filter accepted")
	}
}
