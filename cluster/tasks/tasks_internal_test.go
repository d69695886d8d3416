package tasks

import (
	"encoding/json"
	"testing"

	"github.com/wharf-dev/wharf/cluster/state"
)

// Placement skips STOPPED records before decoding them by their stored
// JSON: a STOPPED task is recognised, a live one is never taken for one,
// even when a value of its own spells the marker out.
func TestRecordStopped(t *testing.T) {
	marker := `"lastStatus":"STOPPED"`
	for _, c := range []struct {
		task state.Task
		want bool
	}{
		{state.Task{ID: "a", LastStatus: "STOPPED", DesiredStatus: "STOPPED"}, true},
		{state.Task{ID: "b", LastStatus: "RUNNING", DesiredStatus: "STOPPED"}, false},
		{state.Task{ID: "c", LastStatus: "PROVISIONING", DesiredStatus: "RUNNING", StoppedReason: marker,
			Tags: []state.Tag{{Key: marker, Value: marker}}}, false},
		{state.Task{ID: "d", LastStatus: "RUNNING", Containers: []state.TaskContainer{{Name: "x", Status: "STOPPED"}}}, false},
	} {
		raw, err := json.Marshal(c.task)
		if err != nil {
			t.Fatal(err)
		}
		if got := state.StoppedTaskRecord(raw); got != c.want {
			t.Errorf("task %s (%s): StoppedTaskRecord %v, want %v", c.task.ID, raw, got, c.want)
		}
	}
}

// The controller's frequent passes skip STOPPED tasks of no service; a
// service's STOPPED task (its accounting and circuit breaker read it) and
// every live task are decoded.
func TestStoppedStandalone(t *testing.T) {
	for _, c := range []struct {
		task state.Task
		want bool
	}{
		{state.Task{ID: "batch", LastStatus: "STOPPED", StartedBy: "batch/j:1"}, true},
		{state.Task{ID: "svc", LastStatus: "STOPPED", Service: "web"}, false},
		{state.Task{ID: "svc-accounted", LastStatus: "STOPPED", Service: "web", Accounted: true}, false},
		{state.Task{ID: "live", LastStatus: "RUNNING"}, false},
	} {
		raw, err := json.Marshal(c.task)
		if err != nil {
			t.Fatal(err)
		}
		if got := stoppedStandalone(raw); got != c.want {
			t.Errorf("task %s (%s): stoppedStandalone %v, want %v", c.task.ID, raw, got, c.want)
		}
	}
}
