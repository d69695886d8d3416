package schedule

import (
	"errors"
	"testing"
	"time"
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNext(t *testing.T) {
	cases := []struct {
		expr, after string
		want        []string
	}{
		{"rate(1 minute)", "2026-11-23T19:20:26Z", []string{"2026-11-23T19:21:00Z", "2026-11-23T19:22:00Z"}},
		{"rate(5 minutes)", "2026-11-23T19:20:00Z", []string{"2026-11-23T19:25:00Z", "2026-11-23T19:30:00Z"}},
		{"rate(1 day)", "2026-11-23T19:20:00Z", []string{"2026-11-24T00:00:00Z"}},
		{"cron(0 1 * * ? *)", "2026-11-23T19:20:00Z", []string{"2026-11-24T01:00:00Z", "2026-11-25T01:00:00Z"}},
		{"cron(0/15 * * * ? *)", "2026-11-23T19:20:00Z", []string{"2026-11-23T19:30:00Z", "2026-11-23T19:45:00Z", "2026-11-23T20:00:00Z"}},
		{"cron(0 18 ? * MON-FRI *)", "2026-11-27T19:00:00Z", []string{"2026-11-30T18:00:00Z"}}, // Fri evening -> Mon
		{"cron(0 8 1 * ? *)", "2026-11-23T00:00:00Z", []string{"2026-12-01T08:00:00Z", "2027-01-01T08:00:00Z"}},
		{"cron(0 0 L * ? *)", "2027-02-01T00:00:00Z", []string{"2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z"}},
		{"cron(0 0 LW * ? *)", "2026-05-01T00:00:00Z", []string{"2026-05-29T00:00:00Z"}},                         // May 31 2026 is a Sunday
		{"cron(0 0 15W * ? *)", "2026-11-01T00:00:00Z", []string{"2026-11-16T00:00:00Z"}},                        // Nov 15 2026 is a Sunday
		{"cron(0 0 1W * ? *)", "2026-08-01T00:00:00Z", []string{"2026-08-03T00:00:00Z", "2026-09-01T00:00:00Z"}}, // Aug 1 2026 is a Saturday: Monday the 3rd
		{"cron(0 10 ? * 6#3 *)", "2026-11-01T00:00:00Z", []string{"2026-11-20T10:00:00Z"}},                       // third Friday
		{"cron(0 10 ? * 5L *)", "2026-11-01T00:00:00Z", []string{"2026-11-26T10:00:00Z"}},                        // last Thursday
		{"cron(30 9 ? JAN,JUL SUN 2027)", "2026-11-01T00:00:00Z", []string{"2027-01-03T09:30:00Z"}},
		{"cron(0 0 1 1 ? 2020)", "2026-11-01T00:00:00Z", []string{"0001-01-01T00:00:00Z"}}, // past: never
		{"cron(0 0 29 2 ? *)", "2026-03-01T00:00:00Z", []string{"2028-02-29T00:00:00Z"}},
	}
	for _, c := range cases {
		s, err := Parse(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		at := mustTime(c.after)
		for _, w := range c.want {
			got := s.Next(at)
			if !got.Equal(mustTime(w)) {
				t.Errorf("%s after %s = %s, want %s", c.expr, at.Format(time.RFC3339), got.Format(time.RFC3339), w)
				break
			}
			at = got
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, e := range []string{
		"", "rate()", "rate(0 minutes)", "rate(-1 minutes)", "rate(1 minutes)", "rate(5 minute)", "rate(5 weeks)", "rate(x minutes)",
		"cron(0 1 * * *)", "cron(0 1 * * * *)", "cron(0 1 ? * ? *)", "cron(60 1 * * ? *)", "cron(0 24 * * ? *)",
		"cron(0 1 32 * ? *)", "cron(0 1 * 13 ? *)", "cron(0 1 ? * 8 *)", "cron(0 1 ? * MON#6 *)", "cron(0 1 * * ? 1969)",
		"cron(5-1 * * * ? *)", "cron(*/0 * * * ? *)", "cron(0 0 ,1 * ? *)", "every 5 minutes", "cron(0 0 1 * ? *",
	} {
		if _, err := Parse(e); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", e, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"rate(5 minutes)", "cron(0 1 * * ? *)", "cron(0/5 8-17 ? * MON-FRI *)", "cron(0 0 LW * ? *)", "cron(0 10 ? * 6#3 2027-2030/2)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			return
		}
		from := time.Date(2026, 11, 23, 19, 20, 0, 0, time.UTC)
		next := s.Next(from)
		if !next.IsZero() && !next.After(from) {
			t.Fatalf("%q: Next(%v) = %v is not after", expr, from, next)
		}
	})
}
