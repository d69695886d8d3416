// Package metrics is the small part of a Prometheus client that wharf
// uses: counter, gauge and histogram vectors with labels, a registry, and
// its exposition in the text format 0.0.4 on /metrics, plus the go_* and
// process_* series of the running process (collectors.go).
//
// It replaces github.com/prometheus/client_golang, whose package inits
// (with procfs, client_model, common and protobuf's descriptors) cost
// ~0.2 MB and ~1 ms in every wharf process — CLI calls and container
// shims included — for a feature only the daemon serves. Nothing here
// allocates before it is used.
//
// The exposition follows
// https://prometheus.io/docs/instrumenting/exposition_formats/: one
// "# HELP" and one "# TYPE" line per family, families sorted by name,
// series sorted by label values, label values escaped (\\, \", \n),
// histogram buckets cumulative with a final le="+Inf" bucket equal to
// _count, then _sum and _count.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Collector is a metric family, or a set of them, that writes itself in
// the text format at scrape time.
type Collector interface {
	// names are the family names the collector writes (for duplicate
	// checks at registration).
	names() []string
	// write appends the families' text exposition to w.
	write(w *bufio.Writer)
}

// Registry holds collectors and renders them. The zero value is not
// usable: call NewRegistry.
type Registry struct {
	mu         sync.Mutex
	collectors map[string]Collector // by family name
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{collectors: map[string]Collector{}} }

// Register adds collectors; a family name registered twice is an error
// and nothing of that collector is added.
func (r *Registry) Register(c Collector) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range c.names() {
		if _, dup := r.collectors[n]; dup {
			return fmt.Errorf("metrics: %s registered twice", n)
		}
	}
	for _, n := range c.names() {
		r.collectors[n] = c
	}
	return nil
}

// MustRegister registers collectors and panics on a duplicate name, a
// programming error.
func (r *Registry) MustRegister(cs ...Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// WriteText writes every registered family in the text format 0.0.4.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.collectors))
	for n := range r.collectors {
		names = append(names, n)
	}
	sort.Strings(names)
	// A collector of several families is written once, where its first
	// name falls.
	var order []Collector
	seen := map[Collector]bool{}
	for _, n := range names {
		c := r.collectors[n]
		if !seen[c] {
			seen[c] = true
			order = append(order, c)
		}
	}
	r.mu.Unlock()
	bw := bufio.NewWriter(w)
	for _, c := range order {
		c.write(bw)
	}
	return bw.Flush()
}

// ContentType is the media type of the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the registry's exposition.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		_ = r.WriteText(w)
	})
}

// Opts name and describe a family: the name is
// Namespace_Subsystem_Name, parts left out when empty.
type Opts struct {
	Namespace, Subsystem, Name string
	Help                       string
}

func (o Opts) fullName() string {
	var parts []string
	for _, p := range []string{o.Namespace, o.Subsystem, o.Name} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "_")
}

// HistogramOpts are Opts with the histogram's bucket upper bounds
// (sorted, +Inf implied).
type HistogramOpts struct {
	Namespace, Subsystem, Name string
	Help                       string
	Buckets                    []float64
}

// DefBuckets are Prometheus' default buckets.
func DefBuckets() []float64 { return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10} }

// value is a float64 updated atomically.
type value struct{ bits atomic.Uint64 }

func (v *value) add(d float64) {
	for {
		old := v.bits.Load()
		if v.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

func (v *value) set(f float64) { v.bits.Store(math.Float64bits(f)) }
func (v *value) get() float64  { return math.Float64frombits(v.bits.Load()) }

// Counter only goes up.
type Counter struct{ v value }

// Inc adds 1.
func (c *Counter) Inc() { c.v.add(1) }

// Add adds d, which must not be negative.
func (c *Counter) Add(d float64) {
	if d < 0 {
		panic("metrics: counter cannot decrease")
	}
	c.v.add(d)
}

// Value is the current count.
func (c *Counter) Value() float64 { return c.v.get() }

// Gauge goes up and down.
type Gauge struct{ v value }

// Set sets the gauge.
func (g *Gauge) Set(f float64) { g.v.set(f) }

// Inc adds 1.
func (g *Gauge) Inc() { g.v.add(1) }

// Dec subtracts 1.
func (g *Gauge) Dec() { g.v.add(-1) }

// Add adds d.
func (g *Gauge) Add(d float64) { g.v.add(d) }

// Sub subtracts d.
func (g *Gauge) Sub(d float64) { g.v.add(-d) }

// Value is the current value.
func (g *Gauge) Value() float64 { return g.v.get() }

// Histogram counts observations into buckets.
type Histogram struct {
	upper  []float64 // shared with the vector
	counts []atomic.Uint64
	count  atomic.Uint64
	sum    value
}

// Observe records one value.
func (h *Histogram) Observe(f float64) {
	if i, _ := slices.BinarySearch(h.upper, f); i < len(h.upper) {
		h.counts[i].Add(1)
	}
	h.sum.add(f)
	h.count.Add(1)
}

// vec is the label handling all vectors share: one child per distinct
// tuple of label values.
type vec[T any] struct {
	opts   Opts
	typ    string
	labels []string
	newT   func() *T
	mu     sync.RWMutex
	kids   map[string]*child[T]
}

type child[T any] struct {
	values []string
	m      *T
}

func newVec[T any](o Opts, typ string, labels []string, newT func() *T) *vec[T] {
	return &vec[T]{opts: o, typ: typ, labels: slices.Clone(labels), newT: newT, kids: map[string]*child[T]{}}
}

// with returns the child of the label values, creating it. A wrong number
// of values is a programming error and panics, as in client_golang.
func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", v.opts.fullName(), len(v.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	v.mu.RLock()
	c, ok := v.kids[key]
	v.mu.RUnlock()
	if ok {
		return c.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.kids[key]; ok {
		return c.m
	}
	c = &child[T]{values: slices.Clone(values), m: v.newT()}
	v.kids[key] = c
	return c.m
}

// Delete removes the series of the label values; it reports whether there
// was one.
func (v *vec[T]) Delete(values ...string) bool {
	key := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.kids[key]
	delete(v.kids, key)
	return ok
}

func (v *vec[T]) names() []string { return []string{v.opts.fullName()} }

// sorted is the children in label-value order.
func (v *vec[T]) sorted() []*child[T] {
	v.mu.RLock()
	out := make([]*child[T], 0, len(v.kids))
	for _, c := range v.kids {
		out = append(out, c)
	}
	v.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].values, out[j].values) < 0 })
	return out
}

func (v *vec[T]) header(w *bufio.Writer) string {
	name := v.opts.fullName()
	writeHeader(w, name, v.opts.Help, v.typ)
	return name
}

// CounterVec is a counter per tuple of label values.
type CounterVec struct{ *vec[Counter] }

// NewCounterVec returns a counter family with the label names given.
func NewCounterVec(o Opts, labels []string) *CounterVec {
	return &CounterVec{newVec(o, "counter", labels, func() *Counter { return new(Counter) })}
}

// WithLabelValues is the counter of the label values.
func (v *CounterVec) WithLabelValues(values ...string) *Counter { return v.with(values) }

func (v *CounterVec) write(w *bufio.Writer) {
	name := v.header(w)
	for _, c := range v.sorted() {
		writeSample(w, name, v.labels, c.values, "", "", c.m.Value())
	}
}

// GaugeVec is a gauge per tuple of label values.
type GaugeVec struct{ *vec[Gauge] }

// NewGaugeVec returns a gauge family with the label names given.
func NewGaugeVec(o Opts, labels []string) *GaugeVec {
	return &GaugeVec{newVec(o, "gauge", labels, func() *Gauge { return new(Gauge) })}
}

// WithLabelValues is the gauge of the label values.
func (v *GaugeVec) WithLabelValues(values ...string) *Gauge { return v.with(values) }

func (v *GaugeVec) write(w *bufio.Writer) {
	name := v.header(w)
	for _, c := range v.sorted() {
		writeSample(w, name, v.labels, c.values, "", "", c.m.Value())
	}
}

// HistogramVec is a histogram per tuple of label values.
type HistogramVec struct {
	*vec[Histogram]
	upper []float64
}

// NewHistogramVec returns a histogram family with the label names given
// (DefBuckets when o.Buckets is empty).
func NewHistogramVec(o HistogramOpts, labels []string) *HistogramVec {
	upper := slices.Clone(o.Buckets)
	if len(upper) == 0 {
		upper = DefBuckets()
	}
	sort.Float64s(upper)
	if math.IsInf(upper[len(upper)-1], 1) {
		upper = upper[:len(upper)-1] // +Inf is always there
	}
	h := &HistogramVec{upper: upper}
	h.vec = newVec(Opts{Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help}, "histogram", labels, func() *Histogram {
		return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper))}
	})
	return h
}

// WithLabelValues is the histogram of the label values.
func (v *HistogramVec) WithLabelValues(values ...string) *Histogram { return v.with(values) }

func (v *HistogramVec) write(w *bufio.Writer) {
	name := v.header(w)
	for _, c := range v.sorted() {
		h := c.m
		// Read the count first: buckets observed after it may make the
		// cumulative counts exceed it by a little, never fall short.
		count := h.count.Load()
		var cum uint64
		for i, le := range v.upper {
			cum += h.counts[i].Load()
			writeSample(w, name+"_bucket", v.labels, c.values, "le", formatFloat(le), float64(cum))
		}
		writeSample(w, name+"_bucket", v.labels, c.values, "le", "+Inf", float64(max(count, cum)))
		writeSample(w, name+"_sum", v.labels, c.values, "", "", h.sum.get())
		writeSample(w, name+"_count", v.labels, c.values, "", "", float64(max(count, cum)))
	}
}

// writeHeader writes the HELP and TYPE lines of a family.
func writeHeader(w *bufio.Writer, name, help, typ string) {
	w.WriteString("# HELP ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(escape(help, false))
	w.WriteString("\n# TYPE ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(typ)
	w.WriteByte('\n')
}

// writeSample writes one line: name{labels} value. extraName/extraValue
// is one more label (a histogram's le) when extraName is not empty.
func writeSample(w *bufio.Writer, name string, labels, values []string, extraName, extraValue string, v float64) {
	w.WriteString(name)
	if len(labels) > 0 || extraName != "" {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(l)
			w.WriteString(`="`)
			w.WriteString(escape(values[i], true))
			w.WriteByte('"')
		}
		if extraName != "" {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(extraName)
			w.WriteString(`="`)
			w.WriteString(extraValue)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

// escape escapes a HELP text (\\ and \n) or a label value (also \").
func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// formatFloat writes a value as Prometheus does: shortest representation,
// +Inf, -Inf and NaN spelled out.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
