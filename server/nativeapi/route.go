package nativeapi

import "net/http"

// Route returns the route template r would be served by, or "" when
// none matches: the daemon's metrics label requests by it, never by their
// path. It serves nothing.
func (s *Server) Route(r *http.Request) string {
	_, pattern := s.mux.Handler(r)
	return pattern
}
