package dockerapi

import (
	"fmt"
	"net/http"

	"github.com/wharf-dev/wharf/errdefs"
)

// Swarm: wharf is never part of a swarm (its clusters are its own, see
// the architecture), so the swarm endpoints answer as dockerd does on a
// node that never joined one: 503 with dockerd's messages. Clients rely on
// those answers — the Docker SDK for Python's clean-up calls `swarm
// leave` and ignores "not part of a swarm", and `docker info` reports
// the swarm as inactive — while a 404 reads as a broken daemon. Creating or
// joining a swarm is refused as not implemented rather than pretended.

// Messages of dockerd's daemon/cluster for a node outside any swarm.
const (
	errNoSwarm     = "This node is not part of a swarm"
	errNotAManager = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."
)

func (s *Server) swarmRoutes() {
	// The answers are written here rather than returned as errors: they
	// are the expected answers of this daemon, not failures to log.
	notInSwarm := func(msg string) handler {
		return func(w http.ResponseWriter, _ *http.Request) error {
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%s: %w", msg, errdefs.ErrUnavailable))
			return nil
		}
	}
	refuse := func(w http.ResponseWriter, _ *http.Request) error {
		writeError(w, http.StatusNotImplemented, fmt.Errorf("swarm mode is not supported by this daemon: %w", errdefs.ErrNotImplemented))
		return nil
	}
	s.handle("POST /swarm/init", refuse)
	s.handle("POST /swarm/join", refuse)
	s.handle("POST /swarm/leave", notInSwarm(errNoSwarm))
	for _, p := range []string{
		"GET /swarm", "GET /swarm/unlockkey", "POST /swarm/update", "POST /swarm/unlock",
		"GET /services", "GET /services/{id}", "POST /services/create", "POST /services/{id}/update",
		"DELETE /services/{id}", "GET /services/{id}/logs",
		"GET /nodes", "GET /nodes/{id}", "DELETE /nodes/{id}", "POST /nodes/{id}/update",
		"GET /tasks", "GET /tasks/{id}", "GET /tasks/{id}/logs",
		"GET /secrets", "POST /secrets/create", "DELETE /secrets/{id}", "GET /secrets/{id}", "POST /secrets/{id}/update",
		"GET /configs", "POST /configs/create", "DELETE /configs/{id}", "GET /configs/{id}", "POST /configs/{id}/update",
	} {
		s.handle(p, notInSwarm(errNotAManager))
	}
}
