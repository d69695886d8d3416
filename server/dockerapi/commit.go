package dockerapi

import (
	"net/http"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/engine/container"
)

// commit is POST /commit: the body is the image's config (its fields are
// Docker's container config, which the image config shares), absent or
// null for the container's own.
func (s *Server) commit(w http.ResponseWriter, r *http.Request) error {
	var cfg *v1.Config
	if err := decodeBody(r, &cfg); err != nil {
		return err
	}
	q := r.URL.Query()
	img, err := s.c.Commit(r.Context(), q.Get("container"), container.CommitOptions{
		Repo: q.Get("repo"), Tag: q.Get("tag"), Author: q.Get("author"), Comment: q.Get("comment"),
		Changes: q["changes"], Pause: pauseQuery(q.Get("pause")), Config: cfg,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, mcontainer.CommitResponse{ID: img.ID})
}

// pauseQuery is dockerd's reading of commit's pause: true unless given
// as one of its false words (API >= 1.13, the oldest this server takes).
func pauseQuery(v string) bool {
	switch strings.ToLower(v) {
	case "0", "no", "false", "none":
		return false
	}
	return true
}
