package agent

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// The awslogs log driver of a task's containers: what a container wrote
// is shipped to the cluster's task logs (state.AppendLogs) when its task
// is deprovisioned, before the container is removed and before the task
// is recorded STOPPED, so that whoever sees the task STOPPED (a Batch
// job's end) can read its whole log from any node, after the node is
// gone too. Groups and streams are named as ECS names them:
// awslogs-group, and <awslogs-stream-prefix>/<container name>/<task id>
// (the container's id without a prefix, as Docker's awslogs driver).
// A container that is still running when its node dies ships nothing.

// maxShippedLog bounds what one container ships; what it wrote beyond
// is dropped with a last line that says so.
const maxShippedLog = 16 << 20

// AwslogsTarget is the group and stream a task's container logs to, ok
// false when its definition does not log with awslogs.
func AwslogsTarget(t state.Task, cd state.ContainerDefinition, containerID string) (group, stream string, ok bool) {
	lc := cd.LogConfiguration
	if lc == nil || lc.LogDriver != "awslogs" || lc.Options["awslogs-group"] == "" {
		return "", "", false
	}
	group = lc.Options["awslogs-group"]
	if p := lc.Options["awslogs-stream-prefix"]; p != "" {
		return group, p + "/" + cd.Name + "/" + t.ID, true
	}
	return group, containerID, true
}

// shipLogs ships container c's log if its definition in td says so.
func (r *Runner) shipLogs(ctx context.Context, t state.Task, td state.TaskDefinition, c *container.Container) {
	name := c.Config.Labels[LabelContainerName]
	var cd *state.ContainerDefinition
	for i := range td.ContainerDefinitions {
		if td.ContainerDefinitions[i].Name == name {
			cd = &td.ContainerDefinitions[i]
		}
	}
	if cd == nil {
		return
	}
	group, stream, ok := AwslogsTarget(t, *cd, c.ID)
	if !ok {
		return
	}
	var evs []state.LogEvent
	size, dropped := 0, 0
	err := r.engine.Logs(ctx, c.ID, container.LogsOptions{Stdout: true, Stderr: true, Tail: -1}, func(e logfile.Entry) error {
		if size+len(e.Log) > maxShippedLog {
			dropped += len(e.Log)
			return nil
		}
		size += len(e.Log)
		evs = append(evs, state.LogEvent{Time: e.Time, Message: strings.TrimSuffix(e.Log, "\n")})
		return nil
	})
	if err != nil {
		r.log.Warn("cluster: reading a task container's log to ship it", "task", t.ID, "container", name, "err", err)
	}
	if dropped > 0 {
		evs = append(evs, state.LogEvent{Time: time.Now().UTC(), Message: "[wharf] " + strconv.Itoa(dropped) + " more bytes of this container's log were not shipped (16 MiB per container)"})
	}
	if len(evs) == 0 {
		return
	}
	// A cluster without quorum for a moment: a few tries, then the task
	// stops without its log rather than never.
	for try := 0; ; try++ {
		err = r.st.AppendLogs(ctx, group, stream, evs)
		if err == nil || try == 2 || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second << try):
		}
	}
	if err != nil {
		r.log.Warn("cluster: shipping a task container's log", "task", t.ID, "container", name, "group", group, "stream", stream, "err", err)
	}
}
