package nativeapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
)

// The native API's create goes through the engine's one translation, so
// it reads a request as the Docker API (and dockerd) does: "default" is
// the default network, both as a network mode and as an endpoint's name,
// and a null endpoint is refused.
func TestNativeAPICreateTranslation(t *testing.T) {
	cs := newRecContainers()
	s := newRecServer(cs)

	code, body := serveReq(t, s, "POST", "/wharf/v1/containers/create", `{"Image":"busybox","HostConfig":{"NetworkMode":"default"},`+
		`"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":{"IPv4Address":"10.1.2.3"},"Aliases":["a"]}}}}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if m := cs.created.HostConfig.NetworkMode; m != "" {
		t.Errorf("network mode %q, want the default", m)
	}
	if ep, ok := cs.created.Endpoints["bridge"]; !ok || ep.IPv4Address != "10.1.2.3" || len(cs.created.Endpoints) != 1 {
		t.Errorf("endpoints %+v, want the default one on bridge", cs.created.Endpoints)
	}

	cs.created = container.CreateOptions{}
	code, body = serveReq(t, s, "POST", "/wharf/v1/containers/create", `{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"front":null}}}`)
	var e struct{ Message string }
	_ = json.Unmarshal([]byte(body), &e)
	if code != 400 || !strings.Contains(e.Message, "invalid config for network front: EndpointsConfig is nil") || cs.created.Config.Image != "" {
		t.Errorf("create with a null endpoint: %d %s", code, body)
	}
}
