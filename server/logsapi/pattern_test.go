package logsapi

import (
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

const (
	apache404 = `10.0.0.7 - frank [10/Oct/2000:13:55:36 -0700] "GET /a/index.html HTTP/1.0" 404 2326`
	apache200 = `10.0.0.7 - frank [10/Oct/2000:13:55:36 -0700] "GET /a/index.html HTTP/1.0" 200 2326`
)

func TestPatternMatch(t *testing.T) {
	jsonErr := `{"level":"ERROR","latency":250,"path":"/api/users","user":{"id":null,"admin":true},"tags":["a","b"],"code":"404"}`
	jsonInfo := `{"level":"INFO","latency":20,"path":"/health","user":{"id":7,"admin":false},"tags":[]}`
	cases := []struct {
		pattern string
		msg     string
		want    bool
	}{
		{"", "anything", true},
		{"ERROR", "an ERROR happened", true},
		{"ERROR", "an error happened", false},
		{"ERROR Exception", "ERROR: NullPointerException", true},
		{"ERROR Exception", "ERROR: null", false},
		{`"timed out"`, "the call timed out after 3s", true},
		{`"timed out"`, "timed, then out", false},
		{"ERROR -DEBUG", "ERROR in DEBUG build", false},
		{"ERROR -DEBUG", "ERROR in release", true},
		{"?ERROR ?WARN", "WARN disk 91%", true},
		{"?ERROR ?WARN", "INFO ok", false},
		{"START ?ERROR ?WARN", "START ERROR", true},
		{"START ?ERROR ?WARN", "ERROR", false},
		{`{ $.level = "ERROR" }`, jsonErr, true},
		{`{ $.level = "ERROR" }`, jsonInfo, false},
		{`{ $.level = ERROR }`, jsonErr, true},
		{`{ $.level != "ERROR" }`, jsonInfo, true},
		{`{ $.latency > 100 }`, jsonErr, true},
		{`{ $.latency > 100 }`, jsonInfo, false},
		{`{ $.latency <= 20 }`, jsonInfo, true},
		{`{ $.latency >= 250 && $.path = "/api*" }`, jsonErr, true},
		{`{ $.latency >= 250 && $.path = "/api*" }`, jsonInfo, false},
		{`{ ($.level = "INFO") || ($.latency > 200) }`, jsonErr, true},
		{`{ ($.level = "INFO") || ($.latency > 200) }`, jsonInfo, true},
		{`{ $.level = "DEBUG" || $.level = "INFO" && $.latency > 100 }`, jsonInfo, false},
		{`{ $.user.id IS NULL }`, jsonErr, true},
		{`{ $.user.id IS NULL }`, jsonInfo, false},
		{`{ $.user.admin IS TRUE }`, jsonErr, true},
		{`{ $.user.admin IS FALSE }`, jsonInfo, true},
		{`{ $.missing NOT EXISTS }`, jsonErr, true},
		{`{ $.level NOT EXISTS }`, jsonErr, false},
		{`{ $.tags[1] = "b" }`, jsonErr, true},
		{`{ $.tags[*] = "a" }`, jsonErr, true},
		{`{ $.tags[5] = "a" }`, jsonErr, false},
		{`{ $.code = 404 }`, jsonErr, true},
		{`{ $.path = "*users" }`, jsonErr, true},
		{`{ $.level = "ERROR" }`, "ERROR not json", false},
		{`{ $.level = "ERROR" }`, `{"level":`, false},
		{`[ip, user, username, timestamp, request = "*html*", status_code = 4*, bytes]`, apache404, true},
		{`[ip, user, username, timestamp, request = "*html*", status_code = 4*, bytes]`, apache200, false},
		{`[ip, user, username, timestamp, request, status_code = 4*, bytes]`, "too few fields", false},
		{`[..., status_code = 404 || status_code = 410, bytes > 1000]`, apache404, true},
		{`[..., status_code = 404 || status_code = 410, bytes > 5000]`, apache404, false},
		{`[ip = 10.*, ...]`, apache404, true},
		{`[ip != 10.*, ...]`, apache404, false},
		{`[w1 = ERROR, w2, ...]`, "ERROR disk full", true},
		{`[w1 = ERROR, w2 = disk, ...]`, "ERROR memory low", false},
		{`[w1 = ERROR && w1 != ERRORS, ...]`, "ERROR x", true},
		{`[a, b]`, "one two", true},
		{`[a, b]`, "one two three", false},
	}
	for _, c := range cases {
		p, err := ParsePattern(c.pattern)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", c.pattern, err)
			continue
		}
		if got := p.Match(c.msg); got != c.want {
			t.Errorf("%q matches %q: %v, want %v", c.pattern, c.msg, got, c.want)
		}
	}
}

func TestPatternInvalid(t *testing.T) {
	for _, s := range []string{
		`"unterminated`, `-`, `ERROR ?`, `{ $.a = }`, `{ $.a = "x" `, `{ a = 1 }`, `{ $.a > "x" }`,
		`{ $.a = 1 } trailing`, `{ ($.a = 1 }`, `{ $.a IS MAYBE }`, `{ $.a NOT THERE }`, `{ $.[ = 1 }`,
		`{ $.a[x] = 1 }`, `{}`, strings.Repeat("a", maxPattern+1),
		`[a, a]`, `[..., b, ...]`, `[a, b = ]`, `[a = 1 || c = 2]`, `[a`, `[a,]`, `[a] x`, `[1a]`, `[a > "x"]`,
		"{ " + strings.Repeat("(", maxDepth+1) + "$.a = 1" + strings.Repeat(")", maxDepth+1) + " }",
	} {
		if _, err := ParsePattern(s); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParsePattern(%.60q): %v, want an invalid argument", s, err)
		}
	}

}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"ERROR", `"a b" -c ?d`, `[ip, ..., code = 4* || code = 5*, bytes > 100]`, `{ $.a.b[0] = "x*" && ($.c > 1 || $.d IS NULL) }`, `{ $.* NOT EXISTS }`} {
		f.Add(s, `{"a":{"b":["x1"]},"c":2,"d":null}`)
	}
	f.Fuzz(func(t *testing.T, pattern, msg string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) {
				t.Fatalf("error without a class: %v", err)
			}
			return
		}
		p.Match(msg)
	})
}
