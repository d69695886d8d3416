package nativeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/wharf-dev/wharf/server/hijack"
	"github.com/wharf-dev/wharf/server/httperr"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/changes"
	"github.com/wharf-dev/wharf/image/reference"
	"github.com/wharf-dev/wharf/image/store"
)

func (s *Server) imageRoutes() {
	p := wharf.Prefix
	s.handle("GET "+p+"/images/json", s.listImages)
	s.handle("GET "+p+"/images/inspect", s.inspectImage)
	s.handle("GET "+p+"/images/history", s.imageHistory)
	s.handle("POST "+p+"/images/pull", s.pull)
	s.handle("POST "+p+"/images/push", s.push)
	s.handle("POST "+p+"/images/tag", func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		if err := s.i.Tag(r.Context(), q.Get("source"), q.Get("target")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	s.handle("DELETE "+p+"/images", s.removeImage)
	s.handle("POST "+p+"/images/import", s.importImage)
	s.handle("GET "+p+"/images/save", s.saveImages)
	s.handle("POST "+p+"/images/load", s.loadImages)
	s.handle("POST "+p+"/images/prune", s.pruneImages)
	s.handle("POST "+p+"/system/prune", s.systemPrune)
}

func (s *Server) countUsers(id string) int {
	n := 0
	for _, c := range s.c.List(context.Background()) {
		if c.ImageID == id {
			n++
		}
	}
	return n
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) error {
	imgs, err := s.i.List(r.Context())
	if err != nil {
		return err
	}
	out := []wharf.ImageSummary{}
	for _, img := range imgs {
		out = append(out, wharf.ImageSummary{
			ID: img.ID, RepoTags: nonNil(img.RepoTags), RepoDigests: nonNil(img.RepoDigests),
			Created: img.Created.Unix(), Size: img.Size, Containers: s.countUsers(img.ID),
		})
	}
	return writeJSON(w, 200, out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func imageInspect(img *store.Image) wharf.ImageInspect {
	out := wharf.ImageInspect{
		ID: img.ID, RepoTags: nonNil(img.RepoTags), RepoDigests: nonNil(img.RepoDigests),
		Created: ts(img.Created), Size: img.Size, Os: "linux", Architecture: "amd64",
	}
	out.RootFS.Type = "layers"
	for _, l := range img.Layers {
		out.RootFS.Layers = append(out.RootFS.Layers, l.DiffID)
	}
	if cf := img.Config; cf != nil {
		if cf.OS != "" {
			out.Os = cf.OS
		}
		if cf.Architecture != "" {
			out.Architecture = cf.Architecture
		}
		c := cf.Config
		out.Config = &wharf.ImageConfig{
			User: c.User, ExposedPorts: c.ExposedPorts, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
			Volumes: c.Volumes, WorkingDir: c.WorkingDir, Labels: c.Labels, StopSignal: c.StopSignal,
		}
	}
	return out
}

func (s *Server) inspectImage(w http.ResponseWriter, r *http.Request) error {
	img, err := s.i.Get(r.Context(), r.URL.Query().Get("ref"))
	if err != nil {
		return err
	}
	return writeJSON(w, 200, imageInspect(img))
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request) error {
	h, err := s.i.History(r.Context(), r.URL.Query().Get("ref"))
	if err != nil {
		return err
	}
	out := []wharf.ImageHistory{}
	for _, e := range h {
		out = append(out, wharf.ImageHistory{ID: e.ID, Created: e.Created.Unix(), CreatedBy: e.CreatedBy, Size: e.Size, Comment: e.Comment})
	}
	return writeJSON(w, 200, out)
}

// progressStream writes pull and push progress as JSON lines.
func progressStream(w http.ResponseWriter) (func(store.Progress), func(wharf.ProgressMessage)) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	enc := json.NewEncoder(hijack.NewFlushWriter(w))
	send := func(m wharf.ProgressMessage) { _ = enc.Encode(m) }
	return func(p store.Progress) {
		m := wharf.ProgressMessage{ID: p.ID, Status: p.Action}
		if p.Total > 0 || p.Current > 0 {
			m.ProgressDetail = &wharf.ProgressDetail{Current: p.Current, Total: p.Total}
		}
		send(m)
	}, send
}

func (s *Server) pull(w http.ResponseWriter, r *http.Request) error {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		return fmt.Errorf("no image reference given: %w", errdefs.ErrInvalidArgument)
	}
	// A malformed reference is answered 400, before the stream starts.
	if _, err := reference.Parse(ref); err != nil {
		return err
	}
	progress, send := progressStream(w)
	img, err := s.i.Pull(r.Context(), ref, progress)
	if err != nil {
		send(wharf.ProgressMessage{Error: httperr.Message(err)})
		return nil
	}
	if len(img.RepoDigests) > 0 {
		if d, err := reference.Parse(img.RepoDigests[0]); err == nil {
			send(wharf.ProgressMessage{Status: "Digest: " + d.Identifier()})
		}
	}
	send(wharf.ProgressMessage{Status: "Status: Downloaded image for " + ref})
	return nil
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) error {
	ref := r.URL.Query().Get("ref")
	if _, err := s.i.Get(r.Context(), ref); err != nil {
		return err
	}
	progress, send := progressStream(w)
	if _, err := s.i.Push(r.Context(), ref, progress); err != nil {
		send(wharf.ProgressMessage{Error: httperr.Message(err)})
		return nil
	}
	send(wharf.ProgressMessage{Status: "Pushed " + ref})
	return nil
}

func (s *Server) removeImage(w http.ResponseWriter, r *http.Request) error {
	del, err := s.i.Remove(r.Context(), r.URL.Query().Get("ref"), boolQuery(r, "force"), s.c.ImageInUse)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, deleteItems(del))
}

func deleteItems(del []store.Deleted) []wharf.ImageDeleteItem {
	out := []wharf.ImageDeleteItem{}
	for _, d := range del {
		out = append(out, wharf.ImageDeleteItem{Untagged: d.Untagged, Deleted: d.Deleted})
	}
	return out
}

func (s *Server) importImage(w http.ResponseWriter, r *http.Request) error {
	cfg, err := changes.Parse(r.URL.Query()["change"])
	if err != nil {
		return err
	}
	img, err := s.i.Import(r.Context(), r.Body, r.URL.Query().Get("ref"), cfg, store.WithMessage(r.URL.Query().Get("message")))
	if err != nil {
		return err
	}
	return writeJSON(w, 200, wharf.ImportResponse{ID: img.ID})
}

func (s *Server) saveImages(w http.ResponseWriter, r *http.Request) error {
	refs := r.URL.Query()["ref"]
	if len(refs) == 0 {
		return fmt.Errorf("no image given: %w", errdefs.ErrInvalidArgument)
	}
	for _, ref := range refs {
		if _, err := s.i.Get(r.Context(), ref); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	return s.i.Save(r.Context(), w, refs, r.URL.Query().Get("format"))
}

// loadImages streams the outcome of a load as progress messages, like
// pull: a "Loaded image: ..." status per image, then the error if the
// load failed (the Docker API answers the same way).
func (s *Server) loadImages(w http.ResponseWriter, r *http.Request) error {
	imgs, err := s.i.Load(r.Context(), r.Body)
	_, send := progressStream(w)
	for _, img := range imgs {
		if len(img.RepoTags) == 0 {
			send(wharf.ProgressMessage{Status: "Loaded image ID: " + img.ID})
		}
		for _, t := range img.RepoTags {
			send(wharf.ProgressMessage{Status: "Loaded image: " + t})
		}
	}
	if err != nil {
		send(wharf.ProgressMessage{Error: httperr.Message(err)})
	}
	return nil
}

func (s *Server) pruneImages(w http.ResponseWriter, r *http.Request) error {
	del, space, err := s.i.Prune(r.Context(), boolQuery(r, "all"), s.c.ImageInUse)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, wharf.ImagePruneReport{ImagesDeleted: deleteItems(del), SpaceReclaimed: space})
}

func (s *Server) systemPrune(w http.ResponseWriter, r *http.Request) error {
	ids, reclaimed, err := s.c.Prune(r.Context())
	if err != nil {
		return err
	}
	del, space, err := s.i.Prune(r.Context(), boolQuery(r, "all"), s.c.ImageInUse)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	return writeJSON(w, 200, wharf.SystemPruneReport{
		Containers: wharf.ContainerPruneReport{ContainersDeleted: ids, SpaceReclaimed: reclaimed},
		Images:     wharf.ImagePruneReport{ImagesDeleted: deleteItems(del), SpaceReclaimed: space},
	})
}
