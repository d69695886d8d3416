// Package store keeps wharf's images: records, tags, and the blobs and
// unpacked layers behind them. It pulls and pushes with go-containerregistry
// and reads and writes docker-archive and OCI-layout tarballs.
//
// On-disk layout, under the root passed to New (e.g. /var/lib/wharf/image):
//
//	<root>/blobs/sha256/<hex>         manifests, configs, compressed layers (package content)
//	<root>/ingest/                    blobs being written (package content)
//	<root>/snapshots/<chainID-hex>/   unpacked layers (package snapshot)
//	<root>/images/<id-hex>.json       one image record (see record)
//	<root>/tags.json                  {"busybox:latest": "sha256:<id>", ...}
//	<root>/tmp/                       scratch space for Load and Save
//
// An image ID is the digest of its config blob. Tags live only in tags.json;
// the record lists the image's manifest, its layers and the repo digests it
// was pulled or pushed as. Records and tags.json are written atomically
// (temporary file, fsync, rename). An image is recorded only after all its
// blobs and snapshots are complete, and the tag index is written after the
// record, so a crash leaves at worst an untagged image or unreferenced
// blobs, which the next garbage collection removes.
//
// Garbage collection (after Remove and Prune) deletes blobs and snapshots
// that no record references and that no in-progress Pull, Import or Load
// holds a lease on.
//
// References the daemon declares its own (WithInternalRefs: the functions'
// base image) are kept out of the user's lists, prunes and removals; see
// internal.go.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharf-dev/wharf/image/content"
	"github.com/wharf-dev/wharf/image/snapshot"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Image is an image record as the engine sees it. ID is the config digest
// "sha256:<hex>".
type Image struct {
	ID          string
	RepoTags    []string // familiar form, as docker prints: "busybox:latest", "127.0.0.1:5000/x/y:t"
	RepoDigests []string // "name@sha256:..." for pulled or pushed images
	// Manifest is the digest of the image's stored manifest: what a
	// registry would answer for it, so "name@<Manifest>" pins the image
	// even when it was imported or loaded and has no RepoDigests.
	Manifest string
	Created  time.Time
	Size     int64 // sum of uncompressed layer sizes
	Config   *v1.ConfigFile
	Layers   []Layer // bottom first
}

// Layer is one layer of an image.
type Layer struct {
	Digest  string // digest of the stored (usually gzip) blob
	DiffID  string // digest of the uncompressed tar
	ChainID string // key of the unpacked snapshot
	Size    int64  // uncompressed size
}

// Progress reports one step of a pull or push for one layer. Action is one
// of the strings the docker CLI prints: "Pulling fs layer", "Downloading",
// "Download complete", "Extracting", "Pull complete", "Pushing", "Pushed",
// "Layer already exists", "Already exists".
type Progress struct {
	ID             string // short layer digest (12 hex characters)
	Action         string
	Current, Total int64
}

// HistoryEntry is one step of an image's history, as docker history shows it.
type HistoryEntry struct {
	ID         string // the image ID for the newest entry, "<missing>" for older ones
	Created    time.Time
	CreatedBy  string
	Size       int64
	Comment    string
	EmptyLayer bool
}

// Deleted is one item of a remove or prune result, like docker's image
// delete response: exactly one of the fields is set.
type Deleted struct {
	Untagged string
	Deleted  string
}

// record is the persisted form of an image, one JSON file per image.
type record struct {
	ID                string            `json:"id"`
	Manifest          string            `json:"manifest"` // digest of the stored manifest blob
	ManifestMediaType types.MediaType   `json:"manifestMediaType"`
	RepoDigests       []string          `json:"repoDigests,omitempty"`
	Layers            []Layer           `json:"layers"`
	LayerMediaTypes   []types.MediaType `json:"layerMediaTypes"`
	Created           time.Time         `json:"created"`
	Size              int64             `json:"size"`
	// BuildCache marks an image a build committed for its own steps
	// (build.go).
	BuildCache bool `json:"buildCache,omitempty"`
}

// Option configures a Store.
type Option func(*Store)

// WithInsecureRegistries lets Pull and Push talk plain HTTP (or HTTPS with an
// unverified certificate) to these hosts ("127.0.0.1:5000"). As in Docker,
// localhost and 127.0.0.0/8 are always allowed plain HTTP.
func WithInsecureRegistries(hosts ...string) Option {
	return func(s *Store) {
		for _, h := range hosts {
			s.insecure[h] = true
		}
	}
}

// WithKeychain sets where registry credentials come from. The default is
// authn.DefaultKeychain, which reads Docker's config file and helpers.
func WithKeychain(k authn.Keychain) Option {
	return func(s *Store) { s.keychain = k }
}

// Store holds images under one root. It is safe for concurrent use. Long
// operations (downloads, unpacking) run without the lock; only the final
// commit of records and tags takes it.
type Store struct {
	root      string
	content   *content.Store
	snapshots *snapshot.Snapshotter
	keychain  authn.Keychain
	insecure  map[string]bool

	mu      sync.Mutex
	records map[string]*record // by ID
	configs map[string]*v1.ConfigFile
	tags    map[string]string // familiar "name:tag" -> ID
	leases  map[string]int    // blob digests and chain IDs in use by unfinished work

	// internal are the daemon's own references (internal.go).
	internal map[string]bool

	// local is the registry this process serves and localHosts its
	// addresses (local.go).
	local      LocalRegistry
	localHosts map[string]bool
}

// New opens or creates an image store under root.
func New(root string, opts ...Option) (*Store, error) {
	s := &Store{
		root:     root,
		keychain: authn.DefaultKeychain,
		insecure: map[string]bool{},
		records:  map[string]*record{},
		configs:  map[string]*v1.ConfigFile{},
		tags:     map[string]string{},
		leases:   map[string]int{},
		internal: map[string]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.content, err = content.New(root); err != nil {
		return nil, err
	}
	if s.snapshots, err = snapshot.New(filepath.Join(root, "snapshots")); err != nil {
		return nil, err
	}
	// tmp/ only ever holds scratch space of Load and Save calls that died.
	if err := os.RemoveAll(filepath.Join(root, "tmp")); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	for _, d := range []string{"images", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	if err := s.loadState(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) loadState() error {
	ents, err := os.ReadDir(filepath.Join(s.root, "images"))
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	for _, e := range ents {
		// A write that a crash interrupted leaves its temporary file
		// (atomicfile's, or ".tmp-*" of daemons before it).
		if n := e.Name(); atomicfile.IsTemp(n) || strings.HasPrefix(n, ".tmp-") {
			_ = os.Remove(filepath.Join(s.root, "images", n))
			continue
		}
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.root, "images", e.Name()))
		if err != nil {
			return fmt.Errorf("image store: %w", err)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("image store: record %s: %w", e.Name(), err)
		}
		s.records[r.ID] = &r
	}
	b, err := os.ReadFile(filepath.Join(s.root, "tags.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("image store: %w", err)
	}
	if err == nil {
		if err := json.Unmarshal(b, &s.tags); err != nil {
			return fmt.Errorf("image store: tags.json: %w", err)
		}
	}
	for t, id := range s.tags {
		if s.records[id] == nil {
			delete(s.tags, t)
		}
	}
	return nil
}

func idHex(id string) string { return strings.TrimPrefix(id, "sha256:") }

// saveRecordLocked persists one record. Callers hold s.mu.
func (s *Store) saveRecordLocked(r *record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.root, "images", idHex(r.ID)+".json"), b, 0o600); err != nil {
		return fmt.Errorf("image store: save %s: %w", r.ID, err)
	}
	return nil
}

// saveTagsLocked persists the tag index. Callers hold s.mu.
func (s *Store) saveTagsLocked() error {
	b, err := json.MarshalIndent(s.tags, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.root, "tags.json"), b, 0o600); err != nil {
		return fmt.Errorf("image store: save tags: %w", err)
	}
	return nil
}

// deleteRecordLocked removes a record and its tags from memory and disk.
func (s *Store) deleteRecordLocked(id string) error {
	if err := os.Remove(filepath.Join(s.root, "images", idHex(id)+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("image store: delete %s: %w", id, err)
	}
	delete(s.records, id)
	delete(s.configs, id)
	return nil
}

// lease marks blobs and snapshots as in use by unfinished work so that a
// concurrent garbage collection keeps them. The returned func releases them.
func (s *Store) lease(keys ...string) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		s.leases[k]++
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, k := range keys {
			if s.leases[k]--; s.leases[k] <= 0 {
				delete(s.leases, k)
			}
		}
	}
}

// configLocked returns the parsed config of a record, reading it once.
func (s *Store) configLocked(r *record) (*v1.ConfigFile, error) {
	if c := s.configs[r.ID]; c != nil {
		return c, nil
	}
	raw, err := s.content.ReadAll(r.ID)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", r.ID, err)
	}
	c, err := ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", r.ID, err)
	}
	s.configs[r.ID] = c
	return c, nil
}

// tagsOfLocked returns an image's tags, sorted.
func (s *Store) tagsOfLocked(id string) []string {
	var out []string
	for t, tid := range s.tags {
		if tid == id {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// imageLocked builds the engine-facing Image of a record.
func (s *Store) imageLocked(r *record) (*Image, error) {
	cfg, err := s.configLocked(r)
	if err != nil {
		return nil, err
	}
	return &Image{
		ID:          r.ID,
		RepoTags:    s.tagsOfLocked(r.ID),
		RepoDigests: append([]string(nil), r.RepoDigests...),
		Manifest:    r.Manifest,
		Created:     r.Created,
		Size:        r.Size,
		Config:      cfg.DeepCopy(),
		Layers:      append([]Layer(nil), r.Layers...),
	}, nil
}

// Get returns the image named by refOrID: a name with optional tag
// (":latest" by default), a name@digest, a full "sha256:<hex>" ID, or an
// unambiguous ID prefix. A malformed reference is ErrInvalidArgument, an
// unknown image ErrNotFound.
func (s *Store) Get(ctx context.Context, refOrID string) (*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _, err := s.resolveLocked(refOrID)
	if err != nil {
		return nil, err
	}
	return s.imageLocked(r)
}

// List returns the user's images, newest first: the daemon's own
// references are left out (internal.go).
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Image, 0, len(s.records))
	for _, r := range s.records {
		img, err := s.imageLocked(r)
		if err != nil {
			return nil, err
		}
		if r.BuildCache && len(img.RepoTags) == 0 {
			continue
		}
		if s.internalTagLocked(r.ID) {
			if img.RepoTags = s.userTags(img.RepoTags); len(img.RepoTags) == 0 {
				continue
			}
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Tag adds the tag target (a name with optional tag) to the image src. A
// tag already on another image moves, as in Docker.
func (s *Store) Tag(ctx context.Context, src, target string) error {
	t, err := parseTag(target)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _, err := s.resolveLocked(src)
	if err != nil {
		return err
	}
	if err := s.checkTagLocked(t, r.ID); err != nil {
		return err
	}
	s.tags[t] = r.ID
	return s.saveTagsLocked()
}

// LayerDirs returns the absolute paths of the image's unpacked layers,
// bottom first, ready for snapshot.MountOverlay.
func (s *Store) LayerDirs(ctx context.Context, img *Image) ([]string, error) {
	out := make([]string, 0, len(img.Layers))
	for _, l := range img.Layers {
		d, err := s.snapshots.Dir(l.ChainID)
		if err != nil {
			return nil, fmt.Errorf("image %s: layer %s: %w", img.ID, l.ChainID, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// History returns the image's history, newest first as docker history
// prints it. Entries that did not create a layer have Size 0 and
// EmptyLayer set.
func (s *Store) History(ctx context.Context, refOrID string) ([]HistoryEntry, error) {
	img, err := s.Get(ctx, refOrID)
	if err != nil {
		return nil, err
	}
	var out []HistoryEntry
	li := 0
	hist := img.Config.History
	if len(hist) == 0 {
		// Images without history get one entry per layer.
		for range img.Layers {
			hist = append(hist, v1.History{Created: v1.Time{Time: img.Created}})
		}
	}
	for _, h := range hist {
		e := HistoryEntry{ID: "<missing>", Created: h.Created.Time, CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if !h.EmptyLayer && li < len(img.Layers) {
			e.Size = img.Layers[li].Size
			li++
		}
		out = append(out, e)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > 0 {
		out[0].ID = img.ID
	}
	return out, nil
}
