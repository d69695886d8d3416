package state

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/errdefs"
)

// Task logs: what the awslogs log driver ships of a task's containers,
// kept in the cluster's JetStream so that it outlives the container and
// the node that ran it (ECS ships them to CloudWatch Logs). A log group
// and stream name a subject (both encoded, as they hold '/' and '.'); a
// message is one batch of events, oldest first.
const (
	logsStream  = "WHARF_TASK_LOGS"
	logsSubject = "wharf.tasklogs."
	// LogsMaxBytes bounds the whole stream: the oldest batches go first
	// (CloudWatch keeps a group's events until its retention; the
	// cluster's disk is the bound here).
	LogsMaxBytes = 512 << 20
	// LogBatchMax bounds one message (NATS's payload limit is 1 MiB).
	LogBatchMax = 256 << 10
	// maxLogName bounds a group or stream name (CloudWatch: 512).
	maxLogName = 512
)

// LogEvent is one line of a shipped log.
type LogEvent struct {
	Time    time.Time `json:"t"`
	Message string    `json:"m"`
}

// logSubject is the subject of a group's stream.
func logSubject(group, stream string) (string, error) {
	if group == "" || stream == "" || len(group) > maxLogName || len(stream) > maxLogName {
		return "", fmt.Errorf("log group %q, stream %q: names are 1-%d characters: %w", group, stream, maxLogName, errdefs.ErrInvalidArgument)
	}
	enc := base64.RawURLEncoding
	return logsSubject + enc.EncodeToString([]byte(group)) + "." + enc.EncodeToString([]byte(stream)), nil
}

// logsJS opens (creating it if it is missing) the task logs' stream.
func (s *Store) logsJS(ctx context.Context) (jetstream.Stream, error) {
	s.mu.Lock()
	st := s.logs
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	st, err := s.js.Stream(ctx, logsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = s.js.CreateStream(ctx, jetstream.StreamConfig{Name: logsStream, Subjects: []string{logsSubject + ">"},
			Storage: jetstream.FileStorage, Replicas: s.replicas, MaxBytes: LogsMaxBytes, Discard: jetstream.DiscardOld,
			MaxMsgSize: LogBatchMax + 4096})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = s.js.Stream(ctx, logsStream)
		}
	}
	if err != nil {
		return nil, classify(err)
	}
	s.mu.Lock()
	s.logs = st
	s.mu.Unlock()
	return st, nil
}

// AppendLogs appends events to a group's stream, in batches of at most
// LogBatchMax bytes; an event longer than that is cut.
func (s *Store) AppendLogs(ctx context.Context, group, stream string, events []LogEvent) error {
	subj, err := logSubject(group, stream)
	if err != nil {
		return err
	}
	if _, err := s.logsJS(ctx); err != nil {
		return err
	}
	// An event longer than a message allows is cut, in a copy: the
	// caller's events stay as they were.
	cut := false
	for i := range events {
		if len(events[i].Message) > LogBatchMax-64 {
			if !cut {
				events, cut = append([]LogEvent(nil), events...), true
			}
			events[i].Message = events[i].Message[:LogBatchMax-64]
		}
	}
	for len(events) > 0 {
		n, size := 0, 2
		for n < len(events) {
			sz := len(events[n].Message) + 48
			if n > 0 && size+sz > LogBatchMax {
				break
			}
			size += sz
			n++
		}
		b, err := json.Marshal(events[:n])
		if err != nil {
			return err
		}
		pctx, cancel := withTimeout(ctx)
		_, err = s.js.Publish(pctx, subj, b)
		cancel()
		if err != nil {
			return classify(err)
		}
		events = events[n:]
	}
	return nil
}

// ReadLogs calls each with a stream's events, oldest first;
// errdefs.ErrNotFound when the stream has none.
func (s *Store) ReadLogs(ctx context.Context, group, stream string, each func(LogEvent) error) error {
	subj, err := logSubject(group, stream)
	if err != nil {
		return err
	}
	st, err := s.logsJS(ctx)
	if err != nil {
		return err
	}
	found := false
	for seq := uint64(1); ; {
		gctx, cancel := withTimeout(ctx)
		m, err := st.GetMsg(gctx, seq, jetstream.WithGetMsgSubject(subj))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return classify(err)
		}
		found = true
		seq = m.Sequence + 1
		var evs []LogEvent
		if err := json.Unmarshal(m.Data, &evs); err != nil {
			return fmt.Errorf("log %s/%s: batch %d: %w", group, stream, m.Sequence, err)
		}
		for _, e := range evs {
			if err := each(e); err != nil {
				return err
			}
		}
	}
	if !found {
		return fmt.Errorf("log group %s has no stream %s: %w", group, stream, errdefs.ErrNotFound)
	}
	return nil
}

// LogStreamRef is a stream of the task logs.
type LogStreamRef struct {
	Group, Stream string
	// Batches is how many messages hold its events.
	Batches uint64
}

// LogIndex lists the task logs' streams (of group only, when it is not
// ""), sorted by group and stream.
func (s *Store) LogIndex(ctx context.Context, group string) ([]LogStreamRef, error) {
	st, err := s.logsJS(ctx)
	if err != nil {
		return nil, err
	}
	filter := logsSubject + ">"
	if group != "" {
		if len(group) > maxLogName {
			return nil, fmt.Errorf("log group %q: names are 1-%d characters: %w", group, maxLogName, errdefs.ErrInvalidArgument)
		}
		filter = logsSubject + base64.RawURLEncoding.EncodeToString([]byte(group)) + ".*"
	}
	ictx, cancel := withTimeout(ctx)
	defer cancel()
	info, err := st.Info(ictx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, classify(err)
	}
	out := make([]LogStreamRef, 0, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		g, sname, ok := strings.Cut(strings.TrimPrefix(subj, logsSubject), ".")
		if !ok {
			continue
		}
		gb, err1 := base64.RawURLEncoding.DecodeString(g)
		sb, err2 := base64.RawURLEncoding.DecodeString(sname)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, LogStreamRef{Group: string(gb), Stream: string(sb), Batches: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Stream < out[j].Stream
	})
	return out, nil
}
