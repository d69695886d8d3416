package network

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// nftTable names this daemon's nftables table: one per daemon root, so
// daemons side by side keep their own rules.
func (m *Manager) nftTable() string {
	sum := sha256.Sum256([]byte(m.root))
	return "wharf_" + hex.EncodeToString(sum[:4])
}

// applyMasquerade (re)writes the daemon's nftables table when outbound
// masquerading is on or a routed network exists (Network.Routed).
//
// With masquerading on, traffic from each non-internal bridge subnet
// leaving through another interface is masqueraded, and traffic between
// two of the daemon's bridges is dropped. It turns on IPv4 forwarding
// (the host switch, which resets every interface's switch) and then turns
// it off again on internal bridges. With masquerading off and no routed
// network (the default) it does nothing: no firewall rule and no sysctl
// but the per-bridge ones.
//
// A routed network's traffic into its routed prefix is neither
// masqueraded nor dropped (the peers see its containers' own addresses);
// outside the prefix it is masqueraded with masquerading on, and dropped
// (but for replies) with it off. With masquerading off, no other bridge
// takes forwarded traffic: the interface routed traffic arrives on
// forwards (the cluster's agent turns that on), and without the rule it
// would reach the other bridges' containers.
//
// The rules are loaded with nft(8) in one atomic transaction; this path is
// opt-in and rare, so a netlink nftables encoder is not worth its weight
// yet. The caller holds m.mu or has the manager to itself.
func (m *Manager) applyMasquerade() error {
	var bridges []*Network
	routed := false
	for _, n := range m.st.Networks {
		if n.Driver == DriverBridge {
			bridges = append(bridges, n)
			routed = routed || n.Routed.IsValid()
		}
	}
	if !m.masquerade && !routed {
		if m.nftLoaded {
			// The last routed network went: its rules go with it.
			t := m.nftTable()
			if out, err := exec.Command("nft", "delete", "table", "ip", t).CombinedOutput(); err != nil {
				return fmt.Errorf("deleting nftables table %s: %v: %s", t, err, strings.TrimSpace(string(out)))
			}
			m.nftLoaded = false
		}
		return nil
	}
	rules := masqRules(m.nftTable(), bridges, m.masquerade)
	if m.masquerade {
		if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
	}
	for _, n := range bridges {
		if err := writeSysctl(filepath.Join("/proc/sys/net/ipv4/conf", n.Bridge, "forwarding"), map[bool]string{true: "1", false: "0"}[m.forwarding(n)]); err != nil {
			return err
		}
	}
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("loading masquerade rules with nft: %v: %s", err, strings.TrimSpace(out.String()))
	}
	m.nftLoaded = true
	return nil
}

// masqRules renders the nftables transaction that replaces table t, for
// the daemon's bridges with masquerading on (masq) or off.
func masqRules(t string, bridges []*Network, masq bool) string {
	sort.Slice(bridges, func(i, j int) bool { return bridges[i].Bridge < bridges[j].Bridge })
	var b strings.Builder
	fmt.Fprintf(&b, "add table ip %s\ndelete table ip %s\ntable ip %s {\n", t, t, t)
	b.WriteString("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n")
	for _, n := range bridges {
		switch {
		case n.Internal || !masq:
		case n.Routed.IsValid():
			fmt.Fprintf(&b, "    ip saddr %s ip daddr != %s oifname != %q masquerade\n", n.Pool.Subnet, n.Routed, n.Bridge)
		default:
			fmt.Fprintf(&b, "    ip saddr %s oifname != %q masquerade\n", n.Pool.Subnet, n.Bridge)
		}
	}
	b.WriteString("  }\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n")
	for _, a := range bridges {
		if !a.Routed.IsValid() {
			continue
		}
		fmt.Fprintf(&b, "    iifname %q ip daddr %s accept\n", a.Bridge, a.Routed)
		if !masq {
			fmt.Fprintf(&b, "    iifname %q ct state established,related accept\n    iifname %q drop\n", a.Bridge, a.Bridge)
		}
	}
	for _, a := range bridges {
		if !masq {
			if !a.Routed.IsValid() {
				// Traffic bridged within a (seen here under br_netfilter)
				// stays allowed.
				fmt.Fprintf(&b, "    iifname != %q oifname %q drop\n", a.Bridge, a.Bridge)
			}
			continue
		}
		for _, c := range bridges {
			if a != c {
				fmt.Fprintf(&b, "    iifname %q oifname %q drop\n", a.Bridge, c.Bridge)
			}
		}
		if a.Internal {
			fmt.Fprintf(&b, "    iifname %q drop\n    oifname %q drop\n", a.Bridge, a.Bridge)
		}
	}
	b.WriteString("  }\n}\n")
	return b.String()
}
