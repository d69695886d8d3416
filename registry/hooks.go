package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/errdefs"
)

// The storage middleware. Distribution applies it to its namespace (the
// registry middleware extension point), so every request's repository
// goes through these wrappers:
//
//   - manifests: the pre-push hook, tag immutability, GC's references,
//     referrers, the pushed and pulled hooks, the repository's record;
//   - blobs: GC's references (every stat, read, mount and commit of a
//     digest tells the collector the digest is wanted), the pre-push
//     hook at the start of an upload;
//   - tags: tag immutability for tags set apart from a manifest push.

func (r *Registry) wrapNamespace(ns distribution.Namespace, d storagedriver.StorageDriver) distribution.Namespace {
	r.ns, r.driver = ns, d
	w := &namespace{Namespace: ns, r: r}
	r.wrapped = w
	return w
}

type namespace struct {
	distribution.Namespace
	r *Registry
}

func (n *namespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	repo, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &repository{Repository: repo, r: n.r}, nil
}

// Remove keeps the namespace a RepositoryRemover, as Distribution's is.
func (n *namespace) Remove(ctx context.Context, name reference.Named) error {
	rr, ok := n.Namespace.(distribution.RepositoryRemover)
	if !ok {
		return distribution.ErrUnsupported
	}
	return rr.Remove(ctx, name)
}

// Enumerate keeps the namespace a RepositoryEnumerator.
func (n *namespace) Enumerate(ctx context.Context, fn func(string) error) error {
	re, ok := n.Namespace.(distribution.RepositoryEnumerator)
	if !ok {
		return distribution.ErrUnsupported
	}
	return re.Enumerate(ctx, fn)
}

type repository struct {
	distribution.Repository
	r *Registry
}

func (p *repository) name() string { return p.Named().Name() }

func (p *repository) Manifests(ctx context.Context, opts ...distribution.ManifestServiceOption) (distribution.ManifestService, error) {
	ms, err := p.Repository.Manifests(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return &manifests{ManifestService: ms, p: p}, nil
}

func (p *repository) Blobs(ctx context.Context) distribution.BlobStore {
	return &blobs{BlobStore: p.Repository.Blobs(ctx), p: p}
}

func (p *repository) Tags(ctx context.Context) distribution.TagService {
	return &tags{TagService: p.Repository.Tags(ctx), p: p}
}

// prePush runs the pre-push hook; its error becomes a registry error.
func (r *Registry) prePush(ctx context.Context, repo string) error {
	if r.noCreate {
		if _, exists, err := r.meta.get(ctx, repo); err == nil && !exists {
			return errcode.ErrorCodeNameUnknown.WithMessage(fmt.Sprintf("The repository with name '%s' does not exist in the registry: create it first (aws ecr create-repository)", repo))
		}
	}
	if r.hooks.PrePush == nil {
		return nil
	}
	err := r.hooks.PrePush(ctx, repo)
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case errdefs.IsNotFound(err):
		return errcode.ErrorCodeNameUnknown.WithMessage(msg)
	case errdefs.IsForbidden(err), errdefs.IsUnauthorized(err):
		return errcode.ErrorCodeDenied.WithMessage(msg)
	}
	return errcode.ErrorCodeUnsupported.WithMessage(msg)
}

// checkTag refuses to move a tag of an immutable repository to another
// manifest (ECR's error for a push over an immutable tag).
func (r *Registry) checkTag(ctx context.Context, ts distribution.TagService, repo, tag string, dgst digest.Digest) error {
	meta, _, err := r.meta.get(ctx, repo)
	if err != nil || !meta.Immutable() {
		return err
	}
	cur, err := ts.Get(ctx, tag)
	var unknown distribution.ErrTagUnknown
	if errors.As(err, &unknown) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Digest == dgst {
		return nil
	}
	return errcode.ErrorCodeTagInvalid.WithMessage(fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", tag, repo))
}

type manifests struct {
	distribution.ManifestService
	p *repository
}

// Enumerate keeps the manifest service a ManifestEnumerator, as
// Distribution's is (content.go lists images with it).
func (m *manifests) Enumerate(ctx context.Context, fn func(digest.Digest) error) error {
	me, ok := m.ManifestService.(distribution.ManifestEnumerator)
	if !ok {
		return distribution.ErrUnsupported
	}
	return me.Enumerate(ctx, fn)
}

func tagOption(opts []distribution.ManifestServiceOption) string {
	for _, o := range opts {
		if t, ok := o.(distribution.WithTagOption); ok {
			return t.Tag
		}
	}
	return ""
}

func (m *manifests) Put(ctx context.Context, man distribution.Manifest, opts ...distribution.ManifestServiceOption) (digest.Digest, error) {
	r, repo := m.p.r, m.p.name()
	if err := r.prePush(ctx, repo); err != nil {
		return "", err
	}
	mediaType, payload, err := man.Payload()
	if err != nil {
		return "", err
	}
	tag := tagOption(opts)
	if tag != "" {
		if err := r.checkTag(ctx, m.p.Repository.Tags(ctx), repo, tag, digest.FromBytes(payload)); err != nil {
			return "", err
		}
	}
	// The manifest is a blob too, written before its revision link: a
	// collection that marked the repository before the link exists
	// must not take it.
	refs := man.References()
	ds := make([]digest.Digest, 0, len(refs)+1)
	ds = append(ds, digest.FromBytes(payload))
	for _, d := range refs {
		ds = append(ds, d.Digest)
	}
	release, err := r.gc.touch(ctx, ds...)
	if err != nil {
		return "", err
	}
	defer release()
	dgst, err := m.ManifestService.Put(ctx, man, opts...)
	if err != nil {
		return dgst, err
	}
	if _, exists, err := r.meta.get(ctx, repo); err == nil && !exists {
		// The record is made on the first push: its time is the
		// repository's creation.
		_, _ = r.meta.update(ctx, repo, func(*RepoMeta, bool) error { return nil })
	}
	if subj, desc, ok := referrerOf(mediaType, payload, dgst); ok {
		if err := r.addReferrer(ctx, repo, subj, desc); err != nil {
			return dgst, err
		}
		stateOf(ctx).setSubject(subj.String())
	}
	r.metrics.changed(repo)
	if r.hooks.Pushed != nil {
		r.hooks.Pushed(ctx, repo, dgst.String(), tag)
	}
	return dgst, nil
}

func (m *manifests) Get(ctx context.Context, dgst digest.Digest, opts ...distribution.ManifestServiceOption) (distribution.Manifest, error) {
	release, err := m.p.r.gc.touch(ctx, dgst)
	if err != nil {
		return nil, err
	}
	defer release()
	man, err := m.ManifestService.Get(ctx, dgst, opts...)
	var unknown distribution.ErrManifestUnknownRevision
	if errors.As(err, &unknown) && mayFetch(ctx) {
		if ok, ferr := m.p.r.fetchUpstream(ctx, m.p.name(), dgst.String()); ok && ferr == nil {
			man, err = m.ManifestService.Get(ctx, dgst, opts...)
		}
	}
	if err == nil && stateOf(ctx).method == http.MethodGet {
		m.p.r.pulled(ctx, m.p.name(), dgst.String())
	}
	return man, err
}

func (m *manifests) Delete(ctx context.Context, dgst digest.Digest) error {
	r, repo := m.p.r, m.p.name()
	// The manifest's subject says which referrers list holds it.
	var subj digest.Digest
	if man, err := m.ManifestService.Get(ctx, dgst); err == nil {
		if mt, payload, err := man.Payload(); err == nil {
			subj, _, _ = referrerOf(mt, payload, dgst)
		}
	}
	if err := m.ManifestService.Delete(ctx, dgst); err != nil {
		return err
	}
	if subj != "" {
		_ = r.removeReferrer(ctx, repo, subj, dgst)
	}
	r.metrics.changed(repo)
	return nil
}

type blobs struct {
	distribution.BlobStore
	p *repository
}

func (b *blobs) Stat(ctx context.Context, dgst digest.Digest) (v1.Descriptor, error) {
	release, err := b.p.r.gc.touch(ctx, dgst)
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer release()
	return b.BlobStore.Stat(ctx, dgst)
}

func (b *blobs) Get(ctx context.Context, dgst digest.Digest) ([]byte, error) {
	release, err := b.p.r.gc.touch(ctx, dgst)
	if err != nil {
		return nil, err
	}
	defer release()
	return b.BlobStore.Get(ctx, dgst)
}

func (b *blobs) ServeBlob(ctx context.Context, w http.ResponseWriter, req *http.Request, dgst digest.Digest) error {
	release, err := b.p.r.gc.touch(ctx, dgst)
	if err != nil {
		return err
	}
	defer release()
	return b.BlobStore.ServeBlob(ctx, w, req, dgst)
}

func (b *blobs) Put(ctx context.Context, mediaType string, p []byte) (v1.Descriptor, error) {
	release, err := b.p.r.gc.touch(ctx, digest.FromBytes(p))
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer release()
	desc, err := b.BlobStore.Put(ctx, mediaType, p)
	if err == nil {
		b.p.r.metrics.changed(b.p.name())
	}
	return desc, err
}

func (b *blobs) Create(ctx context.Context, options ...distribution.BlobCreateOption) (distribution.BlobWriter, error) {
	if err := b.p.r.prePush(ctx, b.p.name()); err != nil {
		var ec errcode.Error
		if errors.As(err, &ec) {
			stateOf(ctx).setOverride(ec)
		}
		return nil, err
	}
	var co distribution.CreateOptions
	for _, o := range options {
		_ = o.Apply(&co)
	}
	if co.Mount.ShouldMount && co.Mount.From != nil {
		release, err := b.p.r.gc.touch(ctx, co.Mount.From.Digest())
		if err != nil {
			return nil, err
		}
		defer release()
	}
	w, err := b.BlobStore.Create(ctx, options...)
	var mounted distribution.ErrBlobMounted
	if errors.As(err, &mounted) {
		b.p.r.metrics.changed(b.p.name())
	}
	if err != nil {
		return nil, err
	}
	return &blobWriter{BlobWriter: w, b: b, ctx: ctx}, nil
}

func (b *blobs) Resume(ctx context.Context, id string) (distribution.BlobWriter, error) {
	w, err := b.BlobStore.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	return &blobWriter{BlobWriter: w, b: b, ctx: ctx}, nil
}

// blobWriter tells the collector about the digest it commits before it
// is committed: a blob being swept waits, then is written anew.
type blobWriter struct {
	distribution.BlobWriter
	b *blobs
	// ctx is the request's that opened the writer (it lives no longer).
	ctx context.Context
}

// Write and ReadFrom cancel the upload when the storage is full: its
// bytes would otherwise keep the disk full until Distribution purges
// stale uploads a week later, and every other push would fail meanwhile.
// The client sees the error and starts over.
func (w *blobWriter) Write(p []byte) (int, error) {
	n, err := w.BlobWriter.Write(p)
	w.cancelIfFull(err)
	return n, err
}

func (w *blobWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := w.BlobWriter.ReadFrom(r)
	w.cancelIfFull(err)
	return n, err
}

func (w *blobWriter) cancelIfFull(err error) {
	if err == nil || !noSpace(err) {
		return
	}
	if cerr := w.BlobWriter.Cancel(w.ctx); cerr != nil {
		w.b.p.r.log.Warn("registry: removing an upload the full storage cut", "repository", w.b.p.name(), "err", cerr)
	}
}

// noSpace reports whether err is the storage running out of space (the
// storage driver's errors do not unwrap).
func noSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var de storagedriver.Error
	if errors.As(err, &de) && de.Detail != nil {
		return noSpace(de.Detail)
	}
	return false
}

func (w *blobWriter) Commit(ctx context.Context, provisional v1.Descriptor) (v1.Descriptor, error) {
	if provisional.Digest != "" {
		release, err := w.b.p.r.gc.touch(ctx, provisional.Digest)
		if err != nil {
			return v1.Descriptor{}, err
		}
		defer release()
	}
	desc, err := w.BlobWriter.Commit(ctx, provisional)
	if err == nil {
		w.b.p.r.metrics.changed(w.b.p.name())
	}
	return desc, err
}

type tags struct {
	distribution.TagService
	p *repository
}

// Get fetches a tag missing from a pull-through cache's repository from
// its upstream, and follows one that moved there (pullthrough.go), on
// the requests that pull.
func (t *tags) Get(ctx context.Context, tag string) (v1.Descriptor, error) {
	desc, err := t.TagService.Get(ctx, tag)
	if !mayFetch(ctx) {
		return desc, err
	}
	var unknown distribution.ErrTagUnknown
	switch {
	case err == nil:
		if t.p.r.refreshTag(ctx, t.p.name(), tag, desc.Digest) {
			if moved, err := t.TagService.Get(ctx, tag); err == nil {
				return moved, nil
			}
		}
	case errors.As(err, &unknown):
		if ok, ferr := t.p.r.fetchUpstream(ctx, t.p.name(), tag); ok && ferr == nil {
			return t.TagService.Get(ctx, tag)
		}
	}
	return desc, err
}

func (t *tags) Tag(ctx context.Context, tag string, desc v1.Descriptor) error {
	if err := t.p.r.checkTag(ctx, t.TagService, t.p.name(), tag, desc.Digest); err != nil {
		return err
	}
	return t.TagService.Tag(ctx, tag, desc)
}
