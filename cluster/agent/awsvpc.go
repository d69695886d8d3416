package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/errdefs"
)

// An awsvpc task's network, as ECS's: the task has one network namespace
// with its own address on the cluster's task network (tasknet.go), and
// every container of the task joins it — they talk over localhost, a
// container port is the port the task serves on its address, and nothing
// is published on the node.
//
// The namespace is the agent's, not a container's (ECS holds it with a
// pause container): a network sandbox of the node's driver on
// AwsvpcNetwork under the id TaskSandboxID(task), set up when the task
// is provisioned and torn down when it is deprovisioned. The containers
// join it by path (network mode "ns:<path>"), so a container that
// restarts or exits takes nothing from the others; the engine keeps a
// sandbox that running containers join across a daemon restart. A
// sandbox found gone when a container starts (the node restarted) is set
// up again, with the address the pool gives then.
//
// A FARGATE task is on it too, as every Fargate task is awsvpc on ECS.
// Its containers run in user namespaces (no host root), and runc, which
// joins a container's user namespace before its other namespaces, could
// not join a network namespace owned by the host's from there. So the
// task has one user namespace for all its containers, the engine's
// shared user namespace TaskUsernsName(task) (one id range of the
// engine's pool for the whole task, recorded, see the engine's
// usernsshare.go), and its sandbox's network namespace is made inside
// it: the engine makes both together (SharedUsernsNetNS) and the network
// driver pins the network namespace as the sandbox's (NetNSFrom). The
// containers are created with HostConfig.UsernsShare and join both. A
// daemon restart keeps the range (its record), the pinned user
// namespace and, while a container of the task runs, the sandbox; the
// range is given back once the task's containers and sandbox are gone.

// sandboxSuffix ends the id of an awsvpc task's sandbox.
const sandboxSuffix = "-awsvpc"

// TaskSandboxID is the network sandbox id of an awsvpc task: the task id
// first, since the driver names the sandbox's namespace and veth after
// the id's first characters, which must be the task's own.
func TaskSandboxID(taskID string) string { return taskID + sandboxSuffix }

// awsvpcWait bounds how long a task waits for the node's task network
// to come up before it fails to start.
const awsvpcWait = time.Minute

// WithTaskNet runs awsvpc tasks on the node's task network tn, their
// sandboxes made by nets.
func WithTaskNet(tn *TaskNet, nets TaskNetworks) RunnerOption {
	return func(r *Runner) { r.tasknet, r.tasknets = tn, nets }
}

// TaskUserns is what the runner needs of the engine to run a FARGATE
// task's containers in one user namespace (container.Engine's shared
// user namespaces). SharedUsernsNetNS takes the share's id range (once)
// and makes its user namespace with a network namespace owned by it,
// valid until done is called; ReleaseSharedUserns gives the range back
// once no container uses it (errdefs.ErrConflict before);
// SharedUsernses lists the shares that hold a range.
type TaskUserns interface {
	SharedUsernsNetNS(ctx context.Context, name string) (netns string, done func(), err error)
	ReleaseSharedUserns(ctx context.Context, name string) error
	SharedUsernses() []string
}

// usernsPrefix starts the name of a task's shared user namespace.
const usernsPrefix = "task-"

// TaskUsernsName is the engine's shared user namespace of a FARGATE
// task.
func TaskUsernsName(taskID string) string { return usernsPrefix + taskID }

// awsvpc reports whether the runner puts the task on the task network.
func (r *Runner) awsvpc(t state.Task, td state.TaskDefinition) bool {
	return r.tasknet != nil && td.NetworkMode == "awsvpc"
}

// fargate reports whether the task runs on the FARGATE launch type.
func fargate(t state.Task) bool { return t.LaunchType == string(sched.LaunchFargate) }

// tasknetUp reports whether the node's task network is up.
func (r *Runner) tasknetUp() bool {
	select {
	case <-r.tasknet.Ready():
		return true
	default:
		return false
	}
}

// ensureTaskSandbox returns the task's sandbox, setting it up when it is
// missing.
func (r *Runner) ensureTaskSandbox(ctx context.Context, t state.Task) (*network.Sandbox, error) {
	select {
	case <-r.tasknet.Ready():
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(awsvpcWait):
		return nil, fmt.Errorf("the node's task network is not up (see the daemon's log): %w", errdefs.ErrUnavailable)
	}
	id := TaskSandboxID(t.ID)
	if sb, ok := r.tasknets.Sandbox(id); ok {
		return sb, nil
	}
	cfg := network.SandboxConfig{ContainerID: id, Name: "task-" + t.ID, Networks: []network.EndpointConfig{{Network: AwsvpcNetwork}}}
	if fargate(t) {
		// The namespace is made inside the task's user namespace, which
		// the task's containers join.
		tu, ok := r.engine.(TaskUserns)
		if !ok {
			return nil, fmt.Errorf("the node's engine cannot run a task's containers in one user namespace: %w", errdefs.ErrNotImplemented)
		}
		from, done, err := tu.SharedUsernsNetNS(ctx, TaskUsernsName(t.ID))
		if err != nil {
			return nil, fmt.Errorf("the task's user namespace: %w", err)
		}
		defer done()
		cfg.NetNSFrom = from
	}
	return r.tasknets.Setup(ctx, cfg)
}

// attachment is what the task's record says of its sandbox sb.
func (r *Runner) attachment(t state.Task, sb *network.Sandbox) *state.Attachment {
	sub, _ := r.tasknet.Subnet()
	a := &state.Attachment{ID: state.AttachmentID(t.ID), Status: state.AttachmentAttached, SubnetID: state.SubnetID(sub), Subnet: sub.String(),
		Interface: eniID(t.ID)}
	if len(sb.Endpoints) > 0 {
		a.IPv4, a.MAC = sb.Endpoints[0].IP.String(), sb.Endpoints[0].MAC
	}
	return a
}

// eniID is the interface id of a task, as EC2's: eni- and 17 hex digits.
func eniID(taskID string) string {
	return "eni-" + taskID[:min(17, len(taskID))]
}

// onAwsvpc puts a container of an awsvpc task into the task's namespace,
// with the task network's DNS server (it answers the cluster's service
// names) as its name server.
func (r *Runner) onAwsvpc(sb *network.Sandbox, o *container.CreateOptions) {
	o.HostConfig.NetworkMode = "ns:" + sb.NetNS
	o.HostConfig.PortBindings, o.HostConfig.PublishAllPorts = nil, false
	if len(sb.Endpoints) > 0 && sb.Endpoints[0].DNS.IsValid() {
		o.HostConfig.Dns = []string{sb.Endpoints[0].DNS.String()}
	}
}

// releaseTaskSandbox frees the task's address, then its user namespace
// (a FARGATE task's).
func (r *Runner) releaseTaskSandbox(ctx context.Context, taskID string) {
	if r.tasknets != nil {
		if _, ok := r.tasknets.Sandbox(TaskSandboxID(taskID)); ok {
			if err := r.tasknets.Teardown(ctx, TaskSandboxID(taskID)); err != nil {
				r.log.Warn("cluster: releasing an awsvpc task's address", "task", taskID, "err", err)
			}
		}
	}
	r.releaseTaskUserns(ctx, taskID)
}

// releaseTaskUserns gives the task's user namespace range back, if it
// has one; one still used by a container (whose removal failed) is
// released by a later resync.
func (r *Runner) releaseTaskUserns(ctx context.Context, taskID string) {
	tu, ok := r.engine.(TaskUserns)
	if !ok {
		return
	}
	err := tu.ReleaseSharedUserns(ctx, TaskUsernsName(taskID))
	switch {
	case err == nil, errdefs.IsNotFound(err):
	case errdefs.IsConflict(err):
		r.log.Info("cluster: a task's user namespace is still in use; released later", "task", taskID, "err", err)
	default:
		r.log.Warn("cluster: releasing a task's user namespace", "task", taskID, "err", err)
	}
}

// sweepTaskSandboxes frees the sandboxes and user namespaces of tasks
// the node no longer has (known: the task ids of resync's read; a task
// missing from it whose record is there is adopted instead).
func (r *Runner) sweepTaskSandboxes(ctx context.Context, known map[string]bool) {
	left := map[string]bool{}
	if r.tasknets != nil {
		if n, err := r.tasknets.Inspect(ctx, AwsvpcNetwork); err == nil {
			for id := range n.Containers {
				if task, ok := strings.CutSuffix(id, sandboxSuffix); ok && !known[task] {
					left[task] = true
				}
			}
		}
	}
	if tu, ok := r.engine.(TaskUserns); ok {
		for _, name := range tu.SharedUsernses() {
			if task, ok := strings.CutPrefix(name, usernsPrefix); ok && !known[task] {
				left[task] = true
			}
		}
	}
	for task := range left {
		if !r.adopt(ctx, task) {
			r.log.Info("cluster: releasing the address and user namespace of a task the cluster no longer has", "task", task)
			r.releaseTaskSandbox(ctx, task)
		}
	}
}
