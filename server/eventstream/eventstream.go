// Package eventstream is GET /events for both API servers: the request's
// options are read and the stream is served once, as dockerd serves it,
// and a server says only how an event is rendered.
//
// Options, as dockerd reads them: since and until (Unix seconds with a
// fraction, or RFC 3339; "0" is no bound) replay the logged events of that
// range before the live ones, and until ends the stream (at once, after
// the replay, when it is past); until before since is refused. filters is
// Docker's JSON ({"type":["container"],...}, or the older
// {"type":{"container":true}}), matched as engine/events.Filter does.
package eventstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/backend"
	"github.com/wharf-dev/wharf/server/hijack"
)

// Options are what a server adds to the request's.
type Options struct {
	// Skip leaves out events the client's API version does not know.
	Skip func(events.Event) bool
	// Render is an event as the server writes it (a JSON value).
	Render func(events.Event) any
	Log    *slog.Logger
}

// ParseFilters reads Docker's filters parameter.
func ParseFilters(v string) (events.Filter, error) {
	out := events.Filter{}
	if v == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(v), (*map[string][]string)(&out)); err == nil {
		return out, nil
	}
	var alt map[string]map[string]bool
	if err := json.Unmarshal([]byte(v), &alt); err != nil {
		return nil, fmt.Errorf("invalid filter: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for k, vs := range alt {
		for val, on := range vs {
			if on {
				out[k] = append(out[k], val)
			}
		}
	}
	return out, nil
}

// Serve streams the events the request asks for from bus. An error
// before the stream started is returned for the server to answer; after,
// the stream just ends.
func Serve(w http.ResponseWriter, r *http.Request, bus backend.Events, o Options) error {
	if bus == nil {
		return fmt.Errorf("this daemon keeps no events: %w", errdefs.ErrNotImplemented)
	}
	q := r.URL.Query()
	since, err := hijack.ParseTime(q.Get("since"))
	if err != nil {
		return fmt.Errorf("invalid value for 'since': %w", err)
	}
	until, err := hijack.ParseTime(q.Get("until"))
	if err != nil {
		return fmt.Errorf("invalid value for 'until': %w", err)
	}
	if !until.IsZero() && until.Before(since) {
		return fmt.Errorf("`since` time (%s) cannot be after `until` time (%s): %w", q.Get("since"), q.Get("until"), errdefs.ErrInvalidArgument)
	}
	f, err := ParseFilters(q.Get("filters"))
	if err != nil {
		return err
	}
	sub, err := bus.Subscribe(events.SubscribeOptions{Since: since, Until: until, Filter: func(ev events.Event) bool {
		return (o.Skip == nil || !o.Skip(ev)) && f.Match(ev)
	}})
	if err != nil {
		return err
	}
	defer sub.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fw := hijack.NewFlushWriter(w)
	fw.Flush()
	enc := json.NewEncoder(fw)
	for {
		ev, err := sub.Next(r.Context())
		var lost *events.LostError
		switch {
		case errors.As(err, &lost):
			// dockerd drops events for a client that does not keep up,
			// and tells it nothing either.
			if o.Log != nil {
				o.Log.Warn("an events client did not keep up", "lost", lost.N)
			}
			continue
		case err == io.EOF, err != nil:
			return nil
		}
		if err := enc.Encode(o.Render(ev)); err != nil {
			return nil
		}
	}
}
