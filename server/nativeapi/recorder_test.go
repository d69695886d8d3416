package nativeapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// recContainers records what create is asked and serves a fixed log; the
// rest of Containers is left nil, as these tests do not reach it.
type recContainers struct {
	Containers
	created container.CreateOptions
	byID    map[string]*container.Container
	log     []logfile.Entry
}

func newRecContainers() *recContainers {
	return &recContainers{byID: map[string]*container.Container{}}
}

func (f *recContainers) Create(_ context.Context, o container.CreateOptions) (*container.Container, error) {
	f.created = o
	c := &container.Container{ID: strings.Repeat("a", 64), Name: "c", Config: o.Config, HostConfig: o.HostConfig}
	f.byID[c.ID] = c
	return c, nil
}

func (f *recContainers) Get(_ context.Context, ref string) (*container.Container, error) {
	if c, ok := f.byID[ref]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
}

// Logs applies the stream selection and the tail as the engine's log
// reader does.
func (f *recContainers) Logs(_ context.Context, ref string, o container.LogsOptions, emit func(logfile.Entry) error) error {
	if _, err := f.Get(context.Background(), ref); err != nil {
		return err
	}
	if o.Ready != nil {
		o.Ready()
	}
	var sel []logfile.Entry
	for _, e := range f.log {
		if (e.Stream == "stdout" && o.Stdout) || (e.Stream == "stderr" && o.Stderr) {
			sel = append(sel, e)
		}
	}
	if o.Tail >= 0 && o.Tail < len(sel) {
		sel = sel[len(sel)-o.Tail:]
	}
	for _, e := range sel {
		if err := emit(e); err != nil {
			return err
		}
	}
	return nil
}

func newRecServer(c Containers) *Server {
	return New(c, nil, nil, slog.New(slog.DiscardHandler))
}

func serveReq(t *testing.T, s *Server, method, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}
