package console

import (
	"context"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Series the console charts, sampled from the daemon's own Prometheus
// registry (the metrics /metrics serves), named kind/measure/object:
//
//	ctr/<container name>/cpu  CPU in cores (rate of container_cpu_usage_seconds_total)
//	ctr/<container name>/mem  working set bytes (container_memory_working_set_bytes)
//	fn/<function>/inv         invocations during the sample's interval
//	fn/<function>/err         function errors during the interval
//	fn/<function>/thr         throttles during the interval
//	fn/<function>/conc        concurrent executions at the sample
//	fn/<function>/p50         median duration (ms) of the interval's invocations
//	fn/<function>/p99         99th percentile duration (ms) of the interval's invocations
//
// Names of containers and functions hold no "/", so "fn/NAME/" is the
// prefix of one function's series.
//
// Percentiles are interpolated within the histogram's buckets of the
// interval, as PromQL's histogram_quantile does; an interval without
// invocations has none (null on the chart).
const (
	famCPU         = "container_cpu_usage_seconds_total"
	famMem         = "container_memory_working_set_bytes"
	famInvocations = "wharf_function_invocations_total"
	famErrors      = "wharf_function_errors_total"
	famThrottles   = "wharf_function_throttles_total"
	famConcurrent  = "wharf_function_concurrent_executions"
	famDuration    = "wharf_function_duration_seconds"
)

// Sampler reads the daemon's metrics every interval into a Ring, while
// active says someone uses the console: a daemon nobody watches through
// it pays nothing for its charts (gathering reads every container's
// cgroup files).
type Sampler struct {
	g      prometheus.Gatherer
	active func() bool
	mu     sync.Mutex // serialises samples (Run and Wake)
	// paused is set once the sampler idled: the counters' totals then
	// hold what happened unwatched, not one interval's increase.
	paused   bool
	ring     *Ring
	interval time.Duration
	log      *slog.Logger
	state    sampleState
}

// sampleState is what the previous sample left for the next: the
// cumulative values that rates and increases are computed from.
type sampleState struct {
	at       time.Time
	counters map[string]float64
	hists    map[string]histogram
}

type histogram struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []float64 // cumulative counts per bound
}

// NewSampler returns a sampler of g into ring; active nil means always.
func NewSampler(g prometheus.Gatherer, ring *Ring, interval time.Duration, active func() bool, log *slog.Logger) *Sampler {
	return &Sampler{g: g, ring: ring, interval: interval, active: active, log: log}
}

// Run samples until ctx ends, the first time at once. While inactive it
// takes no sample and forgets the last one, so that the first sample
// after a pause computes no rate over the pause.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if s.active == nil || s.active() {
			s.Sample(time.Now())
		} else {
			s.mu.Lock()
			s.state, s.paused = sampleState{}, true
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Wake takes a sample at once if the sampler was idle, so that what
// happens after a sign-in is counted from the sign-in on.
func (s *Sampler) Wake() {
	s.mu.Lock()
	idle := s.state.at.IsZero()
	s.mu.Unlock()
	if idle {
		s.Sample(time.Now())
	}
}

// Sample takes one sample at now.
func (s *Sampler) Sample(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fams, err := s.g.Gather()
	if err != nil && len(fams) == 0 {
		s.log.Debug("console sampler: gathering metrics", "err", err)
		return
	}
	vals, next := sampleFamilies(fams, s.state, now)
	if s.paused && s.state.at.IsZero() {
		// The first sample after a pause is the baseline of the next:
		// only the gauges among its values mean anything at now.
		for k := range vals {
			if !strings.HasSuffix(k, "/mem") && !strings.HasSuffix(k, "/conc") {
				delete(vals, k)
			}
		}
	}
	s.state = next
	s.ring.Add(now, vals)
}

// sampleFamilies turns one gathering into the series' values at now,
// given the previous sample's state; it returns the next state. It is
// pure.
func sampleFamilies(fams []*dto.MetricFamily, prev sampleState, now time.Time) (map[string]float64, sampleState) {
	next := sampleState{at: now, counters: map[string]float64{}, hists: map[string]histogram{}}
	vals := map[string]float64{}
	dt := now.Sub(prev.at).Seconds()
	// increase is a counter's growth since the previous sample; a series
	// seen for the first time counts from zero when fromZero (function
	// counters start with the daemon, as the sampler does).
	increase := func(key string, v float64, fromZero bool) (float64, bool) {
		next.counters[key] = v
		old, ok := prev.counters[key]
		switch {
		case ok && v >= old:
			return v - old, true
		case ok: // reset
			return v, true
		case fromZero:
			return v, true
		}
		return 0, false
	}
	for _, f := range fams {
		name := f.GetName()
		switch name {
		case famCPU, famMem, famInvocations, famErrors, famThrottles, famConcurrent, famDuration:
		default:
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch name {
			case famCPU:
				if labels["cpu"] != "total" && labels["cpu"] != "" {
					continue
				}
				ctr := labels["name"]
				if d, ok := increase("cpu/"+ctr, m.GetCounter().GetValue(), false); ok && prev.counters != nil && dt > 0 {
					vals["ctr/"+ctr+"/cpu"] = d / dt
				}
			case famMem:
				vals["ctr/"+labels["name"]+"/mem"] = m.GetGauge().GetValue()
			case famInvocations, famErrors, famThrottles:
				fn := labels["function"]
				kind := map[string]string{famInvocations: "inv", famErrors: "err", famThrottles: "thr"}[name]
				if d, ok := increase(kind+"/"+fn, m.GetCounter().GetValue(), true); ok {
					vals["fn/"+fn+"/"+kind] = d
				}
			case famConcurrent:
				vals["fn/"+labels["function"]+"/conc"] = m.GetGauge().GetValue()
			case famDuration:
				fn := labels["function"]
				h := toHistogram(m.GetHistogram())
				next.hists[fn] = h
				d := h.minus(prev.hists[fn])
				if d.total() > 0 {
					vals["fn/"+fn+"/p50"] = d.quantile(0.5) * 1000
					vals["fn/"+fn+"/p99"] = d.quantile(0.99) * 1000
				}
			}
		}
	}
	return vals, next
}

func toHistogram(h *dto.Histogram) histogram {
	out := histogram{}
	for _, b := range h.GetBucket() {
		out.bounds = append(out.bounds, b.GetUpperBound())
		out.counts = append(out.counts, float64(b.GetCumulativeCount()))
	}
	if len(out.bounds) == 0 || !math.IsInf(out.bounds[len(out.bounds)-1], 1) {
		out.bounds = append(out.bounds, math.Inf(1))
		out.counts = append(out.counts, float64(h.GetSampleCount()))
	}
	return out
}

// minus is h's observations since old (old of other bounds, or a reset:
// h itself).
func (h histogram) minus(old histogram) histogram {
	if len(old.counts) != len(h.counts) {
		return h
	}
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	for i := range h.counts {
		out.counts[i] = h.counts[i] - old.counts[i]
		if out.counts[i] < 0 {
			return h
		}
	}
	return out
}

func (h histogram) total() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// quantile interpolates the q-quantile linearly within its bucket, as
// PromQL's histogram_quantile: the lowest bucket starts at 0, and a
// quantile in the +Inf bucket is the highest finite bound.
func (h histogram) quantile(q float64) float64 {
	total := h.total()
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(len(h.counts), func(i int) bool { return h.counts[i] >= rank })
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	if math.IsInf(h.bounds[i], 1) {
		if i == 0 {
			return math.NaN()
		}
		return h.bounds[i-1]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.bounds[i-1], h.counts[i-1]
	}
	in := h.counts[i] - below
	if in <= 0 {
		return h.bounds[i]
	}
	return lo + (h.bounds[i]-lo)*(rank-below)/in
}
