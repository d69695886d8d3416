package container

import "testing"

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
