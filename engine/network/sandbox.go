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
	// IP is a requested address (--ip); empty: the next free one.
	IP string
	// Aliases are extra DNS names on this network (--network-alias).
	Aliases []string
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
	serr := m.saveLocked()
	m.mu.Unlock()
	defer func() {
		if err != nil {
			_ = m.Teardown(context.WithoutCancel(ctx), c.ContainerID)
		}
	}()
	if serr != nil {
		return nil, serr
	}
	if err := createNetNS(sb.NetNS); err != nil {
		return nil, fmt.Errorf("creating the network namespace: %w", err)
	}
	routed := false
	for _, ep := range eps {
		if err := m.plug(sb.NetNS, ep, &routed); err != nil {
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
		serr = m.saveLocked()
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
	var want netip.Addr
	if ec.IP != "" {
		if want, err = netip.ParseAddr(ec.IP); err != nil || !want.Is4() {
			return nil, fmt.Errorf("invalid IPv4 address %q: %w", ec.IP, errdefs.ErrInvalidArgument)
		}
		if n.Name == NameBridge {
			return nil, fmt.Errorf("user specified IP address is supported on user defined networks only: %w", errdefs.ErrInvalidArgument)
		}
	}
	ip, err := n.Pool.Allocate(sb.ContainerID, want)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", n.Name, err)
	}
	idx := sb.NextIf
	sb.NextIf++
	ep := &Endpoint{
		ID: newID(), NetworkID: n.ID, NetworkName: n.Name, ContainerID: sb.ContainerID,
		IfName: fmt.Sprintf("eth%d", idx), HostVeth: fmt.Sprintf("wv%s%02x", sb.ContainerID[:11], idx&0xff),
		IP: ip, PrefixLen: n.Pool.Subnet.Bits(), MAC: macFor(ip), Aliases: ec.Aliases,
	}
	if !n.Internal {
		ep.Gateway = n.Pool.Gateway
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
	if n == nil || n.Pool == nil {
		return
	}
	if n.Pool.Leases[ep.IP] == ep.ContainerID {
		n.Pool.Release(ep.IP)
	}
}

// plug creates the endpoint's veth; the first endpoint with a gateway
// gets the default route.
func (m *Manager) plug(nsPath string, ep *Endpoint, routed *bool) error {
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
		gateway: ep.Gateway, defaultRoute: def, mac: mac,
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
		serr = m.saveLocked()
	}
	m.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	var errs []error
	if sb != nil {
		for _, ep := range sb.Endpoints {
			if err := deleteLink(ep.HostVeth); err != nil {
				errs = append(errs, fmt.Errorf("deleting %s: %w", ep.HostVeth, err))
			}
		}
	}
	if err := removeNetNS(m.NetNSPath(containerID)); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, serr)
	return errors.Join(errs...)
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
	if err := m.plug(nsPath, ep, &routed); err != nil {
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
	return &cp, m.saveLocked()
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
		return fmt.Errorf("container %.12s is not connected to network %s: %w", containerID, n.Name, errdefs.ErrNotFound)
	}
	m.releaseLocked(ep)
	serr := m.saveLocked()
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
		for a, o := range n.Pool.Leases {
			if !owners[o] {
				delete(n.Pool.Leases, a)
				freed++
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
	serr := m.saveLocked()
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
