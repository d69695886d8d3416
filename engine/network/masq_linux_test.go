package network

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A routed network's rules: its traffic into the routed prefix is
// accepted unmasqueraded; outside it, masqueraded with masquerading on
// and dropped (but for replies) with it off, when the other bridges take
// no forwarded traffic either.
func TestMasqRulesRouted(t *testing.T) {
	mk := func(name, sub, routed string) *Network {
		n := &Network{Name: name, Bridge: name, Driver: DriverBridge, Pool: &Pool{Subnet: netip.MustParsePrefix(sub)}}
		if routed != "" {
			n.Routed = netip.MustParsePrefix(routed)
		}
		return n
	}
	nets := func() []*Network {
		return []*Network{mk("wharf0", "172.29.0.0/16", ""), mk("wb-awsvpc", "10.218.3.0/24", "10.218.0.0/16")}
	}
	on := masqRules("wharf_t", nets(), true)
	for _, want := range []string{
		`ip saddr 10.218.3.0/24 ip daddr != 10.218.0.0/16 oifname != "wb-awsvpc" masquerade`,
		`ip saddr 172.29.0.0/16 oifname != "wharf0" masquerade`,
		`iifname "wb-awsvpc" ip daddr 10.218.0.0/16 accept`,
		`iifname "wharf0" oifname "wb-awsvpc" drop`,
	} {
		if !strings.Contains(on, want) {
			t.Errorf("masquerading on: no %q in\n%s", want, on)
		}
	}
	off := masqRules("wharf_t", nets(), false)
	for _, want := range []string{
		`iifname "wb-awsvpc" ip daddr 10.218.0.0/16 accept`,
		`iifname "wb-awsvpc" ct state established,related accept`,
		`iifname "wb-awsvpc" drop`,
		`iifname != "wharf0" oifname "wharf0" drop`,
	} {
		if !strings.Contains(off, want) {
			t.Errorf("masquerading off: no %q in\n%s", want, off)
		}
	}
	if strings.Contains(off, "masquerade") {
		t.Errorf("masquerading off masquerades:\n%s", off)
	}
	// The accept comes before the drop of the same bridge.
	if strings.Index(off, `iifname "wb-awsvpc" ip daddr`) > strings.Index(off, `iifname "wb-awsvpc" drop`) {
		t.Errorf("order:\n%s", off)
	}
	// The rules parse (check mode, which needs root, changes nothing).
	if nft, err := exec.LookPath("nft"); err == nil && os.Geteuid() == 0 {
		for _, rules := range []string{on, off} {
			cmd := exec.Command(nft, "-c", "-f", "-")
			cmd.Stdin = strings.NewReader(rules)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("nft -c: %v\n%s\n%s", err, out, rules)
			}
		}
	}
}
