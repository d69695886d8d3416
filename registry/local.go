package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/errdefs"
)

// The engine's pulls from this registry (image/store's LocalRegistry):
// the same decisions as over HTTP — the credentials the pull carries,
// the key's policy, public repositories — then the manifest and blobs
// straight from storage, through the same middleware (so garbage
// collection sees the pull). A blob of filesystem storage is handed over
// as its file, which the image store hard-links: no copy at all.

// Manifest returns the manifest ref (a tag or a digest) of repo and its
// media type, if user and password (both empty: anonymous) may pull it.
func (r *Registry) Manifest(ctx context.Context, repo, ref, user, password string) ([]byte, string, error) {
	if err := r.mayPull(ctx, repo, user, password); err != nil {
		return nil, "", err
	}
	ctx = withFetch(ctx)
	rp, err := r.repo(ctx, repo)
	if err != nil {
		return nil, "", err
	}
	dg, err := digest.Parse(ref)
	if err != nil {
		desc, terr := rp.Tags(ctx).Get(ctx, ref)
		if terr != nil {
			return nil, "", notFound(terr, "manifest "+repo+":"+ref)
		}
		dg = desc.Digest
	}
	ms, err := rp.Manifests(ctx)
	if err != nil {
		return nil, "", err
	}
	man, err := ms.Get(ctx, dg)
	if err != nil {
		return nil, "", notFound(err, "manifest "+repo+"@"+dg.String())
	}
	mt, payload, err := man.Payload()
	if err != nil {
		return nil, "", err
	}
	r.pulled(ctx, repo, dg.String())
	return payload, mt, nil
}

// Blob opens a blob of repo; path is its file in filesystem storage ("":
// another storage). The caller checked the pull with Manifest.
func (r *Registry) Blob(ctx context.Context, repo, dgst string) (string, io.ReadCloser, error) {
	dg, err := digest.Parse(dgst)
	if err != nil {
		return "", nil, fmt.Errorf("digest %q: %w", dgst, errdefs.ErrInvalidArgument)
	}
	rp, err := r.repo(ctx, repo)
	if err != nil {
		return "", nil, err
	}
	bs := rp.Blobs(ctx)
	// Stat through the repository: a blob not linked into repo is not
	// repo's, whatever else the storage holds.
	if _, err := bs.Stat(ctx, dg); err != nil {
		return "", nil, notFound(err, "blob "+dgst)
	}
	rc, err := bs.Open(ctx, dg)
	if err != nil {
		return "", nil, notFound(err, "blob "+dgst)
	}
	path := ""
	if r.fsRoot != "" {
		path = filepath.Join(r.fsRoot, filepath.FromSlash(blobDataPath(dg)))
	}
	return path, rc, nil
}

// mayPull decides a pull of repo by the engine as the access controller
// decides one over HTTP.
func (r *Registry) mayPull(ctx context.Context, repo, user, password string) error {
	if err := validName(repo); err != nil {
		return err
	}
	if user == "" && password == "" {
		if r.isPublic(ctx, repo) {
			return nil
		}
		return fmt.Errorf("pull %s from the daemon's registry: no credentials (docker login -u AWS): %w", repo, errdefs.ErrUnauthorized)
	}
	p, err := r.tokens.CheckLogin(user, password)
	if err != nil {
		return fmt.Errorf("pull %s from the daemon's registry: %w", repo, err)
	}
	if !r.allowed(ctx, p.Statements, "repository", repo, "pull") {
		return fmt.Errorf("access key %s is not allowed to pull %s: %w", p.AccessKeyID, repo, errdefs.ErrForbidden)
	}
	return nil
}

func (r *Registry) repo(ctx context.Context, name string) (distribution.Repository, error) {
	named, err := reference.WithName(name)
	if err != nil {
		return nil, fmt.Errorf("repository %q: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	return r.wrapped.Repository(ctx, named)
}

// notFound classes Distribution's unknown-thing errors as ErrNotFound.
func notFound(err error, what string) error {
	var tu distribution.ErrTagUnknown
	var mu distribution.ErrManifestUnknownRevision
	var mu2 distribution.ErrManifestUnknown
	switch {
	case errors.As(err, &tu), errors.As(err, &mu), errors.As(err, &mu2), errors.Is(err, distribution.ErrBlobUnknown):
		return fmt.Errorf("%s: %w", what, errdefs.ErrNotFound)
	}
	var ru distribution.ErrRepositoryUnknown
	if errors.As(err, &ru) {
		return fmt.Errorf("%s: %w", what, errdefs.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
