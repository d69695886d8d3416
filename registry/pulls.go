package registry

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

// Pull times (ECR's lastRecordedPullTime).
//
// A pull of a manifest records its time in the repository's
// wharf/repositories/<name>/_pulls.json (digest → time), beside its
// record. Like ECR, the time is "recorded": a manifest pulled again
// within pullRecordEvery keeps the time of the earlier pull, so that a
// busy image costs one small write an interval, not one a pull. The
// records of the repositories pulled lately are kept in memory (at most
// maxPullCache of them).

// pullRecordEvery is how stale a recorded pull time may get.
const pullRecordEvery = time.Hour

// maxPullCache bounds the repositories whose pull times are in memory.
const maxPullCache = 1024

// maxPullsFile bounds a pull record read back from storage.
const maxPullsFile = 8 << 20

type pullStore struct {
	driver storagedriver.StorageDriver
	now    func() time.Time
	log    *slog.Logger

	mu    sync.Mutex
	repos map[string]map[string]time.Time
}

func newPullStore(d storagedriver.StorageDriver, now func() time.Time, log *slog.Logger) *pullStore {
	return &pullStore{driver: d, now: now, log: log, repos: map[string]map[string]time.Time{}}
}

func pullsPath(repo string) string { return path.Join("/wharf/repositories", repo, "_pulls.json") }

// loadLocked returns the pull times of repo, read from storage when not
// in memory.
func (p *pullStore) loadLocked(ctx context.Context, repo string) map[string]time.Time {
	if m, ok := p.repos[repo]; ok {
		return m
	}
	m := map[string]time.Time{}
	b, err := p.driver.GetContent(ctx, pullsPath(repo))
	var nf storagedriver.PathNotFoundError
	switch {
	case errors.As(err, &nf):
	case err != nil:
		// Not cached: the next pull reads again.
		p.log.Warn("registry: reading pull times", "repository", repo, "err", err)
		return m
	case len(b) <= maxPullsFile:
		_ = json.Unmarshal(b, &m)
	}
	if len(p.repos) >= maxPullCache {
		p.repos = map[string]map[string]time.Time{}
	}
	p.repos[repo] = m
	return m
}

// record notes a pull of repo's manifest dgst now.
func (p *pullStore) record(ctx context.Context, repo, dgst string) {
	now := p.now().UTC().Truncate(time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.loadLocked(ctx, repo)
	if last, ok := m[dgst]; ok && now.Sub(last) < pullRecordEvery {
		return
	}
	m[dgst] = now
	b, err := json.Marshal(m)
	if err == nil {
		err = p.driver.PutContent(ctx, pullsPath(repo), b)
	}
	if err != nil {
		// A pull is not failed for its record (a full disk).
		p.log.Warn("registry: recording a pull", "repository", repo, "err", err)
	}
}

// all returns the recorded pull times of repo's manifests.
func (p *pullStore) all(ctx context.Context, repo string) map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.loadLocked(ctx, repo)
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// forget drops repo from memory (its file went with the repository).
func (p *pullStore) forget(repo string) {
	p.mu.Lock()
	delete(p.repos, repo)
	p.mu.Unlock()
}

// pulled records a pull and calls the pull hook.
func (r *Registry) pulled(ctx context.Context, repo, dgst string) {
	r.pulls.record(context.WithoutCancel(ctx), repo, dgst)
	if r.hooks.Pulled != nil {
		r.hooks.Pulled(ctx, repo, dgst)
	}
}

// RecordPull records a pull of repo's manifest dgst that did not go
// through the registry's HTTP API (ECR's BatchGetImage, which is how ECR
// clients pull).
func (r *Registry) RecordPull(ctx context.Context, repo, dgst string) {
	r.pulled(ctx, repo, dgst)
}
