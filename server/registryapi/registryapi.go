// Package registryapi serves the registry's administration on the native
// API (api/wharf/registry.go): login passwords for `docker login -u AWS`,
// garbage collection, and the repositories, images and lifecycle policies
// of `wharf registry` (content.go). The daemon mounts it on its unix
// socket, which only root reaches: no key's policy is asked.
package registryapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/registry"
	"github.com/wharf-dev/wharf/server/httperr"
)

// Logins mints login tokens (identity.Tokens).
type Logins interface {
	MintLogin(keyID string) (string, time.Time, error)
}

// Collector collects the registry's garbage (registry.Registry).
type Collector interface {
	GC(ctx context.Context, opts registry.GCOptions) (registry.GCReport, error)
}

// Registry is what the routes need of the registry.
type Registry interface {
	Collector
	Content
}

// Handler serves /wharf/v1/registry/... for the registry at addr.
func Handler(addr string, logins Logins, gc Registry) http.Handler {
	mux := http.NewServeMux()
	contentRoutes(mux, gc)
	mux.HandleFunc("POST "+wharf.Prefix+"/registry/login-password", func(w http.ResponseWriter, r *http.Request) {
		var req wharf.LoginPasswordRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, errdefs.ErrInvalidArgument)
			return
		}
		pw, exp, err := logins.MintLogin(req.AccessKeyID)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, wharf.LoginPassword{User: "AWS", Password: pw, ExpiresAt: exp, Registry: addr})
	})
	mux.HandleFunc("POST "+wharf.Prefix+"/registry/gc", func(w http.ResponseWriter, r *http.Request) {
		dry, _ := strconv.ParseBool(r.URL.Query().Get("dry-run"))
		opts := registry.GCOptions{DryRun: dry}
		if g := r.URL.Query().Get("grace"); g != "" {
			d, err := time.ParseDuration(g)
			if err != nil || d < 0 {
				writeError(w, fmt.Errorf("grace %q: want a duration of 0 or more: %w", g, errdefs.ErrInvalidArgument))
				return
			}
			opts.GracePeriod = d
			if d == 0 {
				opts.GracePeriod = -1
			}
		}
		rep, err := gc.GC(r.Context(), opts)
		if err != nil {
			writeError(w, err)
			return
		}
		if rep.Deleted == nil {
			rep.Deleted = []string{}
		}
		writeJSON(w, http.StatusOK, wharf.RegistryGCReport{
			DryRun: rep.DryRun, Manifests: rep.Manifests, Blobs: rep.Blobs, Deleted: rep.Deleted,
			FreedBytes: rep.FreedBytes, Kept: rep.Kept, PausedSeconds: rep.Paused.Seconds(), Seconds: rep.Duration.Seconds(),
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, httperr.Status(err), map[string]string{"message": httperr.Message(err)})
}
