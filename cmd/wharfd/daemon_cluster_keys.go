package main

import (
	"context"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/identity"
)

// bucketKeys is the cluster's table of access keys (identity.Shared).
const bucketKeys = "access_keys"

// clusterKeys keeps a cluster's access keys in its state, replicated
// with the rest of it, so that every node verifies them.
type clusterKeys struct{ t state.Table[identity.Key] }

func newClusterKeys(st *state.Store) clusterKeys {
	return clusterKeys{t: state.NewTable[identity.Key](st, bucketKeys)}
}

func (c clusterKeys) Put(ctx context.Context, k identity.Key) error {
	_, err := c.t.Create(ctx, k.AccessKeyID, k)
	return err
}

func (c clusterKeys) Delete(ctx context.Context, id string) error { return c.t.Delete(ctx, id, 0) }

func (c clusterKeys) List(ctx context.Context) ([]identity.Key, error) {
	es, err := c.t.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]identity.Key, 0, len(es))
	for _, e := range es {
		out = append(out, e.Value)
	}
	return out, nil
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
			ch := identity.SharedChange{Key: e.Value, Deleted: e.Deleted}
			if e.Deleted {
				ch.Key = identity.Key{AccessKeyID: e.Key}
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
