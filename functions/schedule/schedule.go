// Package schedule parses the schedule expressions of EventBridge (the
// ones `wharf fn schedule add` takes) and computes their firing times:
//
//	rate(1 minute)  rate(5 minutes)  rate(1 hour)  rate(12 hours)  rate(1 day)  rate(7 days)
//	rate(10 seconds)   (a wharf extension)
//	cron(Minutes Hours Day-of-month Month Day-of-week Year)
//
// cron fields follow AWS's six-field syntax: `,` lists, `-` ranges, `*`
// all, `/` increments, `?` (any, in exactly one of day-of-month and
// day-of-week), `L` (last day of the month; `5L` the last Thursday), `W`
// (nearest weekday: `15W`, `LW`), `#` (nth weekday: `3#2`). Day-of-week runs
// 1-7 from SUN, or SUN-SAT; months 1-12 or JAN-DEC; years 1970-2199. All
// times are UTC, as EventBridge's.
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed expression.
type Schedule interface {
	// Next returns the first firing time strictly after t, or the zero
	// time if there is none (a cron whose years are past).
	Next(t time.Time) time.Time
	// String returns the expression.
	String() string
}

// ErrInvalid classes every parse error.
var ErrInvalid = errors.New("invalid schedule expression")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Parse parses a rate(...) or cron(...) expression.
func Parse(expr string) (Schedule, error) {
	e := strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(e, "rate(") && strings.HasSuffix(e, ")"):
		return parseRate(e, e[5:len(e)-1])
	case strings.HasPrefix(e, "cron(") && strings.HasSuffix(e, ")"):
		return parseCron(e, e[5:len(e)-1])
	}
	return nil, invalid("%q: want rate(value unit) or cron(fields)", expr)
}

type rate struct {
	expr  string
	every time.Duration
}

func parseRate(expr, body string) (Schedule, error) {
	f := strings.Fields(body)
	if len(f) != 2 {
		return nil, invalid("%q: rate takes a value and a unit", expr)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 0 || n > 1_000_000 {
		return nil, invalid("%q: the value must be a positive whole number", expr)
	}
	// "second" is a wharf extension (EventBridge's finest rate is a
	// minute): it lets tests and tight loops use short rates.
	units := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	unit := f[1]
	singular := strings.TrimSuffix(unit, "s")
	d, ok := units[singular]
	if !ok {
		return nil, invalid("%q: the unit must be minute(s), hour(s) or day(s) (or second(s), a wharf extension)", expr)
	}
	// AWS insists on the singular for 1 and the plural otherwise.
	if (n == 1) != (unit == singular) {
		return nil, invalid("%q: use %q for 1 and %q otherwise", expr, singular, singular+"s")
	}
	return &rate{expr: expr, every: time.Duration(n) * d}, nil
}

func (r *rate) Next(t time.Time) time.Time {
	// Rates fire on multiples of their period counted from the epoch, so
	// that a schedule's firings do not drift with daemon restarts.
	t = t.UTC()
	step := int64(r.every / time.Second)
	sec := t.Unix()
	next := (sec/step + 1) * step
	return time.Unix(next, 0).UTC()
}

func (r *rate) String() string { return r.expr }

// Every returns a rate's period (zero for a cron).
func Every(s Schedule) time.Duration {
	if r, ok := s.(*rate); ok {
		return r.every
	}
	return 0
}
