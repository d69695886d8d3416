package dockerapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/server/hijack"

	"github.com/moby/moby/api/types/events"

	"github.com/wharf-dev/wharf/engine/container"
)

// The engine publishes no events yet, so the Docker API records its own:
//
//   - container lifecycle events (create, start, die, pause, unpause,
//     destroy) come from comparing snapshots of the engine's container
//     records; the handlers that change a container compare its record at
//     once, and a watcher compares every record a few times a second, so
//     that exits, restarts by policy and auto-removal are seen too;
//   - events of calls that leave no trace in a record (kill, stop,
//     restart, rename, attach, exec_*, image pull/push/tag/untag/delete/
//     import/load/save, prune) are recorded by the handler that served
//     the call.
//
// Events made by the native API or the wharf CLI therefore show only as
// far as they change a container's record. The last events are kept in a
// ring so that `docker events --since` can replay them.

// message is an event as written on the stream: Docker's Message with the
// fields that clients of older API versions (docker-compose 1.x) read.
type message struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

// seen is what the event bus last knew of a container.
type seen struct {
	name, image string
	labels      map[string]string
	status      string
	startedAt   time.Time
	finishedAt  time.Time
	exitCode    int
}

type eventBus struct {
	c Containers

	mu    sync.Mutex
	ring  []message
	size  int
	subs  map[chan message]struct{}
	known map[string]*seen
	done  chan struct{}
	once  sync.Once
}

func newEventBus(c Containers, size int) *eventBus {
	b := &eventBus{c: c, size: size, subs: map[chan message]struct{}{}, known: map[string]*seen{}, done: make(chan struct{})}
	// Containers that exist at start are known, not created.
	for _, ct := range c.List(context.Background()) {
		b.known[ct.ID] = snapshotOf(ct)
	}
	return b
}

func snapshotOf(c *container.Container) *seen {
	return &seen{name: c.Name, image: c.Config.Image, labels: c.Config.Labels, status: c.State.Status,
		startedAt: c.State.StartedAt, finishedAt: c.State.FinishedAt, exitCode: c.State.ExitCode}
}

func (b *eventBus) close() { b.once.Do(func() { close(b.done) }) }

func (b *eventBus) listeners() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// watch compares the engine's records every interval until close.
func (b *eventBus) watch(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
		}
		list := b.c.List(context.Background())
		ids := map[string]bool{}
		for _, c := range list {
			ids[c.ID] = true
			b.observe(c)
		}
		b.mu.Lock()
		var gone []string
		for id := range b.known {
			if !ids[id] {
				gone = append(gone, id)
			}
		}
		b.mu.Unlock()
		for _, id := range gone {
			b.observeGone(id)
		}
	}
}

// observe emits the events that lead from the last known record of c to
// this one.
func (b *eventBus) observe(c *container.Container) {
	b.mu.Lock()
	old := b.known[c.ID]
	now := snapshotOf(c)
	b.known[c.ID] = now
	b.mu.Unlock()
	attrs := func(extra map[string]string) map[string]string {
		a := map[string]string{"name": now.name, "image": now.image}
		for k, v := range now.labels {
			a[k] = v
		}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	if old == nil {
		old = &seen{}
		b.emit(events.ContainerEventType, events.ActionCreate, c.ID, attrs(nil))
	}
	started := !now.startedAt.IsZero() && !now.startedAt.Equal(old.startedAt)
	finished := !now.finishedAt.IsZero() && !now.finishedAt.Equal(old.finishedAt)
	// A run that started and ended between two looks shows both.
	if finished && started && now.finishedAt.After(now.startedAt) {
		b.emit(events.ContainerEventType, events.ActionStart, c.ID, attrs(nil))
		started = false
	}
	if finished {
		b.emit(events.ContainerEventType, events.ActionDie, c.ID, attrs(map[string]string{"exitCode": strconv.Itoa(now.exitCode)}))
	}
	if started {
		b.emit(events.ContainerEventType, events.ActionStart, c.ID, attrs(nil))
	}
	switch {
	case now.status == container.StatusPaused && old.status != container.StatusPaused:
		b.emit(events.ContainerEventType, events.ActionPause, c.ID, attrs(nil))
	case now.status == container.StatusRunning && old.status == container.StatusPaused:
		b.emit(events.ContainerEventType, events.ActionUnPause, c.ID, attrs(nil))
	}
}

// observeGone emits destroy (and die, for a container that was last seen
// running) for a container that no longer exists.
func (b *eventBus) observeGone(id string) {
	b.mu.Lock()
	old := b.known[id]
	delete(b.known, id)
	b.mu.Unlock()
	if old == nil {
		return
	}
	a := map[string]string{"name": old.name, "image": old.image}
	for k, v := range old.labels {
		a[k] = v
	}
	if old.status == container.StatusRunning || old.status == container.StatusPaused {
		d := map[string]string{"exitCode": "-1"}
		for k, v := range a {
			d[k] = v
		}
		b.emit(events.ContainerEventType, events.ActionDie, id, d)
	}
	b.emit(events.ContainerEventType, events.ActionDestroy, id, a)
}

func (b *eventBus) emit(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	if attrs == nil {
		attrs = map[string]string{}
	}
	m := message{Message: events.Message{
		Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano(),
	}}
	if typ == events.ContainerEventType || typ == events.ImageEventType {
		m.Status, m.ID, m.From = string(action), id, attrs["image"]
	}
	b.mu.Lock()
	b.ring = append(b.ring, m)
	if len(b.ring) > b.size {
		b.ring = b.ring[len(b.ring)-b.size:]
	}
	for ch := range b.subs {
		select {
		case ch <- m:
		default: // a subscriber that does not keep up loses events
		}
	}
	b.mu.Unlock()
}

// subscribe returns the recorded events since t and a channel of new ones.
func (b *eventBus) subscribe(since time.Time) ([]message, chan message, func()) {
	ch := make(chan message, 256)
	b.mu.Lock()
	var past []message
	if !since.IsZero() {
		for _, m := range b.ring {
			if m.TimeNano >= since.UnixNano() {
				past = append(past, m)
			}
		}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return past, ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// emitContainer records an event of a call on container ref.
func (s *Server) emitContainer(ctx context.Context, ref string, action events.Action, extra map[string]string) {
	c, err := s.c.Get(ctx, ref)
	if err != nil {
		return
	}
	s.events.observe(c)
	a := map[string]string{"name": c.Name, "image": c.Config.Image}
	for k, v := range c.Config.Labels {
		a[k] = v
	}
	for k, v := range extra {
		a[k] = v
	}
	s.events.emit(events.ContainerEventType, action, c.ID, a)
}

func (s *Server) emitExec(ctx context.Context, execID string, action events.Action) {
	x, err := s.c.ExecInspect(ctx, execID)
	if err != nil {
		return
	}
	s.emitContainer(ctx, x.ContainerID, events.Action(string(action)+": "+strings.Join(x.Config.Cmd, " ")), map[string]string{"execID": execID})
}

func (s *Server) emitExecDie(execID string) {
	x, err := s.c.ExecInspect(context.Background(), execID)
	if err != nil {
		return
	}
	code := -1
	if x.ExitCode != nil {
		code = *x.ExitCode
	}
	s.emitContainer(context.Background(), x.ContainerID, events.ActionExecDie, map[string]string{"execID": execID, "exitCode": strconv.Itoa(code)})
}

func (s *Server) emitImage(action events.Action, id, name string) {
	s.events.emit(events.ImageEventType, action, id, map[string]string{"name": name})
}

// matchEvent applies docker's events filters.
func matchEvent(m message, f map[string][]string) bool {
	for key, vals := range f {
		if len(vals) == 0 {
			continue
		}
		hit := false
		for _, v := range vals {
			switch key {
			case "type":
				hit = string(m.Type) == v
			case "event":
				action := string(m.Action)
				if i := strings.Index(action, ":"); i > 0 {
					action = action[:i]
				}
				hit = action == v
			case "container":
				hit = m.Type == events.ContainerEventType && (strings.HasPrefix(m.Actor.ID, v) || m.Actor.Attributes["name"] == strings.TrimPrefix(v, "/"))
			case "image":
				hit = m.Actor.Attributes["image"] == v || m.Actor.Attributes["name"] == v || m.Type == events.ImageEventType && strings.HasPrefix(strings.TrimPrefix(m.Actor.ID, "sha256:"), strings.TrimPrefix(v, "sha256:"))
			case "label":
				k, val, hasVal := strings.Cut(v, "=")
				got, ok := m.Actor.Attributes[k]
				hit = ok && (!hasVal || got == val)
			case "scope":
				hit = v == "local"
			default:
				hit = false
			}
			if hit {
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	since, err := hijack.ParseTime(q.Get("since"))
	if err != nil {
		return err
	}
	until, err := hijack.ParseTime(q.Get("until"))
	if err != nil {
		return err
	}
	f, err := filters(r)
	if err != nil {
		return err
	}
	past, ch, cancel := s.events.subscribe(since)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fw := hijack.NewFlushWriter(w)
	fw.Flush()
	send := func(m message) bool {
		if !until.IsZero() && m.TimeNano > until.UnixNano() {
			return false
		}
		if matchEvent(m, f) {
			if writeJSONTo(fw, m) != nil {
				return false
			}
		}
		return true
	}
	for _, m := range past {
		if !send(m) {
			return nil
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-deadline:
			return nil
		case m := <-ch:
			if !send(m) {
				return nil
			}
		}
	}
}
