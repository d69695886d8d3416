package console

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
)

// scope is the series a chart request asks for: ?scope=containers (every
// container's CPU and memory), or ?scope=function&name=NAME.
type scope struct {
	prefix string
	// keep filters the series by the key's policy (nil: all).
	keep func(series string) bool
}

func (s *Server) scopeOf(r *http.Request, c *call) (scope, error) {
	q := r.URL.Query()
	switch q.Get("scope") {
	case "containers":
		if !c.can(dockerService, "ContainerStats", "") && !hasAny(c, "ContainerStats") {
			return scope{}, c.allow(dockerService, "ContainerStats", "")
		}
		return scope{prefix: "ctr/", keep: func(series string) bool {
			name, _, _ := strings.Cut(strings.TrimPrefix(series, "ctr/"), "/")
			return c.can(dockerService, "ContainerStats", name)
		}}, nil
	case "function":
		name, qual, err := functions.ParseName(q.Get("name"))
		if err != nil {
			return scope{}, err
		}
		if qual != "" {
			return scope{}, fmt.Errorf("name the function without a qualifier: %w", errdefs.ErrInvalidArgument)
		}
		if err := c.allow(lambdaService, "GetFunction", name); err != nil {
			return scope{}, err
		}
		return scope{prefix: "fn/" + name + "/"}, nil
	}
	return scope{}, fmt.Errorf("scope %q: want containers or function: %w", q.Get("scope"), errdefs.ErrInvalidArgument)
}

func (sc scope) window(ring *Ring, last int) Window {
	w := ring.Window(sc.prefix, last)
	if sc.keep != nil {
		for name := range w.Series {
			if !sc.keep(name) {
				delete(w.Series, name)
			}
		}
	}
	return w
}

// metrics answers the ring's window of a scope as JSON.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request, c *call) error {
	sc, err := s.scopeOf(r, c)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(sc.window(s.ring, 0).AppendJSON(nil))
	return err
}

// metricsStream sends the window of a scope ("window"), then each new
// sample ("sample", a window of one) as the sampler takes it.
func (s *Server) metricsStream(w http.ResponseWriter, r *http.Request, c *call) error {
	sc, err := s.scopeOf(r, c)
	if err != nil {
		return err
	}
	ch := s.ring.Changed()
	stream := startSSE(w)
	if stream.sendRaw("window", sc.window(s.ring, 0).AppendJSON(nil)) != nil {
		return nil
	}
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
		ch = s.ring.Changed()
		if stream.sendRaw("sample", sc.window(s.ring, 1).AppendJSON(nil)) != nil {
			return nil
		}
	}
}
