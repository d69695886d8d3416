// Package health serves the daemon's probes as Kubernetes uses them:
// /healthz says the process answers (200 "ok"), /readyz that what it
// serves is ready — each Check passes within its timeout — with 503 and a
// JSON body naming what is not otherwise:
//
//	{"status":"not ready","failed":{"nats":"not connected"}}
//
// Both are unauthenticated, like the probes of the kubelet and of load
// balancers, and reveal nothing but the names of the checks.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Check is one readiness condition: Fn returns nil when Name is ready.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// timeout bounds each check: a probe must answer while the daemon is
// wedged, and say what is wedged.
const timeout = 2 * time.Second

// Healthz answers 200 "ok" while the process serves HTTP.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// Readyz runs every check at once and answers 200 "ok" when all pass,
// else 503 with the failures by name.
func Readyz(checks ...Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		failed := Run(r.Context(), checks)
		if len(failed) == 0 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(struct {
			Status string            `json:"status"`
			Failed map[string]string `json:"failed"`
			Checks []string          `json:"checks"`
		}{"not ready", failed, names(checks)})
	}
}

// Run runs the checks concurrently, each within timeout, and returns the
// failures by name (a check that has not answered in time fails).
func Run(ctx context.Context, checks []Check) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex
	failed := map[string]string{}
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Add(1)
		done := make(chan error, 1)
		go func() { done <- c.Fn(ctx) }()
		go func() {
			defer wg.Done()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				err = ctx.Err()
			}
			if err != nil {
				mu.Lock()
				failed[c.Name] = err.Error()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

func names(checks []Check) []string {
	out := make([]string, 0, len(checks))
	for _, c := range checks {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}
