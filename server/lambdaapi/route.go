package lambdaapi

import (
	"net/http"
	"strings"
)

// Route returns the route template r would be served by, or "" when
// none matches: the daemon's metrics label requests by it, never by their
// path. It serves nothing; the trailing slash is ignored as ServeHTTP
// ignores it.
func (s *Server) Route(r *http.Request) string {
	r2 := *r
	u := *r.URL
	if p := u.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		u.Path, u.RawPath = strings.TrimRight(p, "/"), ""
	}
	r2.URL = &u
	_, pattern := s.mux.Handler(&r2)
	return pattern
}
