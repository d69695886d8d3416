package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Prune removes the build cache: every cache record, the build-cache
// images no container uses, the layers only they held, and the
// directories of RUN --mount=type=cache that no step is using. It
// returns what it removed and the bytes freed.
func (b *Builder) Prune(ctx context.Context) ([]string, uint64, error) {
	removed, reclaimed, err := b.images.PruneBuildCache(ctx, b.containers.ImageInUse)
	if err != nil {
		return removed, reclaimed, err
	}
	dir := filepath.Join(b.root, "cache")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return removed, reclaimed, fmt.Errorf("build cache: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		// A locked cache mount in use stays; shared ones are bind mounts
		// of running steps only while their step runs, and a removal
		// under a running step only empties its cache.
		if v, ok := b.locks.Load(p); ok {
			mu := v.(*sync.Mutex)
			if !mu.TryLock() {
				continue
			}
			mu.Unlock()
		}
		reclaimed += dirSize(p)
		if err := os.RemoveAll(p); err != nil {
			return removed, reclaimed, fmt.Errorf("build cache: %w", err)
		}
		removed = append(removed, "cache-mount:"+e.Name()[:12])
	}
	return removed, reclaimed, nil
}

// dirSize adds up the sizes of the regular files under dir.
func dirSize(dir string) uint64 {
	var n uint64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
		return nil
	})
	return n
}
