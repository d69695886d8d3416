package console

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestRingWindowOrderAndWrap(t *testing.T) {
	r := NewRing(3, 10)
	t0 := time.UnixMilli(1_000_000)
	for i := 0; i < 5; i++ {
		r.Add(t0.Add(time.Duration(i)*time.Second), map[string]float64{"a/x": float64(i)})
	}
	w := r.Window("a/", 0)
	if len(w.Times) != 3 || w.Times[0] != t0.Add(2*time.Second).UnixMilli() || w.Times[2] != t0.Add(4*time.Second).UnixMilli() {
		t.Fatalf("times %v: want the last 3, oldest first", w.Times)
	}
	if got := w.Series["a/x"]; len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Fatalf("values %v", got)
	}
	if last := r.Window("a/", 1); len(last.Times) != 1 || last.Series["a/x"][0] != 4 {
		t.Fatalf("last sample %+v", last)
	}
	if other := r.Window("b/", 0); len(other.Series) != 0 {
		t.Fatalf("prefix b/ gave %v", other.Series)
	}
}

func TestRingGapsAndDrop(t *testing.T) {
	r := NewRing(3, 10)
	t0 := time.UnixMilli(1_000_000)
	r.Add(t0, map[string]float64{"a": 1, "b": 1})
	r.Add(t0.Add(time.Second), map[string]float64{"a": 2})
	w := r.Window("", 0)
	if !math.IsNaN(float64(w.Series["b"][1])) {
		t.Fatalf("a missing sample is %v, want NaN", w.Series["b"][1])
	}
	r.Add(t0.Add(2*time.Second), map[string]float64{"a": 3})
	r.Add(t0.Add(3*time.Second), map[string]float64{"a": 4})
	if r.Len() != 1 {
		t.Fatalf("a series absent from every slot is kept: %d series", r.Len())
	}
}

func TestRingBound(t *testing.T) {
	r := NewRing(4, 2)
	r.Add(time.UnixMilli(1), map[string]float64{"a": 1, "b": 1, "c": 1})
	if r.Len() != 2 || r.Refused() != 1 {
		t.Fatalf("%d series, %d refused: want the bound kept", r.Len(), r.Refused())
	}
}

func TestRingChanged(t *testing.T) {
	r := NewRing(2, 2)
	ch := r.Changed()
	select {
	case <-ch:
		t.Fatal("changed before any sample")
	default:
	}
	r.Add(time.UnixMilli(1), nil)
	select {
	case <-ch:
	default:
		t.Fatal("Add did not signal")
	}
}

func TestWindowJSON(t *testing.T) {
	w := Window{Times: []int64{1, 2}, Series: map[string][]float32{`fn/a"b/inv`: {1.5, float32(math.NaN())}, "fn/x/p99": {float32(math.Inf(1)), 2}}}
	var out struct {
		Times  []int64
		Series map[string][]*float64
	}
	if err := json.Unmarshal(w.AppendJSON(nil), &out); err != nil {
		t.Fatalf("%s: %v", w.AppendJSON(nil), err)
	}
	if got := out.Series[`fn/a"b/inv`]; *got[0] != 1.5 || got[1] != nil {
		t.Fatalf("series %v", got)
	}
	if got := out.Series["fn/x/p99"]; got[0] != nil || *got[1] != 2 {
		t.Fatalf("series %v", got)
	}
}

// TestSampleFamilies samples a real registry of the metrics the daemon
// keeps: rates, increases and interval percentiles.
func TestSampleFamilies(t *testing.T) {
	reg := prometheus.NewRegistry()
	inv := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_function_invocations_total"}, []string{"function"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_function_errors_total"}, []string{"function"})
	conc := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wharf_function_concurrent_executions"}, []string{"function"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wharf_function_duration_seconds", Buckets: []float64{.01, .1, 1}}, []string{"function"})
	cpu := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "container_cpu_usage_seconds_total"}, []string{"id", "image", "name", "cpu"})
	mem := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "container_memory_working_set_bytes"}, []string{"id", "image", "name"})
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "unrelated_total"})
	reg.MustRegister(inv, errs, conc, dur, cpu, mem, other)

	t0 := time.Unix(1000, 0)
	inv.WithLabelValues("hello").Add(2)
	errs.WithLabelValues("hello")
	dur.WithLabelValues("hello").Observe(0.005)
	dur.WithLabelValues("hello").Observe(0.005)
	cpu.WithLabelValues("/wharf/1", "img", "web", "total").Add(10)
	mem.WithLabelValues("/wharf/1", "img", "web").Set(4096)
	gather := func() []*dto.MetricFamily {
		f, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	vals, st := sampleFamilies(gather(), sampleState{}, t0)
	if vals["fn/hello/inv"] != 2 || vals["fn/hello/err"] != 0 || vals["ctr/web/mem"] != 4096 {
		t.Fatalf("first sample %v", vals)
	}
	if _, ok := vals["ctr/web/cpu"]; ok {
		t.Fatal("a CPU rate from a single sample")
	}
	if p := vals["fn/hello/p50"]; p <= 0 || p > 10 {
		t.Fatalf("p50 %v ms, want within the first bucket (0-10 ms)", p)
	}
	if _, ok := vals["unrelated_total"]; ok {
		t.Fatal("an unrelated family sampled")
	}

	// Five seconds later: 3 more invocations, one slow, an error, two
	// CPU-seconds.
	inv.WithLabelValues("hello").Add(3)
	errs.WithLabelValues("hello").Inc()
	conc.WithLabelValues("hello").Set(2)
	for _, d := range []float64{0.05, 0.05, 0.5} {
		dur.WithLabelValues("hello").Observe(d)
	}
	cpu.WithLabelValues("/wharf/1", "img", "web", "total").Add(2)
	vals, st = sampleFamilies(gather(), st, t0.Add(5*time.Second))
	if vals["fn/hello/inv"] != 3 || vals["fn/hello/err"] != 1 || vals["fn/hello/conc"] != 2 {
		t.Fatalf("second sample %v", vals)
	}
	if c := vals["ctr/web/cpu"]; math.Abs(c-0.4) > 1e-9 {
		t.Fatalf("cpu %v cores, want 0.4 (2 s over 5 s)", c)
	}
	if p := vals["fn/hello/p50"]; p < 10 || p > 100 {
		t.Fatalf("p50 %v ms, want in the 10-100 ms bucket (this interval's observations only)", p)
	}
	if p := vals["fn/hello/p99"]; p < 100 || p > 1000 {
		t.Fatalf("p99 %v ms, want in the 100-1000 ms bucket", p)
	}

	// An interval without invocations has no percentiles, and counts 0.
	vals, _ = sampleFamilies(gather(), st, t0.Add(10*time.Second))
	if _, ok := vals["fn/hello/p50"]; ok || vals["fn/hello/inv"] != 0 {
		t.Fatalf("idle interval %v", vals)
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := histogram{bounds: []float64{1, 2, math.Inf(1)}, counts: []float64{10, 20, 20}}
	if q := h.quantile(0.5); q != 1 {
		t.Fatalf("median %v, want 1", q)
	}
	if q := h.quantile(0.75); q != 1.5 {
		t.Fatalf("p75 %v, want 1.5", q)
	}
	inf := histogram{bounds: []float64{1, math.Inf(1)}, counts: []float64{0, 5}}
	if q := inf.quantile(0.5); q != 1 {
		t.Fatalf("a quantile in +Inf: %v, want the highest finite bound", q)
	}
	if q := (histogram{}).quantile(0.5); !math.IsNaN(q) {
		t.Fatalf("empty: %v", q)
	}
}

// The sampler takes nothing while no session is live; after a pause its
// first sample (Wake, at sign-in) is a baseline that keeps only gauges,
// and what follows is counted from it.
func TestSamplerIdlesWithoutSessions(t *testing.T) {
	reg := prometheus.NewRegistry()
	inv := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_function_invocations_total"}, []string{"function"})
	conc := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wharf_function_concurrent_executions"}, []string{"function"})
	reg.MustRegister(inv, conc)
	inv.WithLabelValues("hello").Add(7)
	conc.WithLabelValues("hello").Set(1)
	var active atomic.Bool
	ring := NewRing(16, 64)
	sm := NewSampler(reg, ring, 10*time.Millisecond, active.Load, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sm.Run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond)
	if n := ring.Len(); n != 0 {
		t.Fatalf("%d samples taken with no session", n)
	}
	cancel()
	<-done
	sm.Wake()
	w := ring.Window("fn/hello/", 16)
	if ring.Len() != 1 {
		t.Fatalf("Wake after a pause: %d samples, want 1", ring.Len())
	}
	b := string(w.AppendJSON(nil))
	if strings.Contains(b, "fn/hello/inv") || !strings.Contains(b, "fn/hello/conc") {
		t.Fatalf("baseline after a pause keeps only gauges: %s", b)
	}
	inv.WithLabelValues("hello").Add(1)
	sm.Sample(time.Now())
	b = string(ring.Window("fn/hello/", 16).AppendJSON(nil))
	if !strings.Contains(b, "fn/hello/inv") {
		t.Fatalf("an invocation after the baseline is not counted: %s", b)
	}
}
