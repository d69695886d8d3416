package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
)

// bucketKeys is the cluster's table of access keys (identity.Shared).
const bucketKeys = "access_keys"

// purposeAccessKey is what an access key is sealed as (secrets.Key.SealFor).
const purposeAccessKey = "access-key"

// storedKey is an access key as the cluster keeps it: its secret and its
// statements sealed with the cluster's data key, bound to its id, so that
// the bucket read from a manager's JetStream disk, or by any process with
// the cluster's certificate, holds no usable key and no policy an
// attacker could swap between keys. Records written before keys were
// sealed carry the secret in clear (SecretAccessKey, Statements): they
// are read as they are and sealed in place by the first node that reads
// them.
type storedKey struct {
	AccessKeyID string
	Created     time.Time
	Sealed      []byte `json:",omitempty"`

	SecretAccessKey string               `json:",omitempty"`
	Statements      []identity.Statement `json:",omitempty"`
}

// sealedPart is what a storedKey's Sealed holds.
type sealedPart struct {
	SecretAccessKey string
	Statements      []identity.Statement `json:",omitempty"`
}

func sealKey(dk *secrets.Key, k identity.Key) (storedKey, error) {
	plain, err := json.Marshal(sealedPart{SecretAccessKey: k.SecretAccessKey, Statements: k.Statements})
	if err != nil {
		return storedKey{}, err
	}
	sealed, err := dk.SealFor(purposeAccessKey, k.AccessKeyID, plain)
	if err != nil {
		return storedKey{}, err
	}
	return storedKey{AccessKeyID: k.AccessKeyID, Created: k.Created, Sealed: sealed}, nil
}

// openKey returns the key a record holds, and whether it was a record in
// clear (to be sealed).
func openKey(dk *secrets.Key, s storedKey) (identity.Key, bool, error) {
	k := identity.Key{AccessKeyID: s.AccessKeyID, Created: s.Created}
	if s.Sealed == nil {
		if s.SecretAccessKey == "" {
			return identity.Key{}, false, fmt.Errorf("access key %s: neither sealed nor in clear: %w", s.AccessKeyID, errdefs.ErrInvalidArgument)
		}
		k.SecretAccessKey, k.Statements = s.SecretAccessKey, s.Statements
		return k, true, nil
	}
	plain, err := dk.OpenFor(purposeAccessKey, s.AccessKeyID, s.Sealed)
	if err != nil {
		return identity.Key{}, false, fmt.Errorf("access key %s: %w", s.AccessKeyID, err)
	}
	var p sealedPart
	if err := json.Unmarshal(plain, &p); err != nil || p.SecretAccessKey == "" {
		return identity.Key{}, false, fmt.Errorf("access key %s: sealed record does not decode: %w", s.AccessKeyID, errdefs.ErrInvalidArgument)
	}
	k.SecretAccessKey, k.Statements = p.SecretAccessKey, p.Statements
	return k, false, nil
}

// clusterKeys keeps a cluster's access keys in its state, replicated
// with the rest of it and sealed with its data key, so that every node
// verifies them.
type clusterKeys struct {
	t   state.Table[storedKey]
	dk  *secrets.Key
	log *slog.Logger
}

func newClusterKeys(st *state.Store, dk *secrets.Key, log *slog.Logger) clusterKeys {
	return clusterKeys{t: state.NewTable[storedKey](st, bucketKeys), dk: dk, log: log}
}

func (c clusterKeys) Put(ctx context.Context, k identity.Key) error {
	s, err := sealKey(c.dk, k)
	if err != nil {
		return err
	}
	_, err = c.t.Create(ctx, k.AccessKeyID, s)
	return err
}

func (c clusterKeys) Delete(ctx context.Context, id string) error { return c.t.Delete(ctx, id, 0) }

// List returns the keys that open with this node's data key; one that
// does not (altered, or sealed under another key) is left out and said.
func (c clusterKeys) List(ctx context.Context) ([]identity.Key, error) {
	es, err := c.t.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]identity.Key, 0, len(es))
	for _, e := range es {
		k, ok := c.open(ctx, e)
		if ok {
			out = append(out, k)
		}
	}
	return out, nil
}

// open opens one record, sealing a record in clear in place (a
// concurrent writer winning the compare-and-set is fine: it sealed it or
// deleted it).
func (c clusterKeys) open(ctx context.Context, e state.Entry[storedKey]) (identity.Key, bool) {
	k, clear, err := openKey(c.dk, e.Value)
	if err != nil {
		c.log.Warn("cluster: an access key in the cluster's state cannot be read on this node; it is not accepted here", "err", err)
		return identity.Key{}, false
	}
	if clear {
		s, err := sealKey(c.dk, k)
		if err == nil {
			_, err = c.t.Update(ctx, e.Key, s, e.Revision)
		}
		if err != nil && !errors.Is(err, errdefs.ErrConflict) && !errors.Is(err, errdefs.ErrNotFound) {
			c.log.Warn("cluster: sealing an access key written in clear", "key", k.AccessKeyID, "err", err)
		}
	}
	return k, true
}

func (c clusterKeys) Watch(ctx context.Context) (<-chan identity.SharedChange, error) {
	in, err := c.t.Watch(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan identity.SharedChange, 16)
	go func() {
		defer close(out)
		for e := range in {
			var ch identity.SharedChange
			if e.Deleted {
				ch = identity.SharedChange{Key: identity.Key{AccessKeyID: e.Key}, Deleted: true}
			} else {
				k, ok := c.open(ctx, e)
				if !ok {
					continue
				}
				ch = identity.SharedChange{Key: k}
			}
			select {
			case out <- ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
