package dockerapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network"
)

// The Docker API's create goes through the engine's one translation, so
// it answers as dockerd where its own copy did not: an empty list of port
// bindings publishes the port on a random host port (dockerd before API
// 1.53), a --mount is validated before anything is created, a null
// endpoint is refused, and a tmpfs-mode keeps its sticky bit.
func TestDockerAPICreateTranslation(t *testing.T) {
	cs := &logContainers{fakeContainers: fakeContainers{byID: map[string]*container.Container{}}}
	s := New(cs, presentImages{}, fakeSystem{})
	defer s.Close()

	code, body := do(t, s, "POST", "/v1.44/containers/create", `{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":[]},`+
		`"Mounts":[{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"Mode":1023}}]}}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	hc := cs.created.HostConfig
	if want := []network.PortBinding{{Proto: "tcp", ContainerPort: 80}}; len(hc.PortBindings) != 1 || hc.PortBindings[0] != want[0] {
		t.Errorf("port bindings %+v, want %+v", hc.PortBindings, want)
	}
	if len(hc.Mounts) != 1 || hc.Mounts[0].TmpfsMode != 0o1777 {
		t.Errorf("mounts %+v, want a tmpfs of mode 1777", hc.Mounts)
	}

	for _, tc := range []struct{ req, msg string }{
		{`{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bind","Source":"rel","Target":"/x"}]}}`,
			`invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{`{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"npipe","Source":"x","Target":"/x"}]}}`,
			`invalid mount config for type "npipe": mount type unknown`},
		{`{"Image":"busybox","HostConfig":{"NetworkMode":"front"},"NetworkingConfig":{"EndpointsConfig":{"front":null}}}`,
			"invalid config for network front: EndpointsConfig is nil"},
	} {
		cs.created = container.CreateOptions{}
		code, body := do(t, s, "POST", "/v1.44/containers/create", tc.req)
		var e struct{ Message string }
		_ = json.Unmarshal([]byte(body), &e)
		if code != 400 || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("create %s: %d %s, want 400 %q", tc.req, code, body, tc.msg)
		}
		if cs.created.Config.Image != "" {
			t.Errorf("create %s reached the engine", tc.req)
		}
	}
}
