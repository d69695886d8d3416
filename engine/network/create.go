package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// maxNameLen bounds a network's name. dockerd takes any non-empty name
// (spaces, slashes, colons, control characters: checked against dockerd
// 20.10); the bound only keeps a client from growing the state file
// without limit.
const maxNameLen = 1024

// CreateOptions are the settings of a new network (docker network create).
type CreateOptions struct {
	Name   string
	Driver string // "" or "bridge"
	// Subnet, IPRange and Gateway are a shorthand for one IPv4 entry of
	// IPAM. Without any IPv4 subnet a free /24 is picked.
	Subnet, IPRange, Gateway string
	// IPAM are the subnets asked for: at most one IPv4 and one IPv6 (the
	// bridge driver, as dockerd's, takes no more).
	IPAM []IPAMConfig
	// IPAMOptions are the IPAM options as given (none are implemented:
	// they are refused, except an empty set).
	IPAMOptions map[string]string
	// EnableIPv6 gives containers IPv6 addresses of the IPv6 subnet,
	// which must then be given.
	EnableIPv6 bool
	Internal   bool
	// Attachable is recorded and shown: it only matters to swarm
	// services, which this daemon has not.
	Attachable      bool
	Labels, Options map[string]string
	// Routed makes the network a routed one (Network.Routed): the
	// subnet, which must be given, lies inside it. Not part of Docker's
	// API; the cluster's agent sets it for its task network.
	Routed netip.Prefix
}

// ipv6ForwardingPath is the host's IPv6 forwarding switch. IPv6 has no
// per-interface forwarding switch that stops routing (IPv4's
// conf/<bridge>/forwarding does), so the isolation of an IPv6 network
// relies on the host not routing IPv6 at all.
var ipv6ForwardingPath = "/proc/sys/net/ipv6/conf/all/forwarding"

func hostForwardsIPv6() bool {
	b, err := os.ReadFile(ipv6ForwardingPath)
	return err == nil && strings.TrimSpace(string(b)) != "0"
}

// subnetConfig is one parsed IPAMConfig.
type subnetConfig struct {
	sub, rng netip.Prefix
	gw       netip.Addr
	aux      map[string]netip.Addr
}

func parseIPAMConfig(c IPAMConfig) (subnetConfig, error) {
	var sc subnetConfig
	var err error
	if c.Subnet == "" {
		if c.IPRange != "" || c.Gateway != "" || len(c.AuxAddresses) > 0 {
			return sc, fmt.Errorf("an ip-range, gateway or auxiliary address needs a subnet: %w", errdefs.ErrInvalidArgument)
		}
		return sc, nil
	}
	if sc.sub, err = netip.ParsePrefix(c.Subnet); err != nil {
		return sc, fmt.Errorf("invalid subnet %q: %w", c.Subnet, errdefs.ErrInvalidArgument)
	}
	if c.IPRange != "" {
		if sc.rng, err = netip.ParsePrefix(c.IPRange); err != nil {
			return sc, fmt.Errorf("invalid ip-range %q: %w", c.IPRange, errdefs.ErrInvalidArgument)
		}
	}
	if c.Gateway != "" {
		if sc.gw, err = netip.ParseAddr(c.Gateway); err != nil {
			return sc, fmt.Errorf("invalid gateway %q: %w", c.Gateway, errdefs.ErrInvalidArgument)
		}
	}
	for name, v := range c.AuxAddresses {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return sc, fmt.Errorf("invalid auxiliary address %s=%q: %w", name, v, errdefs.ErrInvalidArgument)
		}
		if sc.aux == nil {
			sc.aux = map[string]netip.Addr{}
		}
		sc.aux[name] = a
	}
	return sc, nil
}

// newPool builds the pool of a parsed subnet with its reserved addresses.
func (sc subnetConfig) newPool() (*Pool, error) {
	p, err := NewPool(sc.sub, sc.rng, sc.gw)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(sc.aux))
	for n := range sc.aux {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := p.Reserve(n, sc.aux[n]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Create makes a user-defined bridge network: its record, its bridge and
// its DNS server.
func (m *Manager) Create(ctx context.Context, o CreateOptions) (*Network, error) {
	switch o.Name {
	case "":
		return nil, fmt.Errorf("network name is required: %w", errdefs.ErrInvalidArgument)
	case NameBridge, NameHost, NameNone:
		return nil, fmt.Errorf("operation is not permitted on predefined %s network: %w", o.Name, errdefs.ErrForbidden)
	}
	if len(o.Name) > maxNameLen {
		return nil, fmt.Errorf("network name is longer than %d bytes: %w", maxNameLen, errdefs.ErrInvalidArgument)
	}
	if o.Driver != "" && o.Driver != DriverBridge {
		return nil, fmt.Errorf("plugin %q not found: wharf has the bridge network driver only: %w", o.Driver, errdefs.ErrNotFound)
	}
	if len(o.IPAMOptions) > 0 {
		return nil, fmt.Errorf("IPAM options are not supported by the default IPAM driver of this daemon: %w", errdefs.ErrInvalidArgument)
	}
	configs := o.IPAM
	if o.Subnet != "" || o.IPRange != "" || o.Gateway != "" {
		configs = append([]IPAMConfig{{Subnet: o.Subnet, IPRange: o.IPRange, Gateway: o.Gateway}}, configs...)
	}
	var v4, v6 *subnetConfig
	var cfg4, cfg6 IPAMConfig
	for _, c := range configs {
		sc, err := parseIPAMConfig(c)
		if err != nil {
			return nil, err
		}
		if !sc.sub.IsValid() {
			continue
		}
		slot, cfg := &v4, &cfg4
		if sc.sub.Addr().Is6() {
			slot, cfg = &v6, &cfg6
		}
		if *slot != nil {
			return nil, fmt.Errorf("bridge driver doesn't support multiple subnets: %w", errdefs.ErrInvalidArgument)
		}
		for _, a := range append([]netip.Addr{sc.gw, sc.rng.Addr()}, auxAddrs(sc)...) {
			if a.IsValid() && a.Is6() != sc.sub.Addr().Is6() {
				return nil, fmt.Errorf("subnet %s: %s is of another address family: %w", sc.sub, a, errdefs.ErrInvalidArgument)
			}
		}
		*slot, *cfg = &sc, c
	}
	if o.EnableIPv6 {
		if v6 == nil {
			return nil, fmt.Errorf("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network: give an IPv6 --subnet: %w", errdefs.ErrInvalidArgument)
		}
		if hostForwardsIPv6() {
			return nil, fmt.Errorf("IPv6 networks need the host's IPv6 forwarding off (net.ipv6.conf.all.forwarding=0): this daemon keeps networks apart by not routing between them and has no IPv6 firewall: %w", errdefs.ErrNotImplemented)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.st.Networks {
		if n.Name == o.Name {
			return nil, fmt.Errorf("network with name %s already exists: %w", o.Name, errdefs.ErrConflict)
		}
	}
	ipam := &IPAMInfo{Driver: "default", Options: o.IPAMOptions}
	if v4 == nil {
		sub, err := m.freeSubnetLocked()
		if err != nil {
			return nil, err
		}
		v4 = &subnetConfig{sub: sub}
		// dockerd shows the gateway of a subnet it picked.
		cfg4 = IPAMConfig{Subnet: sub.String(), Gateway: sub.Addr().Next().String()}
	}
	ipam.Config = append(ipam.Config, cfg4)
	if v6 != nil {
		ipam.Config = append(ipam.Config, cfg6)
	}
	for _, sc := range []*subnetConfig{v4, v6} {
		if sc == nil {
			continue
		}
		for _, n := range m.st.Networks {
			for _, p := range n.pools() {
				if p.Subnet.Overlaps(sc.sub) {
					return nil, fmt.Errorf("subnet %s overlaps with network %s (%s): %w", sc.sub, n.Name, p.Subnet, errdefs.ErrForbidden)
				}
			}
		}
	}
	if o.Routed.IsValid() {
		if !o.Routed.Addr().Is4() || !o.Routed.Contains(v4.sub.Addr()) || o.Routed.Bits() > v4.sub.Bits() || o.Internal {
			return nil, fmt.Errorf("routed network %s: its IPv4 subnet %s must lie inside %s, and it cannot be internal: %w", o.Name, v4.sub, o.Routed, errdefs.ErrInvalidArgument)
		}
	}
	pool, err := v4.newPool()
	if err != nil {
		return nil, err
	}
	n := &Network{Routed: o.Routed.Masked(),
		ID: newID(), Name: o.Name, Driver: DriverBridge, Created: time.Now().UTC(), Internal: o.Internal, Attachable: o.Attachable,
		Labels: o.Labels, Options: o.Options, Pool: pool, EnableIPv6: o.EnableIPv6, IPAM: ipam,
	}
	if o.EnableIPv6 {
		if n.Pool6, err = v6.newPool(); err != nil {
			return nil, err
		}
	}
	n.Bridge = "wb-" + n.ID[:12]
	if err := m.ensureBridge(n); err != nil {
		_ = deleteLink(n.Bridge)
		return nil, err
	}
	if err := m.startDNSLocked(n); err != nil {
		_ = deleteLink(n.Bridge)
		return nil, err
	}
	m.st.Networks[n.ID] = n
	if err := m.saveLocked(); err != nil {
		delete(m.st.Networks, n.ID)
		m.stopDNSLocked(n.ID)
		_ = deleteLink(n.Bridge)
		return nil, err
	}
	if err := m.applyMasquerade(); err != nil {
		if n.Routed.IsValid() {
			// A routed network without its rules would forward what it
			// must not: it is not made.
			delete(m.st.Networks, n.ID)
			m.stopDNSLocked(n.ID)
			_ = deleteLink(n.Bridge)
			_ = m.saveLocked()
			return nil, fmt.Errorf("routed network %s: %w", n.Name, err)
		}
		m.log.Warn("masquerade rules", "err", err)
	}
	m.log.Info("network created", "network", n.ID, "name", n.Name, "bridge", n.Bridge, "subnet", pool.Subnet.String(), "ipv6", n.EnableIPv6)
	return n.clone(), nil
}

func auxAddrs(sc subnetConfig) []netip.Addr {
	var out []netip.Addr
	for _, a := range sc.aux {
		out = append(out, a)
	}
	return out
}

// ensureBridge makes sure the bridge of a bridge network exists with its
// gateways.
func (m *Manager) ensureBridge(n *Network) error {
	c := bridgeConfig{name: n.Bridge, gw: n.Pool.Gateway, bits: n.Pool.Subnet.Bits(), forward: m.forwarding(n)}
	if n.Pool6 != nil {
		c.gw6, c.bits6 = n.Pool6.Gateway, n.Pool6.Subnet.Bits()
	}
	return ensureBridge(c)
}

// freeSubnetLocked picks the first /24 of 10.89.0.0/16 that overlaps no
// network and no address or route of the host.
func (m *Manager) freeSubnetLocked() (netip.Prefix, error) {
	taken := hostPrefixes()
	for _, n := range m.st.Networks {
		if n.Pool != nil {
			taken = append(taken, n.Pool.Subnet)
		}
	}
	for i := 0; i < 256; i++ {
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24)
		free := true
		for _, t := range taken {
			if t.Bits() > 0 && t.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free subnet left in 10.89.0.0/16; give one with --subnet: %w", errdefs.ErrUnavailable)
}
