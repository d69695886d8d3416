// Package fnapi serves the functions' administration endpoints of the
// native API (/wharf/v1/functions/...): HTTP routes, schedules, logs, the
// async failure destination and metrics, for `wharf fn`. Function CRUD and
// invocation go through the Lambda-shaped API instead, as the aws CLI's do.
// The wire types are api/wharf's; the engine's records convert to them
// field for field, so a field added on one side only does not compile.
package fnapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/trigger"
	"github.com/wharf-dev/wharf/server/httperr"
)

// Functions is what these endpoints need of the functions engine.
type Functions interface {
	Get(ctx context.Context, name, qualifier string) (*functions.Config, error)
	Metrics(ctx context.Context, name string) (*functions.Metrics, error)
	Failures(ctx context.Context, name string) ([]functions.Failure, error)
	// CopyLog writes a function's log, across its rotated files, to w;
	// with follow it goes on until ctx ends.
	CopyLog(ctx context.Context, name string, follow bool, w io.Writer) error
}

// Handler returns the endpoints under prefix (e.g. "/wharf/v1").
func Handler(prefix string, fns Functions, tbl *trigger.Table) http.Handler {
	mux := http.NewServeMux()
	h := &handler{fns: fns, tbl: tbl}
	p := prefix + "/functions"
	mux.HandleFunc("GET "+p+"/routes", h.wrap(h.listRoutes))
	mux.HandleFunc("POST "+p+"/routes", h.wrap(h.addRoute))
	mux.HandleFunc("DELETE "+p+"/routes", h.wrap(h.removeRoute))
	mux.HandleFunc("GET "+p+"/schedules", h.wrap(h.listSchedules))
	mux.HandleFunc("POST "+p+"/schedules", h.wrap(h.addSchedule))
	mux.HandleFunc("DELETE "+p+"/schedules/{name}", h.wrap(h.removeSchedule))
	mux.HandleFunc("GET "+p+"/{name}/logs", h.wrap(h.logs))
	mux.HandleFunc("GET "+p+"/{name}/failures", h.wrap(h.failures))
	mux.HandleFunc("GET "+p+"/{name}/metrics", h.wrap(h.metrics))
	return mux
}

type handler struct {
	fns Functions
	tbl *trigger.Table
}

func (h *handler) wrap(f func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			code := httperr.Status(err)
			writeJSON(w, code, map[string]string{"message": httperr.Message(err)})
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

// checkFunction refuses triggers for functions that do not exist.
func (h *handler) checkFunction(ctx context.Context, ref string) error {
	name, q, err := functions.ParseName(ref)
	if err != nil {
		return err
	}
	_, err = h.fns.Get(ctx, name, q)
	return err
}

func (h *handler) listRoutes(w http.ResponseWriter, r *http.Request) error {
	rs := h.tbl.Routes()
	out := make([]wharf.FunctionRoute, 0, len(rs))
	for _, r := range rs {
		out = append(out, wharf.FunctionRoute(r))
	}
	writeJSON(w, 200, out)
	return nil
}

func (h *handler) addRoute(w http.ResponseWriter, r *http.Request) error {
	var rt wharf.FunctionRoute
	if err := decode(r, &rt); err != nil {
		return err
	}
	if err := h.checkFunction(r.Context(), rt.Function); err != nil {
		return err
	}
	out, err := h.tbl.AddRoute(trigger.Route(rt))
	if err != nil {
		return err
	}
	writeJSON(w, 201, wharf.FunctionRoute(*out))
	return nil
}

func (h *handler) removeRoute(w http.ResponseWriter, r *http.Request) error {
	if err := h.tbl.RemoveRoute(r.URL.Query().Get("method"), r.URL.Query().Get("path")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) listSchedules(w http.ResponseWriter, r *http.Request) error {
	ss := h.tbl.Schedules()
	out := make([]wharf.FunctionSchedule, 0, len(ss))
	for _, s := range ss {
		out = append(out, wharf.FunctionSchedule(s))
	}
	writeJSON(w, 200, out)
	return nil
}

func (h *handler) addSchedule(w http.ResponseWriter, r *http.Request) error {
	var s wharf.FunctionSchedule
	if err := decode(r, &s); err != nil {
		return err
	}
	if err := h.checkFunction(r.Context(), s.Function); err != nil {
		return err
	}
	out, err := h.tbl.AddSchedule(trigger.Schedule(s))
	if err != nil {
		return err
	}
	writeJSON(w, 201, wharf.FunctionSchedule(*out))
	return nil
}

func (h *handler) removeSchedule(w http.ResponseWriter, r *http.Request) error {
	if err := h.tbl.RemoveSchedule(r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logs streams a function's log, across its rotated files; with follow=1
// it keeps streaming until the client leaves.
func (h *handler) logs(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := h.fns.Get(r.Context(), name, ""); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	// Once the headers are out, an error (a client that left) can only
	// end the stream.
	_ = h.fns.CopyLog(r.Context(), name, r.URL.Query().Get("follow") == "1", flushWriter{w, fl})
	return nil
}

// flushWriter flushes every write, so a follower sees lines as they come.
type flushWriter struct {
	w  io.Writer
	fl http.Flusher
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if f.fl != nil {
		f.fl.Flush()
	}
	return n, err
}

func (h *handler) failures(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := h.fns.Get(r.Context(), name, ""); err != nil {
		return err
	}
	fs, err := h.fns.Failures(r.Context(), name)
	if err != nil {
		return err
	}
	out := make([]wharf.FunctionFailure, 0, len(fs))
	for _, f := range fs {
		out = append(out, wharf.FunctionFailure(f))
	}
	writeJSON(w, 200, out)
	return nil
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}

func (h *handler) metrics(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	m, err := h.fns.Metrics(r.Context(), name)
	if err != nil {
		return err
	}
	d := append([]float64(nil), m.DurationsMs...)
	sort.Float64s(d)
	s := wharf.FunctionMetrics{Function: name, Invocations: m.Invocations, Errors: m.Errors, Throttles: m.Throttles, ColdStarts: m.ColdStarts,
		Concurrent: m.Concurrent, SandboxesWarm: m.SandboxesWarm, SandboxesTotal: m.SandboxesTotal,
		P50Ms: quantile(d, .5), P90Ms: quantile(d, .9), P99Ms: quantile(d, .99)}
	if len(d) > 0 {
		s.MaxMs = d[len(d)-1]
	}
	writeJSON(w, 200, s)
	return nil
}
