package dockerapi

import (
	"regexp"
	"testing"
)

// TestCutVersionPrefix checks the hand-written matcher against the
// regexp it replaced.
func TestCutVersionPrefix(t *testing.T) {
	re := regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)
	for _, p := range []string{"/v1.45/containers/json", "/v1.45/", "/v1.45", "/v1./x", "/v.1/x", "/v12.3/x/y", "/v1.4a/x",
		"/containers/json", "/v1.45/a\nb", "/v1.2.3/x", "v1.45/x", "/V1.45/x", "", "/v", "/v1.45//x"} {
		m := re.FindStringSubmatch(p)
		v, rest, ok := cutVersionPrefix(p)
		if ok != (m != nil) || ok && (v != m[1] || rest != m[2]) {
			t.Errorf("%q: got %q %q %v, regexp %q", p, v, rest, ok, m)
		}
	}
}
