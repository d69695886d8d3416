package main

import (
	"context"
	"fmt"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/logsapi"
)

// clusterLogSource serves, on every node of a cluster, the log groups
// tasks' containers ship to with the awslogs driver (cluster/agent's
// tasklogs.go): ECS services' and tasks' groups as their task
// definitions name them, and Batch's /aws/batch/job. It is the last
// source: groups of the other sources' prefixes are theirs.
type clusterLogSource struct{ st *state.Store }

// Prefix implements logsapi.Source: every name the other sources leave.
func (s clusterLogSource) Prefix() string { return "" }

func (s clusterLogSource) Groups(ctx context.Context) ([]logsapi.Group, error) {
	idx, err := s.st.LogIndex(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []logsapi.Group
	for i, r := range idx {
		if i == 0 || idx[i-1].Group != r.Group {
			out = append(out, logsapi.Group{Name: r.Group})
		}
	}
	return out, nil
}

func (s clusterLogSource) Group(ctx context.Context, name string) (logsapi.Group, error) {
	idx, err := s.st.LogIndex(ctx, name)
	if err != nil {
		return logsapi.Group{}, err
	}
	if len(idx) == 0 {
		return logsapi.Group{}, fmt.Errorf("The specified log group does not exist: %s: %w", name, errdefs.ErrNotFound)
	}
	return logsapi.Group{Name: name}, nil
}

func (s clusterLogSource) Streams(ctx context.Context, g logsapi.Group) ([]logsapi.StreamInfo, error) {
	idx, err := s.st.LogIndex(ctx, g.Name)
	if err != nil {
		return nil, err
	}
	out := make([]logsapi.StreamInfo, 0, len(idx))
	for _, r := range idx {
		si := logsapi.StreamInfo{Name: r.Stream}
		// Its first and last events' times: a stream is one task
		// container's, read once it ended.
		_ = s.st.ReadLogs(ctx, g.Name, r.Stream, func(e state.LogEvent) error {
			if si.First.IsZero() {
				si.First, si.Created = e.Time, e.Time
			}
			si.LastEvent = e.Time
			si.Bytes += int64(len(e.Message))
			return nil
		})
		out = append(out, si)
	}
	return out, nil
}

func (s clusterLogSource) Events(ctx context.Context, g logsapi.Group, each func(logsapi.Event) error) error {
	idx, err := s.st.LogIndex(ctx, g.Name)
	if err != nil {
		return err
	}
	for _, r := range idx {
		err := s.st.ReadLogs(ctx, g.Name, r.Stream, func(e state.LogEvent) error {
			return each(logsapi.Event{Stream: r.Stream, Time: e.Time, Message: e.Message})
		})
		if err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return nil
}
