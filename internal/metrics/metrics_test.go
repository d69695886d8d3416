package metrics

import (
	"bytes"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func render(t *testing.T, r *Registry) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestExpositionGolden(t *testing.T) {
	r := NewRegistry()
	c := NewCounterVec(Opts{Namespace: "wharf", Subsystem: "function", Name: "invocations_total", Help: "Invocations, by function."}, []string{"function"})
	g := NewGaugeVec(Opts{Namespace: "wharf", Name: "concurrent", Help: "Back\\slash and\nnewline in help."}, []string{"function", "version"})
	h := NewHistogramVec(HistogramOpts{Name: "duration_seconds", Help: "Durations.", Buckets: []float64{1, 0.5, 2.5}}, []string{"function"})
	r.MustRegister(c, g, h)

	c.WithLabelValues("b").Inc()
	c.WithLabelValues("a").Add(2.5)
	c.WithLabelValues("we\"ird\\name\nx").Inc()
	g.WithLabelValues("a", "$LATEST").Inc()
	g.WithLabelValues("a", "$LATEST").Inc()
	g.WithLabelValues("a", "$LATEST").Dec()
	g.WithLabelValues("a", "1").Set(-3)
	for _, v := range []float64{0.1, 0.5, 0.7, 2, 100} {
		h.WithLabelValues("a").Observe(v)
	}
	h.WithLabelValues("b") // a series with no observation yet

	want := `# HELP duration_seconds Durations.
# TYPE duration_seconds histogram
duration_seconds_bucket{function="a",le="0.5"} 2
duration_seconds_bucket{function="a",le="1"} 3
duration_seconds_bucket{function="a",le="2.5"} 4
duration_seconds_bucket{function="a",le="+Inf"} 5
duration_seconds_sum{function="a"} 103.3
duration_seconds_count{function="a"} 5
duration_seconds_bucket{function="b",le="0.5"} 0
duration_seconds_bucket{function="b",le="1"} 0
duration_seconds_bucket{function="b",le="2.5"} 0
duration_seconds_bucket{function="b",le="+Inf"} 0
duration_seconds_sum{function="b"} 0
duration_seconds_count{function="b"} 0
# HELP wharf_concurrent Back\\slash and\nnewline in help.
# TYPE wharf_concurrent gauge
wharf_concurrent{function="a",version="$LATEST"} 1
wharf_concurrent{function="a",version="1"} -3
# HELP wharf_function_invocations_total Invocations, by function.
# TYPE wharf_function_invocations_total counter
wharf_function_invocations_total{function="a"} 2.5
wharf_function_invocations_total{function="b"} 1
wharf_function_invocations_total{function="we\"ird\\name\nx"} 1
`
	if got := render(t, r); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	// An empty family still has its HELP and TYPE lines.
	r.MustRegister(NewCounterVec(Opts{Name: "x_total", Help: "x"}, []string{"l"}))
	if got := render(t, r); got != "# HELP x_total x\n# TYPE x_total counter\n" {
		t.Fatalf("empty family: %q", got)
	}
	if err := r.Register(NewGaugeVec(Opts{Name: "x_total"}, nil)); err == nil {
		t.Fatal("duplicate name registered")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("wrong label count did not panic")
			}
		}()
		NewCounterVec(Opts{Name: "y"}, []string{"a", "b"}).WithLabelValues("only-one")
	}()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("negative counter Add did not panic")
			}
		}()
		new(Counter).Add(-1)
	}()

	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Header().Get("Content-Type") != ContentType || !strings.Contains(rec.Body.String(), "# TYPE x_total counter") {
		t.Fatalf("handler: %v %q", rec.Header(), rec.Body.String())
	}
}

func TestConcurrentUpdates(t *testing.T) {
	c := NewCounterVec(Opts{Name: "c"}, []string{"f"})
	h := NewHistogramVec(HistogramOpts{Name: "h", Buckets: []float64{1}}, []string{"f"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.WithLabelValues("f").Inc()
				h.WithLabelValues("f").Observe(0.5)
			}
		}()
	}
	wg.Wait()
	if v := c.WithLabelValues("f").Value(); v != 8000 {
		t.Fatalf("counter = %v", v)
	}
	hh := h.WithLabelValues("f")
	if hh.count.Load() != 8000 || hh.counts[0].Load() != 8000 || hh.sum.get() != 4000 {
		t.Fatalf("histogram count %d bucket %d sum %v", hh.count.Load(), hh.counts[0].Load(), hh.sum.get())
	}
}

// sample finds the value of an unlabelled sample in an exposition.
func sample(t *testing.T, text, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in:\n%s", name, text)
	return 0
}

func TestGoAndProcessCollectors(t *testing.T) {
	r := NewRegistry()
	r.MustRegister(NewGoCollector(), NewProcessCollector())
	text := render(t, r)
	if g := sample(t, text, "go_goroutines"); g < 1 {
		t.Errorf("go_goroutines %v", g)
	}
	if a := sample(t, text, "go_memstats_alloc_bytes"); a <= 0 {
		t.Errorf("go_memstats_alloc_bytes %v", a)
	}
	if a := sample(t, text, "go_memstats_heap_alloc_bytes"); a <= 0 {
		t.Errorf("go_memstats_heap_alloc_bytes %v", a)
	}
	if rss := sample(t, text, "process_resident_memory_bytes"); rss < 1<<20 || rss > 1<<34 {
		t.Errorf("process_resident_memory_bytes %v", rss)
	}
	if cpu := sample(t, text, "process_cpu_seconds_total"); cpu <= 0 {
		t.Errorf("process_cpu_seconds_total %v", cpu)
	}
	// Open one more file: the count follows.
	before := sample(t, text, "process_open_fds")
	f, err := os.Open("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if after := sample(t, render(t, r), "process_open_fds"); after != before+1 {
		t.Errorf("process_open_fds %v then %v", before, after)
	}
	if m := sample(t, text, "process_max_fds"); m < before {
		t.Errorf("process_max_fds %v", m)
	}
	// The test binary started within the last few minutes.
	start := sample(t, text, "process_start_time_seconds")
	if now := float64(time.Now().Unix()); start > now+1 || start < now-600 {
		t.Errorf("process_start_time_seconds %v, now %v", start, now)
	}
	if !strings.Contains(text, "# TYPE process_cpu_seconds_total counter\n") || !strings.Contains(text, `go_info{version="go`) {
		t.Errorf("types or go_info missing:\n%s", text)
	}
}
