package trigger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/schedule"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Schedule fires a function on a rate or cron expression.
type Schedule struct {
	Name       string
	Expression string
	Function   string
	Qualifier  string
	Created    time.Time
}

// Table is the daemon's route and schedule table.
type Table struct {
	path string
	mu   sync.Mutex
	data tableData
	// changed wakes the scheduler when schedules change.
	changed chan struct{}
	// bodyTimeout bounds the arrival of a routed request's body.
	bodyTimeout time.Duration
}

type tableData struct {
	Routes    []Route
	Schedules []Schedule
}

// Option configures Open.
type Option func(*openConfig)

type openConfig struct {
	log         *slog.Logger
	now         func() time.Time
	bodyTimeout time.Duration
}

// WithLogger sets where Open reports a damaged table (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *openConfig) { c.log = l } }

// WithBodyTimeout replaces BodyTimeout for the table's Router.
func WithBodyTimeout(d time.Duration) Option { return func(c *openConfig) { c.bodyTimeout = d } }

// Open loads (or starts) the table at path. A file that does not parse (a
// disk that lost it, a person's edit) does not stop the daemon: it is set
// aside as triggers.json.corrupt-<time>, logged, and the table starts
// empty.
func Open(path string, opts ...Option) (*Table, error) {
	cfg := openConfig{log: slog.New(slog.DiscardHandler), now: time.Now, bodyTimeout: BodyTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	t := &Table{path: path, changed: make(chan struct{}, 1), bodyTimeout: cfg.bodyTimeout}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &t.data); err != nil {
		t.data = tableData{}
		moved, merr := atomicfile.SetAside(path, cfg.now())
		if merr != nil {
			return nil, fmt.Errorf("trigger table %s is damaged (%v) and cannot be set aside: %w", path, err, merr)
		}
		cfg.log.Error("trigger table is damaged; it was set aside and the daemon starts with no routes or schedules", "file", path, "moved_to", moved, "err", err)
	}
	return t, nil
}

func (t *Table) saveLocked() error {
	data, err := json.MarshalIndent(t.data, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(t.path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(t.path, data, 0o600)
}

// AddRoute adds a route; the same method and path twice is a conflict.
func (t *Table) AddRoute(r Route) (*Route, error) {
	if err := ValidateRoute(&r); err != nil {
		return nil, err
	}
	if _, _, err := functions.ParseName(r.Function); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, o := range t.data.Routes {
		if o.Key() == r.Key() {
			return nil, fmt.Errorf("route %s already exists (function %s): %w", r.Key(), o.Function, errdefs.ErrConflict)
		}
	}
	r.Created = time.Now().UTC()
	t.data.Routes = append(t.data.Routes, r)
	sortRoutes(t.data.Routes)
	return &r, t.saveLocked()
}

// RemoveRoute deletes the route with this method and path.
func (t *Table) RemoveRoute(method, path string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := Route{Method: method, Path: path}
	_ = ValidateRoute(&key)
	for i, o := range t.data.Routes {
		if o.Key() == key.Key() {
			t.data.Routes = append(t.data.Routes[:i], t.data.Routes[i+1:]...)
			return t.saveLocked()
		}
	}
	return fmt.Errorf("no route %s: %w", key.Key(), errdefs.ErrNotFound)
}

// Routes returns the route table.
func (t *Table) Routes() []Route {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Route(nil), t.data.Routes...)
}

var validScheduleName = scheduleName{}

// scheduleName checks 1-64 of [a-zA-Z0-9._-] without a regular expression
// compiled at every process start.
type scheduleName struct{}

func (scheduleName) MatchString(s string) bool { return functions.ValidName(s, ".") }

// AddSchedule adds a named schedule.
func (t *Table) AddSchedule(s Schedule) (*Schedule, error) {
	if !validScheduleName.MatchString(s.Name) {
		return nil, fmt.Errorf("invalid schedule name %q: %w", s.Name, errdefs.ErrInvalidArgument)
	}
	if _, err := schedule.Parse(s.Expression); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if _, _, err := functions.ParseName(s.Function); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, o := range t.data.Schedules {
		if o.Name == s.Name {
			return nil, fmt.Errorf("schedule %s already exists: %w", s.Name, errdefs.ErrConflict)
		}
	}
	s.Created = time.Now().UTC()
	t.data.Schedules = append(t.data.Schedules, s)
	sort.Slice(t.data.Schedules, func(i, j int) bool { return t.data.Schedules[i].Name < t.data.Schedules[j].Name })
	if err := t.saveLocked(); err != nil {
		return nil, err
	}
	t.wake()
	return &s, nil
}

// RemoveSchedule deletes a schedule.
func (t *Table) RemoveSchedule(name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, o := range t.data.Schedules {
		if o.Name == name {
			t.data.Schedules = append(t.data.Schedules[:i], t.data.Schedules[i+1:]...)
			t.wake()
			return t.saveLocked()
		}
	}
	return fmt.Errorf("no schedule %s: %w", name, errdefs.ErrNotFound)
}

// Schedules returns the schedules.
func (t *Table) Schedules() []Schedule {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Schedule(nil), t.data.Schedules...)
}

func (t *Table) wake() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// BodyTimeout is how long a routed request's body may take to arrive
// (WithBodyTimeout changes it).
const BodyTimeout = time.Minute

// Router serves the route table: a request that matches a route invokes
// its function; any other request goes to next (the Lambda API).
func (t *Table) Router(inv Invoker, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, params := Find(t.Routes(), r.Method, r.URL.Path)
		if route == nil {
			next.ServeHTTP(w, r)
			return
		}
		reqID := newID()
		// The body must arrive within bodyTimeout; the deadline goes
		// once it is read, as the invocation may run for minutes (a
		// server-wide ReadTimeout would cancel it).
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(t.bodyTimeout))
		ev, err := Event(r, route, params, reqID)
		if err != nil {
			w.Header().Set("Connection", "close")
			if errors.Is(err, functions.ErrTooLarge) {
				writeGatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			} else {
				writeGatewayError(w, http.StatusBadRequest, "Bad Request")
			}
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		name, q, _ := functions.ParseName(route.Function)
		if route.Qualifier != "" {
			q = route.Qualifier
		}
		out, err := inv.Invoke(r.Context(), functions.InvokeInput{FunctionName: name, Qualifier: q, Payload: ev})
		switch {
		case errors.Is(err, functions.ErrThrottled):
			writeGatewayError(w, http.StatusTooManyRequests, "Too Many Requests")
			return
		case err != nil:
			slog.Warn("route invocation failed", "route", route.Key(), "function", route.Function, "err", err)
			writeGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		case out.FunctionError != "":
			writeGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		w.Header().Set("Apigw-Requestid", reqID)
		WriteResponse(w, out.Payload)
	})
}

func writeGatewayError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// scheduledEvent is EventBridge's scheduled event.
func scheduledEvent(s Schedule, at time.Time) []byte {
	ev := map[string]any{
		"version": "0", "id": newID(), "detail-type": "Scheduled Event", "source": "aws.events",
		"account": functions.DefaultAccount, "time": at.UTC().Format(time.RFC3339), "region": functions.DefaultRegion,
		"resources": []string{fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", functions.DefaultRegion, functions.DefaultAccount, s.Name)},
		"detail":    map[string]any{},
	}
	b, _ := json.Marshal(ev)
	return b
}

// RunScheduler fires schedules until ctx ends. Each firing is an
// asynchronous invocation (durable, retried), as EventBridge's are. now is
// the clock (time.Now in the daemon).
func (t *Table) RunScheduler(ctx context.Context, inv Invoker, now func() time.Time, log *slog.Logger) {
	last := now()
	for {
		next, due := t.nextFiring(last)
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now())
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-t.changed:
			timer.Stop()
			continue
		case <-timer.C:
		}
		for _, s := range due {
			name, q, _ := functions.ParseName(s.Function)
			if s.Qualifier != "" {
				q = s.Qualifier
			}
			_, err := inv.Invoke(ctx, functions.InvokeInput{FunctionName: name, Qualifier: q, Type: functions.InvocationEvent, Payload: scheduledEvent(s, next)})
			if err != nil {
				log.Warn("scheduled invocation failed", "schedule", s.Name, "function", s.Function, "err", err)
			}
		}
		last = next
	}
}

// nextFiring returns the earliest firing time after t and the schedules
// that fire then.
func (t *Table) nextFiring(after time.Time) (time.Time, []Schedule) {
	var best time.Time
	var due []Schedule
	for _, s := range t.Schedules() {
		p, err := schedule.Parse(s.Expression)
		if err != nil {
			continue
		}
		n := p.Next(after)
		switch {
		case n.IsZero():
		case best.IsZero() || n.Before(best):
			best, due = n, []Schedule{s}
		case n.Equal(best):
			due = append(due, s)
		}
	}
	return best, due
}
