package nativeapi

import (
	"net/http"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/server/backend"
	"github.com/wharf-dev/wharf/server/eventstream"
)

// WithEvents gives the server the engine's event bus, which /events
// streams; without one, /events is not implemented.
func WithEvents(ev backend.Events) Option { return func(s *Server) { s.events = ev } }

// streamEvents is GET /events (server/eventstream).
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	return eventstream.Serve(w, r, s.events, eventstream.Options{
		Render: func(ev events.Event) any {
			return wharf.Event{
				Type: ev.Type, Action: ev.Action, Actor: wharf.EventActor{ID: ev.Actor.ID, Attributes: ev.Actor.Attributes},
				Scope: ev.Scope, Time: ev.Time.Unix(), TimeNano: ev.Time.UnixNano(),
			}
		},
		Log: s.log,
	})
}
