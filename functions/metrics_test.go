package functions

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/metrics"
)

// TestPrometheusSeries runs invocations and reads the series the daemon
// serves on /metrics.
func TestPrometheusSeries(t *testing.T) {
	reg := metrics.NewRegistry()
	e := newEngine(t, WithRegisterer(reg))
	create(t, e, "hello", nil)
	invokeJSON(t, e, "hello", "", `{"key1":"v1"}`)
	invokeJSON(t, e, "hello", "", `{"key1":"v2"}`)

	var b bytes.Buffer
	if err := reg.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"# TYPE wharf_function_invocations_total counter\n",
		`wharf_function_invocations_total{function="hello"} 2` + "\n",
		`wharf_function_cold_starts_total{function="hello"} 1` + "\n",
		`wharf_function_concurrent_executions{function="hello"} 0` + "\n",
		"# TYPE wharf_function_duration_seconds histogram\n",
		`wharf_function_duration_seconds_bucket{function="hello",le="0.0005"} `,
		`wharf_function_duration_seconds_bucket{function="hello",le="900"} 2` + "\n",
		`wharf_function_duration_seconds_bucket{function="hello",le="+Inf"} 2` + "\n",
		`wharf_function_duration_seconds_count{function="hello"} 2` + "\n",
		"# TYPE wharf_function_errors_total counter\n",
		"# TYPE wharf_function_throttles_total counter\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
}
