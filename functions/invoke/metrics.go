package invoke

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// promMetrics are the Prometheus series of the functions engine, labelled
// by function name.
type promMetrics struct {
	invocations *prometheus.CounterVec
	errors      *prometheus.CounterVec
	throttles   *prometheus.CounterVec
	coldStarts  *prometheus.CounterVec
	concurrent  *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
}

func newPromMetrics(reg prometheus.Registerer) *promMetrics {
	m := &promMetrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "wharf", Subsystem: "function", Name: "invocations_total", Help: "Invocations, by function."}, []string{"function"}),
		errors:      prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "wharf", Subsystem: "function", Name: "errors_total", Help: "Invocations that ended in a function error."}, []string{"function"}),
		throttles:   prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "wharf", Subsystem: "function", Name: "throttles_total", Help: "Invocations refused at the function's concurrency."}, []string{"function"}),
		coldStarts:  prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "wharf", Subsystem: "function", Name: "cold_starts_total", Help: "Invocations that started a new sandbox."}, []string{"function"}),
		concurrent:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "wharf", Subsystem: "function", Name: "concurrent_executions", Help: "Invocations running now."}, []string{"function"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "wharf", Subsystem: "function", Name: "duration_seconds", Help: "Invocation duration (the REPORT line's Duration).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}}, []string{"function"}),
	}
	if reg != nil {
		reg.MustRegister(m.invocations, m.errors, m.throttles, m.coldStarts, m.concurrent, m.duration)
	}
	return m
}

// WithRegisterer registers the engine's Prometheus metrics with reg.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(e *Engine) { e.prom = newPromMetrics(reg) }
}

func (m *promMetrics) observe(fn string, d time.Duration, failed bool) {
	m.invocations.WithLabelValues(fn).Inc()
	// An invoked function has its error, throttle and cold start series
	// from then on, at 0 until they count: a scraper sees the families
	// (client_golang writes none without a series) and rate() starts at 0.
	errs := m.errors.WithLabelValues(fn)
	m.throttles.WithLabelValues(fn)
	m.coldStarts.WithLabelValues(fn)
	if failed {
		errs.Inc()
	}
	m.duration.WithLabelValues(fn).Observe(d.Seconds())
}

// counters are a function's metrics.
type counters struct {
	mu          sync.Mutex
	invocations int64
	errors      int64
	throttles   int64
	coldStarts  int64
	concurrent  int64
	durations   []float64 // ring of recent durations in ms
	next        int
}

const durationRing = 1024

func (c *counters) observe(d time.Duration, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invocations++
	if failed {
		c.errors++
	}
	ms := float64(d.Microseconds()) / 1000
	if len(c.durations) < durationRing {
		c.durations = append(c.durations, ms)
	} else {
		c.durations[c.next%durationRing] = ms
	}
	c.next++
}

func (e *Engine) countersFor(name string) *counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.metrics[name]
	if !ok {
		c = &counters{}
		e.metrics[name] = c
	}
	return c
}
