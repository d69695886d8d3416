package store

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/unpack"
)

// Annotations naming an image in an OCI layout: containerd and Docker write
// the full name in the first, the OCI spec's ref.name often holds only the
// tag.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// Import turns a root filesystem tar (plain, gzip or zstd) into a one-layer
// image, like docker import. ref "" leaves it untagged. cfg, when not nil,
// becomes the image's runtime config; otherwise Cmd and the rest are unset.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, cfg *v1.Config) (*Image, error) {
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
		History:      []v1.History{{Created: v1.Time{Time: now}, Comment: "Imported from -"}},
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
				repo := familiarRepo(r)
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

// Load reads a docker-archive or an OCI layout tar (plain or compressed),
// stores every image in it and applies its tags. The archive is first
// extracted, with the same containment as layers, into a scratch directory.
func (s *Store) Load(ctx context.Context, r io.Reader) ([]*Image, error) {
	plain, err := decompress(r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer plain.Close()
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "load-")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer os.RemoveAll(dir)
	if _, _, err := unpack.Apply(ctx, dir, plain); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "index.json")); err == nil {
		return s.loadOCI(ctx, dir)
	}
	if _, err := os.Lstat(filepath.Join(dir, "manifest.json")); err == nil {
		return s.loadDocker(ctx, dir)
	}
	return nil, fmt.Errorf("load: archive has neither index.json nor manifest.json: %w", errdefs.ErrInvalidArgument)
}

// openIn opens a file of the extracted archive, resolving symlinks (old
// docker-archives link duplicate layers) inside dir.
func openIn(dir, rel string) (*os.File, error) {
	h, err := pathrs.OpenInRoot(dir, rel)
	if err != nil {
		return nil, fmt.Errorf("load: %s: %v: %w", rel, err, errdefs.ErrInvalidArgument)
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", rel, err)
	}
	return f, nil
}

func readIn(dir, rel string) ([]byte, error) {
	f, err := openIn(dir, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// loadDocker loads a docker-archive: manifest.json lists, per image, the
// config file, the layer files (any compression) and the tags.
func (s *Store) loadDocker(ctx context.Context, dir string) ([]*Image, error) {
	b, err := readIn(dir, "manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("load: manifest.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var out []*Image
	for _, e := range entries {
		raw, err := readIn(dir, e.Config)
		if err != nil {
			return nil, err
		}
		req := ingestReq{rawConfig: raw}
		for _, t := range e.RepoTags {
			tag, err := parseTag(t)
			if err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
			req.tags = append(req.tags, tag)
		}
		for _, lp := range e.Layers {
			mt, err := sniffMediaType(dir, lp)
			if err != nil {
				return nil, err
			}
			req.layers = append(req.layers, layerSource{mediaType: mt, open: func() (io.ReadCloser, error) {
				f, err := openIn(dir, lp)
				if err != nil || mt != types.DockerLayer {
					return f, err
				}
				// Store gzip so that a later push sends a compressed layer.
				if compressed, _ := isCompressed(f); compressed {
					return f, nil
				}
				return &readCloser{gzipStream(f), f}, nil
			}})
		}
		img, err := s.ingest(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		out = append(out, img)
	}
	return out, nil
}

// sniffMediaType picks the media type a layer file will be stored with:
// zstd stays zstd, everything else is (or becomes) gzip.
func sniffMediaType(dir, rel string) (types.MediaType, error) {
	f, err := openIn(dir, rel)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if n == 4 && magic == [4]byte{0x28, 0xb5, 0x2f, 0xfd} {
		return types.OCILayerZStd, nil
	}
	return types.DockerLayer, nil
}

// isCompressed reports whether f starts with a gzip or zstd header and
// rewinds it.
func isCompressed(f *os.File) (bool, error) {
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	return (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) || (n == 4 && magic == [4]byte{0x28, 0xb5, 0x2f, 0xfd}), nil
}

type readCloser struct {
	io.ReadCloser
	under io.Closer
}

func (r *readCloser) Close() error {
	err := r.ReadCloser.Close()
	r.under.Close()
	return err
}

// loadOCI loads every image of an OCI layout's index, choosing the host
// platform from nested indexes, and names it from its annotations.
func (s *Store) loadOCI(ctx context.Context, dir string) ([]*Image, error) {
	// go-containerregistry reads the layout with plain opens, which would
	// follow a symlink out of dir; an OCI layout never needs one.
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("load: OCI layout contains a symlink %q: %w", strings.TrimPrefix(p, dir+"/"), errdefs.ErrInvalidArgument)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("load: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("load: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("load: index.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var out []*Image
	for _, desc := range im.Manifests {
		img, err := pickImage(idx, desc)
		if err != nil {
			return nil, fmt.Errorf("load: %s: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
		}
		if img == nil {
			continue
		}
		req, err := requestFromImage(img)
		if err != nil {
			return nil, fmt.Errorf("load: %s: %w", desc.Digest, err)
		}
		if n := ociName(desc.Annotations); n != "" {
			req.tags = []string{n}
		}
		loaded, err := s.ingest(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		out = append(out, loaded)
	}
	return out, nil
}

// pickImage resolves an index entry to an image: itself, or the host
// platform's (else the first) image of a nested index. Other artifacts give nil.
func pickImage(idx v1.ImageIndex, desc v1.Descriptor) (v1.Image, error) {
	switch {
	case desc.MediaType.IsImage():
		return idx.Image(desc.Digest)
	case desc.MediaType.IsIndex():
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return nil, err
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, err
		}
		var first *v1.Descriptor
		for i, d := range cm.Manifests {
			if !d.MediaType.IsImage() {
				continue
			}
			if first == nil {
				first = &cm.Manifests[i]
			}
			if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
				return child.Image(d.Digest)
			}
		}
		if first != nil {
			return child.Image(first.Digest)
		}
	}
	return nil, nil
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

// requestFromImage prepares the ingestion of an image whose blobs are
// already addressed by digest (OCI layout), keeping its manifest as is.
func requestFromImage(img v1.Image) (ingestReq, error) {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return ingestReq{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return ingestReq{}, fmt.Errorf("manifest: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return ingestReq{}, err
	}
	if digestOf(rawConfig) != m.Config.Digest.String() {
		return ingestReq{}, fmt.Errorf("config digest mismatch: %w", errdefs.ErrInvalidArgument)
	}
	req := ingestReq{rawConfig: rawConfig, rawManifest: rawManifest}
	for _, d := range m.Layers {
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return ingestReq{}, fmt.Errorf("layer %s missing: %w", d.Digest, errdefs.ErrInvalidArgument)
			}
			return ingestReq{}, err
		}
		req.layers = append(req.layers, layerSource{digest: d.Digest.String(), size: d.Size, mediaType: d.MediaType, open: l.Compressed})
	}
	return req, nil
}
