package agent

import (
	"context"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/engine/container"
)

// A task's isolation and limits on the node.
//
// Task size: a task whose definition (or overrides) set a task-level cpu
// or memory gets a cgroup of its own, TaskCgroupParent, holding those as
// limits, and its containers' cgroups go below it: the task's size is the
// hard ceiling of all its containers together, as on ECS (a container's
// own memory limit still applies inside it). The cgroup is removed with
// the task's last container.
//
// FARGATE: the task's containers run in a user namespace (root inside,
// an unprivileged range of host ids outside, the image's layers
// idmapped): on the task network, the task's one user namespace, which
// all its containers share with its network namespace
// (container.HostConfig.UsernsShare, awsvpc.go); elsewhere, one of each
// container's own (container.HostConfig.PrivateUserns). They run under the
// runtime WithFargateRuntime names when the daemon has one (runsc, gVisor,
// where it is installed and works). An EC2 task runs as ordinary
// containers.

// TaskCgroups is what the runner needs of the engine to cap a task's
// containers together (container.Engine). SetCgroupParent creates the
// parent with its limits, before any container goes below it;
// RemoveCgroupParent removes it once its containers are removed.
type TaskCgroups interface {
	SetCgroupParent(parent string, l container.CgroupLimits) error
	RemoveCgroupParent(ctx context.Context, parent string) error
}

// TaskCgroupParent is the cgroup of a task's containers.
func TaskCgroupParent(taskID string) string { return "/wharf-tasks/" + taskID }

// WithFargateRuntime names the engine runtime FARGATE tasks run under
// ("" for the engine's default); the daemon sets it after probing runsc.
func (r *Runner) WithFargateRuntime(name string) *Runner {
	r.fargateRuntime = name
	return r
}

// taskLimits are a task's size as cgroup limits, and whether it has one.
func taskLimits(td state.TaskDefinition) (container.CgroupLimits, bool) {
	cpu, mem := tasks.ParseCPU(td.Cpu), tasks.ParseMemory(td.Memory)
	// ECS's cpu units: 1024 to a vCPU.
	l := container.CgroupLimits{Memory: mem << 20, NanoCPUs: cpu * 1e9 / 1024}
	return l, cpu > 0 || mem > 0
}

// isolate applies the task's launch type and size to the create options
// of one of its containers, creating the task's cgroup when it has a
// size.
func (r *Runner) isolate(t state.Task, td state.TaskDefinition, o *container.CreateOptions) error {
	if fargate(t) {
		o.HostConfig.PrivateUserns = true
		o.HostConfig.Runtime = r.fargateRuntime
		if strings.HasPrefix(o.HostConfig.NetworkMode, "ns:") {
			// On the task network: the task's user namespace, which owns
			// the task's network namespace (awsvpc.go).
			o.HostConfig.UsernsShare = TaskUsernsName(t.ID)
		}
	}
	l, ok := taskLimits(td)
	if !ok {
		return nil
	}
	tc, can := r.engine.(TaskCgroups)
	if !can {
		r.log.Warn("cluster: the engine cannot cap a task's containers together; the task's size is not enforced", "task", t.ID)
		return nil
	}
	parent := TaskCgroupParent(t.ID)
	if err := tc.SetCgroupParent(parent, l); err != nil {
		return err
	}
	o.HostConfig.CgroupParent = parent
	return nil
}

// releaseTask removes the task's cgroup, in the background: the runtime
// removes its containers' cgroups shortly after their removal.
func (r *Runner) releaseTask(ctx context.Context, taskID string) {
	tc, ok := r.engine.(TaskCgroups)
	if !ok {
		return
	}
	go func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := tc.RemoveCgroupParent(cctx, TaskCgroupParent(taskID)); err != nil {
			r.log.Warn("cluster: removing a task's cgroup", "task", taskID, "err", err)
		}
	}()
}
