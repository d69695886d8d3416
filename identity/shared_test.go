package identity

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// memShared is a cluster's key table in memory, with watchers.
type memShared struct {
	mu       sync.Mutex
	keys     map[string]Key
	watchers []chan SharedChange
	// quiet drops deletions from the watch (a watch that missed one).
	quiet bool
}

func (m *memShared) Put(_ context.Context, k Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[k.AccessKeyID] = k
	for _, w := range m.watchers {
		w <- SharedChange{Key: k}
	}
	return nil
}

func (m *memShared) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, id)
	if !m.quiet {
		for _, w := range m.watchers {
			w <- SharedChange{Key: Key{AccessKeyID: id}, Deleted: true}
		}
	}
	return nil
}

func (m *memShared) List(context.Context) ([]Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Key
	for _, k := range m.keys {
		out = append(out, k)
	}
	return out, nil
}

// Watch starts with the keys there are, as a KV watch of the cluster's
// state does (its initial values), then their changes.
func (m *memShared) Watch(ctx context.Context) (<-chan SharedChange, error) {
	ch := make(chan SharedChange, 64)
	m.mu.Lock()
	for _, k := range m.keys {
		ch <- SharedChange{Key: k}
	}
	m.watchers = append(m.watchers, ch)
	m.mu.Unlock()
	return ch, nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two daemons of a cluster: a key created on one verifies on the other
// at once and is revoked on both by a removal on either; a key a daemon
// had before it joined stays its own; a deletion a watch missed is
// caught by the next full read.
func TestSharedKeys(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	a, err := OpenKeys(filepath.Join(dir, "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	own, err := a.Create()
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenKeys(filepath.Join(dir, "b.json"))
	if err != nil {
		t.Fatal(err)
	}
	sh := &memShared{keys: map[string]Key{}}
	a.Share(ctx, sh)
	b.Share(ctx, sh)

	k, err := a.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sh.keys[k.AccessKeyID]; !ok {
		t.Fatal("a key created in a cluster is not the cluster's")
	}
	eventually(t, "b verifies a's key", func() bool { got, ok := b.lookup(k.AccessKeyID); return ok && got.SecretAccessKey == k.SecretAccessKey })
	if _, ok := a.lookup(k.AccessKeyID); !ok {
		t.Fatal("a does not verify its own new key")
	}
	if _, ok := b.lookup(own.AccessKeyID); ok {
		t.Fatal("a key made before joining reached the cluster")
	}
	if n := len(a.List()); n != 2 {
		t.Fatalf("a lists %d keys, want its own and the cluster's", n)
	}
	// Re-opened from its file, a daemon has only its own keys there.
	a2, err := OpenKeys(filepath.Join(dir, "a.json"))
	if err != nil || len(a2.List()) != 1 {
		t.Fatalf("a's file holds %d keys, %v", len(a2.List()), err)
	}

	if err := b.Remove(k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a forgets the revoked key", func() bool { _, ok := a.lookup(k.AccessKeyID); return !ok })
	if err := b.Remove(k.AccessKeyID); !errdefs.IsNotFound(err) {
		t.Fatalf("removing it again: %v", err)
	}

	// A deletion the watch does not tell: the next full read drops it.
	k2, err := a.Create()
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "b verifies the second key", func() bool { _, ok := b.lookup(k2.AccessKeyID); return ok })
	sh.mu.Lock()
	sh.quiet = true
	sh.mu.Unlock()
	if err := sh.Delete(ctx, k2.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if err := b.resync(ctx, sh); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.lookup(k2.AccessKeyID); ok {
		t.Fatal("a resync kept a deleted key")
	}
}
