package main

import (
	"reflect"
	"testing"

	"github.com/wharf-dev/wharf/api/wharf"
)

func TestRunNetworkAndStorageFlags(t *testing.T) {
	req, err := parseRun(t, "-p", "127.0.0.1:8088:8080", "-p", "53:53/udp", "-p", "9000-9001:90-91", "-P", "--expose", "7000-7001/udp",
		"--network", "appnet", "--ip", "10.210.0.9", "--network-alias", "db",
		"-v", "pgdata:/data", "-v", "/srv:/srv:ro", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
		"--tmpfs", "/run:size=64m", "--volumes-from", "other:ro", "img")
	if err != nil {
		t.Fatal(err)
	}
	h := req.HostConfig
	wantPorts := map[string][]wharf.PortBinding{
		"8080/tcp": {{HostIP: "127.0.0.1", HostPort: "8088"}},
		"53/udp":   {{HostPort: "53"}},
		"90/tcp":   {{HostPort: "9000"}},
		"91/tcp":   {{HostPort: "9001"}},
	}
	if !reflect.DeepEqual(h.PortBindings, wantPorts) || !h.PublishAllPorts {
		t.Errorf("ports: %+v %v", h.PortBindings, h.PublishAllPorts)
	}
	if _, ok := req.ExposedPorts["7001/udp"]; !ok || len(req.ExposedPorts) != 2 {
		t.Errorf("expose: %v", req.ExposedPorts)
	}
	es := req.NetworkingConfig.EndpointsConfig["appnet"]
	if h.NetworkMode != "appnet" || es == nil || es.IPAMConfig.IPv4Address != "10.210.0.9" || !reflect.DeepEqual(es.Aliases, []string{"db"}) {
		t.Errorf("network: %q %+v", h.NetworkMode, es)
	}
	if !reflect.DeepEqual(h.Binds, []string{"pgdata:/data", "/srv:/srv:ro"}) || h.Tmpfs["/run"] != "size=64m" ||
		len(h.Mounts) != 1 || h.Mounts[0].TmpfsOptions.SizeBytes != 1<<20 || !reflect.DeepEqual(h.VolumesFrom, []string{"other:ro"}) {
		t.Errorf("mounts: %+v", h)
	}
	for _, bad := range [][]string{{"-p", "x:80", "img"}, {"-v", "a b:/x", "img"}, {"--mount", "type=nfs,target=/x", "img"}, {"--tmpfs", "rel", "img"}} {
		if _, err := parseRun(t, bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
