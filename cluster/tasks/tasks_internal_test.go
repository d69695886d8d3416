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
		if got := recordStopped(raw); got != c.want {
			t.Errorf("task %s (%s): recordStopped %v, want %v", c.task.ID, raw, got, c.want)
		}
	}
}
