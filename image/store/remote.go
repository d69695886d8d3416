package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/reference"
)

// remoteRef parses ref for registry access, allowing plain HTTP for the
// configured insecure hosts. go-containerregistry already uses plain HTTP
// for localhost and loopback addresses, as Docker does.
func (s *Store) remoteRef(ref string) (name.Reference, error) {
	r, err := reference.Parse(ref)
	if err != nil {
		return nil, err
	}
	if s.insecure[r.Context().RegistryStr()] {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

func (s *Store) remoteOpts(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(s.keychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
		remote.WithUserAgent("wharf"),
	}
}

// Pull downloads ref (a name with optional tag, or name@digest) for the
// host platform, stores and unpacks every layer, and tags the image. A
// missing repository or tag is ErrNotFound; refused credentials are
// ErrUnauthorized; an unreachable registry is ErrUnavailable.
func (s *Store) Pull(ctx context.Context, ref string, progress func(Progress)) (*Image, error) {
	r, err := s.remoteRef(ref)
	if err != nil {
		return nil, err
	}
	if s.local != nil && s.localHosts[r.Context().RegistryStr()] {
		return s.pullLocal(ctx, ref, r, progress)
	}
	img, err := remote.Image(r, s.remoteOpts(ctx)...)
	if err != nil {
		return nil, remoteErr("pull", ref, err)
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, remoteErr("pull", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("pull %s: manifest: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return nil, remoteErr("pull", ref, err)
	}
	if got := digestOf(rawConfig); got != m.Config.Digest.String() {
		return nil, fmt.Errorf("pull %s: config digest mismatch: %s != %s: %w", ref, got, m.Config.Digest, errdefs.ErrInvalidArgument)
	}
	req := ingestReq{rawConfig: rawConfig, rawManifest: rawManifest, progress: progress}
	for _, d := range m.Layers {
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, remoteErr("pull", ref, err)
		}
		req.layers = append(req.layers, layerSource{
			digest: d.Digest.String(), size: d.Size, mediaType: d.MediaType,
			open: func() (io.ReadCloser, error) {
				rc, err := l.Compressed()
				if err != nil {
					return nil, remoteErr("pull", ref, err)
				}
				return rc, nil
			},
		})
	}
	repo := reference.FamiliarName(r.Context())
	req.repoDigest = repo + "@" + digestOf(rawManifest)
	if t, ok := r.(name.Tag); ok {
		req.tags = []string{reference.Familiar(t)}
	}
	return s.ingest(ctx, req)
}

// Pushed is what a push stored in the registry: the manifest's digest
// and its size in bytes (what `docker push` prints as "size").
type Pushed struct {
	Digest string
	Size   int64
}

// Push uploads the local image named ref to its registry, with progress
// per layer, and records the pushed name@digest in RepoDigests.
func (s *Store) Push(ctx context.Context, ref string, progress func(Progress)) (Pushed, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	// remote.Write uploads layers in parallel, and callers write each
	// message to one response stream: one message at a time.
	var progressMu sync.Mutex
	report := progress
	progress = func(p Progress) {
		progressMu.Lock()
		defer progressMu.Unlock()
		report(p)
	}
	r, err := s.remoteRef(ref)
	if err != nil {
		return Pushed{}, err
	}
	s.mu.Lock()
	rec, _, err := s.resolveLocked(ref)
	s.mu.Unlock()
	if err != nil {
		return Pushed{}, err
	}
	var mu sync.Mutex
	opened := map[string]bool{}
	si := &storedImage{s: s, rec: rec, wrap: func(h v1.Hash, rc io.ReadCloser) io.ReadCloser {
		short := shortID(h.String())
		mu.Lock()
		opened[h.String()] = true
		mu.Unlock()
		progress(Progress{ID: short, Action: "Pushing"})
		total, _ := s.content.Size(h.String())
		return &progressCloser{progressReader: progressReader{r: rc, report: func(n int64) {
			progress(Progress{ID: short, Action: "Pushing", Current: n, Total: total})
		}}, c: rc}
	}}
	img, err := partial.CompressedToImage(si)
	if err != nil {
		return Pushed{}, fmt.Errorf("push %s: %w", ref, err)
	}
	release := s.lease(append([]string{rec.ID, rec.Manifest}, layerDigests(rec)...)...)
	defer release()
	if err := remote.Write(r, img, s.remoteOpts(ctx)...); err != nil {
		return Pushed{}, remoteErr("push", ref, err)
	}
	pushed := Pushed{Digest: rec.Manifest}
	if raw, err := img.RawManifest(); err == nil {
		pushed.Size = int64(len(raw))
	}
	for _, l := range rec.Layers {
		if opened[l.Digest] {
			progress(Progress{ID: shortID(l.Digest), Action: "Pushed"})
		} else {
			progress(Progress{ID: shortID(l.Digest), Action: "Layer already exists"})
		}
	}
	rd := reference.FamiliarName(r.Context()) + "@" + rec.Manifest
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.records[rec.ID]; cur != nil && !contains(cur.RepoDigests, rd) {
		cur.RepoDigests = append(cur.RepoDigests, rd)
		return pushed, s.saveRecordLocked(cur)
	}
	return pushed, nil
}

func layerDigests(r *record) []string {
	out := make([]string, len(r.Layers))
	for i, l := range r.Layers {
		out[i] = l.Digest
	}
	return out
}

type progressCloser struct {
	progressReader
	c io.Closer
}

func (p *progressCloser) Close() error { return p.c.Close() }

// remoteErr classifies a registry error. The registry's error codes
// decide, then the HTTP status; network failures are ErrUnavailable.
func remoteErr(op, ref string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", op, ref, err)
	}
	var class error
	var terr *transport.Error
	var nerr net.Error
	var uerr *url.Error
	switch {
	case errors.As(err, &terr):
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				class = errdefs.ErrNotFound
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				class = errdefs.ErrUnauthorized
			case transport.NameInvalidErrorCode, transport.TagInvalidErrorCode, transport.ManifestInvalidErrorCode:
				class = errdefs.ErrInvalidArgument
			case transport.TooManyRequestsErrorCode, transport.UnavailableErrorCode:
				class = errdefs.ErrUnavailable
			}
			if class != nil {
				break
			}
		}
		if class == nil {
			switch {
			case terr.StatusCode == http.StatusNotFound:
				class = errdefs.ErrNotFound
			case terr.StatusCode == http.StatusUnauthorized:
				class = errdefs.ErrUnauthorized
			case terr.StatusCode == http.StatusForbidden:
				class = errdefs.ErrForbidden
			case terr.StatusCode >= 500 || terr.StatusCode == http.StatusTooManyRequests:
				class = errdefs.ErrUnavailable
			}
		}
	case errors.As(err, &nerr), errors.As(err, &uerr):
		class = errdefs.ErrUnavailable
	}
	if class == nil {
		return fmt.Errorf("%s %s: %w", op, ref, err)
	}
	return fmt.Errorf("%s %s: %w (%w)", op, ref, err, class)
}
