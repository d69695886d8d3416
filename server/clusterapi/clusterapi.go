// Package clusterapi serves the native API's cluster paths on the
// daemon's socket: the nodes (`wharf node`) and the join tokens
// (`wharf cluster token`). Handlers decode, call the node service, encode.
//
//	GET    /wharf/v1/cluster/nodes                 []wharf.ClusterNode
//	POST   /wharf/v1/cluster/nodes/{ref}/update    wharf.ClusterNodeUpdate -> wharf.ClusterNode
//	DELETE /wharf/v1/cluster/nodes/{ref}?force=1
//	GET    /wharf/v1/cluster/tokens                wharf.ClusterTokens
//	GET    /wharf/v1/cluster/services?cluster=C    []wharf.ClusterService
//	GET    /wharf/v1/cluster/services/{name}/tasks?cluster=C  []wharf.ClusterTask
//	GET    /wharf/v1/cluster/secrets               []wharf.ClusterSecret (never a value)
//	POST   /wharf/v1/cluster/secrets               wharf.ClusterSecretCreate -> 201 wharf.ClusterSecret
//	GET    /wharf/v1/cluster/secrets/{name}        wharf.ClusterSecret
//	DELETE /wharf/v1/cluster/secrets/{name}
//	POST   /wharf/v1/cluster/stacks/{name}?cluster=C   wharf.StackDeploy -> wharf.StackDeployResult
//	GET    /wharf/v1/cluster/stacks?cluster=C          []wharf.ClusterStack
//	DELETE /wharf/v1/cluster/stacks/{name}?cluster=C   {"Removed": [service...]}
package clusterapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/cluster/agent"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/httperr"
)

// Nodes is the node service (agent.Nodes).
type Nodes interface {
	List(ctx context.Context) ([]agent.NodeView, error)
	Update(ctx context.Context, ref, availability string, set map[string]string, rm []string) (agent.NodeView, error)
	Remove(ctx context.Context, ref string, force bool) error
}

// Tokens returns the join tokens (member.Node.Tokens).
type Tokens func() (worker, manager string, err error)

// Prefix is the paths this handler serves.
const Prefix = wharf.Prefix + "/cluster/"

// Services reads the cluster's services and their tasks (tasks.Runtime).
type Services interface {
	ListServices(ctx context.Context, cluster string) ([]state.Service, error)
	GetService(ctx context.Context, cluster, name string) (state.Service, error)
	List(ctx context.Context, f tasks.Filter) ([]state.Task, error)
}

// Option configures the handler.
type Option func(*handler)

// WithServices serves the services paths from svcs.
func WithServices(svcs Services) Option { return func(h *handler) { h.services = svcs } }

// New returns the handler; nodes nil means the daemon is in no cluster.
func New(nodes Nodes, tokens Tokens, self string, opts ...Option) http.Handler {
	h := &handler{nodes: nodes, tokens: tokens, self: self}
	for _, o := range opts {
		o(h)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"services", h.wrap(h.listServices))
	mux.HandleFunc("GET "+Prefix+"services/{name}/tasks", h.wrap(h.serviceTasks))
	mux.HandleFunc("GET "+Prefix+"nodes", h.wrap(h.list))
	mux.HandleFunc("POST "+Prefix+"nodes/{ref}/update", h.wrap(h.update))
	mux.HandleFunc("DELETE "+Prefix+"nodes/{ref}", h.wrap(h.remove))
	mux.HandleFunc("GET "+Prefix+"tokens", h.wrap(h.getTokens))
	mux.HandleFunc("GET "+Prefix+"secrets", h.wrap(h.listSecrets))
	mux.HandleFunc("POST "+Prefix+"secrets", h.wrap(h.createSecret))
	mux.HandleFunc("GET "+Prefix+"secrets/{name}", h.wrap(h.inspectSecret))
	mux.HandleFunc("DELETE "+Prefix+"secrets/{name}", h.wrap(h.removeSecret))
	mux.HandleFunc("POST "+Prefix+"stacks/{name}", h.wrap(h.deployStack))
	mux.HandleFunc("GET "+Prefix+"stacks", h.wrap(h.listStacks))
	mux.HandleFunc("DELETE "+Prefix+"stacks/{name}", h.wrap(h.removeStack))
	return mux
}

type handler struct {
	nodes    Nodes
	tokens   Tokens
	self     string
	services Services
	secrets  Secrets
	stacks   Stacks
}

func (h *handler) wrap(f func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fmt.Errorf("this daemon is in no cluster (wharf daemon --cluster-init or --join): %w", errdefs.ErrConflict)
		if h.nodes != nil {
			err = f(w, r)
		}
		if err != nil {
			writeJSON(w, httperr.Status(err), map[string]string{"message": httperr.Message(err)})
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *handler) view(n agent.NodeView) wharf.ClusterNode {
	return wharf.ClusterNode{ID: n.ID, Name: n.Name, Addr: n.Addr, Status: n.Status, Availability: n.Availability,
		Manager: n.Manager, Leader: n.Leader, CPU: n.CPU, MemoryMiB: n.MemoryMiB, Attributes: n.Attributes,
		Labels: n.Labels, LastHeartbeat: n.LastHeartbeat, Self: n.ID == h.self}
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) error {
	ns, err := h.nodes.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]wharf.ClusterNode, 0, len(ns))
	for _, n := range ns {
		out = append(out, h.view(n))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) update(w http.ResponseWriter, r *http.Request) error {
	var u wharf.ClusterNodeUpdate
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&u); err != nil {
		return fmt.Errorf("invalid JSON body: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	n, err := h.nodes.Update(r.Context(), r.PathValue("ref"), u.Availability, u.LabelAdd, u.LabelRm)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.view(n))
	return nil
}

func (h *handler) remove(w http.ResponseWriter, r *http.Request) error {
	if err := h.nodes.Remove(r.Context(), r.PathValue("ref"), r.URL.Query().Get("force") == "1"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) getTokens(w http.ResponseWriter, r *http.Request) error {
	wk, mg, err := h.tokens()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wharf.ClusterTokens{Worker: wk, Manager: mg})
	return nil
}
