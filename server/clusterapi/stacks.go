package clusterapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/cluster/stack"
	"github.com/wharf-dev/wharf/errdefs"
)

// Stacks deploys, lists and removes stacks (stack.Deployer).
type Stacks interface {
	Deploy(ctx context.Context, cluster, name string, in stack.Input) (stack.Result, error)
	List(ctx context.Context, cluster string) ([]stack.Info, error)
	Remove(ctx context.Context, cluster, name string) ([]string, error)
}

// WithStacks serves the stacks paths from s.
func WithStacks(s Stacks) Option { return func(h *handler) { h.stacks = s } }

// maxStackBody bounds a deploy: the files in base64, the .env file and
// the environment.
const maxStackBody = (stack.MaxFiles+1)*stack.MaxFileBytes*4/3 + 1<<20

func (h *handler) needStacks() error {
	if h.stacks == nil {
		return fmt.Errorf("this daemon deploys no stacks: %w", errdefs.ErrConflict)
	}
	return nil
}

func (h *handler) deployStack(w http.ResponseWriter, r *http.Request) error {
	if err := h.needStacks(); err != nil {
		return err
	}
	var in wharf.StackDeploy
	if err := json.NewDecoder(io.LimitReader(r.Body, maxStackBody)).Decode(&in); err != nil {
		return fmt.Errorf("invalid JSON body: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	si := stack.Input{WorkingDir: in.WorkingDir, DotEnv: in.DotEnv, Env: in.Env}
	for _, f := range in.Files {
		si.Files = append(si.Files, stack.File{Filename: f.Filename, Content: f.Content})
	}
	res, err := h.stacks.Deploy(r.Context(), clusterOf(r), r.PathValue("name"), si)
	if err != nil {
		return err
	}
	out := wharf.StackDeployResult{Changes: []wharf.StackChange{}, Warnings: res.Warnings}
	for _, c := range res.Changes {
		out.Changes = append(out.Changes, wharf.StackChange{Service: c.Service, TaskDefinition: c.TaskDefinition, Action: c.Action})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) listStacks(w http.ResponseWriter, r *http.Request) error {
	if err := h.needStacks(); err != nil {
		return err
	}
	is, err := h.stacks.List(r.Context(), clusterOf(r))
	if err != nil {
		return err
	}
	out := make([]wharf.ClusterStack, 0, len(is))
	for _, i := range is {
		out = append(out, wharf.ClusterStack{Name: i.Name, Services: i.Services})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) removeStack(w http.ResponseWriter, r *http.Request) error {
	if err := h.needStacks(); err != nil {
		return err
	}
	removed, err := h.stacks.Remove(r.Context(), clusterOf(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]string{"Removed": removed})
	return nil
}
