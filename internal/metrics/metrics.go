// Package metrics holds the daemon's Prometheus plumbing on the field's
// client (github.com/prometheus/client_golang): a registry of its own, the
// runtime's go_* and process_* collectors, and the /metrics handler. The
// engines register their own families (functions: wharf_function_*).
//
// Only the daemon (cmd/wharfd) links this package: the lean wharf binary —
// CLI, shims, wharf-init — must not pay for client_golang's package
// initialisation (a test in cmd/wharf keeps it out).
//
// The series the daemon served before it used client_golang keep their
// names, labels and types; client_golang adds more of its own. One of
// ours has no client_golang equivalent, go_gc_cycles_total: the Go
// collector here adds it from runtime/metrics.
package metrics

import (
	"net/http"
	"runtime/metrics"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns an empty registry: the daemon's own rather than
// client_golang's global one, which any library it links could fill.
func NewRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// NewGoCollector returns the Go runtime's series: client_golang's, plus
// go_gc_cycles_total.
func NewGoCollector() prometheus.Collector {
	return goCollector{
		Collector: collectors.NewGoCollector(),
		cycles:    prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "go_gc_cycles_total", Help: "Number of completed GC cycles."}, gcCycles),
	}
}

// NewProcessCollector returns the process_* series of this process.
func NewProcessCollector() prometheus.Collector {
	return collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
}

// Handler serves g's metrics in the format the scraper asks for (the text
// format 0.0.4 by default).
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// goCollector is client_golang's Go collector and the GC cycle counter.
type goCollector struct {
	prometheus.Collector
	cycles prometheus.Collector
}

func (c goCollector) Describe(ch chan<- *prometheus.Desc) {
	c.Collector.Describe(ch)
	c.cycles.Describe(ch)
}

func (c goCollector) Collect(ch chan<- prometheus.Metric) {
	c.Collector.Collect(ch)
	c.cycles.Collect(ch)
}

// gcCycles reads the count of completed GC cycles without stopping the
// world (runtime.ReadMemStats would).
func gcCycles() float64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return float64(s[0].Value.Uint64())
}
