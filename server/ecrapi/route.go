package ecrapi

import (
	"net/http"
	"strings"
)

// Route returns the operation r calls when ECR implements it, else "":
// the daemon's metrics label requests by it (a bounded set), never by a
// target header as sent.
func (s *Server) Route(r *http.Request) string {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	if _, ok := s.ops[op]; ok {
		return op
	}
	return ""
}
