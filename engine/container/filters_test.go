package container

import (
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

// The ancestor filter compares references once normalised, as dockerd
// resolves them: "busybox", "busybox:latest" and
// "docker.io/library/busybox" name one image.
func TestAncestorFilterReferences(t *testing.T) {
	c := &Container{ID: "abc", ImageID: "sha256:1234", Config: Config{Image: "busybox"}}
	for _, v := range []string{"busybox", "busybox:latest", "docker.io/library/busybox", "index.docker.io/library/busybox:latest", "1234", "sha256:12"} {
		if ok, err := MatchFilters(c, map[string][]string{"ancestor": {v}}, nil); !ok || err != nil {
			t.Errorf("ancestor=%s: %v %v", v, ok, err)
		}
	}
	for _, v := range []string{"busybox:1", "library/other", "localhost:5000/busybox"} {
		if ok, _ := MatchFilters(c, map[string][]string{"ancestor": {v}}, nil); ok {
			t.Errorf("ancestor=%s matched", v)
		}
	}
}

// The name filter is Docker's: a regular expression searched in the name
// with its leading slash and without (dockerd 20.10: `ps --filter
// name=^/web$` lists web only, `name=web` lists myweb too).
func TestNameFilterIsARegularExpression(t *testing.T) {
	web := &Container{ID: "1", Name: "web"}
	myweb := &Container{ID: "2", Name: "myweb"}
	for _, tc := range []struct {
		v         string
		web, mine bool
	}{
		{"web", true, true},
		{"^/web$", true, false},
		{"^web$", true, false},
		{"^/my", false, true},
		{"w.b", true, true},
		{"/web", true, false},
		{"b$", true, true},
		{"[", false, false}, // no regular expression: exact match only
		{"^/x", false, false},
	} {
		for _, c := range []struct {
			c    *Container
			want bool
		}{{web, tc.web}, {myweb, tc.mine}} {
			if ok, err := MatchFilters(c.c, map[string][]string{"name": {tc.v}}, nil); ok != c.want || err != nil {
				t.Errorf("name=%s on %s: %v %v, want %v", tc.v, c.c.Name, ok, err, c.want)
			}
		}
	}
}

// dockerd refuses a status or health no container can have, and a
// non-numeric exit code, before it lists anything: with no container
// at all, too.
func TestValidateFilters(t *testing.T) {
	for _, f := range []map[string][]string{
		{"status": {"sleeping"}}, {"health": {"fine"}}, {"exited": {"x"}},
	} {
		if err := ValidateFilters(f); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%v: %v", f, err)
		}
	}
	if err := ValidateFilters(map[string][]string{"status": {"restarting", "exited"}, "health": {"none"}, "exited": {"0"}}); err != nil {
		t.Error(err)
	}
}
