package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
)

// Placement reads the nodes' free capacity from the task records, and
// its decision only becomes visible when the records it creates are
// written: two placements that overlap (RunTask on two managers, RunTask
// and the controller) would both count the same free capacity. They hold
// the "placement" lock from the read of the state to the last record
// written. The lock is a key created with compare-and-set and deleted by
// its holder; one held for longer than lockTTL (its holder died) is
// taken over.

// lockTTL is how long a placement may hold the lock before another may
// take it over.
const lockTTL = 10 * time.Second

// lockWait bounds how long a placement waits for the lock.
const lockWait = 15 * time.Second

const placementLock = "placement"

// withPlacement runs f holding the placement lock.
func (r *Runtime) withPlacement(ctx context.Context, f func() error) error {
	locks := r.st.Locks()
	me := NewID()
	deadline := time.Now().Add(lockWait)
	for {
		rev, err := locks.Create(ctx, placementLock, state.Lock{Holder: me})
		if err == nil {
			defer func() {
				// A fresh context: the lock must go even when the
				// caller's has ended.
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = locks.Delete(dctx, placementLock, rev)
			}()
			return f()
		}
		if !errdefs.IsConflict(err) {
			return err
		}
		if e, gerr := locks.Get(ctx, placementLock); gerr == nil && r.now().Sub(e.Created) > lockTTL {
			_ = locks.Delete(ctx, placementLock, e.Revision)
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("another placement holds the cluster's placement lock: %w", errdefs.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
