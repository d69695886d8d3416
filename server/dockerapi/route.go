package dockerapi

import "net/http"

// Route returns the route template r would be served by ("GET
// /containers/{name}/json", without the version prefix), or "" when none
// matches: the daemon's metrics label requests by it, never by their
// path. It serves nothing.
func (s *Server) Route(r *http.Request) string {
	r2 := *r
	u := *r.URL
	if _, rest, ok := cutVersionPrefix(u.Path); ok {
		u.Path, u.RawPath = rest, ""
	}
	r2.URL = &u
	_, pattern := s.mux.Handler(&r2)
	return pattern
}
