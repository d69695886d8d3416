package dockerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	mnetwork "github.com/moby/moby/api/types/network"
	mvolume "github.com/moby/moby/api/types/volume"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
)

// fakeContainers implements the little of Containers these tests reach.
type fakeContainers struct {
	Containers
	byID map[string]*container.Container
}

func (f *fakeContainers) List(context.Context) []*container.Container { return nil }
func (f *fakeContainers) Get(_ context.Context, ref string) (*container.Container, error) {
	if c, ok := f.byID[ref]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
}

type fakeSystem struct{}

func (fakeSystem) Version() wharf.Version          { return wharf.Version{Version: "test"} }
func (fakeSystem) Info(context.Context) wharf.Info { return wharf.Info{} }

type fakeNetworks struct {
	nets    map[string]*network.Network
	created network.CreateOptions
}

func (f *fakeNetworks) Create(_ context.Context, o network.CreateOptions) (*network.Network, error) {
	for _, n := range f.nets {
		if n.Name == o.Name {
			return nil, fmt.Errorf("network with name %s already exists: %w", o.Name, errdefs.ErrConflict)
		}
	}
	f.created = o
	n := &network.Network{ID: strings.Repeat("c", 64), Name: o.Name, Driver: network.DriverBridge, Labels: o.Labels, Internal: o.Internal}
	f.nets[n.ID] = n
	return n, nil
}
func (f *fakeNetworks) List(context.Context) []*network.Network {
	var out []*network.Network
	for _, n := range f.nets {
		out = append(out, n)
	}
	return out
}
func (f *fakeNetworks) Inspect(_ context.Context, ref string) (*network.Network, error) {
	for id, n := range f.nets {
		if id == ref || n.Name == ref {
			return n, nil
		}
	}
	return nil, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
}
func (f *fakeNetworks) Remove(ctx context.Context, ref string) error {
	n, err := f.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	if len(n.Containers) > 0 {
		return fmt.Errorf("network %s has active endpoints: %w", n.Name, errdefs.ErrConflict)
	}
	delete(f.nets, n.ID)
	return nil
}
func (f *fakeNetworks) Prune(context.Context, func(*network.Network) bool) ([]string, error) {
	return nil, nil
}

type fakeConnector struct{ connected []string }

func (f *fakeConnector) ConnectNetwork(_ context.Context, ref, net string, o container.EndpointOptions) error {
	if ref != "cid" {
		return fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	f.connected = append(f.connected, net+" "+o.IPv4Address+" "+strings.Join(o.Aliases, ","))
	return nil
}
func (f *fakeConnector) DisconnectNetwork(context.Context, string, string, bool) error { return nil }
func (f *fakeConnector) NetworkInUse(string) bool                                      { return false }

type fakeVolumes struct{ vols map[string]*volume.Volume }

func (f *fakeVolumes) Create(_ context.Context, o volume.CreateOptions) (*volume.Volume, error) {
	v := &volume.Volume{Name: o.Name, Driver: "local", Mountpoint: "/v/" + o.Name, CreatedAt: time.Unix(0, 0), Labels: o.Labels}
	f.vols[o.Name] = v
	return v, nil
}
func (f *fakeVolumes) List(context.Context) []*volume.Volume {
	var out []*volume.Volume
	for _, v := range f.vols {
		out = append(out, v)
	}
	return out
}
func (f *fakeVolumes) Get(_ context.Context, name string) (*volume.Volume, error) {
	if v, ok := f.vols[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
}
func (f *fakeVolumes) Remove(_ context.Context, name string, force bool) error {
	v, ok := f.vols[name]
	if !ok {
		return fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
	}
	if len(v.UsedBy) > 0 && !force {
		return fmt.Errorf("remove %s: volume is in use: %w", name, errdefs.ErrConflict)
	}
	delete(f.vols, name)
	return nil
}
func (f *fakeVolumes) Prune(context.Context, bool, map[string]string) ([]string, uint64, error) {
	return nil, 0, nil
}

func do(t *testing.T, s *Server, method, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func TestDockerAPINetworksAndVolumes(t *testing.T) {
	sub := netip.MustParsePrefix("10.1.0.0/24")
	pool := &network.Pool{Subnet: sub, Range: sub, Gateway: netip.MustParseAddr("10.1.0.1")}
	nets := &fakeNetworks{nets: map[string]*network.Network{
		"b": {ID: "b", Name: "bridge", Driver: network.DriverBridge, Pool: pool, Bridge: "wharf0"},
		"h": {ID: "h", Name: "host", Driver: network.DriverHost},
		"n": {ID: "n", Name: "none", Driver: network.DriverNull},
		"u": {ID: "u", Name: "used", Driver: network.DriverBridge, Pool: pool, Labels: map[string]string{"a": "1"},
			Containers: map[string]network.Endpoint{"cid": {ID: "ep", IP: netip.MustParseAddr("10.1.0.5"), PrefixLen: 24, MAC: "02:42:0a:01:00:05"}}},
	}}
	conn := &fakeConnector{}
	vols := &fakeVolumes{vols: map[string]*volume.Volume{"busy": {Name: "busy", UsedBy: []string{"cid"}}}}
	cs := &fakeContainers{byID: map[string]*container.Container{"cid": {ID: "cid", Name: "web"}}}
	s := New(cs, nil, fakeSystem{}, WithNetworks(nets, conn), WithVolumes(vols))
	defer s.Close()

	code, body := do(t, s, "GET", "/v1.44/networks", "")
	var list []mnetwork.Summary
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
		t.Fatalf("list: %d %v %s", code, err, body)
	}
	names := map[string]bool{}
	for _, n := range list {
		names[n.Name] = true
	}
	if !names["bridge"] || !names["host"] || !names["none"] || len(list) != 4 {
		t.Errorf("list: %v", names)
	}
	code, body = do(t, s, "GET", `/networks?filters={"label":["a=1"],"type":["custom"]}`, "")
	if code != 200 || !strings.Contains(body, `"Name":"used"`) || strings.Contains(body, `"Name":"bridge"`) {
		t.Errorf("filtered list: %d %s", code, body)
	}

	code, body = do(t, s, "GET", "/networks/used", "")
	var ni mnetwork.Inspect
	if err := json.Unmarshal([]byte(body), &ni); code != 200 || err != nil {
		t.Fatalf("inspect: %d %v %s", code, err, body)
	}
	if ep := ni.Containers["cid"]; ep.Name != "web" || ep.IPv4Address.String() != "10.1.0.5/24" || ep.EndpointID != "ep" {
		t.Errorf("inspect Containers: %+v", ni.Containers)
	}
	if len(ni.IPAM.Config) != 1 || ni.IPAM.Config[0].Subnet != sub || ni.Scope != "local" {
		t.Errorf("inspect: %+v", ni)
	}

	code, body = do(t, s, "POST", "/networks/create", `{"Name":"n1","CheckDuplicate":true,"Internal":true,"Labels":{"k":"v"},"IPAM":{"Driver":"default","Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.254"}]}}`)
	var cr mnetwork.CreateResponse
	if err := json.Unmarshal([]byte(body), &cr); code != 201 || err != nil || len(cr.ID) != 64 || !strings.Contains(body, `"Warning"`) {
		t.Errorf("create: %d %s", code, body)
	}
	if o := nets.created; len(o.IPAM) != 1 || o.IPAM[0].Subnet != "10.9.0.0/24" || o.IPAM[0].Gateway != "10.9.0.254" || !o.Internal || o.Labels["k"] != "v" {
		t.Errorf("create options: %+v", o)
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/networks/create", `{"Name":"n1"}`, 409},
		{"POST", "/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"bad"}]}}`, 400},
		{"GET", "/networks/nosuch", "", 404},
		{"DELETE", "/networks/used", "", 409},
		{"DELETE", "/networks/nosuch", "", 404},
		{"DELETE", "/networks/n1", "", 204},
		{"POST", "/networks/used/connect", `{"Container":"nosuch"}`, 404},
		{"POST", "/networks/used/connect", `{"Container":"cid","EndpointConfig":{"Aliases":["al"],"IPAMConfig":{"IPv4Address":"10.1.0.9"}}}`, 200},
		{"POST", "/networks/used/disconnect", `{"Container":"cid","Force":true}`, 200},
		{"POST", "/volumes/create", `{"Name":"v1","Labels":{"k":"v"}}`, 201},
		{"GET", "/volumes/v1", "", 200},
		{"GET", "/volumes/nosuch", "", 404},
		{"DELETE", "/volumes/busy", "", 409},
		{"DELETE", "/volumes/busy?force=1", "", 204},
		{"DELETE", "/volumes/nosuch", "", 404},
		{"GET", `/volumes?filters={"bogus":["x"]}`, "", 400},
	} {
		if code, body := do(t, s, tc.method, tc.path, tc.body); code != tc.want {
			t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, code, tc.want, body)
		}
	}
	if len(conn.connected) != 1 || conn.connected[0] != "used 10.1.0.9 al" {
		t.Errorf("connect: %v", conn.connected)
	}

	code, body = do(t, s, "GET", `/volumes?filters={"label":["k=v"]}`, "")
	var vl mvolume.ListResponse
	if err := json.Unmarshal([]byte(body), &vl); code != 200 || err != nil || len(vl.Volumes) != 1 || vl.Volumes[0].Name != "v1" ||
		vl.Volumes[0].Driver != "local" || vl.Volumes[0].Scope != "local" || vl.Warnings == nil {
		t.Errorf("volume list: %d %v %s", code, err, body)
	}
}
