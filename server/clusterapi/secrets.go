package clusterapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/errdefs"
)

// Secrets is the cluster's secrets (secrets.Store).
type Secrets interface {
	Create(ctx context.Context, name string, value []byte) (secrets.Info, error)
	List(ctx context.Context) ([]secrets.Info, error)
	Inspect(ctx context.Context, name string) (secrets.Info, error)
	Remove(ctx context.Context, name string) error
}

// WithSecrets serves the secrets paths from s.
func WithSecrets(s Secrets) Option { return func(h *handler) { h.secrets = s } }

// maxSecretBody bounds a create: the value in base64 and a name.
const maxSecretBody = secrets.MaxValue*4/3 + 4096

func secretView(i secrets.Info) wharf.ClusterSecret {
	return wharf.ClusterSecret{Name: i.Name, Size: i.Size, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt}
}

func (h *handler) needSecrets() error {
	if h.secrets == nil {
		return fmt.Errorf("this daemon serves no secrets: %w", errdefs.ErrConflict)
	}
	return nil
}

func (h *handler) createSecret(w http.ResponseWriter, r *http.Request) error {
	if err := h.needSecrets(); err != nil {
		return err
	}
	var in wharf.ClusterSecretCreate
	if err := json.NewDecoder(io.LimitReader(r.Body, maxSecretBody)).Decode(&in); err != nil {
		return fmt.Errorf("invalid JSON body (a secret's value is at most %d KiB): %v: %w", secrets.MaxValue>>10, err, errdefs.ErrInvalidArgument)
	}
	i, err := h.secrets.Create(r.Context(), in.Name, in.Data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, secretView(i))
	return nil
}

func (h *handler) listSecrets(w http.ResponseWriter, r *http.Request) error {
	if err := h.needSecrets(); err != nil {
		return err
	}
	is, err := h.secrets.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]wharf.ClusterSecret, 0, len(is))
	for _, i := range is {
		out = append(out, secretView(i))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) inspectSecret(w http.ResponseWriter, r *http.Request) error {
	if err := h.needSecrets(); err != nil {
		return err
	}
	i, err := h.secrets.Inspect(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, secretView(i))
	return nil
}

func (h *handler) removeSecret(w http.ResponseWriter, r *http.Request) error {
	if err := h.needSecrets(); err != nil {
		return err
	}
	if err := h.secrets.Remove(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
