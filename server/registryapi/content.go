package registryapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/registry"
)

// Content is the registry's content API (registry.Registry).
type Content interface {
	Repositories(ctx context.Context) ([]registry.RepoMeta, error)
	Summary(ctx context.Context, name string) (registry.Repository, error)
	DeleteRepository(ctx context.Context, name string, force bool) (registry.RepoMeta, error)
	Images(ctx context.Context, repo string) ([]registry.Image, error)
	DeleteImage(ctx context.Context, repo string, id registry.ImageID) (registry.Deleted, error)
	Repository(ctx context.Context, name string) (registry.RepoMeta, error)
	SetLifecyclePolicy(ctx context.Context, repo, text string) (registry.RepoMeta, error)
	DeleteLifecyclePolicy(ctx context.Context, repo string) (registry.RepoMeta, error)
	PreviewLifecycle(ctx context.Context, repo, text string) ([]registry.Expiry, error)
	RunLifecycle(ctx context.Context) (map[string][]registry.Expiry, error)
}

// maxPolicyBody bounds a policy's text (ECR's limit is 30 KiB).
const maxPolicyBody = 64 << 10

func contentRoutes(mux *http.ServeMux, c Content) {
	p := wharf.Prefix + "/registry"
	mux.HandleFunc("GET "+p+"/repositories", func(w http.ResponseWriter, r *http.Request) {
		metas, err := c.Repositories(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		out := []wharf.RegistryRepository{}
		for _, m := range metas {
			s, err := c.Summary(r.Context(), m.Name)
			if errdefs.IsNotFound(err) {
				continue // deleted meanwhile
			}
			if err != nil {
				writeError(w, err)
				return
			}
			out = append(out, repoOut(s))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("DELETE "+p+"/repositories", func(w http.ResponseWriter, r *http.Request) {
		force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
		m, err := c.DeleteRepository(r.Context(), r.URL.Query().Get("repository"), force)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, repoOut(registry.Repository{RepoMeta: m}))
	})
	mux.HandleFunc("GET "+p+"/images", func(w http.ResponseWriter, r *http.Request) {
		imgs, err := c.Images(r.Context(), r.URL.Query().Get("repository"))
		if err != nil {
			writeError(w, err)
			return
		}
		out := make([]wharf.RegistryImage, 0, len(imgs))
		for _, im := range imgs {
			out = append(out, imageOut(im))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("DELETE "+p+"/images", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		id := registry.ImageID{Digest: q.Get("digest"), Tag: q.Get("tag")}
		del, err := c.DeleteImage(r.Context(), q.Get("repository"), id)
		if err != nil {
			writeError(w, err)
			return
		}
		if del.Tags == nil {
			del.Tags = []string{}
		}
		writeJSON(w, http.StatusOK, wharf.RegistryDeleted{Digest: del.Digest, Tags: del.Tags, Image: del.Image})
	})
	mux.HandleFunc("GET "+p+"/policy", func(w http.ResponseWriter, r *http.Request) {
		repo := r.URL.Query().Get("repository")
		m, err := c.Repository(r.Context(), repo)
		if err == nil && m.LifecyclePolicy == "" {
			err = fmt.Errorf("repository %s: %w", repo, registry.ErrPolicyNotFound)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, wharf.RegistryPolicy{Repository: m.Name, Text: m.LifecyclePolicy, Updated: m.LifecyclePolicyUpdated})
	})
	mux.HandleFunc("PUT "+p+"/policy", func(w http.ResponseWriter, r *http.Request) {
		text, err := readText(w, r)
		if err == nil && text == "" {
			err = fmt.Errorf("the policy's text is empty: %w", errdefs.ErrInvalidArgument)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		m, err := c.SetLifecyclePolicy(r.Context(), r.URL.Query().Get("repository"), text)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, wharf.RegistryPolicy{Repository: m.Name, Text: m.LifecyclePolicy, Updated: m.LifecyclePolicyUpdated})
	})
	mux.HandleFunc("DELETE "+p+"/policy", func(w http.ResponseWriter, r *http.Request) {
		m, err := c.DeleteLifecyclePolicy(r.Context(), r.URL.Query().Get("repository"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, wharf.RegistryPolicy{Repository: m.Name, Text: m.LifecyclePolicy, Updated: m.LifecyclePolicyUpdated})
	})
	mux.HandleFunc("POST "+p+"/policy/preview", func(w http.ResponseWriter, r *http.Request) {
		text, err := readText(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		exp, err := c.PreviewLifecycle(r.Context(), r.URL.Query().Get("repository"), text)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, expiriesOut(exp))
	})
	mux.HandleFunc("POST "+p+"/lifecycle", func(w http.ResponseWriter, r *http.Request) {
		done, err := c.RunLifecycle(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		out := map[string][]wharf.RegistryExpiry{}
		for repo, exp := range done {
			out[repo] = expiriesOut(exp)
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func readText(w http.ResponseWriter, r *http.Request) (string, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPolicyBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return "", fmt.Errorf("the policy is larger than %d bytes: %w", maxPolicyBody, errdefs.ErrInvalidArgument)
	}
	return string(b), err
}

func repoOut(s registry.Repository) wharf.RegistryRepository {
	mut := s.TagMutability
	if mut == "" {
		mut = registry.TagsMutable
	}
	return wharf.RegistryRepository{Name: s.Name, Created: s.Created, TagMutability: mut, Public: s.Public,
		Images: s.Images, Size: s.Size, HasPolicy: s.LifecyclePolicy != ""}
}

func imageOut(im registry.Image) wharf.RegistryImage {
	tags := im.Tags
	if tags == nil {
		tags = []string{}
	}
	return wharf.RegistryImage{Digest: im.Digest, Tags: tags, Size: im.Size, MediaType: im.MediaType, Pushed: im.Pushed, LastPull: im.LastPull}
}

func expiriesOut(exp []registry.Expiry) []wharf.RegistryExpiry {
	out := make([]wharf.RegistryExpiry, 0, len(exp))
	for _, e := range exp {
		out = append(out, wharf.RegistryExpiry{Image: imageOut(e.Image), RulePriority: e.RulePriority})
	}
	return out
}
