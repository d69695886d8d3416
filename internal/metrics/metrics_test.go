package metrics

import (
	"net/http/httptest"
	"runtime"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape serves reg's /metrics and parses the answer as a Prometheus
// server would.
func scrape(t *testing.T, h *httptest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := h.Client().Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return fams
}

// TestRuntimeSeriesKept checks that every runtime series the daemon served
// before it used client_golang is still served, with the same type.
func TestRuntimeSeriesKept(t *testing.T) {
	reg := NewRegistry()
	reg.MustRegister(NewGoCollector(), NewProcessCollector())
	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	runtime.GC()
	fams := scrape(t, srv)
	for name, typ := range map[string]dto.MetricType{
		"go_goroutines":                    dto.MetricType_GAUGE,
		"go_threads":                       dto.MetricType_GAUGE,
		"go_info":                          dto.MetricType_GAUGE,
		"go_memstats_alloc_bytes":          dto.MetricType_GAUGE,
		"go_memstats_alloc_bytes_total":    dto.MetricType_COUNTER,
		"go_memstats_sys_bytes":            dto.MetricType_GAUGE,
		"go_memstats_mallocs_total":        dto.MetricType_COUNTER,
		"go_memstats_frees_total":          dto.MetricType_COUNTER,
		"go_memstats_heap_alloc_bytes":     dto.MetricType_GAUGE,
		"go_memstats_heap_sys_bytes":       dto.MetricType_GAUGE,
		"go_memstats_heap_idle_bytes":      dto.MetricType_GAUGE,
		"go_memstats_heap_inuse_bytes":     dto.MetricType_GAUGE,
		"go_memstats_heap_released_bytes":  dto.MetricType_GAUGE,
		"go_memstats_heap_objects":         dto.MetricType_GAUGE,
		"go_memstats_stack_inuse_bytes":    dto.MetricType_GAUGE,
		"go_memstats_stack_sys_bytes":      dto.MetricType_GAUGE,
		"go_memstats_next_gc_bytes":        dto.MetricType_GAUGE,
		"go_memstats_last_gc_time_seconds": dto.MetricType_GAUGE,
		"go_gc_cycles_total":               dto.MetricType_COUNTER,
		"process_cpu_seconds_total":        dto.MetricType_COUNTER,
		"process_resident_memory_bytes":    dto.MetricType_GAUGE,
		"process_virtual_memory_bytes":     dto.MetricType_GAUGE,
		"process_open_fds":                 dto.MetricType_GAUGE,
		"process_max_fds":                  dto.MetricType_GAUGE,
		"process_start_time_seconds":       dto.MetricType_GAUGE,
	} {
		f, ok := fams[name]
		if !ok {
			t.Errorf("%s is not served", name)
			continue
		}
		if f.GetType() != typ || len(f.GetMetric()) == 0 {
			t.Errorf("%s: type %v with %d series, want %v", name, f.GetType(), len(f.GetMetric()), typ)
		}
	}
	if t.Failed() {
		return
	}
	if v := fams["go_gc_cycles_total"].GetMetric()[0].GetCounter().GetValue(); v < 1 {
		t.Errorf("go_gc_cycles_total = %v after a GC", v)
	}
	if l := fams["go_info"].GetMetric()[0].GetLabel(); len(l) != 1 || l[0].GetName() != "version" || l[0].GetValue() != runtime.Version() {
		t.Errorf("go_info labels %v", l)
	}
}
