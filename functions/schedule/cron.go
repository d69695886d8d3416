package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cron is a parsed six-field expression. Each plain field is a bit set of
// the values it allows; day fields also carry the special forms.
type cron struct {
	expr              string
	minutes, hours    uint64
	months            uint64
	years             map[int]bool // nil: every year
	domAny, dowAny    bool         // "?"
	dom               uint64       // plain days of the month
	domLast           bool         // L
	domLastWeekday    bool         // LW
	domNearestWeekday []int        // 15W
	dow               uint64       // plain weekdays, bit 0 = Sunday
	dowNth            []nth        // 3#2
	dowLast           []int        // 5L: last Thursday (weekday numbers 0-6)
}

type nth struct{ weekday, n int }

// monthNames and dayNames are the names of the values 1, 2, ... (arrays,
// not maps: a map literal would be built at every wharf process's init).
var (
	monthNames = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	dayNames   = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
)

func parseCron(expr, body string) (Schedule, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, invalid("%q: cron takes six fields (minutes hours day-of-month month day-of-week year)", expr)
	}
	c := &cron{expr: expr}
	var err error
	if c.minutes, err = bits(f[0], 0, 59, nil); err != nil {
		return nil, invalid("%q: minutes: %v", expr, err)
	}
	if c.hours, err = bits(f[1], 0, 23, nil); err != nil {
		return nil, invalid("%q: hours: %v", expr, err)
	}
	if c.months, err = bits(f[3], 1, 12, monthNames); err != nil {
		return nil, invalid("%q: month: %v", expr, err)
	}
	if f[5] != "*" {
		ys, err := bits64Years(f[5])
		if err != nil {
			return nil, invalid("%q: year: %v", expr, err)
		}
		c.years = ys
	}
	c.domAny, c.dowAny = f[2] == "?", f[4] == "?"
	if c.domAny == c.dowAny {
		return nil, invalid("%q: exactly one of day-of-month and day-of-week must be ?", expr)
	}
	if !c.domAny {
		if err := c.parseDom(f[2]); err != nil {
			return nil, invalid("%q: day-of-month: %v", expr, err)
		}
	}
	if !c.dowAny {
		if err := c.parseDow(f[4]); err != nil {
			return nil, invalid("%q: day-of-week: %v", expr, err)
		}
	}
	return c, nil
}

func (c *cron) parseDom(s string) error {
	for _, part := range strings.Split(s, ",") {
		switch {
		case part == "L":
			c.domLast = true
		case part == "LW":
			c.domLastWeekday = true
		case strings.HasSuffix(part, "W"):
			n, err := strconv.Atoi(strings.TrimSuffix(part, "W"))
			if err != nil || n < 1 || n > 31 {
				return errf("bad nearest-weekday %q", part)
			}
			c.domNearestWeekday = append(c.domNearestWeekday, n)
		default:
			b, err := bits(part, 1, 31, nil)
			if err != nil {
				return err
			}
			c.dom |= b
		}
	}
	return nil
}

func (c *cron) parseDow(s string) error {
	for _, part := range strings.Split(s, ",") {
		switch {
		case strings.Contains(part, "#"):
			d, k, _ := strings.Cut(part, "#")
			wd, err := value(d, 1, 7, dayNames)
			n, err2 := strconv.Atoi(k)
			if err != nil || err2 != nil || n < 1 || n > 5 {
				return errf("bad nth weekday %q", part)
			}
			c.dowNth = append(c.dowNth, nth{weekday: wd - 1, n: n})
		case part == "L":
			c.dowLast = append(c.dowLast, 6) // the last day of the week: Saturday
		case strings.HasSuffix(part, "L"):
			wd, err := value(strings.TrimSuffix(part, "L"), 1, 7, dayNames)
			if err != nil {
				return errf("bad last weekday %q", part)
			}
			c.dowLast = append(c.dowLast, wd-1)
		default:
			b, err := bits(part, 1, 7, dayNames)
			if err != nil {
				return err
			}
			c.dow |= b >> 1 // 1..7 -> bits 0..6
		}
	}
	return nil
}

type parseErr string

func (e parseErr) Error() string { return string(e) }

func errf(format string, a ...any) error { return parseErr(fmt.Sprintf(format, a...)) }

// value parses one number or name within [lo, hi].
func value(s string, lo, hi int, names []string) (int, error) {
	for i, name := range names {
		if strings.EqualFold(s, name) {
			return i + 1, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, errf("%q is not in %d-%d", s, lo, hi)
	}
	return n, nil
}

// bits parses a comma list of *, values, ranges and increments into a bit
// set with bit v set for each allowed value v.
func bits(s string, lo, hi int, names []string) (uint64, error) {
	var out uint64
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			return 0, errf("empty list item")
		}
		rng, stepS, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepS)
			if err != nil || n < 1 || n > hi {
				return 0, errf("bad increment %q", part)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = value(a, lo, hi, names); err != nil {
				return 0, err
			}
			if to, err = value(b, lo, hi, names); err != nil {
				return 0, err
			}
			if to < from {
				return 0, errf("range %q runs backwards", rng)
			}
		default:
			v, err := value(rng, lo, hi, names)
			if err != nil {
				return 0, err
			}
			from = v
			if !hasStep {
				to = v
			}
		}
		for v := from; v <= to; v += step {
			out |= 1 << uint(v)
		}
	}
	return out, nil
}

func bits64Years(s string) (map[int]bool, error) {
	out := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		rng, stepS, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepS)
			if err != nil || n < 1 {
				return nil, errf("bad increment %q", part)
			}
			step = n
		}
		from, to := 1970, 2199
		if strings.Contains(rng, "-") {
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = value(a, 1970, 2199, nil); err != nil {
				return nil, err
			}
			if to, err = value(b, 1970, 2199, nil); err != nil {
				return nil, err
			}
		} else if rng != "*" {
			v, err := value(rng, 1970, 2199, nil)
			if err != nil {
				return nil, err
			}
			from = v
			if !hasStep {
				to = v
			}
		}
		if to < from {
			return nil, errf("range %q runs backwards", rng)
		}
		for v := from; v <= to; v += step {
			out[v] = true
		}
	}
	return out, nil
}

func (c *cron) String() string { return c.expr }

// dayMatches reports whether the date d (UTC midnight) is a firing day.
func (c *cron) dayMatches(d time.Time) bool {
	if c.years != nil && !c.years[d.Year()] {
		return false
	}
	if c.months&(1<<uint(d.Month())) == 0 {
		return false
	}
	if !c.domAny {
		return c.domMatches(d)
	}
	return c.dowMatches(d)
}

func lastDay(d time.Time) int {
	return time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// nearestWeekday is the weekday closest to day n of d's month, never
// crossing into another month (AWS's and Quartz's W).
func nearestWeekday(d time.Time, n int) int {
	last := lastDay(d)
	if n > last {
		n = last
	}
	t := time.Date(d.Year(), d.Month(), n, 0, 0, 0, 0, time.UTC)
	switch t.Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

func (c *cron) domMatches(d time.Time) bool {
	day := d.Day()
	if c.dom&(1<<uint(day)) != 0 {
		return true
	}
	last := lastDay(d)
	if c.domLast && day == last {
		return true
	}
	if c.domLastWeekday && day == nearestWeekday(d, last) {
		return true
	}
	for _, n := range c.domNearestWeekday {
		if day == nearestWeekday(d, n) {
			return true
		}
	}
	return false
}

func (c *cron) dowMatches(d time.Time) bool {
	wd := int(d.Weekday())
	if c.dow&(1<<uint(wd)) != 0 {
		return true
	}
	for _, n := range c.dowNth {
		if wd == n.weekday && (d.Day()-1)/7+1 == n.n {
			return true
		}
	}
	for _, l := range c.dowLast {
		if wd == l && d.Day()+7 > lastDay(d) {
			return true
		}
	}
	return false
}

// searchDays bounds the search for the next firing day: a valid
// expression fires at least once in any window this long unless its years
// have passed (a 29 February on a Monday recurs within 28 years).
const searchDays = 366 * 29

func (c *cron) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for i := 0; i < searchDays; i++ {
		if c.years != nil && day.Year() > 2199 {
			return time.Time{}
		}
		if c.dayMatches(day) {
			startH, startM := 0, 0
			if i == 0 {
				startH, startM = t.Hour(), t.Minute()
			}
			for h := startH; h < 24; h++ {
				if c.hours&(1<<uint(h)) == 0 {
					continue
				}
				m0 := 0
				if h == startH {
					m0 = startM
				}
				for m := m0; m < 60; m++ {
					if c.minutes&(1<<uint(m)) != 0 {
						return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
					}
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{}
}
