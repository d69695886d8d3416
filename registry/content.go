package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/errdefs"
)

// The content of the registry as a Go API: what ECR's API, the native
// API's `wharf registry` routes and the lifecycle job read and change.
// Nothing here checks a key's policy: the callers decide who may call
// what. Everything goes through the same storage middleware as the
// registry's HTTP API (hooks.go), so tag immutability, referrers and
// garbage collection see these changes as they see a push.
//
// A repository exists when it has a record (meta.go): CreateRepository
// writes one, and so does the first push of a manifest (unless the
// registry was built WithoutCreateOnPush). Images are the manifests of a
// repository (every revision Distribution holds, those pushed by digest
// only included), each with the tags pointing at it.

// Image is one manifest of a repository.
type Image struct {
	Digest string
	Tags   []string
	// MediaType is the manifest's; ArtifactMediaType its artifactType,
	// or its config's media type.
	MediaType, ArtifactMediaType string
	// Size is the manifest's config and layers (an index: its
	// manifests' sizes), as ECR's imageSizeInBytes.
	Size int64
	// Pushed is when the manifest was last stored; LastPull when it was
	// last pulled, as recorded (pulls.go; zero: never).
	Pushed, LastPull time.Time
}

// Repository is a repository's record and what it holds.
type Repository struct {
	RepoMeta
	Images int
	Size   int64
}

// CreateRepository writes the record of a new repository, after fn fills
// it in. A repository that exists is ErrRepositoryExists.
func (r *Registry) CreateRepository(ctx context.Context, name string, fn func(*RepoMeta) error) (RepoMeta, error) {
	return r.meta.update(ctx, name, func(m *RepoMeta, exists bool) error {
		if exists {
			return fmt.Errorf("repository %s: %w", name, ErrRepositoryExists)
		}
		return fn(m)
	})
}

// Repository returns the record of name, or ErrRepositoryNotFound.
func (r *Registry) Repository(ctx context.Context, name string) (RepoMeta, error) {
	m, exists, err := r.meta.get(ctx, name)
	if err != nil {
		return RepoMeta{}, err
	}
	if !exists {
		return RepoMeta{}, fmt.Errorf("repository %s: %w", name, ErrRepositoryNotFound)
	}
	return m, nil
}

// UpdateRepository applies fn to the record of an existing repository.
func (r *Registry) UpdateRepository(ctx context.Context, name string, fn func(*RepoMeta) error) (RepoMeta, error) {
	return r.meta.update(ctx, name, func(m *RepoMeta, exists bool) error {
		if !exists {
			return fmt.Errorf("repository %s: %w", name, ErrRepositoryNotFound)
		}
		return fn(m)
	})
}

// Repositories returns the records of every repository, sorted by name.
func (r *Registry) Repositories(ctx context.Context) ([]RepoMeta, error) {
	var names []string
	const top = "/wharf/repositories"
	err := r.driver.Walk(ctx, top, func(fi storagedriver.FileInfo) error {
		base := path.Base(fi.Path())
		if fi.IsDir() && strings.HasPrefix(base, "_") {
			return storagedriver.ErrSkipDir
		}
		if !fi.IsDir() && base == "_meta.json" {
			names = append(names, strings.TrimPrefix(path.Dir(fi.Path()), top+"/"))
		}
		return nil
	})
	var nf storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &nf) {
		return nil, fmt.Errorf("listing repositories: %w", err)
	}
	sort.Strings(names)
	out := make([]RepoMeta, 0, len(names))
	for _, n := range names {
		m, exists, err := r.meta.get(ctx, n)
		if err != nil {
			// A name the walk found that is no repository name (a
			// directory someone made by hand) is no repository.
			if errdefs.IsInvalidArgument(err) {
				continue
			}
			return nil, err
		}
		if exists {
			out = append(out, m)
		}
	}
	return out, nil
}

// Summary returns the record of name with its image count and size.
func (r *Registry) Summary(ctx context.Context, name string) (Repository, error) {
	m, err := r.Repository(ctx, name)
	if err != nil {
		return Repository{}, err
	}
	imgs, err := r.Images(ctx, name)
	if err != nil {
		return Repository{}, err
	}
	s := Repository{RepoMeta: m, Images: len(imgs)}
	for _, im := range imgs {
		s.Size += im.Size
	}
	return s, nil
}

// DeleteRepository deletes a repository: its record, and with force its
// images (blobs are left to garbage collection). Without force, a
// repository holding images is ErrRepositoryNotEmpty. It returns the
// record deleted.
func (r *Registry) DeleteRepository(ctx context.Context, name string, force bool) (RepoMeta, error) {
	m, err := r.Repository(ctx, name)
	if err != nil {
		return RepoMeta{}, err
	}
	imgs, err := r.Images(ctx, name)
	if err != nil {
		return RepoMeta{}, err
	}
	if len(imgs) > 0 && !force {
		return RepoMeta{}, fmt.Errorf("repository %s holds %d images: %w", name, len(imgs), ErrRepositoryNotEmpty)
	}
	// Only this repository's own directories go: Distribution's
	// RepositoryRemover would delete the repositories below it too
	// (team/app/cache under team/app).
	base := path.Join("/docker/registry/v2/repositories", name)
	for _, sub := range []string{"_manifests", "_layers", "_uploads"} {
		err := r.driver.Delete(ctx, path.Join(base, sub))
		var nf storagedriver.PathNotFoundError
		if err != nil && !errors.As(err, &nf) {
			return RepoMeta{}, fmt.Errorf("deleting repository %s: %w", name, err)
		}
	}
	if err := r.meta.remove(ctx, name); err != nil {
		return RepoMeta{}, err
	}
	r.pulls.forget(name)
	r.metrics.changed(name)
	return m, nil
}

// Images returns the images of a repository, newest push first.
func (r *Registry) Images(ctx context.Context, name string) ([]Image, error) {
	if _, err := r.Repository(ctx, name); err != nil {
		return nil, err
	}
	rp, err := r.repo(ctx, name)
	if err != nil {
		return nil, err
	}
	ms, err := rp.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	byDigest := map[digest.Digest]*Image{}
	var order []digest.Digest
	me, ok := ms.(distribution.ManifestEnumerator)
	if !ok {
		return nil, errors.New("the storage cannot list manifests")
	}
	err = me.Enumerate(ctx, func(d digest.Digest) error {
		if _, ok := byDigest[d]; !ok {
			byDigest[d] = &Image{Digest: d.String()}
			order = append(order, d)
		}
		return nil
	})
	var nf storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &nf) {
		return nil, fmt.Errorf("repository %s: listing manifests: %w", name, err)
	}
	if err := r.tagsOf(ctx, rp, byDigest); err != nil {
		return nil, err
	}
	pulls := r.pulls.all(ctx, name)
	out := make([]Image, 0, len(order))
	for _, d := range order {
		im := byDigest[d]
		if err := r.describe(ctx, name, ms, d, im); err != nil {
			if errdefs.IsNotFound(err) {
				// Deleted while we listed.
				continue
			}
			return nil, err
		}
		im.LastPull = pulls[d.String()]
		out = append(out, *im)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Pushed.Equal(out[j].Pushed) {
			return out[i].Pushed.After(out[j].Pushed)
		}
		return out[i].Digest < out[j].Digest
	})
	return out, nil
}

// tagsOf adds to images the tags pointing at each.
func (r *Registry) tagsOf(ctx context.Context, rp distribution.Repository, images map[digest.Digest]*Image) error {
	ts := rp.Tags(ctx)
	tags, err := ts.All(ctx)
	var ru distribution.ErrRepositoryUnknown
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &ru) || errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return err
	}
	sort.Strings(tags)
	for _, t := range tags {
		desc, err := ts.Get(ctx, t)
		if err != nil {
			continue // untagged meanwhile
		}
		if im, ok := images[desc.Digest]; ok {
			im.Tags = append(im.Tags, t)
		}
	}
	return nil
}

// imageFields is what describe reads of any manifest or index.
type imageFields struct {
	MediaType    string          `json:"mediaType"`
	ArtifactType string          `json:"artifactType"`
	Config       v1.Descriptor   `json:"config"`
	Layers       []v1.Descriptor `json:"layers"`
	Manifests    []v1.Descriptor `json:"manifests"`
}

// describe fills in what the manifest d says of itself and when it was
// pushed.
func (r *Registry) describe(ctx context.Context, repo string, ms distribution.ManifestService, d digest.Digest, im *Image) error {
	fi, err := r.driver.Stat(ctx, revisionLinkPath(repo, d))
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%s@%s: %w", repo, d, ErrImageNotFound)
	}
	if err != nil {
		return err
	}
	im.Pushed = fi.ModTime().UTC()
	man, err := ms.Get(ctx, d)
	if err != nil {
		return notFound(err, repo+"@"+d.String())
	}
	mt, payload, err := man.Payload()
	if err != nil {
		return err
	}
	var f imageFields
	_ = json.Unmarshal(payload, &f)
	im.MediaType = mt
	im.ArtifactMediaType = f.ArtifactType
	if im.ArtifactMediaType == "" {
		im.ArtifactMediaType = f.Config.MediaType
	}
	im.Size = f.Config.Size
	for _, l := range f.Layers {
		im.Size += l.Size
	}
	for _, m := range f.Manifests {
		im.Size += m.Size
	}
	return nil
}

// revisionLinkPath is the link that makes a manifest a revision of repo
// (Distribution's storage/paths.go); its time is the push's.
func revisionLinkPath(repo string, d digest.Digest) string {
	return path.Join("/docker/registry/v2/repositories", repo, "_manifests/revisions", d.Algorithm().String(), d.Encoded(), "link")
}

// ImageID names an image by digest, tag, or both (ECR's ImageIdentifier).
type ImageID struct {
	Digest, Tag string
}

func (id ImageID) String() string {
	switch {
	case id.Digest != "" && id.Tag != "":
		return id.Tag + "@" + id.Digest
	case id.Digest != "":
		return id.Digest
	}
	return id.Tag
}

// Image returns one image of repo and its manifest. A tag and a digest
// that do not name the same image are ErrImageNotFound.
func (r *Registry) Image(ctx context.Context, repo string, id ImageID) (Image, []byte, error) {
	if _, err := r.Repository(ctx, repo); err != nil {
		return Image{}, nil, err
	}
	rp, err := r.repo(ctx, repo)
	if err != nil {
		return Image{}, nil, err
	}
	d, err := r.resolve(ctx, rp, repo, id)
	if err != nil {
		return Image{}, nil, err
	}
	ms, err := rp.Manifests(ctx)
	if err != nil {
		return Image{}, nil, err
	}
	im := &Image{Digest: d.String()}
	if err := r.describe(ctx, repo, ms, d, im); err != nil {
		return Image{}, nil, err
	}
	man, err := ms.Get(ctx, d)
	if err != nil {
		return Image{}, nil, notFound(err, repo+"@"+d.String())
	}
	_, payload, err := man.Payload()
	if err != nil {
		return Image{}, nil, err
	}
	if err := r.tagsOf(ctx, rp, map[digest.Digest]*Image{d: im}); err != nil {
		return Image{}, nil, err
	}
	im.LastPull = r.pulls.all(ctx, repo)[im.Digest]
	return *im, payload, nil
}

// resolve returns the digest id names in repo.
func (r *Registry) resolve(ctx context.Context, rp distribution.Repository, repo string, id ImageID) (digest.Digest, error) {
	var d digest.Digest
	if id.Digest != "" {
		var err error
		if d, err = digest.Parse(id.Digest); err != nil {
			return "", fmt.Errorf("image digest %q: %v: %w", id.Digest, err, errdefs.ErrInvalidArgument)
		}
	}
	if id.Tag != "" {
		desc, err := rp.Tags(ctx).Get(ctx, id.Tag)
		if err != nil {
			return "", fmt.Errorf("%s:%s: %w", repo, id.Tag, ErrImageNotFound)
		}
		if d != "" && desc.Digest != d {
			return "", fmt.Errorf("%s:%s is not %s: %w", repo, id.Tag, d, ErrImageNotFound)
		}
		d = desc.Digest
	}
	if d == "" {
		return "", fmt.Errorf("an image is named by a digest or a tag: %w", errdefs.ErrInvalidArgument)
	}
	if _, err := r.driver.Stat(ctx, revisionLinkPath(repo, d)); err != nil {
		return "", fmt.Errorf("%s@%s: %w", repo, d, ErrImageNotFound)
	}
	return d, nil
}

// PutImage stores a manifest in an existing repository, tagged with tag
// when one is given. mediaType "" takes the manifest's own. A tag of an
// immutable repository that names another manifest is ErrTagImmutable;
// a manifest already stored (under tag, when given) is ErrImageExists;
// wantDigest, when given, must be the manifest's (ErrDigestMismatch).
func (r *Registry) PutImage(ctx context.Context, repo, tag, mediaType, wantDigest string, payload []byte) (Image, error) {
	meta, err := r.Repository(ctx, repo)
	if err != nil {
		return Image{}, err
	}
	d := digest.FromBytes(payload)
	if wantDigest != "" && wantDigest != d.String() {
		return Image{}, fmt.Errorf("the manifest's digest is %s, not %s: %w", d, wantDigest, ErrDigestMismatch)
	}
	if mediaType == "" {
		var f imageFields
		if err := json.Unmarshal(payload, &f); err != nil {
			return Image{}, fmt.Errorf("the manifest is not JSON: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		mediaType = f.MediaType
	}
	man, _, err := distribution.UnmarshalManifest(mediaType, payload)
	if err != nil {
		return Image{}, fmt.Errorf("manifest of type %q: %v: %w", mediaType, err, errdefs.ErrInvalidArgument)
	}
	rp, err := r.repo(ctx, repo)
	if err != nil {
		return Image{}, err
	}
	ms, err := rp.Manifests(ctx)
	if err != nil {
		return Image{}, err
	}
	exists, err := ms.Exists(ctx, d)
	if err != nil {
		return Image{}, err
	}
	if tag != "" {
		cur, err := rp.Tags(ctx).Get(ctx, tag)
		switch {
		case err == nil && cur.Digest == d && exists:
			return Image{}, fmt.Errorf("%s:%s is already %s: %w", repo, tag, d, ErrImageExists)
		case err == nil && cur.Digest != d && meta.Immutable():
			return Image{}, fmt.Errorf("%s:%s: %w", repo, tag, ErrTagImmutable)
		}
	} else if exists {
		return Image{}, fmt.Errorf("%s@%s: %w", repo, d, ErrImageExists)
	}
	var opts []distribution.ManifestServiceOption
	if tag != "" {
		opts = append(opts, distribution.WithTag(tag))
	}
	if _, err := ms.Put(ctx, man, opts...); err != nil {
		return Image{}, putError(err, repo, tag)
	}
	if tag != "" {
		// The manifest service stores the manifest; the tag is the
		// handler's to set, as Distribution's HTTP API does.
		if err := rp.Tags(ctx).Tag(ctx, tag, v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(payload))}); err != nil {
			return Image{}, putError(err, repo, tag)
		}
	}
	im, _, err := r.Image(ctx, repo, ImageID{Digest: d.String()})
	return im, err
}

// putError classes what Distribution refuses of a manifest.
func putError(err error, repo, tag string) error {
	var mv distribution.ErrManifestVerification
	if errors.As(err, &mv) {
		for _, e := range mv {
			var bu distribution.ErrManifestBlobUnknown
			if errors.As(e, &bu) {
				return fmt.Errorf("%s: blob %s: %w", repo, bu.Digest, ErrLayersNotFound)
			}
		}
		return fmt.Errorf("%s: %v: %w", repo, err, errdefs.ErrInvalidArgument)
	}
	var ec errcode.Error
	if errors.As(err, &ec) && ec.Code == errcode.ErrorCodeTagInvalid {
		return fmt.Errorf("%s:%s: %w", repo, tag, ErrTagImmutable)
	}
	return err
}

// Deleted is what DeleteImage deleted.
type Deleted struct {
	Digest string
	Tags   []string
	// Image is whether the image went (not only one of its tags).
	Image bool
}

// DeleteImage deletes what id names: by digest, the image and every tag
// pointing at it; by tag alone, the tag, and the image with it when no
// other tag points at it (as ECR's BatchDeleteImage).
func (r *Registry) DeleteImage(ctx context.Context, repo string, id ImageID) (Deleted, error) {
	if _, err := r.Repository(ctx, repo); err != nil {
		return Deleted{}, err
	}
	rp, err := r.repo(ctx, repo)
	if err != nil {
		return Deleted{}, err
	}
	d, err := r.resolve(ctx, rp, repo, id)
	if err != nil {
		return Deleted{}, err
	}
	ts := rp.Tags(ctx)
	tags, err := ts.Lookup(ctx, v1.Descriptor{Digest: d})
	var ru distribution.ErrRepositoryUnknown
	var nf storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &ru) && !errors.As(err, &nf) {
		return Deleted{}, err
	}
	sort.Strings(tags)
	if id.Digest == "" && len(tags) > 1 {
		if err := ts.Untag(ctx, id.Tag); err != nil {
			return Deleted{}, err
		}
		r.metrics.changed(repo)
		return Deleted{Digest: d.String(), Tags: []string{id.Tag}}, nil
	}
	for _, t := range tags {
		if err := ts.Untag(ctx, t); err != nil {
			return Deleted{}, err
		}
	}
	ms, err := rp.Manifests(ctx)
	if err != nil {
		return Deleted{}, err
	}
	if err := ms.Delete(ctx, d); err != nil {
		return Deleted{}, notFound(err, repo+"@"+d.String())
	}
	return Deleted{Digest: d.String(), Tags: tags, Image: true}, nil
}
