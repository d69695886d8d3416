package dockerapi

import (
	"net/http"

	"github.com/moby/moby/api/types/events"

	wevents "github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/server/backend"
	"github.com/wharf-dev/wharf/server/eventstream"
)

// Events is the engine's event bus, which /events streams: the engine,
// the image store, the network manager and the volume store publish to it
// (engine/events); no handler makes up an event of its own.
type Events = backend.Events

// WithEvents gives the server the event bus /events streams from;
// without one, /events is not implemented.
func WithEvents(ev Events) Option { return func(s *Server) { s.events = ev } }

// message is an event as written on the stream: Docker's Message with the
// fields that clients of API versions before 1.52 read (docker-compose
// 1.x among them), as dockerd back-fills them.
type message struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

// wireEvent renders an engine event in Docker's shape.
func wireEvent(ev wevents.Event) message {
	m := message{Message: events.Message{
		Type: events.Type(ev.Type), Action: events.Action(ev.Action),
		Actor: events.Actor{ID: ev.Actor.ID, Attributes: ev.Actor.Attributes},
		Scope: ev.Scope, Time: ev.Time.Unix(), TimeNano: ev.Time.UnixNano(),
	}}
	switch ev.Type {
	case wevents.TypeContainer:
		m.Status, m.ID, m.From = ev.Action, ev.Actor.ID, ev.Actor.Attributes["image"]
	case wevents.TypeImage:
		m.Status, m.ID = ev.Action, ev.Actor.ID
	}
	return m
}

// streamEvents is GET /events (server/eventstream), in Docker's shape.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	// Image create events came with API 1.46.
	oldAPI := versionLess(requestVersion(r), "1.46")
	return eventstream.Serve(w, r, s.events, eventstream.Options{
		Skip: func(ev wevents.Event) bool {
			return oldAPI && ev.Type == wevents.TypeImage && ev.Action == "create"
		},
		Render: func(ev wevents.Event) any { return wireEvent(ev) },
		Log:    s.log,
	})
}
