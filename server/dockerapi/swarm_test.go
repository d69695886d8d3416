package dockerapi

import (
	"encoding/json"
	"testing"
)

// TestSwarmEndpointsAnswerAsANodeOutsideASwarm checks the answers dockerd
// 20.10 gives on a node that never joined a swarm (recorded with curl
// against it): 503 and its messages, which SDK clean-up code depends on.
func TestSwarmEndpointsAnswerAsANodeOutsideASwarm(t *testing.T) {
	s := New(&fakeContainers{}, nil, fakeSystem{})
	defer s.Close()
	for _, tc := range []struct {
		method, path string
		code         int
		msg          string
	}{
		{"POST", "/v1.41/swarm/leave", 503, errNoSwarm},
		{"POST", "/swarm/leave?force=1", 503, errNoSwarm},
		{"GET", "/v1.41/swarm", 503, errNotAManager},
		{"GET", "/swarm/unlockkey", 503, errNotAManager},
		{"POST", "/swarm/unlock", 503, errNotAManager},
		{"GET", "/v1.41/services", 503, errNotAManager},
		{"GET", "/services/x", 503, errNotAManager},
		{"POST", "/services/create", 503, errNotAManager},
		{"DELETE", "/services/x", 503, errNotAManager},
		{"GET", "/v1.41/nodes", 503, errNotAManager},
		{"GET", "/nodes/x", 503, errNotAManager},
		{"GET", "/tasks", 503, errNotAManager},
		{"GET", "/tasks/x", 503, errNotAManager},
		{"GET", "/secrets", 503, errNotAManager},
		{"POST", "/secrets/create", 503, errNotAManager},
		{"GET", "/configs", 503, errNotAManager},
		{"DELETE", "/configs/x", 503, errNotAManager},
		{"POST", "/swarm/init", 501, "swarm mode is not supported by this daemon"},
		{"POST", "/swarm/join", 501, "swarm mode is not supported by this daemon"},
	} {
		code, body := do(t, s, tc.method, tc.path, "{}")
		var e errorResponse
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != tc.code || e.Message != tc.msg {
			t.Errorf("%s %s: %d %s, want %d %q", tc.method, tc.path, code, body, tc.code, tc.msg)
		}
	}
	code, body := do(t, s, "GET", "/info", "")
	var info struct {
		Swarm struct{ LocalNodeState string }
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || code != 200 || info.Swarm.LocalNodeState != "inactive" {
		t.Errorf("info: %d %s", code, body)
	}
}
