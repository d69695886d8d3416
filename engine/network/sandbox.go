package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// EndpointConfig asks for one attachment of a container.
type EndpointConfig struct {
	// Network is the network's name, ID or unique ID prefix.
	Network string
	// IP and IP6 are requested addresses (--ip, --ip6); empty: the next
	// free one (IPv6 only on a network with IPv6 enabled).
	IP, IP6 string
	// MAC is a requested MAC address (--mac-address); empty: derived
	// from the IPv4 address, as dockerd does.
	MAC string
	// LinkLocalIPs are extra link-local addresses (--link-local-ip).
	LinkLocalIPs []string
	// Aliases are extra DNS names on this network (--network-alias).
	Aliases []string
	// Links are "name[:alias]" links on a user-defined network.
	Links []string
}

// endpointRequest is a validated EndpointConfig.
type endpointRequest struct {
	ip, ip6   netip.Addr
	mac       net.HardwareAddr
	linkLocal []netip.Addr
	links     []string
}

// ValidateEndpoint checks what ec asks of network n, as dockerd checks an
// endpoint's settings at create and connect: addresses of the network's
// subnets (user-defined networks only), IPv6 only where enabled, a valid
// MAC address, link-local addresses that are link-local, aliases and
// links only on user-defined networks.
func ValidateEndpoint(n *Network, ec EndpointConfig) error {
	_, err := validateEndpoint(n, ec)
	return err
}

func validateEndpoint(n *Network, ec EndpointConfig) (endpointRequest, error) {
	var r endpointRequest
	var err error
	if n.Driver != DriverBridge {
		return r, fmt.Errorf("container cannot be attached to network %s with driver %s alongside others: %w", n.Name, n.Driver, errdefs.ErrInvalidArgument)
	}
	predefined := n.Name == NameBridge
	if ec.IP != "" || ec.IP6 != "" {
		if predefined {
			return r, fmt.Errorf("user specified IP address is supported on user defined networks only: %w", errdefs.ErrInvalidArgument)
		}
	}
	if ec.IP != "" {
		if r.ip, err = netip.ParseAddr(ec.IP); err != nil || !r.ip.Is4() {
			return r, fmt.Errorf("invalid IPv4 address: %s: %w", ec.IP, errdefs.ErrInvalidArgument)
		}
		if !n.Pool.Subnet.Contains(r.ip) {
			return r, fmt.Errorf("Invalid address %s: It does not belong to any of this network's subnets: %w", r.ip, errdefs.ErrInvalidArgument)
		}
	}
	if ec.IP6 != "" {
		if r.ip6, err = netip.ParseAddr(ec.IP6); err != nil || !r.ip6.Is6() || r.ip6.Is4In6() {
			return r, fmt.Errorf("invalid IPv6 address: %s: %w", ec.IP6, errdefs.ErrInvalidArgument)
		}
		if n.Pool6 == nil {
			return r, fmt.Errorf("user specified IP address is supported only when connecting to networks with user configured subnets: network %s has no IPv6 enabled: %w", n.Name, errdefs.ErrInvalidArgument)
		}
		if !n.Pool6.Subnet.Contains(r.ip6) {
			return r, fmt.Errorf("Invalid address %s: It does not belong to any of this network's subnets: %w", r.ip6, errdefs.ErrInvalidArgument)
		}
	}
	if ec.MAC != "" {
		if r.mac, err = net.ParseMAC(ec.MAC); err != nil || len(r.mac) != 6 {
			return r, fmt.Errorf("invalid MAC address: %s: %w", ec.MAC, errdefs.ErrInvalidArgument)
		}
		if r.mac[0]&1 == 1 {
			return r, fmt.Errorf("invalid MAC address %s: a multicast address cannot be an interface's: %w", ec.MAC, errdefs.ErrInvalidArgument)
		}
	}
	for _, s := range ec.LinkLocalIPs {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.IsLinkLocalUnicast() {
			return r, fmt.Errorf("invalid link local IP address: %s: %w", s, errdefs.ErrInvalidArgument)
		}
		r.linkLocal = append(r.linkLocal, a)
	}
	if predefined && len(ec.Aliases) > 0 {
		return r, fmt.Errorf("network-scoped alias is supported only for containers in user defined networks: %w", errdefs.ErrInvalidArgument)
	}
	if predefined && len(ec.Links) > 0 {
		return r, fmt.Errorf("links on the default bridge network are legacy links (HostConfig.Links), not endpoint settings: %w", errdefs.ErrInvalidArgument)
	}
	for _, l := range ec.Links {
		name, alias, err := ParseLink(l)
		if err != nil {
			return r, err
		}
		r.links = append(r.links, name+":"+alias)
	}
	return r, nil
}

// ParseLink reads a link, "name:alias" or "name" (the alias is then the
// name), as dockerd's opts.ParseLink does; a leading slash of the name
// is dropped.
func ParseLink(l string) (name, alias string, err error) {
	if l == "" {
		return "", "", fmt.Errorf("empty string specified for links: %w", errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(l, ":")
	switch len(parts) {
	case 1:
		name, alias = parts[0], parts[0]
	case 2:
		name, alias = parts[0], parts[1]
	default:
		return "", "", fmt.Errorf("bad format for links: %s: %w", l, errdefs.ErrInvalidArgument)
	}
	name = strings.TrimPrefix(name, "/")
	alias = strings.TrimPrefix(alias, "/")
	if name == "" || alias == "" {
		return "", "", fmt.Errorf("bad format for links: %s: %w", l, errdefs.ErrInvalidArgument)
	}
	return name, alias, nil
}

// SandboxConfig is what Setup needs to give a container its network.
type SandboxConfig struct {
	ContainerID string
	// Name is the container's name, answered by the networks' DNS.
	Name     string
	Networks []EndpointConfig
	// Ports are published on the host to the container's address on its
	// first network.
	Ports []PortBinding
	// NetNSFrom, when set, is an existing network namespace (a /proc ns
	// file) that becomes the sandbox's instead of a new one: a container
	// in a user namespace of its own needs a network namespace owned by
	// that user namespace, which the engine creates.
	NetNSFrom string `json:"-"`
}

// Sandbox returns the sandbox of a container, if it has one.
func (m *Manager) Sandbox(containerID string) (*Sandbox, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, ok := m.st.Sandboxes[containerID]
	if !ok {
		return nil, false
	}
	return sb.clone(), true
}

// Setup gives a container about to start its network: leases, a pinned
// namespace at NetNSPath, a veth per network and the published ports. On
// error nothing is left behind.
func (m *Manager) Setup(ctx context.Context, c SandboxConfig) (_ *Sandbox, err error) {
	if len(c.Networks) == 0 {
		return nil, fmt.Errorf("no network to attach: %w", errdefs.ErrInvalidArgument)
	}
	// A sandbox left by an earlier run (a crash between start and exit
	// handling) goes first.
	_ = m.Teardown(ctx, c.ContainerID)
	sb := &Sandbox{ContainerID: c.ContainerID, Name: c.Name, NetNS: m.NetNSPath(c.ContainerID)}
	m.mu.Lock()
	var eps []*Endpoint
	for _, ec := range c.Networks {
		ep, err := m.newEndpointLocked(sb, ec)
		if err != nil {
			for _, e := range eps {
				m.releaseLocked(e)
			}
			m.mu.Unlock()
			return nil, err
		}
		eps = append(eps, ep)
		sb.Endpoints = append(sb.Endpoints, ep)
	}
	m.st.Sandboxes[c.ContainerID] = sb
	serr := m.saveSandboxesLocked()
	m.mu.Unlock()
	defer func() {
		if err != nil {
			_ = m.Teardown(context.WithoutCancel(ctx), c.ContainerID)
		}
	}()
	if serr != nil {
		return nil, serr
	}
	if err := createNetNS(sb.NetNS, c.NetNSFrom); err != nil {
		return nil, fmt.Errorf("creating the network namespace: %w", err)
	}
	routed := false
	for _, ep := range eps {
		if err := m.plug(ctx, sb.NetNS, ep, &routed); err != nil {
			return nil, err
		}
	}
	bound, closers, err := m.publish(eps[0].IP, c.Ports)
	m.mu.Lock()
	m.listeners[c.ContainerID] = closers
	sb.Ports = bound
	if len(bound) > 0 {
		// The bound ports are recorded so that a restarted daemon binds
		// the same ones again for this container.
		serr = m.saveSandboxesLocked()
	}
	out := sb.clone()
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	m.log.Debug("sandbox ready", "container", c.ContainerID, "netns", sb.NetNS, "endpoints", len(eps), "ports", len(bound))
	return out, nil
}

// newEndpointLocked leases an address on the network ec names and
// returns the endpoint (not yet plugged in).
func (m *Manager) newEndpointLocked(sb *Sandbox, ec EndpointConfig) (*Endpoint, error) {
	n, err := m.lookupLocked(ec.Network)
	if err != nil {
		return nil, err
	}
	if n.Driver != DriverBridge {
		return nil, fmt.Errorf("container cannot be attached to network %s with driver %s alongside others: %w", n.Name, n.Driver, errdefs.ErrInvalidArgument)
	}
	for _, ep := range sb.Endpoints {
		if ep.NetworkID == n.ID {
			return nil, fmt.Errorf("container %.12s is already attached to network %s: %w", sb.ContainerID, n.Name, errdefs.ErrConflict)
		}
	}
	req, err := validateEndpoint(n, ec)
	if err != nil {
		return nil, err
	}
	ip, err := n.Pool.Allocate(sb.ContainerID, req.ip)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", n.Name, err)
	}
	var ip6 netip.Addr
	if n.Pool6 != nil {
		if ip6, err = n.Pool6.Allocate(sb.ContainerID, req.ip6); err != nil {
			n.Pool.Release(ip)
			return nil, fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	idx := sb.NextIf
	sb.NextIf++
	mac := macFor(ip)
	if req.mac != nil {
		mac = req.mac.String()
	}
	ep := &Endpoint{
		ID: newID(), NetworkID: n.ID, NetworkName: n.Name, ContainerID: sb.ContainerID,
		IfName: fmt.Sprintf("eth%d", idx), HostVeth: fmt.Sprintf("wv%s%02x", sb.ContainerID[:11], idx&0xff),
		IP: ip, PrefixLen: n.Pool.Subnet.Bits(), MAC: mac, Aliases: ec.Aliases,
		LinkLocalIPs: req.linkLocal, Links: req.links,
	}
	if ip6.IsValid() {
		ep.IP6, ep.PrefixLen6 = ip6, n.Pool6.Subnet.Bits()
	}
	if !n.Internal {
		ep.Gateway = n.Pool.Gateway
		if n.Pool6 != nil {
			ep.Gateway6 = n.Pool6.Gateway
		}
	}
	if n.HasDNS() {
		ep.DNS = n.Pool.Gateway
	}
	return ep, nil
}

// macFor derives the MAC address from the IP as docker does (02:42 +
// the address), so a re-used address keeps its MAC.
func macFor(ip netip.Addr) string {
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}.String()
}

func (m *Manager) releaseLocked(ep *Endpoint) {
	n := m.st.Networks[ep.NetworkID]
	if n == nil {
		return
	}
	for _, a := range []struct {
		p  *Pool
		ip netip.Addr
	}{{n.Pool, ep.IP}, {n.Pool6, ep.IP6}} {
		if a.p != nil && a.ip.IsValid() && a.p.Leases[a.ip] == ep.ContainerID {
			a.p.Release(a.ip)
		}
	}
}

// plug creates the endpoint's veth; the first endpoint with a gateway
// gets the default route.
func (m *Manager) plug(ctx context.Context, nsPath string, ep *Endpoint, routed *bool) error {
	if err := m.waitUnplugged(ctx, ep.HostVeth); err != nil {
		return err
	}
	m.mu.Lock()
	n := m.st.Networks[ep.NetworkID]
	var bridge string
	if n != nil {
		bridge = n.Bridge
	}
	m.mu.Unlock()
	if n == nil {
		return fmt.Errorf("network %s was removed: %w", ep.NetworkName, errdefs.ErrNotFound)
	}
	mac, _ := net.ParseMAC(ep.MAC)
	def := ep.Gateway.IsValid() && !*routed
	if err := addVeth(nsPath, vethConfig{
		hostName: ep.HostVeth, ifName: ep.IfName, bridge: bridge, ip: ep.IP, bits: ep.PrefixLen,
		gateway: ep.Gateway, ip6: ep.IP6, bits6: ep.PrefixLen6, gateway6: ep.Gateway6,
		linkLocal: ep.LinkLocalIPs, defaultRoute: def, mac: mac,
	}); err != nil {
		return fmt.Errorf("attaching to network %s: %w", ep.NetworkName, err)
	}
	if def {
		*routed = true
	}
	return nil
}

// publish binds every port binding to target and returns them as bound.
// On error every listener opened so far is closed.
func (m *Manager) publish(target netip.Addr, ports []PortBinding) ([]PortBinding, []io.Closer, error) {
	if len(ports) == 0 {
		return nil, nil, nil
	}
	if m.pub == nil {
		return nil, nil, fmt.Errorf("this daemon cannot publish ports: %w", errdefs.ErrNotImplemented)
	}
	var bound []PortBinding
	var closers []io.Closer
	fail := func(err error) ([]PortBinding, []io.Closer, error) {
		for _, c := range closers {
			_ = c.Close()
		}
		return nil, nil, err
	}
	for _, b := range ports {
		host := b.HostIP
		if !host.IsValid() {
			host = netip.IPv4Unspecified()
		}
		last := b.HostPortEnd
		if last < b.HostPort {
			last = b.HostPort
		}
		var err error
		for p := int(b.HostPort); p <= int(last); p++ {
			var addr netip.AddrPort
			var c io.Closer
			addr, c, err = m.pub.Publish(b.Proto, netip.AddrPortFrom(host, uint16(p)), netip.AddrPortFrom(target, b.ContainerPort))
			if err == nil {
				closers = append(closers, c)
				nb := b
				nb.HostPort, nb.HostPortEnd = addr.Port(), 0
				bound = append(bound, nb)
				break
			}
			if !errdefs.IsConflict(err) {
				break
			}
		}
		if err != nil {
			return fail(fmt.Errorf("driver failed programming external connectivity: %w", err))
		}
	}
	return bound, closers, nil
}

// Teardown releases everything a container's sandbox holds. It is
// idempotent.
func (m *Manager) Teardown(ctx context.Context, containerID string) error {
	m.mu.Lock()
	sb := m.st.Sandboxes[containerID]
	ls := m.listeners[containerID]
	delete(m.listeners, containerID)
	var serr error
	if sb != nil {
		for _, ep := range sb.Endpoints {
			m.releaseLocked(ep)
		}
		delete(m.st.Sandboxes, containerID)
		serr = m.saveSandboxesLocked()
	}
	m.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	var errs []error
	if err := removeNetNS(m.NetNSPath(containerID)); err != nil {
		errs = append(errs, err)
	}
	if sb != nil {
		m.unplug(sb.Endpoints)
	}
	errs = append(errs, serr)
	return errors.Join(errs...)
}

// unplug deletes the host veths of endpoints whose addresses are already
// free, in the background. Deleting a veth waits for an RCU grace period
// (milliseconds on an idle host, tens of them on a busy one), which would
// otherwise sit between a container's exit and its exit being recorded.
// Nothing needs it gone at once: its namespace is unpinned and, with no
// process left in it, dying, and a new container that gets the address
// gets its own veth, whose MAC the bridge learns anew. A veth outlives
// its namespace only when another container joined that namespace
// (--network container:), which this deletion covers. plug waits for the
// deletion of a name it reuses (the same container started again); a
// daemon that stops first leaves the kernel or Restore to remove it.
func (m *Manager) unplug(eps []*Endpoint) {
	m.mu.Lock()
	var names []string
	var done []chan struct{}
	for _, ep := range eps {
		if _, ok := m.unplugging[ep.HostVeth]; ok {
			continue
		}
		ch := make(chan struct{})
		m.unplugging[ep.HostVeth] = ch
		names, done = append(names, ep.HostVeth), append(done, ch)
	}
	m.unplugged.Add(len(names))
	m.mu.Unlock()
	for i, name := range names {
		go func() {
			defer m.unplugged.Done()
			if err := deleteLink(name); err != nil {
				m.log.Warn("deleting a container's veth", "veth", name, "err", err)
			}
			m.mu.Lock()
			delete(m.unplugging, name)
			m.mu.Unlock()
			close(done[i])
		}()
	}
}

// waitUnplugged waits until the veth name, if Teardown is deleting it, is
// gone.
func (m *Manager) waitUnplugged(ctx context.Context, name string) error {
	m.mu.Lock()
	ch := m.unplugging[name]
	m.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connect attaches a running container's sandbox to one more network.
func (m *Manager) Connect(ctx context.Context, containerID string, ec EndpointConfig) (*Endpoint, error) {
	m.mu.Lock()
	sb := m.st.Sandboxes[containerID]
	if sb == nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("container %.12s has no network sandbox (not running on a bridge network): %w", containerID, errdefs.ErrConflict)
	}
	ep, err := m.newEndpointLocked(sb, ec)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	routed := false
	for _, e := range sb.Endpoints {
		if e.Gateway.IsValid() {
			routed = true
		}
	}
	nsPath := sb.NetNS
	m.mu.Unlock()
	if err := m.plug(ctx, nsPath, ep, &routed); err != nil {
		m.mu.Lock()
		m.releaseLocked(ep)
		m.mu.Unlock()
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.Sandboxes[containerID] != sb {
		m.releaseLocked(ep)
		_ = deleteLink(ep.HostVeth)
		return nil, fmt.Errorf("container %.12s stopped while connecting: %w", containerID, errdefs.ErrConflict)
	}
	sb.Endpoints = append(sb.Endpoints, ep)
	cp := *ep
	return &cp, m.saveSandboxesLocked()
}

// Disconnect detaches a running container from a network.
func (m *Manager) Disconnect(ctx context.Context, containerID, network string) error {
	m.mu.Lock()
	sb := m.st.Sandboxes[containerID]
	if sb == nil {
		m.mu.Unlock()
		return fmt.Errorf("container %.12s has no network sandbox: %w", containerID, errdefs.ErrConflict)
	}
	n, err := m.lookupLocked(network)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	var ep *Endpoint
	for i, e := range sb.Endpoints {
		if e.NetworkID == n.ID {
			ep = e
			sb.Endpoints = append(sb.Endpoints[:i], sb.Endpoints[i+1:]...)
			break
		}
	}
	if ep == nil {
		m.mu.Unlock()
		return fmt.Errorf("container %.12s is not connected to network %s: %w", containerID, n.Name, errdefs.ErrForbidden)
	}
	m.releaseLocked(ep)
	serr := m.saveSandboxesLocked()
	m.mu.Unlock()
	if err := deleteLink(ep.HostVeth); err != nil {
		return err
	}
	return serr
}

// Restore runs once at daemon start, after the containers are loaded:
// sandboxes of containers that still run (running reports them) are
// re-adopted, their ports bound again; every other sandbox, lease,
// pinned namespace and veth on the daemon's bridges is freed.
func (m *Manager) Restore(ctx context.Context, running func(containerID string) bool) error {
	m.mu.Lock()
	var keep, drop []*Sandbox
	for cid, sb := range m.st.Sandboxes {
		if running(cid) {
			keep = append(keep, sb.clone())
		} else {
			drop = append(drop, sb.clone())
		}
	}
	owners := map[string]bool{}
	for _, sb := range keep {
		owners[sb.ContainerID] = true
	}
	var bridges []string
	freed := 0
	for _, n := range m.st.Networks {
		if n.Pool == nil {
			continue
		}
		bridges = append(bridges, n.Bridge)
		for _, p := range n.pools() {
			for a, o := range p.Leases {
				if !owners[o] {
					delete(p.Leases, a)
					freed++
				}
			}
		}
	}
	m.mu.Unlock()
	for _, sb := range drop {
		if err := m.Teardown(ctx, sb.ContainerID); err != nil {
			m.log.Warn("freeing a leaked sandbox", "container", sb.ContainerID, "err", err)
		}
	}
	m.mu.Lock()
	serr := m.saveSandboxesLocked()
	m.mu.Unlock()
	keptNS := map[string]bool{}
	keptVeth := map[string]bool{}
	for _, sb := range keep {
		keptNS[sb.NetNS] = true
		for _, ep := range sb.Endpoints {
			keptVeth[ep.HostVeth] = true
		}
		if len(sb.Ports) > 0 && len(sb.Endpoints) > 0 {
			bound, closers, err := m.publish(sb.Endpoints[0].IP, sb.Ports)
			if err != nil {
				m.log.Error("re-publishing the ports of a re-adopted container", "container", sb.ContainerID, "err", err)
				continue
			}
			m.mu.Lock()
			m.listeners[sb.ContainerID] = closers
			if cur := m.st.Sandboxes[sb.ContainerID]; cur != nil {
				cur.Ports = bound
			}
			m.mu.Unlock()
		}
	}
	ents, _ := os.ReadDir(m.netnsDir())
	for _, e := range ents {
		p := m.netnsDir() + "/" + e.Name()
		if !keptNS[p] {
			if err := removeNetNS(p); err != nil {
				m.log.Warn("removing a leaked network namespace", "path", p, "err", err)
			} else {
				freed++
			}
		}
	}
	for _, br := range bridges {
		ports, err := bridgePorts(br)
		if err != nil {
			continue
		}
		for _, l := range ports {
			if strings.HasPrefix(l, "wv") && !keptVeth[l] {
				if err := deleteLink(l); err == nil {
					freed++
				}
			}
		}
	}
	if freed > 0 || len(drop) > 0 {
		m.log.Info("freed network resources left by a previous daemon", "sandboxes", len(drop), "other", freed)
	}
	return serr
}
