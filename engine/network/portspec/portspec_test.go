package portspec

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestParsePortSpec(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		in   string
		want []PortBinding
	}{
		{"80", []PortBinding{{Proto: "tcp", ContainerPort: 80}}},
		{"8080:80", []PortBinding{{Proto: "tcp", ContainerPort: 80, HostPort: 8080}}},
		{"127.0.0.1:8088:8080", []PortBinding{{Proto: "tcp", ContainerPort: 8080, HostIP: lo, HostPort: 8088}}},
		{"127.0.0.1::80/udp", []PortBinding{{Proto: "udp", ContainerPort: 80, HostIP: lo}}},
		{"0.0.0.0:53:53/UDP", []PortBinding{{Proto: "udp", ContainerPort: 53, HostPort: 53}}},
		{"[::1]:80:80", []PortBinding{{Proto: "tcp", ContainerPort: 80, HostIP: netip.MustParseAddr("::1"), HostPort: 80}}},
		{"8000-8001:80-81", []PortBinding{{Proto: "tcp", ContainerPort: 80, HostPort: 8000}, {Proto: "tcp", ContainerPort: 81, HostPort: 8001}}},
		{"8000-8010:80", []PortBinding{{Proto: "tcp", ContainerPort: 80, HostPort: 8000, HostPortEnd: 8010}}},
		{"80-81", []PortBinding{{Proto: "tcp", ContainerPort: 80}, {Proto: "tcp", ContainerPort: 81}}},
	} {
		got, err := ParsePortSpec(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "abc", "80/sctp", "1:2:3:4", "70000", "8000-8002:80-81", "81-80", "x:80:80", "[::1:80:80", "127.0.0.1:80", ":"} {
		if _, err := ParsePortSpec(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: err %v, want invalid argument", bad, err)
		}
	}
}

func FuzzParsePortSpec(f *testing.F) {
	for _, s := range []string{"80", "8080:80/udp", "127.0.0.1::80", "[::1]:1-2:3-4", "1-65535", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bs, err := ParsePortSpec(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: error of the wrong class: %v", s, err)
			}
			return
		}
		if len(bs) == 0 {
			t.Fatalf("%q: no binding and no error", s)
		}
		for _, b := range bs {
			if b.ContainerPort == 0 || (b.Proto != "tcp" && b.Proto != "udp") || (b.HostPortEnd != 0 && b.HostPortEnd <= b.HostPort) {
				t.Fatalf("%q: bad binding %+v", s, b)
			}
		}
	})
}
