package main

import (
	"context"
	"log/slog"

	"github.com/wharf-dev/wharf/cluster/agent"
	"github.com/wharf-dev/wharf/cluster/mesh"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/engine/network"
)

// meshNetworks is the node's network driver as the mesh needs it: the
// task network, and the embedded DNS servers' Discovery.
type meshNetworks interface {
	agent.Networks
	SetDiscovery(network.Discovery)
}

// startMesh starts the node's service discovery and routing mesh until
// ctx ends, and returns the task runner's options: its bridge-mode
// containers join the task network, whose DNS answers the services.
// Without the task network (it could not be made) the mesh still
// publishes the services' ports and answers on user-defined networks.
func startMesh(ctx context.Context, st *state.Store, nets meshNetworks, log *slog.Logger) []agent.RunnerOption {
	m := mesh.New(st, log)
	nets.SetDiscovery(m)
	go m.Run(ctx)
	if err := agent.EnsureTaskNetwork(ctx, nets, agent.TaskNetwork); err != nil {
		log.Error("cluster: tasks stay on the default bridge, without the services' names", "err", err)
		return nil
	}
	return []agent.RunnerOption{agent.WithTaskNetwork(agent.TaskNetwork)}
}
