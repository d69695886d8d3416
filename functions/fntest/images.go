package fntest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/reference"
	imagestore "github.com/wharf-dev/wharf/image/store"
)

// Images is an image store in memory, for image functions: it finds
// images as the daemon's does (references read by image/reference, by
// tag or repo digest, or by ID), and its Pull does what the test sets
// (SetPull): give an image, fail, or wait until released.
type Images struct {
	mu      sync.Mutex
	tags    map[string]*imagestore.Image // by familiar reference
	pullTo  *imagestore.Image
	pullErr error
	release chan struct{}
	pulls   int
}

// NewImages returns an empty store; a Pull finds nothing until SetPull.
func NewImages() *Images { return &Images{tags: map[string]*imagestore.Image{}} }

// Image returns a test image numbered n (its ID and manifest digest
// derive from n) with config cfg.
func Image(n int, cfg v1.Config) *imagestore.Image {
	return &imagestore.Image{
		ID:       fmt.Sprintf("sha256:%064x", n),
		Manifest: fmt.Sprintf("sha256:%064x", 1000+n),
		Config:   &v1.ConfigFile{OS: "linux", Config: cfg},
	}
}

func familiar(ref string) (string, name.Reference, error) {
	r, err := reference.Parse(ref)
	if err != nil {
		return "", nil, err
	}
	return reference.Familiar(r), r, nil
}

// Tag names img by ref in the store.
func (m *Images) Tag(ref string, img *imagestore.Image) {
	fam, _, err := familiar(ref)
	if err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tags[fam] = img
}

// SetPull sets what Pull does: wait for release to close (if not nil),
// then fail with err (if not nil), or store to under the reference pulled
// and return it, or, with to nil, find nothing (ErrNotFound).
func (m *Images) SetPull(to *imagestore.Image, err error, release chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pullTo, m.pullErr, m.release = to, err, release
}

// Pulls returns how many pulls were asked for.
func (m *Images) Pulls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pulls
}

// Get finds an image by ID or reference.
func (m *Images) Get(ctx context.Context, refOrID string) (*imagestore.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if strings.HasPrefix(refOrID, "sha256:") {
		for _, img := range m.tags {
			if img.ID == refOrID {
				return img, nil
			}
		}
		return nil, fmt.Errorf("image %q: %w", refOrID, errdefs.ErrNotFound)
	}
	fam, r, err := familiar(refOrID)
	if err != nil {
		return nil, err
	}
	if img, ok := m.tags[fam]; ok {
		return img, nil
	}
	if _, ok := r.(name.Digest); ok {
		for _, img := range m.tags {
			for _, rd := range img.RepoDigests {
				if rd == fam {
					return img, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("image %q: %w", refOrID, errdefs.ErrNotFound)
}

// List returns every image.
func (m *Images) List(ctx context.Context) ([]*imagestore.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*imagestore.Image]bool{}
	var out []*imagestore.Image
	for _, img := range m.tags {
		if !seen[img] {
			seen[img] = true
			out = append(out, img)
		}
	}
	return out, nil
}

// Pull does what SetPull said.
func (m *Images) Pull(ctx context.Context, ref string, _ func(imagestore.Progress)) (*imagestore.Image, error) {
	m.mu.Lock()
	m.pulls++
	release, err, to := m.release, m.pullErr, m.pullTo
	m.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	if to == nil {
		return nil, fmt.Errorf("manifest unknown: %w", errdefs.ErrNotFound)
	}
	m.Tag(ref, to)
	return to, nil
}
