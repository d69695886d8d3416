package store

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/reference"
	"github.com/wharf-dev/wharf/image/snapshot"
)

// Annotations naming an image in an OCI layout: containerd and Docker write
// the full name in the first, the OCI spec's ref.name often holds only the
// tag.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// ImportOption sets an optional property of an imported image.
type ImportOption func(*importOptions)

type importOptions struct {
	message string
}

// WithMessage sets the comment of an imported image's history (docker
// import -m), which inspect shows as its Comment. Without it the comment
// is dockerd's "Imported from -".
func WithMessage(msg string) ImportOption {
	return func(o *importOptions) { o.message = msg }
}

// importedFrom is dockerd's comment of an image imported from a request
// body without a message.
const importedFrom = "Imported from -"

// Import turns a root filesystem tar (plain, gzip or zstd) into a one-layer
// image, like docker import. ref "" leaves it untagged. cfg, when not nil,
// becomes the image's runtime config; otherwise Cmd and the rest are unset.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, cfg *v1.Config, opts ...ImportOption) (*Image, error) {
	o := importOptions{message: importedFrom}
	for _, opt := range opts {
		opt(&o)
	}
	if o.message == "" {
		o.message = importedFrom
	}
	var tags []string
	if ref != "" {
		t, err := parseTag(ref)
		if err != nil {
			return nil, err
		}
		tags = []string{t}
	}
	plain, err := decompress(r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer plain.Close()
	h := sha256.New()
	blob := gzipStream(io.TeeReader(plain, h))
	dgst, _, err := s.content.Put(ctx, "", blob)
	blob.Close() // stops the compressor if Put gave up early
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	diffID, _ := v1.NewHash("sha256:" + hex.EncodeToString(h.Sum(nil)))
	now := time.Now().UTC()
	cf := v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: now},
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}},
		History:      []v1.History{{Created: v1.Time{Time: now}, Comment: o.message}},
	}
	if cfg != nil {
		cf.Config = *cfg
	}
	raw, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	img, err := s.ingest(ctx, ingestReq{
		rawConfig: raw,
		tags:      tags,
		layers: []layerSource{{digest: dgst, mediaType: types.DockerLayer, open: func() (io.ReadCloser, error) {
			return s.content.Open(dgst)
		}}},
	})
	if err != nil {
		// A tar that does not unpack must not linger as a blob.
		s.dropUnreferenced(dgst, digestOf(raw))
		return nil, fmt.Errorf("import: %w", err)
	}
	return img, nil
}

// dropUnreferenced deletes blobs that no image and no lease refers to.
func (s *Store) dropUnreferenced(digests ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
next:
	for _, dgst := range digests {
		if s.leases[dgst] > 0 {
			continue
		}
		for _, r := range s.records {
			if r.ID == dgst || r.Manifest == dgst || contains(layerDigests(r), dgst) {
				continue next
			}
		}
		_ = s.content.Delete(dgst)
	}
}

// saveItem is one image selected for Save with the tags to write for it.
type saveItem struct {
	rec  *record
	tags []string
}

// Save writes the images named by refs to w. format "docker" (or "") is a
// docker-archive as docker save writes it; "oci" is an OCI image layout.
// A name without a tag saves every tag of that repository, as docker does;
// an ID saves the image without names.
func (s *Store) Save(ctx context.Context, w io.Writer, refs []string, format string) error {
	if format != "" && format != "docker" && format != "oci" {
		return fmt.Errorf("save: unknown format %q: %w", format, errdefs.ErrInvalidArgument)
	}
	if len(refs) == 0 {
		return fmt.Errorf("save: no image given: %w", errdefs.ErrInvalidArgument)
	}
	items, order, err := s.selectForSave(refs)
	if err != nil {
		return err
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.rec.ID, it.rec.Manifest)
		keys = append(keys, layerDigests(it.rec)...)
	}
	defer s.lease(keys...)()

	imgs := map[string]v1.Image{}
	for _, id := range order {
		img, err := partial.CompressedToImage(&storedImage{s: s, rec: items[id].rec})
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		imgs[id] = img
	}
	if format == "oci" {
		return s.saveOCI(ctx, w, items, order, imgs)
	}
	m := map[name.Reference]v1.Image{}
	for _, id := range order {
		it := items[id]
		if len(it.tags) == 0 {
			d, err := name.NewDigest("untagged@" + it.rec.Manifest)
			if err != nil {
				return fmt.Errorf("save: %w", err)
			}
			m[d] = imgs[id]
		}
		for _, t := range it.tags {
			tag, err := name.NewTag(t)
			if err != nil {
				return fmt.Errorf("save: %w", err)
			}
			m[tag] = imgs[id]
		}
	}
	if err := tarball.MultiRefWrite(m, w); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

func (s *Store) selectForSave(refs []string) (map[string]*saveItem, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := map[string]*saveItem{}
	var order []string
	add := func(rec *record, tag string) {
		it := items[rec.ID]
		if it == nil {
			it = &saveItem{rec: rec}
			items[rec.ID] = it
			order = append(order, rec.ID)
		}
		if tag != "" && !contains(it.tags, tag) {
			it.tags = append(it.tags, tag)
		}
	}
	for _, ref := range refs {
		last := ref[strings.LastIndex(ref, "/")+1:]
		if !strings.ContainsAny(last, ":@") {
			// A bare repository name selects all of its tags.
			if r, err := name.NewRepository(ref); err == nil {
				repo := reference.FamiliarName(r)
				found := false
				for _, t := range sortedKeys(s.tags) {
					if repoOf(t) == repo {
						add(s.records[s.tags[t]], t)
						found = true
					}
				}
				if found {
					continue
				}
			}
		}
		rec, byName, err := s.resolveLocked(ref)
		if err != nil {
			return nil, nil, err
		}
		if strings.Contains(byName, "@") {
			byName = ""
		}
		add(rec, byName)
	}
	return items, order, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// saveOCI writes an OCI layout into a scratch directory, then tars it.
func (s *Store) saveOCI(ctx context.Context, w io.Writer, items map[string]*saveItem, order []string, imgs map[string]v1.Image) error {
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "save-")
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	for _, id := range order {
		it := items[id]
		if len(it.tags) == 0 {
			if err := p.AppendImage(imgs[id]); err != nil {
				return fmt.Errorf("save: %w", err)
			}
		}
		for _, t := range it.tags {
			tag, _ := name.NewTag(t)
			ann := map[string]string{
				annotationContainerdName: tag.Name(),
				annotationRefName:        tag.TagStr(),
			}
			if err := p.AppendImage(imgs[id], layout.WithAnnotations(ann)); err != nil {
				return fmt.Errorf("save: %w", err)
			}
		}
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// ociName returns the familiar tag an OCI index entry carries, or "".
func ociName(ann map[string]string) string {
	for _, n := range []string{ann[annotationContainerdName], ann[annotationRefName]} {
		// A bare tag ("latest") in ref.name names no repository.
		if n == "" || !strings.ContainsAny(n, ":/") {
			continue
		}
		if t, err := parseTag(n); err == nil {
			return t
		}
	}
	return ""
}

// Load reads a docker-archive or an OCI layout tar (plain or compressed),
// stores every image in it and applies its tags. The archive is untrusted
// and read in one pass (see loadarchive.go): its files go straight into
// the blob store, and the blobs no loaded image refers to are deleted
// when Load returns, whether it succeeds or not. Every image is checked
// before the first is stored. If storing one fails, the images stored
// before it are returned with the error. The RepoTags of a returned image
// are the tags the archive applied (what `docker load` reports), not all
// the tags the image has.
func (s *Store) Load(ctx context.Context, r io.Reader) ([]*Image, error) {
	plain, err := decompress(r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer plain.Close()
	blobs := &storeLoadBlobs{s: s}
	defer blobs.cleanup()
	a, err := readLoadArchive(ctx, plain, blobs)
	if err != nil {
		return nil, err
	}
	plans, err := a.plan(blobs)
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, p := range plans {
		img, err := s.ingestPlan(ctx, blobs, p)
		if err != nil {
			return out, err
		}
		out = append(out, img)
	}
	return out, nil
}

// ingestPlan stores one planned image.
func (s *Store) ingestPlan(ctx context.Context, blobs *storeLoadBlobs, p loadPlan) (*Image, error) {
	req := ingestReq{rawConfig: p.rawConfig, rawManifest: p.rawManifest, tags: p.tags}
	for _, l := range p.layers {
		if l.gzip {
			d, n, err := blobs.gzip(ctx, l.blob)
			if err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
			l = planLayer{blob: d, size: n, mediaType: types.DockerLayer}
		}
		dgst := l.blob
		req.layers = append(req.layers, layerSource{digest: dgst, size: l.size, mediaType: l.mediaType, open: func() (io.ReadCloser, error) {
			return s.content.Open(dgst)
		}})
	}
	img, err := s.ingest(ctx, req)
	if err != nil {
		// Layers unpacked before the failing one may belong to no image;
		// cleanup removes them once the load's leases are gone (a blob
		// lease on an uncompressed layer is also its chain's lease).
		if cfg, perr := ParseConfig(p.rawConfig); perr == nil {
			ids := make([]string, len(cfg.RootFS.DiffIDs))
			for i, d := range cfg.RootFS.DiffIDs {
				ids[i] = d.String()
			}
			blobs.chains = append(blobs.chains, snapshot.ChainID(ids)...)
		}
		return nil, fmt.Errorf("load: %w", err)
	}
	// Report the names this archive gave, not every tag the image has.
	img.RepoTags = append([]string{}, p.tags...)
	return img, nil
}

// dropUnreferencedSnapshots removes snapshots that no image and no lease
// refers to.
func (s *Store) dropUnreferencedSnapshots(chains ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
next:
	for _, c := range chains {
		if s.leases[c] > 0 {
			continue
		}
		for _, r := range s.records {
			for _, l := range r.Layers {
				if l.ChainID == c {
					continue next
				}
			}
		}
		_ = s.snapshots.Remove(c)
	}
}

// storeLoadBlobs keeps a Load's archive files in the content store, leased
// until cleanup, which drops those no image took, and the snapshots of
// images that failed.
type storeLoadBlobs struct {
	s        *Store
	digests  []string
	chains   []string
	releases []func()
}

func (b *storeLoadBlobs) put(ctx context.Context, expected string, r io.Reader) (string, int64, error) {
	if expected != "" {
		b.releases = append(b.releases, b.s.lease(expected))
	}
	d, n, err := b.s.content.Put(ctx, expected, r)
	if err != nil {
		return "", 0, err
	}
	if expected == "" {
		b.releases = append(b.releases, b.s.lease(d))
	}
	b.digests = append(b.digests, d)
	return d, n, nil
}

func (b *storeLoadBlobs) open(d string) (io.ReadCloser, error) { return b.s.content.Open(d) }

// gzip stores a gzipped copy of blob d.
func (b *storeLoadBlobs) gzip(ctx context.Context, d string) (string, int64, error) {
	f, err := b.s.content.Open(d)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	zr := gzipStream(f)
	defer zr.Close() // stops the compressor if put gave up early
	return b.put(ctx, "", zr)
}

func (b *storeLoadBlobs) cleanup() {
	for _, release := range b.releases {
		release()
	}
	b.s.dropUnreferenced(b.digests...)
	b.s.dropUnreferencedSnapshots(b.chains...)
}
