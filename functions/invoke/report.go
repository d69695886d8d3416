package invoke

import (
	"math"
	"strconv"
	"time"
)

// appendEndReport appends an invocation's END and REPORT lines (the
// latter with Init Duration when init > 0) as Lambda writes them, without
// a trailing newline.
func appendEndReport(b []byte, reqID string, dur time.Duration, memoryMB int, maxMem uint64, init time.Duration) []byte {
	ms := func(b []byte, d time.Duration) []byte {
		return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 2, 64)
	}
	b = append(b, "END RequestId: "...)
	b = append(b, reqID...)
	b = append(b, "\nREPORT RequestId: "...)
	b = append(b, reqID...)
	b = append(b, "\tDuration: "...)
	b = ms(b, dur)
	b = append(b, " ms\tBilled Duration: "...)
	b = strconv.AppendInt(b, int64(math.Ceil(float64(dur.Microseconds())/1000)), 10)
	b = append(b, " ms\tMemory Size: "...)
	b = strconv.AppendInt(b, int64(memoryMB), 10)
	b = append(b, " MB\tMax Memory Used: "...)
	b = strconv.AppendUint(b, maxMem/(1024*1024), 10)
	b = append(b, " MB"...)
	if init > 0 {
		b = append(b, "\tInit Duration: "...)
		b = ms(b, init)
		b = append(b, " ms"...)
	}
	return b
}
