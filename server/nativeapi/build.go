package nativeapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/build"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/hijack"
	"github.com/wharf-dev/wharf/server/httperr"
)

// Builder runs image builds.
type Builder interface {
	ContextFromTar(ctx context.Context, r io.Reader) (*build.Context, error)
	SyncContext(ctx context.Context, key string, entries []build.FileMeta, send func(need []int) (io.Reader, error)) (*build.Context, error)
	Build(ctx context.Context, o build.Options, report func(build.Event)) (*build.Result, error)
	Prune(ctx context.Context) ([]string, uint64, error)
}

// WithBuilder serves builds with b.
func WithBuilder(b Builder) Option { return func(s *Server) { s.builder = b } }

func (s *Server) buildRoutes() {
	s.handle("POST "+wharf.Prefix+"/build", s.build)
	s.handle("POST "+wharf.Prefix+"/build/prune", s.buildPrune)
}

// build reads a BuildRequest line and the context tar, and streams
// BuildEvents as JSON lines.
func (s *Server) build(w http.ResponseWriter, r *http.Request) error {
	if s.builder == nil {
		return fmt.Errorf("this daemon has no builder: %w", errdefs.ErrNotImplemented)
	}
	br := bufio.NewReaderSize(r.Body, 64<<10)
	line, err := readLine(br, wharf.MaxBuildRequest)
	if err != nil {
		return err
	}
	var req wharf.BuildRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return fmt.Errorf("build request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	fw := hijack.NewFlushWriter(w)
	enc := json.NewEncoder(fw)
	started := false
	start := func() {
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			started = true
		}
	}
	var bctx *build.Context
	if req.ContextKey != "" {
		line, err := readLine(br, maxManifest)
		if err != nil {
			return err
		}
		var entries []build.FileMeta
		if err := json.Unmarshal(line, &entries); err != nil {
			return fmt.Errorf("context manifest: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		// The answer starts while the request body is still coming: the
		// files the daemon needs follow it.
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			return err
		}
		bctx, err = s.builder.SyncContext(ctx, req.ContextKey, entries, func(need []int) (io.Reader, error) {
			start()
			if need == nil {
				need = []int{}
			}
			if err := enc.Encode(wharf.BuildNeed{Need: need}); err != nil {
				return nil, err
			}
			return br, nil
		})
		if err != nil {
			if started {
				_ = enc.Encode(wharf.BuildEvent{Status: build.StatusError, Error: httperr.Message(err)})
				return nil
			}
			return err
		}
		// The client ends the body after the files; reading to its end
		// lets the server notice the client going away (which cancels
		// ctx), and a body that breaks off means it went already.
		go func() {
			if drainBody(br) != nil {
				cancel()
			}
		}()
	} else {
		if bctx, err = s.builder.ContextFromTar(ctx, br); err != nil {
			return err
		}
		// As above; the response has not started, so the body is read
		// here (once it starts, an HTTP/1 body may be gone).
		if err := drainBody(br); err != nil {
			bctx.Close()
			return err
		}
	}
	defer bctx.Close()
	start()
	res, err := s.builder.Build(ctx, build.Options{
		Context: bctx, Dockerfile: req.Dockerfile, DockerfileContent: req.DockerfileContent,
		Tags: req.Tags, Target: req.Target, BuildArgs: req.BuildArgs, Labels: req.Labels,
		NoCache: req.NoCache, Pull: req.Pull, CacheFrom: req.CacheFrom, Secrets: req.Secrets, Network: req.Network,
	}, func(e build.Event) {
		_ = enc.Encode(wharf.BuildEvent{Step: e.Step, Total: e.Total, Name: e.Name, Status: e.Status, Log: e.Log, Stream: e.Stream, Error: e.Error, Time: e.Time})
	})
	if err != nil {
		_ = enc.Encode(wharf.BuildEvent{Status: build.StatusError, Error: httperr.Message(err)})
		return nil
	}
	return enc.Encode(wharf.BuildEvent{Status: build.StatusDone, ImageID: res.ImageID, Tags: res.Tags})
}

// maxManifest bounds the manifest line of a synced build.
const maxManifest = 256 << 20

// readLine reads one newline-terminated line of at most max bytes.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, fmt.Errorf("build request larger than %d bytes: %w", max, errdefs.ErrInvalidArgument)
		}
		if err == nil {
			return line, nil
		}
		if err != bufio.ErrBufferFull {
			return nil, fmt.Errorf("build request: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
}

func (s *Server) buildPrune(w http.ResponseWriter, r *http.Request) error {
	if s.builder == nil {
		return fmt.Errorf("this daemon has no builder: %w", errdefs.ErrNotImplemented)
	}
	removed, reclaimed, err := s.builder.Prune(r.Context())
	if err != nil {
		return err
	}
	if removed == nil {
		removed = []string{}
	}
	return writeJSON(w, http.StatusOK, wharf.BuildPruneResponse{Deleted: removed, SpaceReclaimed: reclaimed})
}

// drainBody reads what follows a build context in the request body up to
// its end: the end of a tar is not the end of the body, and only at the
// end of the body does the server start watching for the client to go
// away. More than a little trailing data is an error.
func drainBody(r io.Reader) error {
	n, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if n == 1<<20 {
		return fmt.Errorf("build context: data after the context: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}
