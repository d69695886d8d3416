package state

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestTaskLogs(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	read := func(group, stream string) ([]string, error) {
		var out []string
		err := s.ReadLogs(ctx, group, stream, func(e LogEvent) error {
			out = append(out, e.Message)
			return nil
		})
		return out, err
	}
	if _, err := read("/aws/batch/job", "def/default/none"); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown stream: %v, want not found", err)
	}
	now := time.Now()
	// Two streams whose names only differ after a '.' and a '/' must not
	// mix; a batch too large for one message is split in order.
	big := strings.Repeat("x", 100<<10)
	var evs []LogEvent
	for i := range 8 {
		evs = append(evs, LogEvent{Time: now, Message: fmt.Sprintf("%d %s", i, big)})
	}
	if err := s.AppendLogs(ctx, "/ecs/web", "web/app/1.2", evs); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLogs(ctx, "/ecs/web", "web/app/1", []LogEvent{{Time: now, Message: "other"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLogs(ctx, "/ecs/web", "web/app/1.2", []LogEvent{{Time: now, Message: "last"}}); err != nil {
		t.Fatal(err)
	}
	got, err := read("/ecs/web", "web/app/1.2")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 9 || got[8] != "last" {
		t.Fatalf("read %d events, want 9 ending with last", len(got))
	}
	for i := range 8 {
		if !strings.HasPrefix(got[i], fmt.Sprint(i)+" ") {
			t.Fatalf("event %d out of order: %.10q", i, got[i])
		}
	}
	if got, err := read("/ecs/web", "web/app/1"); err != nil || len(got) != 1 || got[0] != "other" {
		t.Fatalf("second stream: %q %v", got, err)
	}
	// One event over a message's size is cut, not refused.
	if err := s.AppendLogs(ctx, "g", "huge", []LogEvent{{Time: now, Message: strings.Repeat("y", LogBatchMax+10)}}); err != nil {
		t.Fatal(err)
	}
	if got, err := read("g", "huge"); err != nil || len(got) != 1 || len(got[0]) >= LogBatchMax {
		t.Fatalf("huge event: %d events, %v", len(got), err)
	}
	idx, err := s.LogIndex(ctx, "/ecs/web")
	if err != nil || len(idx) != 2 || idx[0].Stream != "web/app/1" || idx[1].Stream != "web/app/1.2" || idx[1].Batches < 3 {
		t.Fatalf("index of /ecs/web: %+v %v", idx, err)
	}
	if all, err := s.LogIndex(ctx, ""); err != nil || len(all) != 3 || all[2].Group != "g" {
		t.Fatalf("index: %+v %v", all, err)
	}
	if err := s.AppendLogs(ctx, "", "x", nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("empty group: %v", err)
	}
}
