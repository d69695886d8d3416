package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/content"
	"github.com/wharf-dev/wharf/image/reference"
)

// LocalRegistry is a registry this process serves (the daemon's
// --registry). Pulls of its references read its storage instead of
// going through its HTTP API: no byte crosses a socket, and a blob on the
// same filesystem is hard-linked into the store rather than copied (the
// store keeps its own name for it, so the registry may collect its copy
// while a container uses the image).
type LocalRegistry interface {
	// Manifest returns the manifest ref (a tag or a digest) names in
	// repo and its media type, if the credentials (anonymous when both
	// are empty) may pull repo: refused credentials are ErrUnauthorized,
	// a pull the policy refuses ErrForbidden, an unknown manifest
	// ErrNotFound.
	Manifest(ctx context.Context, repo, ref, user, password string) ([]byte, string, error)
	// Blob opens a blob of repo that Manifest's caller may read. path is
	// a file holding exactly the blob (for a hard link), "" when the
	// storage keeps none; rc reads the blob either way.
	Blob(ctx context.Context, repo, digest string) (path string, rc io.ReadCloser, err error)
}

// WithLocalRegistry makes pulls of references on host (the registry's
// address: "127.0.0.1:5000"; a wildcard address also answers on
// 127.0.0.1 and localhost) read lr.
func WithLocalRegistry(host string, lr LocalRegistry) Option {
	return func(s *Store) {
		s.local = lr
		s.localHosts = map[string]bool{host: true}
		if h, port, err := net.SplitHostPort(host); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
			for _, alias := range []string{"127.0.0.1", "localhost", "[::1]"} {
				s.localHosts[alias+":"+port] = true
			}
		}
	}
}

// pullLocal is Pull from the local registry.
func (s *Store) pullLocal(ctx context.Context, ref string, r name.Reference, progress func(Progress)) (*Image, error) {
	repo := r.Context().RepositoryStr()
	var user, password string
	if auth, err := authn.Resolve(ctx, s.keychain, r.Context()); err == nil {
		if cfg, err := authn.Authorization(ctx, auth); err == nil && cfg != nil {
			user, password = cfg.Username, cfg.Password
		}
	}
	manifest, mt, err := s.local.Manifest(ctx, repo, r.Identifier(), user, password)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	repoDigest := reference.FamiliarName(r.Context()) + "@" + digestOf(manifest)
	if types.MediaType(mt).IsIndex() {
		// The platform's image of a multi-platform one.
		idx, err := v1.ParseIndexManifest(bytes.NewReader(manifest))
		if err != nil {
			return nil, fmt.Errorf("pull %s: index: %v: %w", ref, err, errdefs.ErrInvalidArgument)
		}
		want := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
		var child *v1.Descriptor
		for i, d := range idx.Manifests {
			if d.Platform != nil && d.Platform.Satisfies(want) {
				child = &idx.Manifests[i]
				break
			}
		}
		if child == nil {
			return nil, fmt.Errorf("pull %s: no image for linux/%s: %w", ref, runtime.GOARCH, errdefs.ErrNotFound)
		}
		if manifest, mt, err = s.local.Manifest(ctx, repo, child.Digest.String(), user, password); err != nil {
			return nil, fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	if !types.MediaType(mt).IsImage() {
		return nil, fmt.Errorf("pull %s: %s is not an image manifest: %w", ref, mt, errdefs.ErrInvalidArgument)
	}
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return nil, fmt.Errorf("pull %s: manifest: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	_, crc, err := s.local.Blob(ctx, repo, m.Config.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("pull %s: config: %w", ref, err)
	}
	rawConfig, err := io.ReadAll(io.LimitReader(crc, maxConfigSize+1))
	crc.Close()
	if err != nil {
		return nil, fmt.Errorf("pull %s: config: %w", ref, err)
	}
	if got := digestOf(rawConfig); got != m.Config.Digest.String() {
		return nil, fmt.Errorf("pull %s: config digest mismatch: %s != %s: %w", ref, got, m.Config.Digest, errdefs.ErrInvalidArgument)
	}
	req := ingestReq{rawConfig: rawConfig, rawManifest: manifest, progress: progress, repoDigest: repoDigest}
	for _, d := range m.Layers {
		dg := d.Digest.String()
		req.layers = append(req.layers, layerSource{
			digest: dg, size: d.Size, mediaType: d.MediaType,
			open: func() (io.ReadCloser, error) {
				_, rc, err := s.local.Blob(ctx, repo, dg)
				return rc, err
			},
			adopt: func() (bool, error) {
				path, rc, err := s.local.Blob(ctx, repo, dg)
				if err != nil {
					return false, err
				}
				rc.Close()
				if path == "" {
					return false, nil
				}
				if _, err := s.content.Adopt(ctx, dg, path); errors.Is(err, content.ErrNotLinkable) {
					return false, nil
				} else if err != nil {
					return false, err
				}
				return true, nil
			},
		})
	}
	if t, ok := r.(name.Tag); ok {
		req.tags = []string{reference.Familiar(t)}
	}
	return s.ingest(ctx, req)
}

// maxConfigSize bounds an image config read whole.
const maxConfigSize = 8 << 20
