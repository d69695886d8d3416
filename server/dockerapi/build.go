package dockerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/wharf-dev/wharf/build"
	"github.com/wharf-dev/wharf/errdefs"
)

// Builder runs image builds: the classic builder's POST /build and
// POST /build/prune.
type Builder interface {
	ContextFromTar(ctx context.Context, r io.Reader) (*build.Context, error)
	Build(ctx context.Context, o build.Options, report func(build.Event)) (*build.Result, error)
	Prune(ctx context.Context) ([]string, uint64, error)
}

// WithBuilder serves builds with b.
func WithBuilder(b Builder) Option { return func(s *Server) { s.builder = b } }

// buildOptions reads POST /build's query as dockerd 1.44 does.
func buildOptions(r *http.Request) (build.Options, bool, error) {
	q := r.URL.Query()
	o := build.Options{Dockerfile: q.Get("dockerfile"), Tags: q["t"], Target: q.Get("target"),
		NoCache: dockerBool(q.Get("nocache")), Pull: dockerBool(q.Get("pull"))}
	if v := q.Get("version"); v == "2" {
		return o, false, fmt.Errorf("BuildKit (builder version 2) is not available on this daemon; build with the classic builder (DOCKER_BUILDKIT=0) or wharf build: %w", errdefs.ErrNotImplemented)
	}
	if remote := q.Get("remote"); remote != "" {
		return o, false, fmt.Errorf("remote build contexts (%s) are not supported: this daemon builds offline; send the context: %w", remote, errdefs.ErrNotImplemented)
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"buildargs", &o.BuildArgs}, {"labels", &o.Labels}, {"cachefrom", &o.CacheFrom}} {
		if s := q.Get(f.name); s != "" {
			if err := json.Unmarshal([]byte(s), f.v); err != nil {
				return o, false, fmt.Errorf("invalid %s: %v: %w", f.name, err, errdefs.ErrInvalidArgument)
			}
		}
	}
	switch nm := q.Get("networkmode"); nm {
	case "", "default", "none":
		o.Network = "none"
	default:
		o.Network = nm
	}
	if p := q.Get("platform"); p != "" && !strings.HasPrefix(p, "linux") {
		return o, false, fmt.Errorf("platform %s: this daemon builds linux images only: %w", p, errdefs.ErrInvalidArgument)
	}
	return o, dockerBool(q.Get("q")), nil
}

// dockerBool reads a boolean query value as dockerd does: anything but
// "", "0", "no", "false" and "none" (any case) is true. docker-py sends
// Python's "False".
func dockerBool(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// postBuild is the classic builder's endpoint: the body is the context
// as a tar, the answer a stream of JSON messages: step lines and output
// as {"stream":...}, the image as {"aux":{"ID":...}} and "Successfully
// built", a failure as errorDetail.
func (s *Server) postBuild(w http.ResponseWriter, r *http.Request) error {
	if s.builder == nil {
		return fmt.Errorf("this daemon has no builder: %w", errdefs.ErrNotImplemented)
	}
	o, quiet, err := buildOptions(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	bctx, err := s.builder.ContextFromTar(ctx, r.Body)
	if err != nil {
		return err
	}
	defer bctx.Close()
	// The end of the tar is not the end of the body, and only at the end
	// of the body does the server start watching for the client to go
	// away (docker build interrupted); the body is read to its end before
	// the response starts, after which an HTTP/1 body may be gone.
	if n, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)); err != nil || n == 1<<20 {
		return fmt.Errorf("build context: not a tar followed by the end of the body (%v): %w", err, errdefs.ErrInvalidArgument)
	}
	o.Context = bctx
	p := newProgressWriter(w)
	stream := func(text string) { p.send(jsonstream.Message{Stream: text}) }
	res, err := s.builder.Build(ctx, o, func(e build.Event) {
		if quiet {
			return
		}
		switch e.Status {
		case build.StatusStart:
			stream(fmt.Sprintf("Step %d/%d : %s\n", e.Step, e.Total, classicName(e.Name)))
		case build.StatusCached:
			stream(" ---> Using cache\n")
		case build.StatusLog:
			stream(string(e.Log))
		}
	})
	if err != nil {
		p.fail(err)
		return nil
	}
	aux, _ := json.Marshal(map[string]string{"ID": res.ImageID})
	raw := json.RawMessage(aux)
	p.send(jsonstream.Message{Aux: &raw})
	if quiet {
		stream(res.ImageID + "\n")
		return nil
	}
	stream("Successfully built " + shortImageID(res.ImageID) + "\n")
	for _, t := range res.Tags {
		stream("Successfully tagged " + t + "\n")
	}
	return nil
}

// classicName drops BuildKit's "[stage 2/5] " prefix.
func classicName(name string) string {
	if strings.HasPrefix(name, "[") {
		if i := strings.Index(name, "] "); i >= 0 {
			return name[i+2:]
		}
	}
	return name
}

func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// buildPrune removes the build cache (docker builder prune).
func (s *Server) buildPrune(w http.ResponseWriter, r *http.Request) error {
	if s.builder == nil {
		return fmt.Errorf("this daemon has no builder: %w", errdefs.ErrNotImplemented)
	}
	if err := pruneWhole(r); err != nil {
		return err
	}
	removed, reclaimed, err := s.builder.Prune(r.Context())
	if err != nil {
		return err
	}
	if removed == nil {
		removed = []string{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"CachesDeleted": removed, "SpaceReclaimed": reclaimed})
}

// pruneWhole refuses a prune that asks to keep part of the cache (filters
// such as until=24h, or a space to keep): this builder's cache is pruned
// whole, and removing what the client meant to keep is worse than an
// error.
func pruneWhole(r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	for k := range f {
		return fmt.Errorf("build cache prune filter %q is not supported: this daemon prunes its build cache whole: %w", k, errdefs.ErrInvalidArgument)
	}
	q := r.URL.Query()
	for _, k := range []string{"keep-storage", "reserved-space", "max-used-space", "min-free-space"} {
		if v := q.Get(k); v != "" && v != "0" {
			return fmt.Errorf("build cache prune %s=%s is not supported: this daemon prunes its build cache whole: %w", k, v, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
