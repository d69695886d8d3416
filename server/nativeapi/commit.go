package nativeapi

import (
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
)

// commit is POST /containers/{id}/commit (wharf commit): the image is
// named by repo and tag, changes are "change" parameters, and the
// container is frozen meanwhile unless pause is false.
func (s *Server) commit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pause := true
	switch strings.ToLower(q.Get("pause")) {
	case "0", "false", "no":
		pause = false
	}
	img, err := s.c.Commit(r.Context(), r.PathValue("id"), container.CommitOptions{
		Repo: q.Get("repo"), Tag: q.Get("tag"), Author: q.Get("author"), Comment: q.Get("comment"),
		Changes: q["change"], Pause: pause,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, wharf.ImportResponse{ID: img.ID})
}
