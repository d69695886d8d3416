package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
)

// NodeView is a node as `wharf node ls` and ECS's container instances
// show it: its registration, its status and whether it leads.
type NodeView struct {
	state.Node
	Status        string
	Leader        bool
	LastHeartbeat time.Time
	Running       int
}

// Nodes reads and changes node records.
type Nodes struct {
	st  *state.Store
	now func() time.Time
}

// NewNodes returns the node service on st.
func NewNodes(st *state.Store) *Nodes { return &Nodes{st: st, now: time.Now} }

// List returns every node with its status, by name.
func (s *Nodes) List(ctx context.Context) ([]NodeView, error) {
	ns, err := s.st.Nodes().List(ctx)
	if err != nil {
		return nil, err
	}
	hbs, err := s.st.Heartbeats().List(ctx)
	if err != nil {
		return nil, err
	}
	last := map[string]state.Entry[state.Heartbeat]{}
	for _, h := range hbs {
		last[h.Key] = h
	}
	now := s.now()
	out := make([]NodeView, 0, len(ns))
	for _, n := range ns {
		h := last[n.Key]
		v := NodeView{Node: n.Value, LastHeartbeat: h.Created, Status: state.NodeStatus(h.Created, now, DownAfter)}
		if v.Status == state.StatusReady {
			v.Leader = h.Value.Leader
			v.Running = h.Value.RunningContainers
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	return out, nil
}

// Resolve finds a node by id, name or unique id prefix.
func (s *Nodes) Resolve(ctx context.Context, ref string) (NodeView, error) {
	all, err := s.List(ctx)
	if err != nil {
		return NodeView{}, err
	}
	var cands []NodeView
	for _, n := range all {
		if n.ID == ref || n.Name == ref {
			return n, nil
		}
		if strings.HasPrefix(n.ID, ref) {
			cands = append(cands, n)
		}
	}
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		return NodeView{}, fmt.Errorf("node %s not found: %w", ref, errdefs.ErrNotFound)
	}
	return NodeView{}, fmt.Errorf("node %s is ambiguous (%d matches): %w", ref, len(cands), errdefs.ErrInvalidArgument)
}

// Update changes a node's availability ("": unchanged) and labels (set,
// and removed by key), retrying a lost race.
func (s *Nodes) Update(ctx context.Context, ref, availability string, set map[string]string, rm []string) (NodeView, error) {
	switch availability {
	case "", state.AvailabilityActive, state.AvailabilityDrain:
	default:
		return NodeView{}, fmt.Errorf("availability %q: want ACTIVE or DRAINING: %w", availability, errdefs.ErrInvalidArgument)
	}
	for k := range set {
		if k == "" {
			return NodeView{}, fmt.Errorf("a label needs a key: %w", errdefs.ErrInvalidArgument)
		}
	}
	v, err := s.Resolve(ctx, ref)
	if err != nil {
		return v, err
	}
	nodes := s.st.Nodes()
	for attempt := 0; attempt < 20; attempt++ {
		e, err := nodes.Get(ctx, v.ID)
		if err != nil {
			return v, err
		}
		n := e.Value
		if availability != "" {
			n.Availability = availability
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		for k, val := range set {
			n.Labels[k] = val
		}
		for _, k := range rm {
			delete(n.Labels, k)
		}
		if _, err := nodes.Update(ctx, v.ID, n, e.Revision); errdefs.IsConflict(err) {
			continue
		} else if err != nil {
			return v, err
		}
		v.Node = n
		return v, nil
	}
	return v, fmt.Errorf("node %s: too many concurrent updates: %w", ref, errdefs.ErrConflict)
}

// Remove deletes a node's record; a READY node only with force, as
// `docker node rm` has it.
func (s *Nodes) Remove(ctx context.Context, ref string, force bool) error {
	v, err := s.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	if v.Status == state.StatusReady && !force {
		return fmt.Errorf("node %s is READY: stop its daemon first, or use --force: %w", v.Name, errdefs.ErrConflict)
	}
	if err := s.st.Nodes().Delete(ctx, v.ID, 0); err != nil {
		return err
	}
	if err := s.st.Heartbeats().Delete(ctx, v.ID, 0); err != nil {
		return err
	}
	// Its task subnet is free for another node; the others drop their
	// route to it as its record goes.
	return s.st.ReleaseSubnets(ctx, v.ID)
}
