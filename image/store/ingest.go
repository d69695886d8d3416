package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/content"
	"github.com/wharf-dev/wharf/image/snapshot"
)

// ParseConfig parses and checks an image config blob: it must be JSON,
// describe a "layers" rootfs, and list only well-formed sha256 diffIDs.
// Anything else is ErrInvalidArgument. Configs come from registries and
// tarballs, so this is fuzzed (FuzzParseConfig).
func ParseConfig(raw []byte) (*v1.ConfigFile, error) {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image config: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if cfg.RootFS.Type != "layers" && !(cfg.RootFS.Type == "" && len(cfg.RootFS.DiffIDs) == 0) {
		return nil, fmt.Errorf("image config: rootfs type %q: %w", cfg.RootFS.Type, errdefs.ErrInvalidArgument)
	}
	for _, d := range cfg.RootFS.DiffIDs {
		if _, err := content.ValidateDigest(d.String()); err != nil {
			return nil, fmt.Errorf("image config: diff_id: %w", err)
		}
	}
	return cfg, nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// layerSource is one layer to be stored: its blob bytes as they will be
// kept and pushed (normally gzip).
type layerSource struct {
	digest    string // expected blob digest; "" when only known after storing
	size      int64  // blob size for progress; 0 if unknown
	mediaType types.MediaType
	open      func() (io.ReadCloser, error)
	// adopt, when set, tries to store the blob without copying it (a
	// hard link of the local registry's file); false: open it instead.
	adopt func() (bool, error)
}

// ingestReq is everything needed to record one image.
type ingestReq struct {
	rawConfig   []byte
	rawManifest []byte // nil: generate a Docker schema 2 manifest
	layers      []layerSource
	progress    func(Progress)
	tags        []string // familiar tags to point at the image
	repoDigest  string   // familiar "name@digest" to add; "" none
	buildCache  bool     // an image only builds need (build.go)
}

// ingest stores the config, every layer blob and snapshot, the manifest,
// then the record and tags. Blobs and snapshots already present are
// reused. All are leased until the record is committed, so a concurrent
// garbage collection cannot remove them midway.
func (s *Store) ingest(ctx context.Context, req ingestReq) (*Image, error) {
	cfg, err := ParseConfig(req.rawConfig)
	if err != nil {
		return nil, err
	}
	if len(cfg.RootFS.DiffIDs) != len(req.layers) {
		return nil, fmt.Errorf("image: config lists %d layers, manifest %d: %w", len(cfg.RootFS.DiffIDs), len(req.layers), errdefs.ErrInvalidArgument)
	}
	progress := req.progress
	if progress == nil {
		progress = func(Progress) {}
	}
	diffIDs := make([]string, len(cfg.RootFS.DiffIDs))
	for i, d := range cfg.RootFS.DiffIDs {
		diffIDs[i] = d.String()
	}
	chains := snapshot.ChainID(diffIDs)
	id := digestOf(req.rawConfig)
	keys := append([]string{id}, chains...)
	for _, l := range req.layers {
		if l.digest != "" {
			keys = append(keys, l.digest)
		}
	}
	release := s.lease(keys...)
	defer release()

	if _, _, err := s.content.Put(ctx, id, bytes.NewReader(req.rawConfig)); err != nil {
		return nil, err
	}

	// Announce the work first, as the docker CLI expects.
	need := make([]bool, len(req.layers))
	for i, l := range req.layers {
		_, serr := s.snapshots.Stat(chains[i])
		need[i] = serr != nil || l.digest == "" || !s.content.Has(l.digest)
		short := shortID(l.digest)
		if l.digest == "" {
			short = shortID(diffIDs[i])
		}
		if need[i] {
			progress(Progress{ID: short, Action: "Pulling fs layer"})
		} else {
			progress(Progress{ID: short, Action: "Already exists"})
		}
	}

	layers := make([]Layer, len(req.layers))
	mediaTypes := make([]types.MediaType, len(req.layers))
	var total int64
	for i, src := range req.layers {
		mediaTypes[i] = src.mediaType
		if mediaTypes[i] == "" {
			mediaTypes[i] = types.DockerLayer
		}
		dgst := src.digest
		short := shortID(dgst)
		if dgst == "" {
			short = shortID(diffIDs[i])
		}
		if need[i] && dgst != "" && !s.content.Has(dgst) && src.adopt != nil {
			adopted, err := src.adopt()
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", short, err)
			}
			if adopted {
				progress(Progress{ID: short, Action: "Download complete"})
			}
		}
		if need[i] && (dgst == "" || !s.content.Has(dgst)) {
			rc, err := src.open()
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", short, err)
			}
			pr := &progressReader{r: rc, report: func(n int64) {
				progress(Progress{ID: short, Action: "Downloading", Current: n, Total: src.size})
			}}
			got, _, err := s.content.Put(ctx, dgst, pr)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", short, err)
			}
			if dgst == "" {
				dgst = got
				defer s.lease(dgst)()
			}
			progress(Progress{ID: short, Action: "Download complete"})
		}
		info, err := s.snapshots.Stat(chains[i])
		if err != nil {
			progress(Progress{ID: short, Action: "Extracting"})
			info, err = s.unpackBlob(ctx, dgst, chains[i], diffIDs[i])
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", short, err)
			}
			progress(Progress{ID: short, Action: "Pull complete"})
		}
		layers[i] = Layer{Digest: dgst, DiffID: diffIDs[i], ChainID: chains[i], Size: info.Size}
		total += info.Size
	}

	rawManifest := req.rawManifest
	manifestType := types.DockerManifestSchema2
	if rawManifest == nil {
		rawManifest, err = s.buildManifest(id, len(req.rawConfig), layers, mediaTypes)
		if err != nil {
			return nil, err
		}
	} else if m, err := v1.ParseManifest(bytes.NewReader(rawManifest)); err == nil && m.MediaType != "" {
		manifestType = m.MediaType
	} else if err == nil {
		manifestType = types.OCIManifestSchema1
	}
	mdgst := digestOf(rawManifest)
	defer s.lease(mdgst)()
	if _, _, err := s.content.Put(ctx, mdgst, bytes.NewReader(rawManifest)); err != nil {
		return nil, err
	}

	rec := &record{
		ID: id, Manifest: mdgst, ManifestMediaType: manifestType,
		Layers: layers, LayerMediaTypes: mediaTypes,
		Created: cfg.Created.Time, Size: total,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range req.tags {
		if err := s.checkTagLocked(t, id); err != nil {
			return nil, err
		}
	}
	rec.BuildCache = req.buildCache
	if old := s.records[id]; old != nil {
		rec.BuildCache = req.buildCache && old.BuildCache
		// Same config already stored: keep its repo digests, but refresh
		// the manifest so that a later push sends what we just received.
		rec.RepoDigests = old.RepoDigests
	}
	if req.repoDigest != "" && !contains(rec.RepoDigests, req.repoDigest) {
		rec.RepoDigests = append(rec.RepoDigests, req.repoDigest)
	}
	if err := s.saveRecordLocked(rec); err != nil {
		return nil, err
	}
	s.records[id] = rec
	s.configs[id] = cfg
	if len(req.tags) > 0 {
		for _, t := range req.tags {
			s.tags[t] = id
		}
		if err := s.saveTagsLocked(); err != nil {
			return nil, err
		}
	}
	return s.imageLocked(rec)
}

// unpackBlob decompresses a stored layer blob into its snapshot.
func (s *Store) unpackBlob(ctx context.Context, dgst, chainID, diffID string) (snapshotInfo, error) {
	f, err := s.content.Open(dgst)
	if err != nil {
		return snapshotInfo{}, err
	}
	defer f.Close()
	r, err := decompress(f)
	if err != nil {
		return snapshotInfo{}, err
	}
	defer r.Close()
	info, _, err := s.snapshots.Unpack(ctx, chainID, diffID, r)
	return info, err
}

type snapshotInfo = snapshot.Info

// decompress sniffs gzip and zstd by their magic numbers; anything else is
// taken to be an uncompressed tar.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("layer: gzip: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return zr, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("layer: zstd: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// gzipStream compresses r on the fly for storing as a layer blob.
func gzipStream(r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		_, err := io.Copy(zw, r)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// buildManifest writes a Docker schema 2 manifest (OCI if any layer has an
// OCI media type) for layers we stored ourselves.
func (s *Store) buildManifest(configDigest string, configSize int, layers []Layer, mediaTypes []types.MediaType) ([]byte, error) {
	oci := false
	for _, mt := range mediaTypes {
		if mt.IsLayer() && (mt == types.OCILayer || mt == types.OCIUncompressedLayer || mt == types.OCILayerZStd) {
			oci = true
		}
	}
	cd, _ := v1.NewHash(configDigest)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: int64(configSize), Digest: cd},
	}
	if oci {
		m.MediaType = types.OCIManifestSchema1
		m.Config.MediaType = types.OCIConfigJSON
	}
	for i, l := range layers {
		size, err := s.content.Size(l.Digest)
		if err != nil {
			return nil, err
		}
		d, _ := v1.NewHash(l.Digest)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: mediaTypes[i], Size: size, Digest: d})
	}
	return json.Marshal(m)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// progressReader reports bytes read, at most every 256 KiB and at EOF.
type progressReader struct {
	r      io.Reader
	n      int64
	last   int64
	report func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.last >= 256<<10 || (err == io.EOF && p.n != p.last) {
		p.last = p.n
		p.report(p.n)
	}
	return n, err
}

// storedImage is a v1.Image served from the content store, for Push and
// Save. It serves the manifest exactly as stored so digests are preserved.
type storedImage struct {
	s   *Store
	rec *record
	// wrap, when set, wraps each layer stream (Push reports progress).
	wrap func(v1.Hash, io.ReadCloser) io.ReadCloser
}

var _ partial.CompressedImageCore = (*storedImage)(nil)

func (si *storedImage) RawConfigFile() ([]byte, error) { return si.s.content.ReadAll(si.rec.ID) }
func (si *storedImage) RawManifest() ([]byte, error)   { return si.s.content.ReadAll(si.rec.Manifest) }
func (si *storedImage) MediaType() (types.MediaType, error) {
	return si.rec.ManifestMediaType, nil
}

func (si *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for i, l := range si.rec.Layers {
		if l.Digest == h.String() {
			return &storedLayer{s: si.s, digest: h, mediaType: si.rec.LayerMediaTypes[i], wrap: si.wrap}, nil
		}
	}
	if h.String() == si.rec.ID {
		return &storedLayer{s: si.s, digest: h, mediaType: types.DockerConfigJSON}, nil
	}
	return nil, fmt.Errorf("image %s: blob %s: %w", si.rec.ID, h, errdefs.ErrNotFound)
}

// storedLayer is one blob of a storedImage.
type storedLayer struct {
	s         *Store
	digest    v1.Hash
	mediaType types.MediaType
	wrap      func(v1.Hash, io.ReadCloser) io.ReadCloser
}

func (l *storedLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *storedLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *storedLayer) Size() (int64, error)                { return l.s.content.Size(l.digest.String()) }
func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	f, err := l.s.content.Open(l.digest.String())
	if err != nil {
		return nil, err
	}
	if l.wrap != nil {
		return l.wrap(l.digest, f), nil
	}
	return f, nil
}
