package clusterapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/errdefs"
)

func clusterOf(r *http.Request) string {
	if c := r.URL.Query().Get("cluster"); c != "" {
		return c
	}
	return "default"
}

func (h *handler) needServices() error {
	if h.services == nil {
		return fmt.Errorf("this daemon serves no services: %w", errdefs.ErrConflict)
	}
	return nil
}

func (h *handler) serviceView(s state.Service, ts []state.Task) wharf.ClusterService {
	counts := tasks.ServiceCounts(ts)
	out := wharf.ClusterService{Name: s.Name, Cluster: s.Cluster, Status: s.Status, TaskDefinition: s.Family + ":" + strconv.Itoa(s.Revision),
		LaunchType: s.LaunchType, DesiredCount: s.DesiredCount, RunningCount: counts[""].Running, PendingCount: counts[""].Pending,
		Deployments: []wharf.ClusterDeployment{}}
	for _, d := range s.Deployments {
		c := counts[d.ID]
		out.Deployments = append(out.Deployments, wharf.ClusterDeployment{ID: d.ID, Status: d.Status, RolloutState: d.RolloutState,
			TaskDefinition: d.Family + ":" + strconv.Itoa(d.Revision), Running: c.Running, Pending: c.Pending, Failed: d.FailedTasks})
	}
	return out
}

func (h *handler) listServices(w http.ResponseWriter, r *http.Request) error {
	if err := h.needServices(); err != nil {
		return err
	}
	cluster := clusterOf(r)
	svcs, err := h.services.ListServices(r.Context(), cluster)
	if err != nil {
		return err
	}
	all, err := h.services.List(r.Context(), tasks.Filter{Cluster: cluster})
	if err != nil {
		return err
	}
	by := map[string][]state.Task{}
	for _, t := range all {
		if t.Service != "" {
			by[t.Service] = append(by[t.Service], t)
		}
	}
	out := make([]wharf.ClusterService, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, h.serviceView(s, by[s.Name]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) serviceTasks(w http.ResponseWriter, r *http.Request) error {
	if err := h.needServices(); err != nil {
		return err
	}
	cluster, name := clusterOf(r), r.PathValue("name")
	if _, err := h.services.GetService(r.Context(), cluster, name); err != nil {
		return fmt.Errorf("service %s not found in cluster %s: %w", name, cluster, errdefs.ErrNotFound)
	}
	ts, err := h.services.List(r.Context(), tasks.Filter{Cluster: cluster, Service: name})
	if err != nil {
		return err
	}
	names := map[string]string{}
	if ns, err := h.nodes.List(r.Context()); err == nil {
		for _, n := range ns {
			names[n.ID] = n.Name
		}
	}
	out := make([]wharf.ClusterTask, 0, len(ts))
	for _, t := range ts {
		ct := wharf.ClusterTask{ID: t.ID, Service: t.Service, TaskDefinition: t.Family + ":" + strconv.Itoa(t.Revision), NodeID: t.NodeID,
			Node: names[t.NodeID], DesiredStatus: t.DesiredStatus, LastStatus: t.LastStatus, Health: t.Health, StoppedReason: t.StoppedReason,
			CreatedAt: t.CreatedAt, StartedAt: t.StartedAt, Containers: []wharf.ClusterTaskContainer{}}
		for _, c := range t.Containers {
			ct.Containers = append(ct.Containers, wharf.ClusterTaskContainer{Name: c.Name, Status: c.Status, ExitCode: c.ExitCode, Health: c.Health})
		}
		out = append(out, ct)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
