package store

// What builds keep in the store: layers they make, the images they commit,
// and the build cache.
//
// The build cache maps a step's cache key (a digest the builder computes
// from the step's parent, its instruction and the content it reads) to
// what the step produced: a layer, or nothing (a step that changed no
// file), or an image. It lives beside the images so that it survives
// daemon restarts and so that garbage collection keeps what it refers to:
//
//	<root>/buildcache/<key-hex>.json   one CacheRecord per key
//
// Records are written atomically without fsync: a record lost in a crash
// costs one rerun of its step, and a record only ever names blobs and
// snapshots that were made durable before it was written. A record that
// does not parse, or whose layer is gone, reads as a miss.
//
// Images a build commits only to run its next step in (the parents of RUN
// steps) are marked buildCache: they are not the user's images, so List
// leaves them out while untagged and image prune leaves them to
// PruneBuildCache, as dockerd hides the intermediate images of its classic
// builder.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/content"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// CacheRecord is what one build step produced.
type CacheRecord struct {
	Key string `json:"key"`
	// Layer is the layer the step added; nil when it added none.
	Layer *Layer `json:"layer,omitempty"`
	// Image is the image the step committed, for steps whose result is an
	// image (a stage's final image).
	Image string `json:"image,omitempty"`
	// Created is when the step ran: its history entry's time.
	Created time.Time `json:"created"`
	// Description says which step this was (docker builder du).
	Description string    `json:"description,omitempty"`
	LastUsed    time.Time `json:"lastUsed"`
	UsageCount  int       `json:"usageCount"`
}

// PutLayer stores the uncompressed layer tar r, stacked on the chain
// parent ("" for a first layer): a gzip blob for pushes and saves, and its
// snapshot for containers. The caller must call release once the layer is
// referenced by a cache record or an image; until then garbage collection
// keeps it.
func (s *Store) PutLayer(ctx context.Context, parent string, r io.Reader) (Layer, func(), error) {
	pr, pw := io.Pipe()
	type put struct {
		digest  string
		release func()
		err     error
	}
	done := make(chan put, 1)
	go func() {
		zr := gzipStream(pr)
		d, _, err := s.content.Put(ctx, "", zr)
		zr.Close()
		pr.CloseWithError(err)
		if err != nil {
			done <- put{err: err}
			return
		}
		done <- put{digest: d, release: s.lease(d)}
	}()
	info, err := s.snapshots.ApplyNew(ctx, parent, io.TeeReader(r, pw))
	pw.CloseWithError(err)
	p := <-done
	if err == nil {
		err = p.err
	}
	if err != nil {
		if p.release != nil {
			p.release()
		}
		return Layer{}, nil, fmt.Errorf("build layer: %w", err)
	}
	relChain := s.lease(info.ChainID)
	return Layer{Digest: p.digest, DiffID: info.DiffID, ChainID: info.ChainID, Size: info.Size},
		func() { p.release(); relChain() }, nil
}

// CommitOptions say how Commit records an image.
type CommitOptions struct {
	// Tags point at the image once it is recorded.
	Tags []string
	// BuildCache marks an image only a build needs (see above); an image
	// already recorded without the mark keeps none.
	BuildCache bool
}

// Commit records an image made of the raw config rawConfig and layers
// already in the store (from PutLayer or other images), bottom first. The
// config's diffIDs must be the layers'.
func (s *Store) Commit(ctx context.Context, rawConfig []byte, layers []Layer, o CommitOptions) (*Image, error) {
	srcs := make([]layerSource, len(layers))
	for i, l := range layers {
		l := l
		srcs[i] = layerSource{digest: l.Digest, mediaType: types.DockerLayer, open: func() (io.ReadCloser, error) {
			return nil, fmt.Errorf("layer %s is not in the store: %w", l.Digest, errdefs.ErrNotFound)
		}}
	}
	for _, t := range o.Tags {
		if _, err := parseTag(t); err != nil {
			return nil, err
		}
	}
	tags := make([]string, len(o.Tags))
	for i, t := range o.Tags {
		tags[i], _ = parseTag(t)
	}
	return s.ingest(ctx, ingestReq{rawConfig: rawConfig, layers: srcs, tags: tags, buildCache: o.BuildCache})
}

// RawConfig returns the config blob of an image exactly as stored.
func (s *Store) RawConfig(ctx context.Context, id string) ([]byte, error) {
	return s.content.ReadAll(id)
}

func (s *Store) cacheDir() string { return filepath.Join(s.root, "buildcache") }

func (s *Store) cachePath(key string) (string, error) {
	h, err := content.ValidateDigest(key)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.cacheDir(), h+".json"), nil
}

// CacheGet returns the record of a cache key, if there is one whose
// content is all still in the store.
func (s *Store) CacheGet(ctx context.Context, key string) (*CacheRecord, bool) {
	p, err := s.cachePath(key)
	if err != nil {
		return nil, false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	var rec CacheRecord
	if json.Unmarshal(b, &rec) != nil || rec.Key != key {
		return nil, false
	}
	if rec.Layer != nil {
		if _, err := s.snapshots.Stat(rec.Layer.ChainID); err != nil || !s.content.Has(rec.Layer.Digest) {
			return nil, false
		}
	}
	if rec.Image != "" {
		s.mu.Lock()
		_, ok := s.records[rec.Image]
		s.mu.Unlock()
		if !ok {
			return nil, false
		}
	}
	return &rec, true
}

// CachePut records a step's result under its key.
func (s *Store) CachePut(ctx context.Context, rec CacheRecord) error {
	p, err := s.cachePath(rec.Key)
	if err != nil {
		return err
	}
	if rec.LastUsed.IsZero() {
		rec.LastUsed = time.Now().UTC()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.cacheDir(), 0o700); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	if err := atomicfile.WriteFile(p, b, 0o600, atomicfile.NoSync()); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	return nil
}

// cacheRecordsLocked reads every cache record; unreadable ones are
// dropped from disk.
func (s *Store) cacheRecordsLocked() []CacheRecord {
	ents, err := os.ReadDir(s.cacheDir())
	if err != nil {
		return nil
	}
	var out []CacheRecord
	for _, e := range ents {
		p := filepath.Join(s.cacheDir(), e.Name())
		b, err := os.ReadFile(p)
		var rec CacheRecord
		if err != nil || json.Unmarshal(b, &rec) != nil {
			_ = os.Remove(p)
			continue
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// CacheRecords lists the build cache (docker system df, builder du).
func (s *Store) CacheRecords(ctx context.Context) []CacheRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cacheRecordsLocked()
}

// PruneBuildCache removes every build cache record and every build-cache
// image that is not tagged and not in use, then the blobs and snapshots
// only they held. It returns the keys removed and the bytes freed.
func (s *Store) PruneBuildCache(ctx context.Context, inUse func(imageID string) bool) ([]string, uint64, error) {
	if inUse == nil {
		inUse = func(string) bool { return false }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var removed []string
	for _, rec := range s.cacheRecordsLocked() {
		p, err := s.cachePath(rec.Key)
		if err != nil {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, 0, fmt.Errorf("build cache: %w", err)
		}
		removed = append(removed, rec.Key)
	}
	for id, r := range s.records {
		if !r.BuildCache || len(s.tagsOfLocked(id)) > 0 || inUse(id) {
			continue
		}
		if err := s.deleteRecordLocked(id); err != nil {
			return removed, 0, err
		}
		removed = append(removed, id)
	}
	_, reclaimed, err := s.gcLocked()
	return removed, reclaimed, err
}

// cacheRootsLocked adds what cache records refer to to keep.
func (s *Store) cacheRootsLocked(keep map[string]bool) {
	for _, rec := range s.cacheRecordsLocked() {
		if rec.Layer != nil {
			keep[rec.Layer.Digest] = true
			keep[rec.Layer.ChainID] = true
		}
	}
}

// ConfigOf is a helper for builders: the parsed config of a raw blob.
func ConfigOf(raw []byte) (*v1.ConfigFile, error) { return ParseConfig(raw) }
