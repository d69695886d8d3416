package nativeapi

import (
	"net/netip"
	"testing"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
)

func TestHostConfigConversions(t *testing.T) {
	h := &wharf.HostConfig{
		PortBindings: map[string][]wharf.PortBinding{"80/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}}, "53/udp": nil, "22/tcp": {{HostIP: "::1", HostPort: "2200-2210"}}},
		Binds:        []string{"vol:/data:ro", "/anon"},
		Mounts:       []wharf.Mount{{Type: "bind", Source: "/h", Target: "/c", ReadOnly: true}, {Type: "tmpfs", Target: "/t", TmpfsOptions: &wharf.TmpfsOptions{SizeBytes: 4096}}},
		Tmpfs:        map[string]string{"/run": "size=1m"},
	}
	ports, err := hostConfigPorts(h)
	if err != nil {
		t.Fatal(err)
	}
	want := []network.PortBinding{
		{Proto: "tcp", ContainerPort: 22, HostIP: netip.MustParseAddr("::1"), HostPort: 2200, HostPortEnd: 2210},
		{Proto: "udp", ContainerPort: 53},
		{Proto: "tcp", ContainerPort: 80, HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080},
	}
	if len(ports) != len(want) {
		t.Fatalf("ports %+v", ports)
	}
	for i := range want {
		if ports[i] != want[i] {
			t.Errorf("port %d: %+v, want %+v", i, ports[i], want[i])
		}
	}
	ms, err := hostConfigMounts(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 5 || ms[0].Source != "vol" || !ms[0].ReadOnly || ms[1].Type != volume.TypeVolume || ms[1].Source != "" ||
		ms[2].Type != volume.TypeBind || ms[3].TmpfsSize != 4096 || ms[4].Target != "/run" || ms[4].TmpfsSize != 1<<20 {
		t.Errorf("mounts %+v", ms)
	}
	for _, bad := range []*wharf.HostConfig{
		{PortBindings: map[string][]wharf.PortBinding{"80/sctp": nil}},
		{Binds: []string{"./rel:/x"}},
		{Mounts: []wharf.Mount{{Type: "bind", Source: "rel", Target: "/x"}}},
		{Tmpfs: map[string]string{"/t": "bogus"}},
	} {
		_, err1 := hostConfigPorts(bad)
		_, err2 := hostConfigMounts(bad)
		if !errdefs.IsInvalidArgument(err1) && !errdefs.IsInvalidArgument(err2) {
			t.Errorf("%+v accepted: %v %v", bad, err1, err2)
		}
	}
}
