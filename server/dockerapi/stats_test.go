package dockerapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
)

// A single sample of a container that is not running is dockerd's empty
// one: name and id, a zero read time, empty pids_stats, no networks; the
// runtime is not asked (the fake has no Stats: calling it panics).
func TestDockerAPIStatsStopped(t *testing.T) {
	id := strings.Repeat("e", 64)
	c := &container.Container{ID: id, Name: "idle"}
	c.State.Status = container.StatusExited
	s := New(&fakeContainers{byID: map[string]*container.Container{id: c}}, &refImages{}, fakeSystem{})
	defer s.Close()
	code, body := do(t, s, "GET", "/v1.41/containers/"+id+"/stats?stream=0", "")
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("%d %s: %v", code, body, err)
	}
	pids, _ := json.Marshal(got["pids_stats"])
	if got["read"] != "0001-01-01T00:00:00Z" || string(pids) != "{}" || got["name"] != "/idle" || got["id"] != id || got["networks"] != nil {
		t.Errorf("stats of a stopped container: %s", body)
	}
}
