package invoke

import (
	"testing"
	"time"
)

// Output the runtime wrote before it answered can reach the daemon after
// the answer; a Tail invocation waits for it even when nothing else was
// written during the invocation (the START line is held, not written).
// This is settle's decision, with a clock of the test's own: it waits for output
// that follows the answer, until the sandbox has been quiet for
// settleQuiet, and never longer than settleMax in all.
func TestSettleWait(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	long := t0.Add(-time.Hour)
	for _, c := range []struct {
		name                string
		now, answered, last time.Time
		want                time.Duration
	}{
		{"just answered, quiet before", ms(0), ms(0), long, settleQuiet},
		{"a line 1ms after the answer", ms(2), ms(0), ms(1), 2 * time.Millisecond},
		{"quiet since the last line", ms(5), ms(0), ms(1), -time.Millisecond},
		{"still writing at the limit", ms(49), ms(0), ms(49), time.Millisecond},
		{"past the limit", ms(51), ms(0), ms(51), 0},
	} {
		if got := settleWait(c.now, t0, c.answered, c.last); got != c.want {
			t.Errorf("%s: wait %v, want %v", c.name, got, c.want)
		}
	}
}
