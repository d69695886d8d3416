package agent

import (
	"context"
	"fmt"
	"testing"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/errdefs"
)

// fakeNets is a network driver holding networks by name.
type fakeNets map[string]*network.Network

func (f fakeNets) Inspect(_ context.Context, ref string) (*network.Network, error) {
	if n := f[ref]; n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("network %s: %w", ref, errdefs.ErrNotFound)
}

func (f fakeNets) Create(_ context.Context, o network.CreateOptions) (*network.Network, error) {
	if f[o.Name] != nil {
		return nil, fmt.Errorf("network %s exists: %w", o.Name, errdefs.ErrConflict)
	}
	n := &network.Network{ID: o.Name + "-id", Name: o.Name, Driver: o.Driver}
	f[o.Name] = n
	return n, nil
}

func TestEnsureTaskNetwork(t *testing.T) {
	ctx := context.Background()
	nets := fakeNets{}
	for i := 0; i < 2; i++ { // created, then found
		if err := EnsureTaskNetwork(ctx, nets, TaskNetwork); err != nil {
			t.Fatal(err)
		}
	}
	if n := nets[TaskNetwork]; n == nil || !n.HasDNS() {
		t.Fatalf("task network %+v", n)
	}
	nets["internal"] = &network.Network{Name: "internal", Driver: network.DriverBridge, Internal: true}
	nets["hostnet"] = &network.Network{Name: "hostnet", Driver: network.DriverHost}
	for _, name := range []string{"internal", "hostnet"} {
		if err := EnsureTaskNetwork(ctx, nets, name); !errdefs.IsConflict(err) {
			t.Errorf("%s: %v, want a conflict", name, err)
		}
	}
}

// Bridge-mode task containers join the task network; host and none
// containers keep their mode, and without the option nothing changes.
func TestRunnerTaskNetwork(t *testing.T) {
	td := state.TaskDefinition{Family: "f", Revision: 1, ContainerDefinitions: []state.ContainerDefinition{{Name: "c", Image: "busybox",
		PortMappings: []state.PortMapping{{ContainerPort: 80}}}}}
	task := state.Task{ID: "t1", Cluster: "default", Family: "f", Revision: 1}
	r := NewRunner(nil, "n1", nil, nil, nil, nil, WithTaskNetwork(TaskNetwork))
	for mode, want := range map[string]string{"bridge": TaskNetwork, "": TaskNetwork, "host": "host", "none": "none"} {
		td.NetworkMode = mode
		o, err := CreateOptions(task, td, "c")
		if err != nil {
			t.Fatal(err)
		}
		r.onTaskNetwork(&o)
		if o.HostConfig.NetworkMode != want {
			t.Errorf("networkMode %q: container on %q, want %q", mode, o.HostConfig.NetworkMode, want)
		}
		if want == TaskNetwork && len(o.HostConfig.PortBindings) != 1 {
			t.Errorf("networkMode %q: port bindings %v", mode, o.HostConfig.PortBindings)
		}
	}
	td.NetworkMode = "bridge"
	o, _ := CreateOptions(task, td, "c")
	NewRunner(nil, "n1", nil, nil, nil, nil).onTaskNetwork(&o)
	if o.HostConfig.NetworkMode != "bridge" {
		t.Errorf("without the option: %q", o.HostConfig.NetworkMode)
	}
}
