// Package dockerapi serves the Docker Engine API on the daemon's socket, so
// that the docker CLI, docker-compose and Testcontainers work against wharf
// unchanged (DOCKER_HOST=unix:///run/wharf/wharf.sock).
//
// Handlers decode a Docker request, call the engine (the same one the
// native API drives) and encode the answer with the Moby API wire types
// (github.com/moby/moby/api/types/...), so that field names match Docker's
// exactly. The mapping from error classes to Docker's status codes lives
// here, as does everything Docker-specific: the version prefix of paths,
// the multiplexed stream format, JSON progress, the stats shape and the
// event stream.
//
// Versions: the server advertises APIVersion and accepts MinAPIVersion and
// everything in between; clients (docker 28.x speaks 1.50) negotiate down
// through /_ping and /version. Requests without a version prefix are
// served at APIVersion.
package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/server/httperr"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/backend"
)

// APIVersion is the Docker Engine API version wharf implements; current
// docker CLIs negotiate down to it.
const APIVersion = "1.44"

// MinAPIVersion is the oldest API version a client may ask for.
const MinAPIVersion = "1.24"

// Containers is what the Docker API asks of the container engine: every
// role in package backend, as it serves all of Docker's container
// endpoints.
type Containers interface {
	backend.ContainerLifecycle
	backend.ContainerLinks
	backend.ContainerAttach
	backend.ContainerLogs
	backend.ContainerStats
	backend.ContainerExec
	backend.ContainerFS
	backend.ContainerPaths
	backend.ImageUse
}

// Images is the image store the Docker API drives.
type Images = backend.Images

// System answers version and info; the daemon implements it (the same
// interface the native API uses).
type System = backend.System

// Server is the Docker Engine API handler. New starts its event recorder;
// Close stops it.
type Server struct {
	c      Containers
	i      Images
	sys    System
	log    *slog.Logger
	mux    *http.ServeMux
	events *eventBus
	auth   authChecker
	nets   Networks
	conn   NetworkConnector
	vols   Volumes
	// builder serves POST /build; nil answers 501.
	builder Builder
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the server's logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New returns the Docker API handler over the given engine parts. It
// starts the goroutine that turns container state changes into events;
// Close stops it.
func New(c Containers, i Images, sys System, opts ...Option) *Server {
	s := &Server{c: c, i: i, sys: sys, log: slog.Default(), mux: http.NewServeMux(), auth: registryLogin}
	for _, o := range opts {
		o(s)
	}
	s.events = newEventBus(c, 1024)
	go s.events.watch(250 * time.Millisecond)
	s.routes()
	return s
}

// Close stops the event recorder.
func (s *Server) Close() { s.events.close() }

// cutVersionPrefix splits "/v1.45/containers/json" into "1.45" and
// "/containers/json"; ok is false for a path without a version prefix
// (^/v([0-9]+\.[0-9]+)(/.*)$, matched by hand: a regexp compiled at
// package init would cost every wharf process, shims included).
func cutVersionPrefix(path string) (version, rest string, ok bool) {
	p, found := strings.CutPrefix(path, "/v")
	if !found {
		return "", "", false
	}
	end := strings.IndexByte(p, '/')
	if end < 0 {
		return "", "", false
	}
	major, minor, dot := strings.Cut(p[:end], ".")
	// ".*" stops at a newline.
	if !dot || !digits(major) || !digits(minor) || strings.IndexByte(p[end:], '\n') >= 0 {
		return "", "", false
	}
	return p[:end], p[end:], true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

type versionKey struct{}

// requestVersion returns the API version a request was made for.
func requestVersion(r *http.Request) string {
	if v, ok := r.Context().Value(versionKey{}).(string); ok {
		return v
	}
	return APIVersion
}

// ServeHTTP implements http.Handler: it strips and checks the version
// prefix, then dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	version := APIVersion
	if v, rest, ok := cutVersionPrefix(r.URL.Path); ok {
		version = v
		if versionLess(version, MinAPIVersion) {
			writeError(w, http.StatusBadRequest, fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, MinAPIVersion))
			return
		}
		if versionLess(APIVersion, version) {
			writeError(w, http.StatusBadRequest, fmt.Errorf("client version %s is too new. Maximum supported API version is %s", version, APIVersion))
			return
		}
		r2 := r.Clone(context.WithValue(r.Context(), versionKey{}, version))
		r2.URL.Path = rest
		r2.URL.RawPath = ""
		r = r2
	}
	w.Header().Set("Api-Version", APIVersion)
	w.Header().Set("Server", "Docker/"+s.sys.Version().Version+" (linux) wharf")
	s.mux.ServeHTTP(w, r)
}

// versionLess compares "major.minor" API versions.
func versionLess(a, b string) bool {
	am, an := splitVersion(a)
	bm, bn := splitVersion(b)
	if am != bm {
		return am < bm
	}
	return an < bn
}

func splitVersion(v string) (int, int) {
	maj, min, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	return a, b
}

type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if err := h(w, r); err != nil {
			status := httperr.Status(err)
			if status >= 500 {
				s.log.Error("docker api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, status, err)
		}
		s.log.Debug("docker api request", "method", r.Method, "path", r.URL.Path, "took", time.Since(start))
	})
}

// errorResponse is Docker's error body.
type errorResponse struct {
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, err error) {
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorResponse{Message: httperr.Message(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func noContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func decodeBody(r *http.Request, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("invalid JSON body: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

func boolQuery(r *http.Request, key string) bool {
	switch strings.ToLower(r.URL.Query().Get(key)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

func intQuery(r *http.Request, key string) (*int, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("invalid %s: %s: %w", key, v, errdefs.ErrInvalidArgument)
	}
	return &n, nil
}

// filters decodes Docker's filters query parameter: {"key":["v",...]} or
// the older {"key":{"v":true}}.
func filters(r *http.Request) (map[string][]string, error) {
	out := map[string][]string{}
	f := r.URL.Query().Get("filters")
	if f == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(f), &out); err == nil {
		return out, nil
	}
	var alt map[string]map[string]bool
	if err := json.Unmarshal([]byte(f), &alt); err != nil {
		return nil, fmt.Errorf("invalid filter: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for k, vs := range alt {
		for v, on := range vs {
			if on {
				out[k] = append(out[k], v)
			}
		}
	}
	return out, nil
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
