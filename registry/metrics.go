package registry

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics, on the daemon's Prometheus registry:
//
//	wharf_registry_requests_total{route,method,code}        counter
//	wharf_registry_request_duration_seconds{route,method}   histogram
//	wharf_registry_received_bytes_total{route}              counter (request bodies)
//	wharf_registry_sent_bytes_total{route}                  counter (response bodies)
//	wharf_registry_repository_storage_bytes{repository}     gauge: the blobs and manifests
//	                                                        a repository links, each once
//	wharf_registry_gc_runs_total, wharf_registry_gc_deleted_blobs_total,
//	wharf_registry_gc_freed_bytes_total                     counters
//	wharf_registry_gc_pause_seconds                         gauge: the last sweep's length
//
// Route is one of Distribution's route names (base, manifest, tags,
// blob, blob-upload, blob-upload-chunk, catalog) or referrers, token,
// other. Storage per repository is computed at scrape time for the
// repositories changed since the last scrape only (a push, a delete, a
// collection mark them); the first scrape lists them all.

type registryMetrics struct {
	r        *Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	recv     *prometheus.CounterVec
	sent     *prometheus.CounterVec
	gcRuns   prometheus.Counter
	gcBlobs  prometheus.Counter
	gcBytes  prometheus.Counter
	gcPause  prometheus.Gauge
	storage  *prometheus.Desc

	mu      sync.Mutex
	listed  bool
	sizes   map[string]int64
	dirty   map[string]bool
	scrapes sync.Mutex
}

func newRegistryMetrics(r *Registry) *registryMetrics {
	return &registryMetrics{
		r: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_registry_requests_total",
			Help: "Requests to the registry by route, method and status code."}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wharf_registry_request_duration_seconds",
			Help:    "Time to answer a registry request, by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"route", "method"}),
		recv: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_registry_received_bytes_total",
			Help: "Bytes of request bodies received by the registry, by route."}, []string{"route"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_registry_sent_bytes_total",
			Help: "Bytes of response bodies sent by the registry, by route."}, []string{"route"}),
		gcRuns:  prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_registry_gc_runs_total", Help: "Garbage collections of the registry's blobs."}),
		gcBlobs: prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_registry_gc_deleted_blobs_total", Help: "Blobs deleted by garbage collection."}),
		gcBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_registry_gc_freed_bytes_total", Help: "Bytes freed by garbage collection."}),
		gcPause: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wharf_registry_gc_pause_seconds",
			Help: "Length of the last collection's sweep, the longest a request on a blob being deleted waited."}),
		storage: prometheus.NewDesc("wharf_registry_repository_storage_bytes",
			"Bytes of the blobs and manifests a repository links, each counted once.", []string{"repository"}, nil),
		sizes: map[string]int64{},
		dirty: map[string]bool{},
	}
}

func (m *registryMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.recv, m.sent, m.gcRuns, m.gcBlobs, m.gcBytes, m.gcPause, storageCollector{m}} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *registryMetrics) observe(route, method string, code int, in, out int64, d time.Duration) {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
	default:
		method = "other"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
	if in > 0 {
		m.recv.WithLabelValues(route).Add(float64(in))
	}
	if out > 0 {
		m.sent.WithLabelValues(route).Add(float64(out))
	}
}

// changed marks a repository's storage for recomputation.
func (m *registryMetrics) changed(repo string) {
	m.mu.Lock()
	m.dirty[repo] = true
	m.mu.Unlock()
}

// forget drops a deleted repository.
func (m *registryMetrics) forget(repo string) {
	m.mu.Lock()
	delete(m.sizes, repo)
	delete(m.dirty, repo)
	m.mu.Unlock()
}

func (m *registryMetrics) collected(rep GCReport) {
	m.gcRuns.Inc()
	m.gcBlobs.Add(float64(len(rep.Deleted)))
	m.gcBytes.Add(float64(rep.FreedBytes))
	m.gcPause.Set(rep.Paused.Seconds())
}

// storageCollector computes storage per repository at scrape time.
type storageCollector struct{ m *registryMetrics }

func (c storageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.storage }

func (c storageCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	// One scrape recomputes at a time; a scrape that waits finds the
	// work done.
	m.scrapes.Lock()
	defer m.scrapes.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m.mu.Lock()
	listed := m.listed
	m.mu.Unlock()
	if !listed {
		if re, ok := m.r.ns.(distribution.RepositoryEnumerator); ok {
			var names []string
			err := re.Enumerate(ctx, func(name string) error {
				names = append(names, name)
				return nil
			})
			var nf storagedriver.PathNotFoundError
			if err == nil || errors.As(err, &nf) {
				m.mu.Lock()
				for _, n := range names {
					m.dirty[n] = true
				}
				m.listed = true
				m.mu.Unlock()
			}
		}
	}
	m.mu.Lock()
	var todo []string
	for n := range m.dirty {
		todo = append(todo, n)
	}
	m.mu.Unlock()
	for _, n := range todo {
		size, exists, err := m.r.repoSize(ctx, n)
		if err != nil {
			continue
		}
		m.mu.Lock()
		delete(m.dirty, n)
		if exists {
			m.sizes[n] = size
		} else {
			delete(m.sizes, n)
		}
		m.mu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for n, size := range m.sizes {
		ch <- prometheus.MustNewConstMetric(m.storage, prometheus.GaugeValue, float64(size), n)
	}
}

// repoSize sums the sizes of the distinct blobs and manifests a
// repository links; exists is false for a repository with neither.
func (r *Registry) repoSize(ctx context.Context, name string) (int64, bool, error) {
	named, err := reference.WithName(name)
	if err != nil {
		return 0, false, err
	}
	repo, err := r.ns.Repository(ctx, named)
	if err != nil {
		return 0, false, err
	}
	seen := map[digest.Digest]bool{}
	add := func(d digest.Digest) error {
		seen[d] = true
		return nil
	}
	var nf storagedriver.PathNotFoundError
	if be, ok := repo.Blobs(ctx).(distribution.BlobEnumerator); ok {
		if err := be.Enumerate(ctx, add); err != nil && !errors.As(err, &nf) {
			return 0, false, err
		}
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return 0, false, err
	}
	if me, ok := ms.(distribution.ManifestEnumerator); ok {
		if err := me.Enumerate(ctx, add); err != nil && !errors.As(err, &nf) {
			return 0, false, err
		}
	}
	if len(seen) == 0 {
		return 0, false, nil
	}
	var total int64
	st := r.ns.BlobStatter()
	for d := range seen {
		desc, err := st.Stat(ctx, d)
		if err != nil {
			// A link to a collected blob.
			continue
		}
		total += desc.Size
	}
	return total, true, nil
}
