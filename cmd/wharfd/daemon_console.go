package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/console"
	"github.com/wharf-dev/wharf/server/httperr"
)

// lateHandler is the console's mount on --http: the listener starts with
// the functions, before the Docker API's handler the console serves
// through exists; until set, it answers 503.
type lateHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lateHandler) set(h http.Handler) { l.h.Store(&h) }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := l.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, "the console is starting", http.StatusServiceUnavailable)
}

// consoleContainers resolves container references for the console's
// policy checks.
type consoleContainers struct{ e *container.Engine }

func (c consoleContainers) Name(ctx context.Context, ref string) (string, error) {
	ct, err := c.e.Get(ctx, ref)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(ct.Name, "/"), nil
}

// consoleBaseURL is where a browser on this host reaches --http addr.
func consoleBaseURL(addr string) string {
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// newConsole builds the console over the daemon's Docker API handler,
// its native API's handler (the registry, cluster and Batch reads),
// engine, functions, event bus and metrics.
func newConsole(httpAddr string, keys *identity.Keys, docker, native http.Handler, e *container.Engine, fr *fnRuntime, bus *events.Bus, reg prometheus.Gatherer, log *slog.Logger) *console.Server {
	opts := []console.Option{console.WithLogger(log), console.WithDocker(docker, consoleContainers{e}), console.WithNative(native),
		console.WithEvents(bus), console.WithMetrics(reg, 0), console.WithBaseURL(consoleBaseURL(httpAddr))}
	if fr != nil {
		opts = append(opts, console.WithFunctions(fr.engine))
	}
	c := console.New(console.NewIdentityKeys(keys), opts...)
	if httpAddr != "" {
		// The ring is only read by the console's pages.
		c.Start()
	}
	return c
}

// withConsole routes the native API's console path (sign-in links for
// `wharf console`) to the console; links is nil when --http is off.
func withConsole(next http.Handler, links http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == wharf.Prefix+"/console/links" {
			if links == nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"message":"` + httperr.Message(errdefs.ErrUnavailable) + `: the daemon runs without --http, so it serves no console"}` + "\n"))
				return
			}
			links.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
