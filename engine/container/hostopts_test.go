package container

import (
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

// The create-time checks refuse what the engine cannot do with dockerd's
// words, and the /etc files get the DNS settings and extra hosts.
func TestHostOptions(t *testing.T) {
	h := HostOptions{PidMode: "host", UTSMode: "host", ExtraHosts: []string{"db:127.0.0.2", "v6=::1"}, Dns: []string{"10.0.0.2"},
		DnsSearch: []string{"example.test"}, DnsOptions: []string{"ndots:2"}, DeviceCgroupRules: []string{"c 1:3 rwm"}}
	if err := h.check(""); err != nil {
		t.Fatal(err)
	}
	if h.ShmSize != 64<<20 {
		t.Errorf("default shm size %d", h.ShmSize)
	}
	if got := h.hostsLines(); len(got) != 2 || got[0] != "127.0.0.2\tdb" || got[1] != "::1\tv6" {
		t.Errorf("hosts lines %q", got)
	}
	conf := "# host's\nnameserver 1.1.1.1\nsearch lan\noptions edns0\n"
	if got := h.resolv(conf, false); got != "# host's\nnameserver 10.0.0.2\nsearch example.test\noptions ndots:2\n" {
		t.Errorf("resolv.conf %q", got)
	}
	if got := (HostOptions{}).resolv(conf, false); got != conf {
		t.Errorf("resolv.conf without DNS settings %q", got)
	}
	// A user-defined network's DNS server stays the container's.
	if got := h.resolv("nameserver 127.0.0.11\n", true); got != "nameserver 127.0.0.11\nsearch example.test\noptions ndots:2\n" {
		t.Errorf("resolv.conf on a user-defined network %q", got)
	}
	if err := h.checkDNS("front"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("--dns on a user-defined network: %v", err)
	}
	for _, mode := range []string{"", "bridge", "none", "host", "container:x"} {
		if err := h.checkDNS(mode); err != nil {
			t.Errorf("--dns with network %q: %v", mode, err)
		}
	}
	for _, bad := range []HostOptions{
		{PidMode: "container:x"}, {UTSMode: "private"}, {IpcMode: "host"}, {Isolation: "hyperv"},
		{VolumeDriver: "nfs"}, {ShmSize: -1}, {OomScoreAdj: 1001}, {DeviceCgroupRules: []string{"x 1:3 rwm"}},
		{Dns: []string{"dns.example"}}, {ExtraHosts: []string{"nohost"}}, {ExtraHosts: []string{"gw:host-gateway"}},
		{UsernsMode: "private"}, {CgroupnsMode: "host"},
	} {
		if err := bad.check(""); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if err := (&HostOptions{UTSMode: "host"}).check("h1"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("hostname with the host's UTS namespace: %v", err)
	}
}
