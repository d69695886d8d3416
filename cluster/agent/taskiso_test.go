package agent

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/engine/container"
)

// cgroupEngine is the fake engine with task cgroups recorded.
type cgroupEngine struct {
	*fakeEngine
	mu      sync.Mutex
	set     map[string]container.CgroupLimits
	removed chan string
}

func (c *cgroupEngine) SetCgroupParent(parent string, l container.CgroupLimits) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set[parent] = l
	return nil
}

func (c *cgroupEngine) RemoveCgroupParent(_ context.Context, parent string) error {
	c.removed <- parent
	return nil
}

func TestTaskIsolation(t *testing.T) {
	eng := &cgroupEngine{fakeEngine: newFakeEngine(t), set: map[string]container.CgroupLimits{}, removed: make(chan string, 1)}
	r := NewRunner(nil, "n1", eng, nil, nil, slog.New(slog.DiscardHandler)).WithFargateRuntime("runsc")
	td := state.TaskDefinition{Family: "f", Revision: 1, ContainerDefinitions: []state.ContainerDefinition{{Name: "main", Image: "busybox"}}}
	opts := func(t *testing.T, task state.Task, td state.TaskDefinition) container.CreateOptions {
		t.Helper()
		o, err := CreateOptions(task, td, "main")
		if err != nil {
			t.Fatal(err)
		}
		if err := r.isolate(task, td, &o); err != nil {
			t.Fatal(err)
		}
		return o
	}

	// EC2 without a task size: an ordinary container.
	o := opts(t, state.Task{ID: "t1", LaunchType: "EC2"}, td)
	if o.HostConfig.PrivateUserns || o.HostConfig.Runtime != "" || o.HostConfig.CgroupParent != "" {
		t.Fatalf("EC2 task without a size: %+v", o.HostConfig)
	}

	// EC2 with a size: the task cgroup, nothing else.
	sized := td
	sized.Memory, sized.Cpu = "64", "512"
	o = opts(t, state.Task{ID: "t2", LaunchType: "EC2"}, sized)
	if o.HostConfig.PrivateUserns || o.HostConfig.CgroupParent != "/wharf-tasks/t2" {
		t.Fatalf("EC2 task with a size: %+v", o.HostConfig)
	}
	if l := eng.set["/wharf-tasks/t2"]; l.Memory != 64<<20 || l.NanoCPUs != 5e8 {
		t.Fatalf("task limits %+v", l)
	}

	// FARGATE: user namespace, the sandbox runtime, the task cgroup.
	fg := td
	fg.Memory, fg.Cpu = "2 GB", "1 vCPU"
	o = opts(t, state.Task{ID: "t3", LaunchType: "FARGATE"}, fg)
	if !o.HostConfig.PrivateUserns || o.HostConfig.Runtime != "runsc" || o.HostConfig.CgroupParent != "/wharf-tasks/t3" {
		t.Fatalf("FARGATE task: %+v", o.HostConfig)
	}
	if l := eng.set["/wharf-tasks/t3"]; l.Memory != 2048<<20 || l.NanoCPUs != 1e9 {
		t.Fatalf("FARGATE limits %+v", l)
	}
	if o.HostConfig.UsernsShare != "" {
		t.Fatalf("a FARGATE container on a bridge network in the task's shared user namespace: %+v", o.HostConfig)
	}
	// On the task network (the task's namespace, by path): the task's
	// one user namespace.
	o, err := CreateOptions(state.Task{ID: "t4", LaunchType: "FARGATE"}, fg, "main")
	if err != nil {
		t.Fatal(err)
	}
	o.HostConfig.NetworkMode = "ns:/run/wharf/netns/t4"
	if err := r.isolate(state.Task{ID: "t4", LaunchType: "FARGATE"}, fg, &o); err != nil {
		t.Fatal(err)
	}
	if !o.HostConfig.PrivateUserns || o.HostConfig.UsernsShare != TaskUsernsName("t4") {
		t.Fatalf("FARGATE task on the task network: %+v", o.HostConfig)
	}

	r.releaseTask(context.Background(), "t3")
	select {
	case p := <-eng.removed:
		if p != "/wharf-tasks/t3" {
			t.Fatalf("removed %s", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the task cgroup was not removed")
	}
}
