// Package nativeapi serves wharf's native HTTP API (/wharf/v1) on the
// daemon's unix socket. Handlers decode a request, call one engine method
// and encode the answer; the mapping from error classes to status codes
// lives here and nowhere else.
package nativeapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/server/httperr"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Containers is the part of the engine the API drives.
type Containers interface {
	Create(ctx context.Context, o container.CreateOptions) (*container.Container, error)
	Get(ctx context.Context, ref string) (*container.Container, error)
	List(ctx context.Context) []*container.Container
	Start(ctx context.Context, ref string) error
	Stop(ctx context.Context, ref string, timeout *int, signal string) error
	Kill(ctx context.Context, ref, signal string) error
	Restart(ctx context.Context, ref string, timeout *int) error
	Pause(ctx context.Context, ref string) error
	Unpause(ctx context.Context, ref string) error
	Rename(ctx context.Context, ref, name string) error
	Wait(ctx context.Context, ref, condition string, registered container.WaitRegistered) (int, error)
	Remove(ctx context.Context, ref string, o container.RemoveOptions) error
	Prune(ctx context.Context) ([]string, error)
	Attach(ctx context.Context, ref string, o container.AttachOptions) error
	Resize(ctx context.Context, ref string, h, w uint16) error
	Logs(ctx context.Context, ref string, o container.LogsOptions, emit func(logfile.Entry) error) error
	Stats(ctx context.Context, ref string) (*container.Stats, error)
	Top(ctx context.Context, ref, psArgs string) ([]string, [][]string, error)
	ExecCreate(ctx context.Context, ref string, cfg container.ExecConfig) (string, error)
	ExecStart(ctx context.Context, id string, stream io.ReadWriter, detach bool) error
	ExecInspect(ctx context.Context, id string) (*container.Exec, error)
	ExecResize(ctx context.Context, id string, h, w uint16) error
	ImageInUse(imageID string) bool
}

// Images is the part of the image store the API drives.
type Images interface {
	Get(ctx context.Context, refOrID string) (*store.Image, error)
	List(ctx context.Context) ([]*store.Image, error)
	Pull(ctx context.Context, ref string, progress func(store.Progress)) (*store.Image, error)
	Push(ctx context.Context, ref string, progress func(store.Progress)) error
	Import(ctx context.Context, r io.Reader, ref string, cfg *v1.Config) (*store.Image, error)
	Save(ctx context.Context, w io.Writer, refs []string, format string) error
	Load(ctx context.Context, r io.Reader) ([]*store.Image, error)
	Tag(ctx context.Context, src, target string) error
	History(ctx context.Context, refOrID string) ([]store.HistoryEntry, error)
	Remove(ctx context.Context, refOrID string, force bool, inUse func(string) bool) ([]store.Deleted, error)
	Prune(ctx context.Context, all bool, inUse func(string) bool) ([]store.Deleted, uint64, error)
}

// System answers version and info.
type System interface {
	Version() wharf.Version
	Info(ctx context.Context) wharf.Info
}

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

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

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
