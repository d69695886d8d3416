package agent

import (
	"context"
	"fmt"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/errdefs"
)

// TaskNetwork is the user-defined bridge network that a node's
// bridge-mode task containers join instead of the default bridge: a
// user-defined network has an embedded DNS server, which answers the
// cluster's service names (cluster/mesh) besides its containers' names,
// and the tasks' published ports work the same on it.
const TaskNetwork = "wharf-tasks"

// RunnerOption configures a Runner.
type RunnerOption func(*Runner)

// WithTaskNetwork has bridge-mode task containers join the network name
// (EnsureTaskNetwork creates it).
func WithTaskNetwork(name string) RunnerOption { return func(r *Runner) { r.network = name } }

// onTaskNetwork moves a bridge-mode task container onto the runner's
// task network.
func (r *Runner) onTaskNetwork(o *container.CreateOptions) {
	if r.network != "" && o.HostConfig.NetworkMode == "bridge" {
		o.HostConfig.NetworkMode = r.network
	}
}

// Networks is what EnsureTaskNetwork needs of the node's network driver
// (network.Manager).
type Networks interface {
	Inspect(ctx context.Context, ref string) (*network.Network, error)
	Create(ctx context.Context, o network.CreateOptions) (*network.Network, error)
}

// EnsureTaskNetwork creates the node's task network (a bridge with a
// free /24 of the daemon's choice) unless it exists, and checks that it
// is a bridge network with an embedded DNS server.
func EnsureTaskNetwork(ctx context.Context, nets Networks, name string) error {
	n, err := nets.Inspect(ctx, name)
	if errdefs.IsNotFound(err) {
		n, err = nets.Create(ctx, network.CreateOptions{Name: name, Driver: network.DriverBridge,
			Labels: map[string]string{"com.wharf.cluster": "tasks"}})
		if errdefs.IsConflict(err) {
			n, err = nets.Inspect(ctx, name)
		}
	}
	if err != nil {
		return fmt.Errorf("the cluster's task network %s: %w", name, err)
	}
	if !n.HasDNS() || n.Internal {
		return fmt.Errorf("network %s exists but is not a bridge network with DNS that reaches out; remove it: %w", name, errdefs.ErrConflict)
	}
	return nil
}
