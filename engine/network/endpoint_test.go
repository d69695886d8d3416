package network

import (
	"net/netip"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

// An endpoint's settings are checked as dockerd checks them at create and
// connect; each refusal is an invalid argument (400).
func TestValidateEndpoint(t *testing.T) {
	pool, _ := NewPool(netip.MustParsePrefix("10.60.0.0/24"), netip.Prefix{}, netip.Addr{})
	pool6, _ := NewPool(netip.MustParsePrefix("fd00:60::/64"), netip.Prefix{}, netip.Addr{})
	user := &Network{ID: "u", Name: "user", Driver: DriverBridge, Pool: pool}
	user6 := &Network{ID: "u6", Name: "user6", Driver: DriverBridge, Pool: pool, Pool6: pool6, EnableIPv6: true}
	def := &Network{ID: "b", Name: NameBridge, Driver: DriverBridge, Pool: pool}
	for _, tc := range []struct {
		n  *Network
		ec EndpointConfig
		ok bool
	}{
		{user, EndpointConfig{IP: "10.60.0.50", MAC: "02:11:22:33:44:55", LinkLocalIPs: []string{"169.254.9.9", "fe80::99"}, Aliases: []string{"a"}, Links: []string{"target:tl", "other"}}, true},
		{user6, EndpointConfig{IP6: "fd00:60::50"}, true},
		{def, EndpointConfig{LinkLocalIPs: []string{"169.254.1.1"}, MAC: "02:42:00:00:00:01"}, true},
		{user, EndpointConfig{IP: "10.61.0.5"}, false},
		{user, EndpointConfig{IP: "fd00:60::5"}, false},
		{user, EndpointConfig{IP6: "fd00:60::5"}, false}, // no IPv6 on the network
		{user6, EndpointConfig{IP6: "fd00:61::5"}, false},
		{user, EndpointConfig{MAC: "zz"}, false},
		{user, EndpointConfig{MAC: "01:00:5e:00:00:01"}, false}, // multicast
		{user, EndpointConfig{LinkLocalIPs: []string{"10.1.1.1"}}, false},
		{def, EndpointConfig{IP: "10.60.0.5"}, false},
		{def, EndpointConfig{Aliases: []string{"a"}}, false},
		{user, EndpointConfig{Links: []string{"a:b:c"}}, false},
		{user, EndpointConfig{Links: []string{""}}, false},
	} {
		err := ValidateEndpoint(tc.n, tc.ec)
		if (err == nil) != tc.ok || err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s %+v: %v, want ok=%v", tc.n.Name, tc.ec, err, tc.ok)
		}
	}
	for l, want := range map[string][2]string{"db": {"db", "db"}, "/db:/x": {"db", "x"}, "db:mydb": {"db", "mydb"}} {
		if n, a, err := ParseLink(l); err != nil || n != want[0] || a != want[1] {
			t.Errorf("ParseLink(%q) = %q %q %v", l, n, a, err)
		}
	}
}
