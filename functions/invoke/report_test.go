package invoke

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// appendEndReport writes exactly what Lambda's format (as a Sprintf)
// gives.
func TestAppendEndReport(t *testing.T) {
	for _, tc := range []struct {
		dur, init time.Duration
		mem       uint64
	}{
		{1234567 * time.Nanosecond, 0, 17 << 20},
		{0, 0, 0},
		{2*time.Second + 5*time.Microsecond, 81*time.Millisecond + 999*time.Microsecond, 127<<20 + 5},
		{999 * time.Microsecond, time.Microsecond, 1 << 30},
	} {
		want := fmt.Sprintf("END RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB",
			"req", "req", float64(tc.dur.Microseconds())/1000, int64(math.Ceil(float64(tc.dur.Microseconds())/1000)), 128, tc.mem/(1024*1024))
		if tc.init > 0 {
			want += fmt.Sprintf("\tInit Duration: %.2f ms", float64(tc.init.Microseconds())/1000)
		}
		if got := string(appendEndReport(nil, "req", tc.dur, 128, tc.mem, tc.init)); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
}
