package dockerapi

import (
	"net/http/httptest"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
)

// Route names the template a request would be served by, with or without
// the version prefix, and "" for what no route serves; it serves nothing.
func TestRoute(t *testing.T) {
	s := New(&fakeContainers{byID: map[string]*container.Container{}}, presentImages{}, fakeSystem{})
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/v1.44/containers/4f1c2a/json", "GET /containers/{id}/json"},
		{"GET", "/containers/web/json", "GET /containers/{id}/json"},
		{"POST", "/v1.44/containers/create", "POST /containers/create"},
		{"GET", "/v1.44/no/such/thing", ""},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if got := s.Route(r); got != c.want {
			t.Errorf("Route(%s %s) = %q, want %q", c.method, c.path, got, c.want)
		}
		if r.URL.Path != c.path {
			t.Errorf("Route changed the request's path to %s", r.URL.Path)
		}
	}
}
