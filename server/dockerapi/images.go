package dockerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"runtime"
	"strings"

	"github.com/wharf-dev/wharf/image/changes"
	"github.com/wharf-dev/wharf/server/hijack"
	"github.com/wharf-dev/wharf/server/httperr"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/storage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/reference"
	"github.com/wharf-dev/wharf/image/store"
)

func (s *Server) imageRoutes() {
	s.handle("GET /images/json", s.listImages)
	s.handle("POST /images/create", s.createImage)
	s.handle("GET /images/get", func(w http.ResponseWriter, r *http.Request) error {
		return s.saveImages(w, r, r.URL.Query()["names"])
	})
	s.handle("POST /images/load", s.loadImages)
	s.handle("POST /images/prune", s.pruneImages)
	s.handle("GET /images/search", func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("searching Docker Hub is not supported by this daemon: %w", errdefs.ErrNotImplemented)
	})
	// Image names hold slashes, so the operation is the path's last
	// element rather than a pattern segment.
	s.handle("GET /images/{rest...}", func(w http.ResponseWriter, r *http.Request) error {
		name, op := splitImagePath(r.PathValue("rest"))
		switch op {
		case "json":
			return s.inspectImage(w, r, name)
		case "history":
			return s.imageHistory(w, r, name)
		case "get":
			return s.saveImages(w, r, []string{name})
		}
		return fmt.Errorf("page not found: %w", errdefs.ErrNotFound)
	})
	s.handle("POST /images/{rest...}", func(w http.ResponseWriter, r *http.Request) error {
		name, op := splitImagePath(r.PathValue("rest"))
		switch op {
		case "push":
			return s.push(w, r, name)
		case "tag":
			return s.tag(w, r, name)
		}
		return fmt.Errorf("page not found: %w", errdefs.ErrNotFound)
	})
	s.handle("DELETE /images/{rest...}", s.removeImage)
}

func splitImagePath(p string) (string, string) {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return p, ""
	}
	return p[:i], p[i+1:]
}

func (s *Server) countUsers(ctx context.Context) map[string]int64 {
	n := map[string]int64{}
	for _, c := range s.c.List(ctx) {
		n[c.ImageID]++
	}
	return n
}

func imageSummary(img *store.Image, users int64) image.Summary {
	sum := image.Summary{
		ID: img.ID, RepoTags: nonNil(img.RepoTags), RepoDigests: nonNil(img.RepoDigests),
		Created: img.Created.Unix(), Size: img.Size, Containers: users, Labels: map[string]string{}, SharedSize: -1,
	}
	if img.Config != nil && img.Config.Config.Labels != nil {
		sum.Labels = img.Config.Config.Labels
	}
	return sum
}

func (s *Server) imageSummaries(r *http.Request) ([]image.Summary, error) {
	imgs, err := s.i.List(r.Context())
	if err != nil {
		return nil, err
	}
	users := s.countUsers(r.Context())
	out := []image.Summary{}
	for _, img := range imgs {
		out = append(out, imageSummary(img, users[img.ID]))
	}
	return out, nil
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	imgs, err := s.i.List(r.Context())
	if err != nil {
		return err
	}
	users := s.countUsers(r.Context())
	// Before API 1.43 dockerd lists an image with neither tag nor digest
	// as "<none>:<none>" and "<none>@<none>"; 1.43 made those empty lists.
	useNone := versionLess(requestVersion(r), "1.43")
	out := []image.Summary{}
	for _, img := range imgs {
		ok, err := s.matchImage(r.Context(), img, f)
		if err != nil {
			return err
		}
		if ok {
			sum := imageSummary(img, users[img.ID])
			if useNone && len(sum.RepoTags) == 0 && len(sum.RepoDigests) == 0 {
				sum.RepoTags, sum.RepoDigests = []string{"<none>:<none>"}, []string{"<none>@<none>"}
			}
			out = append(out, sum)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) matchImage(ctx context.Context, img *store.Image, f map[string][]string) (bool, error) {
	for key, vals := range f {
		if len(vals) == 0 {
			continue
		}
		hit := false
		for _, v := range vals {
			switch key {
			case "dangling":
				hit = (v == "true" || v == "1") == (len(img.RepoTags) == 0)
			case "reference":
				hit = matchReference(v, img.RepoTags)
			case "label":
				k, val, hasVal := strings.Cut(v, "=")
				var got string
				var ok bool
				if img.Config != nil {
					got, ok = img.Config.Config.Labels[k]
				}
				hit = ok && (!hasVal || got == val)
			case "before", "since":
				o, err := s.i.Get(ctx, v)
				if err != nil {
					return false, err
				}
				if key == "before" {
					hit = img.Created.Before(o.Created)
				} else {
					hit = img.Created.After(o.Created)
				}
			default:
				return false, fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
			}
			if hit {
				break
			}
		}
		if !hit {
			return false, nil
		}
	}
	return true, nil
}

func imageInspect(img *store.Image) image.InspectResponse {
	out := image.InspectResponse{
		ID: img.ID, RepoTags: nonNil(img.RepoTags), RepoDigests: nonNil(img.RepoDigests),
		Created: ts(img.Created), Size: img.Size, Os: "linux", Architecture: runtime.GOARCH,
		RootFS:   image.RootFS{Type: "layers", Layers: []string{}},
		Config:   &dockerspec.DockerOCIImageConfig{},
		Metadata: image.Metadata{},
	}
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
		out.Variant = cf.Variant
		out.Author = cf.Author
		c := cf.Config
		out.Config = &dockerspec.DockerOCIImageConfig{
			ImageConfig: ocispec.ImageConfig{
				User: c.User, ExposedPorts: c.ExposedPorts, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
				Volumes: c.Volumes, WorkingDir: c.WorkingDir, Labels: c.Labels, StopSignal: c.StopSignal, ArgsEscaped: c.ArgsEscaped,
			},
			DockerOCIImageConfigExt: dockerspec.DockerOCIImageConfigExt{OnBuild: c.OnBuild, Shell: c.Shell},
		}
		if h := c.Healthcheck; h != nil {
			out.Config.Healthcheck = &dockerspec.HealthcheckConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		}
		if len(cf.History) > 0 {
			out.Comment = cf.History[len(cf.History)-1].Comment
		}
	}
	return out
}

// layerDirs is the image store's view of where an image's layers are
// unpacked (bottom first), for image inspect's GraphDriver.
type layerDirs interface {
	LayerDirs(ctx context.Context, img *store.Image) ([]string, error)
}

// graphDriver renders where the image's layers are, in dockerd's overlay2
// shape: UpperDir the top layer, LowerDir the layers under it, nearest
// first, joined with ":". dockerd also names a MergedDir and a WorkDir for
// an image; wharf has none (images are never mounted on their own), so
// they are left out rather than named after directories that do not exist.
func (s *Server) graphDriver(ctx context.Context, img *store.Image) (*storage.DriverData, error) {
	ld, ok := s.i.(layerDirs)
	if !ok {
		return nil, nil
	}
	dirs, err := ld.LayerDirs(ctx, img)
	if err != nil {
		return nil, err
	}
	gd := &storage.DriverData{Name: "overlay2", Data: map[string]string{}}
	if n := len(dirs); n > 0 {
		gd.Data["UpperDir"] = dirs[n-1]
		var lower []string
		for i := n - 2; i >= 0; i-- {
			lower = append(lower, dirs[i])
		}
		if len(lower) > 0 {
			gd.Data["LowerDir"] = strings.Join(lower, ":")
		}
	}
	return gd, nil
}

func (s *Server) inspectImage(w http.ResponseWriter, r *http.Request, name string) error {
	img, err := s.i.Get(r.Context(), name)
	if err != nil {
		return noSuchImage(name, err)
	}
	out := imageInspect(img)
	if out.GraphDriver, err = s.graphDriver(r.Context(), img); err != nil {
		return err
	}
	if versionLess(requestVersion(r), "1.45") && img.Config != nil && img.Config.Container != "" {
		// Before API 1.45 dockerd also shows the container a commit was
		// made from (and "" for other images, which the wire type of
		// later versions cannot hold, so those go without it).
		return writeJSON(w, http.StatusOK, struct {
			image.InspectResponse
			Container string
		}{out, img.Config.Container})
	}
	return writeJSON(w, http.StatusOK, out)
}

// noSuchImage gives a not-found error Docker's wording, which clients
// match on ("No such image: x").
func noSuchImage(name string, err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("No such image: %s: %w", name, errdefs.ErrNotFound)
	}
	return err
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) error {
	h, err := s.i.History(r.Context(), name)
	if err != nil {
		return noSuchImage(name, err)
	}
	img, _ := s.i.Get(r.Context(), name)
	out := []image.HistoryResponseItem{}
	for i, e := range h {
		item := image.HistoryResponseItem{ID: e.ID, Created: e.Created.Unix(), CreatedBy: e.CreatedBy, Size: e.Size, Comment: e.Comment, Tags: []string{}}
		if i == 0 && img != nil {
			item.Tags = nonNil(img.RepoTags)
		}
		out = append(out, item)
	}
	return writeJSON(w, http.StatusOK, out)
}

// progressWriter writes Docker's JSON progress stream.
type progressWriter struct {
	enc *json.Encoder
}

func newProgressWriter(w http.ResponseWriter) *progressWriter {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return &progressWriter{enc: json.NewEncoder(hijack.NewFlushWriter(w))}
}

// progressMessage is a progress line; the plain "error" field is what
// clients older than the errorDetail object (docker-py, compose 1.x) read.
type progressMessage struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

func (p *progressWriter) send(m jsonstream.Message) { _ = p.enc.Encode(progressMessage{Message: m}) }

func (p *progressWriter) status(id, status string) {
	p.send(jsonstream.Message{ID: id, Status: status})
}

func (p *progressWriter) fail(err error) {
	msg := httperr.Message(err)
	_ = p.enc.Encode(progressMessage{Message: jsonstream.Message{Error: &jsonstream.Error{Message: msg}}, ErrorMessage: msg})
}

func (p *progressWriter) progress(pr store.Progress) {
	m := jsonstream.Message{ID: pr.ID, Status: pr.Action}
	if pr.Total > 0 || pr.Current > 0 {
		m.Progress = &jsonstream.Progress{Current: pr.Current, Total: pr.Total}
	}
	p.send(m)
}

// createImage is pull (fromImage) or import (fromSrc).
func (s *Server) createImage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if src := q.Get("fromSrc"); src != "" {
		return s.importImage(w, r, src)
	}
	from, tag := q.Get("fromImage"), q.Get("tag")
	if from == "" {
		return fmt.Errorf("fromImage or fromSrc is required: %w", errdefs.ErrInvalidArgument)
	}
	// A malformed reference is answered 400, before the stream starts.
	named, err := reference.WithTagOrDigest(from, tag)
	if err != nil {
		return err
	}
	ref := reference.Familiar(named)
	ctx, err := withRequestAuth(r.Context(), r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	p := newProgressWriter(w)
	p.status(named.Identifier(), "Pulling from "+reference.Path(named.Context()))
	img, err := s.i.Pull(ctx, ref, p.progress)
	if err != nil {
		p.fail(err)
		return nil
	}
	if len(img.RepoDigests) > 0 {
		if d, err := reference.Parse(img.RepoDigests[0]); err == nil {
			p.status("", "Digest: "+d.Identifier())
		}
	}
	p.status("", "Status: Downloaded newer image for "+ref)
	return nil
}

func (s *Server) importImage(w http.ResponseWriter, r *http.Request, src string) error {
	q := r.URL.Query()
	if src != "-" {
		return fmt.Errorf("importing from a URL is not supported, send the tar in the body (fromSrc=-): %w", errdefs.ErrNotImplemented)
	}
	cfg, err := changes.Parse(q["changes"])
	if err != nil {
		return err
	}
	ref := ""
	if repo := q.Get("repo"); repo != "" {
		t, err := reference.WithTag(repo, q.Get("tag"))
		if err != nil {
			return err
		}
		ref = reference.Familiar(t)
	}
	img, err := s.i.Import(r.Context(), r.Body, ref, cfg, store.WithMessage(q.Get("message")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, jsonstream.Message{Status: img.ID})
}

func (s *Server) push(w http.ResponseWriter, r *http.Request, name string) error {
	tag := r.URL.Query().Get("tag")
	named, err := reference.WithTag(name, tag)
	if err != nil {
		return err
	}
	ref := reference.Familiar(named)
	if _, err := s.i.Get(r.Context(), ref); err != nil {
		return noSuchImage(ref, err)
	}
	ctx, err := withRequestAuth(r.Context(), r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	p := newProgressWriter(w)
	p.status("", "The push refers to repository ["+reference.FullName(named.Context())+"]")
	pushed, err := s.i.Push(ctx, ref, p.progress)
	if err != nil {
		p.fail(err)
		return nil
	}
	// dockerd's last line and aux message name the manifest: its digest
	// and its size in bytes.
	p.status("", fmt.Sprintf("%s: digest: %s size: %d", named.TagStr(), pushed.Digest, pushed.Size))
	aux, _ := json.Marshal(map[string]any{"Tag": named.TagStr(), "Digest": pushed.Digest, "Size": pushed.Size})
	raw := json.RawMessage(aux)
	p.send(jsonstream.Message{Aux: &raw})
	return nil
}

// tag is dockerd's POST /images/{name}/tag: repo and tag name the new
// reference ("latest" by default).
func (s *Server) tag(w http.ResponseWriter, r *http.Request, name string) error {
	named, err := reference.WithTag(r.URL.Query().Get("repo"), r.URL.Query().Get("tag"))
	if err != nil {
		return err
	}
	if reference.FamiliarName(named.Context()) == "sha256" {
		return fmt.Errorf("refusing to create an ambiguous tag using digest algorithm as name: %w", errdefs.ErrInvalidArgument)
	}
	target := reference.Familiar(named)
	if _, err := s.i.Get(r.Context(), name); err != nil {
		return noSuchImage(name, err)
	}
	if err := s.i.Tag(r.Context(), name, target); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func deleteItems(del []store.Deleted) []image.DeleteResponse {
	out := []image.DeleteResponse{}
	for _, d := range del {
		out = append(out, image.DeleteResponse{Untagged: d.Untagged, Deleted: d.Deleted})
	}
	return out
}

func (s *Server) removeImage(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("rest")
	del, err := s.i.Remove(r.Context(), name, boolQuery(r, "force"), s.c.ImageInUse)
	if err != nil {
		return noSuchImage(name, err)
	}
	return writeJSON(w, http.StatusOK, deleteItems(del))
}

func (s *Server) saveImages(w http.ResponseWriter, r *http.Request, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("no image given: %w", errdefs.ErrInvalidArgument)
	}
	for _, ref := range refs {
		if _, err := s.i.Get(r.Context(), ref); err != nil {
			return noSuchImage(ref, err)
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	if err := s.i.Save(r.Context(), w, refs, ""); err != nil {
		s.log.Warn("image save failed", "refs", refs, "err", err)
	}
	return nil
}

// loadImages is POST /images/load. As dockerd does, it answers 200 with
// a JSON stream whatever happens: a {"stream":"Loaded image: ..."} line
// per image loaded, then, if the load failed, an errorDetail line, which
// the docker CLI prints as the error.
func (s *Server) loadImages(w http.ResponseWriter, r *http.Request) error {
	imgs, err := s.i.Load(r.Context(), r.Body)
	p := newProgressWriter(w)
	for _, img := range imgs {
		names := img.RepoTags
		if len(names) == 0 {
			p.send(jsonstream.Message{Stream: "Loaded image ID: " + img.ID + "\n"})
		}
		for _, n := range names {
			p.send(jsonstream.Message{Stream: "Loaded image: " + n + "\n"})
		}
	}
	if err != nil {
		s.log.Info("image load failed", "err", err)
		p.fail(err)
	}
	return nil
}

func (s *Server) pruneImages(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	all := false
	for _, v := range f["dangling"] {
		if v == "false" || v == "0" {
			all = true
		}
	}
	for k := range f {
		if k != "dangling" {
			return fmt.Errorf("image prune filter %q is not supported: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	del, space, err := s.i.Prune(r.Context(), all, s.c.ImageInUse)
	if err != nil {
		return err
	}
	rep := image.PruneReport{SpaceReclaimed: space}
	if len(del) > 0 { // dockerd: null when nothing went
		rep.ImagesDeleted = deleteItems(del)
	}
	return writeJSON(w, http.StatusOK, rep)
}

// matchReference is docker's reference filter: pattern (path.Match's
// syntax) matches one of the tags in its familiar form, its familiar
// name, or their fully qualified forms, as dockerd matches them
// ("busybox", "busybox:*" and "docker.io/library/busybox" all match
// busybox:latest).
func matchReference(pattern string, tags []string) bool {
	for _, t := range tags {
		r, err := reference.Parse(t)
		if err != nil {
			continue
		}
		repo := r.Context()
		targets := []string{reference.Familiar(r), reference.FamiliarName(repo), reference.FullName(repo) + ":" + r.Identifier(), reference.FullName(repo)}
		for _, target := range targets {
			matched, err := path.Match(pattern, target)
			if err != nil {
				return false
			}
			if matched {
				return true
			}
		}
	}
	return false
}
