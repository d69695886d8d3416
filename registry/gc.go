package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/errdefs"
)

// Garbage collection of blobs while the registry serves.
//
// Distribution's own collector (storage.MarkAndSweep) wants the registry
// read-only while it runs. Ours does not, and keeps any blob that a push
// may still need:
//
//  1. Mark: every manifest of every repository and what it references
//     (layers, configs, the manifests of an index) are kept.
//  2. Candidates: every other blob, unless it was written, or its digest
//     was touched (see below), within the grace period before the
//     collection started (default one hour). A push uploads its blobs,
//     then its manifest; the grace period keeps the blobs of a push in
//     flight, and the blobs a client checked (HEAD) before it pushes the
//     manifest that names them.
//  3. Sweep: the candidates become "doomed" under the gate's lock, minus
//     any touched meanwhile, and are deleted (with the repositories'
//     links to them). A request that touches a doomed digest during the
//     sweep waits for the sweep to end, then finds the blob gone: a
//     manifest naming it is refused (MANIFEST_BLOB_UNKNOWN), an upload
//     of it writes it anew. Every other request goes on: there is no
//     read-only window; the wait of the few requests on doomed digests
//     is reported (GCReport.Paused, wharf_registry_gc_pause_seconds).
//
// Touched digests: every digest a request stats, reads, mounts, commits,
// or names in a manifest it pushes, the manifest's own included
// (hooks.go). They are pinned while the request runs and remembered with
// the time it ended (at most maxRecent of them; when more arrive within a
// grace period, the next collection sweeps nothing rather than guess).
//
// The engine's image store keeps its own copies of what it pulled from
// this registry (hard links or copies, local.go), so a running
// container's image never depends on a registry blob.

// DefaultGracePeriod is how long a blob or a touched digest is kept
// whatever references it.
const DefaultGracePeriod = time.Hour

// maxRecent bounds the touched digests remembered.
const maxRecent = 1 << 17

// gcGate is the meeting point of requests and the collector.
type gcGate struct {
	now func() time.Time

	mu         sync.Mutex
	recent     map[digest.Digest]time.Time
	pinned     map[digest.Digest]int
	overflowAt time.Time
	doomed     map[digest.Digest]struct{}
	swept      chan struct{} // closed when the running sweep ends

	// run serialises collections.
	run sync.Mutex
}

func newGCGate(now func() time.Time) *gcGate {
	return &gcGate{now: now, recent: map[digest.Digest]time.Time{}, pinned: map[digest.Digest]int{}}
}

// touch records that a request wants ds, waiting first while any of them
// is being swept. The digests stay pinned — never swept — until the
// returned release, which records them as touched at that moment: a
// manifest push that began before a collection and ends after the
// collection marked its repository is kept either way.
func (g *gcGate) touch(ctx context.Context, ds ...digest.Digest) (func(), error) {
	for {
		g.mu.Lock()
		var wait chan struct{}
		for _, d := range ds {
			if _, ok := g.doomed[d]; ok {
				wait = g.swept
				break
			}
		}
		if wait == nil {
			for _, d := range ds {
				g.pinned[d]++
			}
			g.mu.Unlock()
			return func() { g.release(ds) }, nil
		}
		g.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (g *gcGate) release(ds []digest.Digest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for _, d := range ds {
		if g.pinned[d]--; g.pinned[d] <= 0 {
			delete(g.pinned, d)
		}
		g.recordLocked(d, now)
	}
}

func (g *gcGate) recordLocked(d digest.Digest, now time.Time) {
	if _, ok := g.recent[d]; !ok && len(g.recent) >= maxRecent {
		for k, t := range g.recent {
			if now.Sub(t) > DefaultGracePeriod {
				delete(g.recent, k)
			}
		}
		if len(g.recent) >= maxRecent {
			g.recent = map[digest.Digest]time.Time{}
			g.overflowAt = now
		}
	}
	g.recent[d] = now
}

// beginSweep fixes the doomed set: the candidates not touched since
// cutoff. It returns nil (sweep nothing) when touches were forgotten
// since cutoff.
func (g *gcGate) beginSweep(cands map[digest.Digest]int64, cutoff time.Time) map[digest.Digest]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.overflowAt.IsZero() && !g.overflowAt.Before(cutoff) {
		return nil
	}
	doomed := map[digest.Digest]int64{}
	g.doomed = map[digest.Digest]struct{}{}
	for d, size := range cands {
		if t, ok := g.recent[d]; ok && !t.Before(cutoff) {
			continue
		}
		if g.pinned[d] > 0 {
			continue
		}
		doomed[d] = size
		g.doomed[d] = struct{}{}
	}
	g.swept = make(chan struct{})
	return doomed
}

func (g *gcGate) endSweep() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.doomed = nil
	if g.swept != nil {
		close(g.swept)
		g.swept = nil
	}
}

// GCOptions configures a collection.
type GCOptions struct {
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
	// GracePeriod overrides DefaultGracePeriod (0: the default; a
	// negative value: none, for tests and for a registry nobody pushes
	// to).
	GracePeriod time.Duration
}

// GCReport is what a collection did (or, dry, would do).
type GCReport struct {
	DryRun bool
	// Manifests and Blobs are the manifests marked and the blobs stored
	// when it started.
	Manifests, Blobs int
	// Deleted are the blobs deleted (or that would be), FreedBytes their
	// sizes.
	Deleted    []string
	FreedBytes int64
	// Kept are the unreferenced blobs kept by the grace period.
	Kept int
	// Paused is how long the sweep ran: requests on the blobs being
	// deleted (and only those) waited at most this long.
	Paused   time.Duration
	Duration time.Duration
}

// GC collects the blobs no manifest references (see above). One
// collection runs at a time; another is ErrConflict.
func (r *Registry) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	g := r.gc
	if !g.run.TryLock() {
		return GCReport{}, fmt.Errorf("a garbage collection is already running: %w", errdefs.ErrConflict)
	}
	defer g.run.Unlock()
	start := r.now()
	grace := opts.GracePeriod
	if grace == 0 {
		grace = DefaultGracePeriod
	}
	if grace < 0 {
		grace = 0
	}
	cutoff := start.Add(-grace)
	rep := GCReport{DryRun: opts.DryRun}

	marked, links, err := r.mark(ctx, &rep)
	if err != nil {
		return rep, err
	}
	cands := map[digest.Digest]int64{}
	err = r.ns.Blobs().Enumerate(ctx, func(d digest.Digest) error {
		rep.Blobs++
		if _, ok := marked[d]; ok {
			return nil
		}
		fi, err := r.driver.Stat(ctx, blobDataPath(d))
		var nf storagedriver.PathNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.ModTime().Before(cutoff) {
			rep.Kept++
			return nil
		}
		cands[d] = fi.Size()
		return nil
	})
	var nf storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &nf) {
		return rep, fmt.Errorf("registry gc: listing blobs: %w", err)
	}
	if opts.DryRun {
		for d, size := range cands {
			rep.Deleted = append(rep.Deleted, d.String())
			rep.FreedBytes += size
		}
		rep.Duration = r.now().Sub(start)
		return rep, nil
	}

	sweepStart := time.Now()
	doomed := g.beginSweep(cands, cutoff)
	rep.Kept += len(cands) - len(doomed)
	vacuum := storage.NewVacuum(ctx, r.driver)
	for d, size := range doomed {
		if err := vacuum.RemoveBlob(d.String()); err != nil && !errors.As(err, &nf) {
			g.endSweep()
			return rep, fmt.Errorf("registry gc: deleting %s: %w", d, err)
		}
		rep.Deleted = append(rep.Deleted, d.String())
		rep.FreedBytes += size
		for _, repo := range links[d] {
			_ = vacuum.RemoveLayer(repo, d)
			r.metrics.changed(repo)
		}
	}
	g.endSweep()
	rep.Paused = time.Since(sweepStart)
	rep.Duration = r.now().Sub(start)
	r.metrics.collected(rep)
	return rep, nil
}

// mark returns every digest a manifest of the registry references (the
// manifests included), and for every blob the repositories linking it.
func (r *Registry) mark(ctx context.Context, rep *GCReport) (map[digest.Digest]struct{}, map[digest.Digest][]string, error) {
	marked := map[digest.Digest]struct{}{}
	links := map[digest.Digest][]string{}
	re, ok := r.ns.(distribution.RepositoryEnumerator)
	if !ok {
		return nil, nil, errors.New("registry gc: the storage cannot list repositories")
	}
	err := re.Enumerate(ctx, func(name string) error {
		named, err := reference.WithName(name)
		if err != nil {
			return nil
		}
		repo, err := r.ns.Repository(ctx, named)
		if err != nil {
			return err
		}
		ms, err := repo.Manifests(ctx)
		if err != nil {
			return err
		}
		if be, ok := repo.Blobs(ctx).(distribution.BlobEnumerator); ok {
			err := be.Enumerate(ctx, func(d digest.Digest) error {
				links[d] = append(links[d], name)
				return nil
			})
			var nf storagedriver.PathNotFoundError
			if err != nil && !errors.As(err, &nf) {
				return err
			}
		}
		me, ok := ms.(distribution.ManifestEnumerator)
		if !ok {
			return errors.New("registry gc: the storage cannot list manifests")
		}
		err = me.Enumerate(ctx, func(d digest.Digest) error {
			rep.Manifests++
			return markManifest(ctx, ms, d, marked)
		})
		var nf storagedriver.PathNotFoundError
		if err != nil && !errors.As(err, &nf) {
			return err
		}
		return nil
	})
	var nf storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &nf) {
		return nil, nil, fmt.Errorf("registry gc: marking: %w", err)
	}
	return marked, links, nil
}

// markManifest marks a manifest and, recursively, what it references.
func markManifest(ctx context.Context, ms distribution.ManifestService, d digest.Digest, marked map[digest.Digest]struct{}) error {
	if _, ok := marked[d]; ok {
		return nil
	}
	marked[d] = struct{}{}
	man, err := ms.Get(ctx, d)
	if err != nil {
		// A manifest deleted meanwhile, or one whose blob is gone:
		// nothing more of it to keep.
		return nil
	}
	for _, ref := range man.References() {
		if _, ok := marked[ref.Digest]; ok {
			continue
		}
		// Children of an index are manifests; everything else a blob.
		if ok, _ := ms.Exists(ctx, ref.Digest); ok {
			if err := markManifest(ctx, ms, ref.Digest, marked); err != nil {
				return err
			}
			continue
		}
		marked[ref.Digest] = struct{}{}
	}
	return nil
}

// blobDataPath is where Distribution keeps a blob's bytes (its
// storage/paths.go: blobs/<alg>/<first two hex>/<hex>/data).
func blobDataPath(d digest.Digest) string {
	enc := d.Encoded()
	if len(enc) < 2 {
		enc = "00"
	}
	return "/docker/registry/v2/blobs/" + d.Algorithm().String() + "/" + enc[:2] + "/" + d.Encoded() + "/data"
}
