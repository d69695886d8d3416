// Package network is wharf's single-host network driver: Docker's bridge
// model done in-process with netlink. It owns networks (a Linux bridge per
// network), container sandboxes (a network namespace per container with a
// veth per attached network), IP address management, the embedded DNS
// server of each user-defined network and the published ports.
//
// On-disk layout:
//
//	<root>/network/state.json    every network (with its address pool and
//	                             leases) and every sandbox of a running
//	                             container, rewritten atomically on change
//	<exec-root>/netns/<id[:16]>  bind mount pinning a container's network
//	                             namespace while the container runs
//
// Lifecycle of a sandbox: Setup (before the container starts: lease the
// addresses, create and pin the namespace, add the veths, publish the
// ports) → the runtime joins the namespace by path → Teardown (on exit or
// removal: close the ports, delete the veths, unpin the namespace, free
// the leases). Restore, at daemon start, re-adopts the sandboxes of
// containers that kept running (their ports are bound again, their leases
// kept) and frees everything else a crashed daemon left behind: leases,
// namespace files and veths on its bridges.
//
// Isolation without a firewall: IPv4 forwarding is turned off on every
// bridge the driver creates (net.ipv4.conf.<bridge>.forwarding=0, checked
// on the interface a packet enters by), so a container reaches the peers
// on its own bridge and the host's own addresses, and nothing is routed to
// another bridge or out of the machine. Outbound masquerading (an opt-in
// daemon option) turns forwarding on for bridges that are not --internal
// and adds nftables rules that masquerade their traffic and drop traffic
// between bridges.
//
// Name resolution: each user-defined network runs a DNS server (miekg/dns)
// on its gateway address, port 53; the containers' resolv.conf names it.
// Serving on the gateway rather than on 127.0.0.11 inside every container
// needs one listener per network instead of one per container and no
// thread that enters a container's namespace; the server answers only
// clients of its own subnet (and the host), so another bridge cannot use
// it to learn names. An --internal network's server forwards no query
// upstream (outside names get SERVFAIL) unless the asking container also
// has an external network, as dockerd decides. The default "bridge"
// network has no embedded DNS, as in Docker.
package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Driver names.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Names of the pre-defined networks.
const (
	NameBridge = "bridge"
	NameHost   = "host"
	NameNone   = "none"
)

// Network is the record of one network.
type Network struct {
	ID       string
	Name     string
	Driver   string
	Created  time.Time
	Internal bool
	Labels   map[string]string `json:",omitempty"`
	Options  map[string]string `json:",omitempty"`
	// Bridge is the Linux bridge of a bridge network.
	Bridge string `json:",omitempty"`
	// Pool is the address pool of a bridge network (nil for host and none).
	Pool *Pool `json:",omitempty"`
	// Containers lists the endpoints of running containers by container
	// ID; only Inspect fills it.
	Containers map[string]Endpoint `json:"-"`
}

// Predefined reports whether the network is one the daemon always has.
func (n *Network) Predefined() bool {
	return n.Name == NameBridge || n.Name == NameHost || n.Name == NameNone
}

// HasDNS reports whether the network runs an embedded DNS server.
func (n *Network) HasDNS() bool { return n.Driver == DriverBridge && n.Name != NameBridge }

func (n *Network) clone() *Network {
	cp := *n
	if n.Pool != nil {
		p := *n.Pool
		p.Leases = make(map[netip.Addr]string, len(n.Pool.Leases))
		for a, o := range n.Pool.Leases {
			p.Leases[a] = o
		}
		cp.Pool = &p
	}
	return &cp
}

// Endpoint is one container's attachment to one network.
type Endpoint struct {
	ID          string
	NetworkID   string
	NetworkName string
	ContainerID string
	// IfName is the interface inside the container (eth0, eth1...),
	// HostVeth its peer on the bridge.
	IfName    string
	HostVeth  string
	IP        netip.Addr
	PrefixLen int
	Gateway   netip.Addr `json:",omitzero"`
	MAC       string
	// Aliases are extra names (--network-alias) answered by the network's
	// DNS server, besides the container's name and short ID.
	Aliases []string `json:",omitempty"`
	// DNS is the embedded DNS server's address (user-defined networks).
	DNS netip.Addr `json:",omitzero"`
}

// Sandbox is the network state of one running container.
type Sandbox struct {
	ContainerID string
	Name        string
	NetNS       string
	Endpoints   []*Endpoint
	// Ports are the published ports as bound (random ports resolved).
	Ports []PortBinding `json:",omitempty"`
	// NextIf numbers the container's interfaces.
	NextIf int
}

func (s *Sandbox) clone() *Sandbox {
	cp := *s
	cp.Endpoints = make([]*Endpoint, len(s.Endpoints))
	for i, e := range s.Endpoints {
		ee := *e
		cp.Endpoints[i] = &ee
	}
	cp.Ports = append([]PortBinding(nil), s.Ports...)
	return &cp
}

// Publisher makes a container port reachable on a host address. The
// in-daemon proxy (package portproxy) implements it; an nftables DNAT
// publisher can replace it.
type Publisher interface {
	// Publish binds host at once (port 0: a random port; a port in use is
	// errdefs.ErrConflict) and forwards proto traffic to target until the
	// returned Closer is closed. It returns the address actually bound.
	Publish(proto string, host, target netip.AddrPort) (netip.AddrPort, io.Closer, error)
}

type state struct {
	Networks  map[string]*Network
	Sandboxes map[string]*Sandbox
}

// Manager is the network driver of one daemon.
type Manager struct {
	root, execRoot string
	log            *slog.Logger
	pub            Publisher
	defBridge      string
	defSubnet      netip.Prefix
	masquerade     bool
	resolvConf     string

	mu        sync.Mutex
	st        state
	dns       map[string]*dnsServer // by network ID
	listeners map[string][]io.Closer
}

// Option configures a Manager.
type Option func(*Manager)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithDefaultBridge sets the Linux bridge name and subnet of the default
// "bridge" network (daemon flags --bridge-name, --bridge-subnet).
func WithDefaultBridge(name string, subnet netip.Prefix) Option {
	return func(m *Manager) { m.defBridge, m.defSubnet = name, subnet }
}

// WithMasquerade turns outbound masquerading on (off by default).
func WithMasquerade(on bool) Option { return func(m *Manager) { m.masquerade = on } }

// WithPublisher replaces the port publisher (default: none, ports cannot
// be published).
func WithPublisher(p Publisher) Option { return func(m *Manager) { m.pub = p } }

// WithResolvConf sets the host resolv.conf whose name servers the embedded
// DNS servers forward to (default /etc/resolv.conf).
func WithResolvConf(path string) Option { return func(m *Manager) { m.resolvConf = path } }

// Defaults of the default bridge network.
const (
	DefaultBridgeName   = "wharf0"
	DefaultBridgeSubnet = "172.29.0.0/16"
)

// New loads the driver's state, creates the pre-defined networks and makes
// sure every bridge network's bridge exists and its DNS server runs.
// Sandboxes are left alone until Restore.
func New(root, execRoot string, opts ...Option) (*Manager, error) {
	m := &Manager{
		root: filepath.Join(root, "network"), execRoot: execRoot, log: slog.Default(),
		defBridge: DefaultBridgeName, defSubnet: netip.MustParsePrefix(DefaultBridgeSubnet),
		resolvConf: "/etc/resolv.conf",
		dns:        map[string]*dnsServer{}, listeners: map[string][]io.Closer{},
		st: state{Networks: map[string]*Network{}, Sandboxes: map[string]*Sandbox{}},
	}
	for _, o := range opts {
		o(m)
	}
	if len(m.defBridge) == 0 || len(m.defBridge) > 15 {
		return nil, fmt.Errorf("invalid bridge name %q (1 to 15 characters): %w", m.defBridge, errdefs.ErrInvalidArgument)
	}
	for _, d := range []string{m.root, m.netnsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(m.statePath())
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &m.st); err != nil {
			return nil, fmt.Errorf("reading %s: %w", m.statePath(), err)
		}
		if m.st.Networks == nil {
			m.st.Networks = map[string]*Network{}
		}
		if m.st.Sandboxes == nil {
			m.st.Sandboxes = map[string]*Sandbox{}
		}
	case !os.IsNotExist(err):
		return nil, err
	}
	if err := m.ensurePredefined(); err != nil {
		return nil, err
	}
	for _, n := range m.st.Networks {
		if n.Driver != DriverBridge {
			continue
		}
		if err := ensureBridge(n.Bridge, n.Pool.Gateway, n.Pool.Subnet.Bits(), m.forwarding(n)); err != nil {
			return nil, fmt.Errorf("network %s: %w", n.Name, err)
		}
		if n.HasDNS() {
			if err := m.startDNSLocked(n); err != nil {
				return nil, err
			}
		}
	}
	if err := m.applyMasquerade(); err != nil {
		return nil, err
	}
	return m, m.saveLocked()
}

func (m *Manager) statePath() string { return filepath.Join(m.root, "state.json") }
func (m *Manager) netnsDir() string  { return filepath.Join(m.execRoot, "netns") }

// NetNSPath is where the namespace of a container is pinned.
func (m *Manager) NetNSPath(containerID string) string {
	return filepath.Join(m.netnsDir(), containerID[:16])
}

func (m *Manager) forwarding(n *Network) bool { return m.masquerade && !n.Internal }

// ensurePredefined creates bridge, host and none, and moves the default
// bridge to the configured name and subnet when they changed (only while
// no container is attached to it).
func (m *Manager) ensurePredefined() error {
	have := map[string]*Network{}
	for _, n := range m.st.Networks {
		if n.Predefined() {
			have[n.Name] = n
		}
	}
	for _, p := range []struct{ name, driver string }{{NameHost, DriverHost}, {NameNone, DriverNull}} {
		if have[p.name] == nil {
			n := &Network{ID: newID(), Name: p.name, Driver: p.driver, Created: time.Now().UTC()}
			m.st.Networks[n.ID] = n
		}
	}
	br := have[NameBridge]
	if br != nil && (br.Bridge != m.defBridge || br.Pool.Subnet != m.defSubnet.Masked()) {
		if len(br.Pool.Leases) > 0 && m.anySandboxOn(br.ID) {
			m.log.Warn("default bridge settings changed while containers use it; keeping the old ones until they stop",
				"bridge", br.Bridge, "subnet", br.Pool.Subnet.String())
			return nil
		}
		if br.Bridge != m.defBridge {
			if err := deleteLink(br.Bridge); err != nil {
				m.log.Warn("deleting the old default bridge", "bridge", br.Bridge, "err", err)
			}
		}
		delete(m.st.Networks, br.ID)
		br = nil
	}
	if br == nil {
		pool, err := NewPool(m.defSubnet, netip.Prefix{}, netip.Addr{})
		if err != nil {
			return fmt.Errorf("--bridge-subnet: %w", err)
		}
		n := &Network{ID: newID(), Name: NameBridge, Driver: DriverBridge, Created: time.Now().UTC(), Bridge: m.defBridge, Pool: pool,
			Options: map[string]string{"com.docker.network.bridge.name": m.defBridge, "com.docker.network.bridge.default_bridge": "true"}}
		m.st.Networks[n.ID] = n
	}
	return nil
}

func (m *Manager) anySandboxOn(netID string) bool {
	for _, sb := range m.st.Sandboxes {
		for _, ep := range sb.Endpoints {
			if ep.NetworkID == netID {
				return true
			}
		}
	}
	return false
}

// saveLocked writes the state atomically and durably (internal/atomicfile).
func (m *Manager) saveLocked() error {
	data, err := json.MarshalIndent(&m.st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(m.statePath(), data, 0o600)
}

func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var validNetName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CreateOptions are the settings of a new network (docker network create).
type CreateOptions struct {
	Name   string
	Driver string // "" or "bridge"
	// Subnet, IPRange and Gateway are optional; a free /24 is picked when
	// Subnet is empty.
	Subnet, IPRange, Gateway string
	Internal                 bool
	Labels, Options          map[string]string
}

// Create makes a user-defined bridge network: its record, its bridge and
// its DNS server.
func (m *Manager) Create(ctx context.Context, o CreateOptions) (*Network, error) {
	if !validNetName.MatchString(o.Name) {
		return nil, fmt.Errorf("invalid network name %q: %w", o.Name, errdefs.ErrInvalidArgument)
	}
	if o.Driver != "" && o.Driver != DriverBridge {
		return nil, fmt.Errorf("network driver %q is not supported (only bridge): %w", o.Driver, errdefs.ErrInvalidArgument)
	}
	var sub, rng netip.Prefix
	var gw netip.Addr
	var err error
	if o.Subnet != "" {
		if sub, err = netip.ParsePrefix(o.Subnet); err != nil {
			return nil, fmt.Errorf("invalid subnet %q: %w", o.Subnet, errdefs.ErrInvalidArgument)
		}
	}
	if o.IPRange != "" {
		if o.Subnet == "" {
			return nil, fmt.Errorf("--ip-range needs --subnet: %w", errdefs.ErrInvalidArgument)
		}
		if rng, err = netip.ParsePrefix(o.IPRange); err != nil {
			return nil, fmt.Errorf("invalid ip-range %q: %w", o.IPRange, errdefs.ErrInvalidArgument)
		}
	}
	if o.Gateway != "" {
		if o.Subnet == "" {
			return nil, fmt.Errorf("--gateway needs --subnet: %w", errdefs.ErrInvalidArgument)
		}
		if gw, err = netip.ParseAddr(o.Gateway); err != nil {
			return nil, fmt.Errorf("invalid gateway %q: %w", o.Gateway, errdefs.ErrInvalidArgument)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.st.Networks {
		if n.Name == o.Name {
			return nil, fmt.Errorf("network with name %s already exists: %w", o.Name, errdefs.ErrConflict)
		}
	}
	if !sub.IsValid() {
		if sub, err = m.freeSubnetLocked(); err != nil {
			return nil, err
		}
	}
	for _, n := range m.st.Networks {
		if n.Pool != nil && n.Pool.Subnet.Overlaps(sub) {
			return nil, fmt.Errorf("subnet %s overlaps with network %s (%s): %w", sub, n.Name, n.Pool.Subnet, errdefs.ErrConflict)
		}
	}
	pool, err := NewPool(sub, rng, gw)
	if err != nil {
		return nil, err
	}
	n := &Network{
		ID: newID(), Name: o.Name, Driver: DriverBridge, Created: time.Now().UTC(), Internal: o.Internal,
		Labels: o.Labels, Options: o.Options, Pool: pool,
	}
	n.Bridge = "wb-" + n.ID[:12]
	if err := ensureBridge(n.Bridge, pool.Gateway, pool.Subnet.Bits(), m.forwarding(n)); err != nil {
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
		m.log.Warn("masquerade rules", "err", err)
	}
	m.log.Info("network created", "network", n.ID, "name", n.Name, "bridge", n.Bridge, "subnet", pool.Subnet.String())
	return n.clone(), nil
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

func (m *Manager) startDNSLocked(n *Network) error {
	s, err := startDNS(netip.AddrPortFrom(n.Pool.Gateway, 53), &netResolver{m: m, netID: n.ID, pool: n.Pool}, hostNameservers(m.resolvConf), m.log)
	if err != nil {
		return err
	}
	m.dns[n.ID] = s
	return nil
}

func (m *Manager) stopDNSLocked(id string) {
	if s := m.dns[id]; s != nil {
		s.close()
		delete(m.dns, id)
	}
}

// lookupLocked finds a network by full ID, name, or unique ID prefix.
func (m *Manager) lookupLocked(ref string) (*Network, error) {
	if n, ok := m.st.Networks[ref]; ok {
		return n, nil
	}
	for _, n := range m.st.Networks {
		if n.Name == ref {
			return n, nil
		}
	}
	var found *Network
	if ref != "" {
		for id, n := range m.st.Networks {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, fmt.Errorf("network %s is ambiguous: %w", ref, errdefs.ErrInvalidArgument)
				}
				found = n
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

// Inspect returns a network with the endpoints of its running containers.
func (m *Manager) Inspect(ctx context.Context, ref string) (*Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(ref)
	if err != nil {
		return nil, err
	}
	out := n.clone()
	out.Containers = map[string]Endpoint{}
	for cid, sb := range m.st.Sandboxes {
		for _, ep := range sb.Endpoints {
			if ep.NetworkID == n.ID {
				out.Containers[cid] = *ep
			}
		}
	}
	return out, nil
}

// List returns every network, sorted by name.
func (m *Manager) List(ctx context.Context) []*Network {
	m.mu.Lock()
	ids := make([]string, 0, len(m.st.Networks))
	for id := range m.st.Networks {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	var out []*Network
	for _, id := range ids {
		if n, err := m.Inspect(ctx, id); err == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Remove deletes a user-defined network that no running container uses.
func (m *Manager) Remove(ctx context.Context, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(ref)
	if err != nil {
		return err
	}
	if n.Predefined() {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", n.Name, errdefs.ErrForbidden)
	}
	if m.anySandboxOn(n.ID) {
		return fmt.Errorf("error while removing network: network %s id %s has active endpoints: %w", n.Name, n.ID, errdefs.ErrConflict)
	}
	m.stopDNSLocked(n.ID)
	if err := deleteLink(n.Bridge); err != nil {
		return fmt.Errorf("deleting bridge %s: %w", n.Bridge, err)
	}
	delete(m.st.Networks, n.ID)
	m.log.Info("network removed", "network", n.ID, "name", n.Name)
	if err := m.applyMasquerade(); err != nil {
		m.log.Warn("masquerade rules", "err", err)
	}
	return m.saveLocked()
}

// Prune removes every user-defined network without running containers for
// which inUse (e.g. "a stopped container is configured for it") is false,
// and returns their names.
func (m *Manager) Prune(ctx context.Context, inUse func(*Network) bool) ([]string, error) {
	var removed []string
	for _, n := range m.List(ctx) {
		if n.Predefined() || len(n.Containers) > 0 || (inUse != nil && inUse(n)) {
			continue
		}
		if err := m.Remove(ctx, n.ID); err != nil {
			if errdefs.IsConflict(err) || errdefs.IsNotFound(err) {
				continue
			}
			return removed, err
		}
		removed = append(removed, n.Name)
	}
	return removed, nil
}

// Close stops the DNS servers and the published ports. Sandboxes, bridges
// and namespaces stay for the containers that keep running.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.dns {
		m.stopDNSLocked(id)
	}
	for cid, ls := range m.listeners {
		for _, l := range ls {
			_ = l.Close()
		}
		delete(m.listeners, cid)
	}
}

// netResolver answers DNS queries of one network from the sandboxes.
type netResolver struct {
	m     *Manager
	netID string
	pool  *Pool
}

func (r *netResolver) allowed(src netip.Addr) bool {
	return r.pool.Subnet.Contains(src) || src.IsLoopback()
}

func (r *netResolver) forwards(src netip.Addr) bool {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if n := r.m.st.Networks[r.netID]; n == nil || !n.Internal {
		return true
	}
	// An internal network: forward only for a container that also has a
	// network with a gateway, which reaches the outside through it anyway.
	for _, sb := range r.m.st.Sandboxes {
		mine := false
		for _, ep := range sb.Endpoints {
			if ep.NetworkID == r.netID && ep.IP == src {
				mine = true
			}
		}
		if !mine {
			continue
		}
		for _, ep := range sb.Endpoints {
			if ep.Gateway.IsValid() {
				return true
			}
		}
		return false
	}
	return false
}

func (r *netResolver) lookup(name string) ([]netip.Addr, bool) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	var out []netip.Addr
	for cid, sb := range r.m.st.Sandboxes {
		for _, ep := range sb.Endpoints {
			if ep.NetworkID != r.netID {
				continue
			}
			match := strings.EqualFold(sb.Name, name) || (len(name) >= 12 && strings.HasPrefix(cid, name))
			for _, a := range ep.Aliases {
				if strings.EqualFold(a, name) {
					match = true
				}
			}
			if match {
				out = append(out, ep.IP)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out, len(out) > 0
}
