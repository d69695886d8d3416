package lambdaapi

import (
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"

	"github.com/wharf-dev/wharf/functions"
)

// WriteMetrics renders a function's metrics for a person, as `wharf fn
// metrics` prints them: counters, sandboxes, and duration percentiles over
// the recent invocations.
func WriteMetrics(w io.Writer, name string, m *functions.Metrics) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	errRate := 0.0
	if m.Invocations > 0 {
		errRate = 100 * float64(m.Errors) / float64(m.Invocations)
	}
	fmt.Fprintf(tw, "Function:\t%s\n", name)
	fmt.Fprintf(tw, "Invocations:\t%d\n", m.Invocations)
	fmt.Fprintf(tw, "Errors:\t%d (%.1f%%)\n", m.Errors, errRate)
	fmt.Fprintf(tw, "Throttles:\t%d\n", m.Throttles)
	fmt.Fprintf(tw, "Cold starts:\t%d\n", m.ColdStarts)
	fmt.Fprintf(tw, "Concurrent executions:\t%d\n", m.Concurrent)
	fmt.Fprintf(tw, "Sandboxes (warm/total):\t%d/%d\n", m.SandboxesWarm, m.SandboxesTotal)
	fmt.Fprintf(tw, "Async queued/failed:\t%d/%d\n", m.AsyncQueued, m.AsyncFailed)
	if len(m.DurationsMs) > 0 {
		p := Percentiles(m.DurationsMs, 50, 90, 99, 100)
		fmt.Fprintf(tw, "Duration (last %d):\tp50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", len(m.DurationsMs), p[0], p[1], p[2], p[3])
	}
	return tw.Flush()
}

// Percentiles returns the nearest-rank percentiles ps (0–100) of xs.
func Percentiles(xs []float64, ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if len(xs) == 0 {
		return out
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	for i, p := range ps {
		rank := int(math.Ceil(p/100*float64(len(s)))) - 1
		out[i] = s[max(0, min(rank, len(s)-1))]
	}
	return out
}
