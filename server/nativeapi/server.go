// Package nativeapi serves wharf's native HTTP API (/wharf/v1) on the
// daemon's unix socket. Handlers decode a request, call one engine method
// and encode the answer; the mapping from error classes to status codes
// lives here and nowhere else.
package nativeapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/server/httperr"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/backend"
)

// Containers is what the native API asks of the container engine: the
// roles of package backend it serves (no docker cp, export or diff).
type Containers interface {
	backend.ContainerLifecycle
	backend.ContainerAttach
	backend.ContainerLogs
	backend.ContainerStats
	backend.ContainerExec
	backend.ImageUse
}

// Images is the image store the API drives.
type Images = backend.Images

// System answers version and info.
type System = backend.System

// Server is the native API handler.
type Server struct {
	c   Containers
	i   Images
	sys System
	log *slog.Logger
	mux *http.ServeMux

	nets Networks
	conn NetworkConnector
	vols Volumes
	// builder serves POST /build; nil answers 501.
	builder Builder
}

// New returns the API handler over the given engine parts.
func New(c Containers, i Images, sys System, log *slog.Logger, opts ...Option) *Server {
	s := &Server{c: c, i: i, sys: sys, log: log, mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler. Every answer carries the API's
// version (wharf.VersionHeader), so that a CLI newer than this daemon
// can tell a request the daemon does not know from a missing object.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(wharf.VersionHeader, wharf.APIVersion)
	s.mux.ServeHTTP(w, r)
}

type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if err := h(w, r); err != nil {
			status := httperr.Status(err)
			if status >= 500 {
				s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, status, err)
		}
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "took", time.Since(start))
	})
}

// writeError writes the Docker-shaped error body. The class suffix that %w
// wrapping leaves at the end of the text is dropped for readability.
func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusNotModified {
		return
	}
	_ = json.NewEncoder(w).Encode(wharf.ErrorResponse{Message: httperr.Message(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func decodeBody(r *http.Request, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(v); err != nil {
		return errors.Join(errors.New("invalid JSON body: "+err.Error()), errdefs.ErrInvalidArgument)
	}
	return nil
}

func boolQuery(r *http.Request, key string) bool {
	v := r.URL.Query().Get(key)
	return v == "1" || v == "true" || v == "True"
}

func intQuery(r *http.Request, key string) (*int, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, errors.Join(errors.New("invalid "+key+": "+v), errdefs.ErrInvalidArgument)
	}
	return &n, nil
}
