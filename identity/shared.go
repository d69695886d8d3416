package identity

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// A cluster's keys: once a daemon is a node of a cluster, the keys it
// creates live in the cluster's state (Shared), and every node verifies
// them, so that a client reaches the AWS-shaped APIs of any node with
// one key. Keys created before the daemon joined stay its own (as they
// were): they are never copied into the cluster, so that a node coming
// back cannot bring back a key revoked while it was away.

// Shared is where a cluster keeps its keys.
type Shared interface {
	Put(ctx context.Context, key Key) error
	Delete(ctx context.Context, id string) error
	// List returns every key.
	List(ctx context.Context) ([]Key, error)
	// Watch sends each key written or deleted (Deleted) until ctx ends;
	// the channel closes when the watch ends.
	Watch(ctx context.Context) (<-chan SharedChange, error)
}

// SharedChange is one change of the shared keys.
type SharedChange struct {
	Key     Key
	Deleted bool
}

// sharedResync is how often the shared keys are read whole, to catch
// what a broken watch missed (a deletion while disconnected).
const sharedResync = 30 * time.Second

// Share makes this daemon's new keys the cluster's and verifies the
// cluster's keys, from now until ctx ends; they are read in the
// background (a node whose cluster does not answer yet verifies them once
// it does).
func (k *Keys) Share(ctx context.Context, s Shared) {
	k.mu.Lock()
	k.remote = s
	if k.shared == nil {
		k.shared = map[string]Key{}
	}
	k.mu.Unlock()
	go k.follow(ctx, s)
}

// follow keeps the shared keys in memory: a full read, then the watch's
// changes, again after a broken watch and every sharedResync.
func (k *Keys) follow(ctx context.Context, s Shared) {
	for ctx.Err() == nil {
		if err := k.resync(ctx, s); err != nil {
			k.log.Warn("reading the cluster's access keys", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		ch, err := s.Watch(ctx)
		if err != nil {
			continue
		}
		t := time.NewTimer(sharedResync)
	watch:
		for {
			select {
			case c, ok := <-ch:
				if !ok {
					break watch
				}
				k.mu.Lock()
				if c.Deleted {
					delete(k.shared, c.Key.AccessKeyID)
				} else if c.Key.AccessKeyID != "" && c.Key.SecretAccessKey != "" {
					k.shared[c.Key.AccessKeyID] = c.Key
				}
				k.mu.Unlock()
			case <-t.C:
				if err := k.resync(ctx, s); err != nil {
					k.log.Warn("reading the cluster's access keys", "err", err)
				}
				t.Reset(sharedResync)
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		t.Stop()
	}
}

// resync replaces the shared keys in memory with what the cluster holds.
func (k *Keys) resync(ctx context.Context, s Shared) error {
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]Key, len(list))
	for _, key := range list {
		if key.AccessKeyID != "" && key.SecretAccessKey != "" {
			m[key.AccessKeyID] = key
		}
	}
	k.mu.Lock()
	k.shared = m
	k.mu.Unlock()
	return nil
}

// createShared stores a new key in the cluster.
func (k *Keys) createShared(s Shared, key Key) (Key, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Put(ctx, key); err != nil {
		return Key{}, fmt.Errorf("storing the key in the cluster: %w", err)
	}
	k.mu.Lock()
	k.shared[key.AccessKeyID] = key
	k.mu.Unlock()
	return key, nil
}

// removeShared revokes a cluster key.
func (k *Keys) removeShared(s Shared, id string) error {
	k.mu.RLock()
	_, known := k.shared[id]
	k.mu.RUnlock()
	if !known {
		return fmt.Errorf("no such access key: %s: %w", id, errdefs.ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Delete(ctx, id); err != nil {
		return fmt.Errorf("revoking the key in the cluster: %w", err)
	}
	k.mu.Lock()
	delete(k.shared, id)
	k.mu.Unlock()
	return nil
}

// listShared appends the shared keys, without secrets, to out.
func (k *Keys) listSharedLocked(out []Key) []Key {
	for _, key := range k.shared {
		out = append(out, Key{AccessKeyID: key.AccessKeyID, Created: key.Created, Statements: key.Statements})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}
