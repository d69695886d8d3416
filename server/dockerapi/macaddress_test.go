package dockerapi

import (
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
)

// The container-wide MAC address moves to the main network's endpoint as
// dockerd moves it (handleMACAddressBC): before API 1.44 it is the only
// one honoured, from 1.44 it must agree with the endpoint's and is
// deprecated.
func TestMigrateMacAddress(t *testing.T) {
	const mac = "02:11:22:33:44:55"
	req := func(mode string, eps map[string]*container.EndpointOptions) *container.CreateRequest {
		return &container.CreateRequest{HostConfig: &container.HostConfigRequest{NetworkMode: mode}, Endpoints: eps}
	}
	// 1.41: the endpoint's own MAC is ignored, the container-wide one
	// applies to the main network.
	r := req("net1", map[string]*container.EndpointOptions{"net1": {MacAddress: "02:00:00:00:00:09"}})
	if w, err := migrateMacAddress(r, "", "1.41"); err != nil || w != "" || r.Endpoints["net1"].MacAddress != "" {
		t.Errorf("1.41 without a container-wide MAC: %q %v %+v", w, err, r.Endpoints["net1"])
	}
	r = req("", nil)
	if _, err := migrateMacAddress(r, mac, "1.41"); err != nil || r.Endpoints["bridge"] == nil || r.Endpoints["bridge"].MacAddress != mac {
		t.Errorf("1.41 with a container-wide MAC on the default network: %v %+v", err, r.Endpoints)
	}
	if _, err := migrateMacAddress(req("host", nil), mac, "1.41"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("1.41 with host networking: %v", err)
	}
	// 1.44: the endpoint's MAC stands; a container-wide one fills it in
	// with a warning, or must agree.
	r = req("net1", map[string]*container.EndpointOptions{"net1": {MacAddress: mac}})
	if w, err := migrateMacAddress(r, "", "1.44"); err != nil || w != "" || r.Endpoints["net1"].MacAddress != mac {
		t.Errorf("1.44 endpoint MAC: %q %v", w, err)
	}
	r = req("net1", map[string]*container.EndpointOptions{"net1": {}})
	if w, err := migrateMacAddress(r, mac, "1.44"); err != nil || w == "" || r.Endpoints["net1"].MacAddress != mac {
		t.Errorf("1.44 container-wide MAC: %q %v", w, err)
	}
	r = req("net1", map[string]*container.EndpointOptions{"net1": {MacAddress: "02:00:00:00:00:09"}})
	if _, err := migrateMacAddress(r, mac, "1.44"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("1.44 disagreeing MACs: %v", err)
	}
	r = req("net1", map[string]*container.EndpointOptions{"other": {}})
	if _, err := migrateMacAddress(r, mac, "1.44"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("1.44 with endpoints of another network only: %v", err)
	}
}
