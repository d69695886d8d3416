package invoke_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/functions/invoke"
)

// TestPrometheusSeries runs invocations and reads the series the daemon
// serves on /metrics, parsed as a Prometheus server parses them.
func TestPrometheusSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, fntest.WithEngineOptions(invoke.WithRegisterer(reg))).Engine
	create(t, e, "hello", nil)
	invokeJSON(t, e, "hello", "", `{"key1":"v1"}`)
	invokeJSON(t, e, "hello", "", `{"key1":"v2"}`)

	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range gathered {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&text)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, text.String())
	}
	value := func(name string, typ dto.MetricType) *dto.Metric {
		t.Helper()
		f := fams[name]
		if f == nil || f.GetType() != typ || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: %v, want one %v series", name, f, typ)
		}
		m := f.GetMetric()[0]
		if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "function" || l[0].GetValue() != "hello" {
			t.Fatalf("%s: labels %v, want function=hello", name, l)
		}
		return m
	}
	for name, want := range map[string]float64{
		"wharf_function_invocations_total": 2,
		"wharf_function_cold_starts_total": 1,
		"wharf_function_errors_total":      0,
		"wharf_function_throttles_total":   0,
	} {
		if got := value(name, dto.MetricType_COUNTER).GetCounter().GetValue(); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := value("wharf_function_concurrent_executions", dto.MetricType_GAUGE).GetGauge().GetValue(); got != 0 {
		t.Errorf("concurrent executions = %v, want 0", got)
	}
	h := value("wharf_function_duration_seconds", dto.MetricType_HISTOGRAM).GetHistogram()
	b := h.GetBucket()
	// The 18 buckets, then the +Inf one the text format carries.
	if h.GetSampleCount() != 2 || len(b) != 19 || b[0].GetUpperBound() != .0005 || b[17].GetUpperBound() != 900 || b[17].GetCumulativeCount() != 2 ||
		!math.IsInf(b[18].GetUpperBound(), 1) || b[18].GetCumulativeCount() != 2 {
		t.Errorf("duration histogram: count %d, buckets %v", h.GetSampleCount(), b)
	}
}
