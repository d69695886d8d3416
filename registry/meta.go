package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"

	"github.com/wharf-dev/wharf/errdefs"
)

// Tag mutability, as ECR spells it.
const (
	TagsMutable   = "MUTABLE"
	TagsImmutable = "IMMUTABLE"
)

// RepoMeta is the record wharf keeps beside a repository: what
// Distribution does not know about it. It lives in the registry's storage
// (wharf/repositories/<name>/_meta.json: a name component never starts
// with "_", so no repository's files are another's), so that registries
// sharing an S3 bucket share it.
type RepoMeta struct {
	Name    string
	Created time.Time
	// Public repositories can be pulled without credentials.
	Public bool `json:",omitempty"`
	// TagMutability is TagsMutable (the default, "") or TagsImmutable: a
	// tag of an immutable repository never moves to another manifest.
	TagMutability string `json:",omitempty"`
	// LifecyclePolicy is the repository's lifecycle policy as ECR echoes
	// it ("": none), set at LifecyclePolicyUpdated (lifecycle.go).
	LifecyclePolicy        string    `json:",omitempty"`
	LifecyclePolicyUpdated time.Time `json:",omitzero"`
	// Extra holds what the layers above keep per repository (ECR's
	// resource tags, lifecycle policy, ...), by their own keys.
	Extra map[string]json.RawMessage `json:",omitempty"`
}

// Immutable reports whether the repository's tags are immutable.
func (m RepoMeta) Immutable() bool { return m.TagMutability == TagsImmutable }

// metaCacheTTL bounds how stale a cached record may be when another
// registry sharing the storage changed it.
const metaCacheTTL = 10 * time.Second

// maxMetaSize bounds a record read back from storage.
const maxMetaSize = 1 << 20

// metaStore reads and writes the records through the storage driver,
// with a small cache: the public flag is read on every anonymous request.
type metaStore struct {
	driver storagedriver.StorageDriver
	now    func() time.Time

	// wmu serialises read-modify-write cycles.
	wmu   sync.Mutex
	mu    sync.RWMutex
	cache map[string]metaEntry
}

type metaEntry struct {
	meta   RepoMeta
	exists bool
	at     time.Time
}

// maxMetaCache bounds the cache (it is emptied when full).
const maxMetaCache = 4096

func newMetaStore(d storagedriver.StorageDriver) *metaStore {
	return &metaStore{driver: d, now: time.Now, cache: map[string]metaEntry{}}
}

func metaPath(name string) string {
	return path.Join("/wharf/repositories", name, "_meta.json")
}

// validName checks a repository name before it becomes a storage path.
func validName(name string) error {
	if _, err := reference.WithName(name); err != nil {
		return fmt.Errorf("repository name %q: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	return nil
}

// get returns the record of name; exists is false when there is none.
func (m *metaStore) get(ctx context.Context, name string) (RepoMeta, bool, error) {
	if err := validName(name); err != nil {
		return RepoMeta{}, false, err
	}
	m.mu.RLock()
	e, ok := m.cache[name]
	m.mu.RUnlock()
	if ok && m.now().Sub(e.at) < metaCacheTTL {
		return e.meta, e.exists, nil
	}
	meta, exists, err := m.read(ctx, name)
	if err != nil {
		return RepoMeta{}, false, err
	}
	m.put(name, meta, exists)
	return meta, exists, nil
}

func (m *metaStore) read(ctx context.Context, name string) (RepoMeta, bool, error) {
	b, err := m.driver.GetContent(ctx, metaPath(name))
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &nf) {
		return RepoMeta{Name: name}, false, nil
	}
	if err != nil {
		return RepoMeta{}, false, fmt.Errorf("repository %s: record: %w", name, err)
	}
	if len(b) > maxMetaSize {
		return RepoMeta{}, false, fmt.Errorf("repository %s: record too large", name)
	}
	var meta RepoMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return RepoMeta{}, false, fmt.Errorf("repository %s: record: %w", name, err)
	}
	meta.Name = name
	return meta, true, nil
}

func (m *metaStore) put(name string, meta RepoMeta, exists bool) {
	m.mu.Lock()
	if len(m.cache) >= maxMetaCache {
		m.cache = map[string]metaEntry{}
	}
	m.cache[name] = metaEntry{meta: meta, exists: exists, at: m.now()}
	m.mu.Unlock()
}

// update applies fn to the record of name (a new one, Created now, when
// there is none: exists is false) and writes it.
func (m *metaStore) update(ctx context.Context, name string, fn func(meta *RepoMeta, exists bool) error) (RepoMeta, error) {
	if err := validName(name); err != nil {
		return RepoMeta{}, err
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	meta, exists, err := m.read(ctx, name)
	if err != nil {
		return RepoMeta{}, err
	}
	if !exists {
		meta = RepoMeta{Name: name, Created: m.now().UTC()}
	}
	if err := fn(&meta, exists); err != nil {
		return RepoMeta{}, err
	}
	meta.Name = name
	if meta.TagMutability != "" && meta.TagMutability != TagsMutable && meta.TagMutability != TagsImmutable {
		return RepoMeta{}, fmt.Errorf("tag mutability %q: want %s or %s: %w", meta.TagMutability, TagsMutable, TagsImmutable, errdefs.ErrInvalidArgument)
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return RepoMeta{}, err
	}
	// The filesystem driver writes a temporary file and renames it; an
	// object store's put is atomic.
	if err := m.driver.PutContent(ctx, metaPath(name), b); err != nil {
		return RepoMeta{}, fmt.Errorf("repository %s: record: %w", name, err)
	}
	m.put(name, meta, true)
	return meta, nil
}

// remove deletes the record and everything else wharf keeps for the
// repository (its referrers), and nothing of the repositories below it.
func (m *metaStore) remove(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	for _, p := range []string{metaPath(name), referrersRoot(name), pullsPath(name)} {
		err := m.driver.Delete(ctx, p)
		var nf storagedriver.PathNotFoundError
		if err != nil && !errors.As(err, &nf) {
			return err
		}
	}
	m.put(name, RepoMeta{Name: name}, false)
	return nil
}

// isPublic reports whether name may be pulled anonymously. An error
// reading the record counts as not public.
func (r *Registry) isPublic(ctx context.Context, name string) bool {
	meta, exists, err := r.meta.get(ctx, name)
	return err == nil && exists && meta.Public
}
