// Package network is wharf's single-host network driver: Docker's bridge
// model done in-process with netlink. It owns networks (a Linux bridge per
// network), container sandboxes (a network namespace per container with a
// veth per attached network), IP address management, the embedded DNS
// server of each user-defined network and the published ports.
//
// On-disk layout:
//
//	<root>/network/state.json         every network with its address
//	                                  pools (no leases), rewritten
//	                                  atomically and durably on change
//	<exec-root>/network/sandbox.json  every sandbox of a running container
//	                                  and where each pool last handed out
//	                                  an address, rewritten atomically but
//	                                  not durably on change
//	<exec-root>/netns/<id[:16]>       bind mount pinning a container's
//	                                  network namespace while it runs
//
// The leases are not written: they are the sandboxes' addresses, rebuilt
// from sandbox.json at load. Sandboxes live no longer than the host's
// uptime, as the exec-root (a tmpfs) does, so their file needs to be whole
// for a restarted daemon, not durable: a host crash ends every container
// and Restore frees whatever the file still names. Keeping them apart
// from the networks takes the two fsyncs of a durable write off every
// container start and exit. A state.json of an older daemon, with the
// sandboxes in it, is read once when there is no sandbox.json yet.
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
// IPv6: a network created with EnableIPv6 has a second, IPv6 pool (the
// subnet must be given, as dockerd requires without default IPv6 pools);
// its bridge gets the IPv6 gateway and each container an IPv6 address and
// default route besides its IPv4 ones. IPv6 has no per-interface switch
// that stops forwarding, so such a network is only created while the host
// does not route IPv6 at all (net.ipv6.conf.all.forwarding=0): the daemon
// never turns that on, and without a firewall of its own it cannot keep an
// IPv6 network apart from the others on a host that routes.
//
// Endpoints take dockerd's settings: requested addresses, a MAC address
// (on the veth), extra link-local addresses, aliases and, on user-defined
// networks, links, which are DNS names only the linking container
// resolves. A network's IPAM configuration is kept as it was asked for,
// auxiliary addresses included (Pool.Reserved: never handed out).
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
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	// Attachable is recorded for inspect (a swarm notion).
	Attachable bool              `json:",omitempty"`
	Labels     map[string]string `json:",omitempty"`
	Options    map[string]string `json:",omitempty"`
	// Bridge is the Linux bridge of a bridge network.
	Bridge string `json:",omitempty"`
	// Pool is the IPv4 address pool of a bridge network (nil for host and
	// none).
	Pool *Pool `json:",omitempty"`
	// EnableIPv6 gives the network's containers an IPv6 address of Pool6
	// besides their IPv4 one.
	EnableIPv6 bool `json:",omitempty"`
	// Pool6 is the IPv6 pool of a network with EnableIPv6.
	Pool6 *Pool `json:",omitempty"`
	// Routed is a prefix (the cluster's task network, cluster/agent) this
	// bridge's traffic is routed to and from without masquerading,
	// whatever the daemon's masquerade setting: forwarding is on on the
	// bridge, and the daemon's nftables table accepts what the bridge
	// sends into Routed and the replies to what reaches it. Outside
	// Routed the bridge is masqueraded as the others are with
	// masquerading on, and reaches nothing without it. Its subnet lies
	// inside Routed. Set at create (CreateOptions.Routed), never by the
	// Docker API.
	Routed netip.Prefix `json:",omitzero"`
	// IPAM is the address configuration as it was asked for, which
	// inspect shows as dockerd does; nil for the predefined networks and
	// those of older daemons, whose inspect derives it from the pools.
	IPAM *IPAMInfo `json:",omitempty"`
	// Containers lists the endpoints of running containers by container
	// ID; only Inspect fills it.
	Containers map[string]Endpoint `json:"-"`
}

// IPAMInfo is a network's IPAM configuration as asked for.
type IPAMInfo struct {
	Driver string
	// Options are kept as given: dockerd shows null for none and {} for
	// an empty set.
	Options map[string]string
	Config  []IPAMConfig
}

// IPAMConfig is one subnet's configuration as asked for (strings as the
// user gave them; an empty Gateway stays empty in inspect, as in
// dockerd, though the network has one).
type IPAMConfig struct {
	Subnet, IPRange, Gateway string `json:",omitempty"`
	// AuxAddresses name addresses that are never handed out.
	AuxAddresses map[string]string `json:",omitempty"`
}

// Predefined reports whether the network is one the daemon always has.
func (n *Network) Predefined() bool {
	return n.Name == NameBridge || n.Name == NameHost || n.Name == NameNone
}

// HasDNS reports whether the network runs an embedded DNS server.
func (n *Network) HasDNS() bool { return n.Driver == DriverBridge && n.Name != NameBridge }

func (n *Network) clone() *Network {
	cp := *n
	cp.Pool, cp.Pool6 = n.Pool.clone(), n.Pool6.clone()
	if n.IPAM != nil {
		ipam := *n.IPAM
		ipam.Options = maps.Clone(n.IPAM.Options)
		ipam.Config = make([]IPAMConfig, len(n.IPAM.Config))
		for i, c := range n.IPAM.Config {
			c.AuxAddresses = maps.Clone(c.AuxAddresses)
			ipam.Config[i] = c
		}
		cp.IPAM = &ipam
	}
	return &cp
}

// pools returns the network's address pools, IPv4 first.
func (n *Network) pools() []*Pool {
	var out []*Pool
	for _, p := range []*Pool{n.Pool, n.Pool6} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
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
	// IP6, PrefixLen6 and Gateway6 are the IPv6 side of an IPv6 network.
	IP6        netip.Addr `json:",omitzero"`
	PrefixLen6 int        `json:",omitempty"`
	Gateway6   netip.Addr `json:",omitzero"`
	// LinkLocalIPs are extra link-local addresses of the interface.
	LinkLocalIPs []netip.Addr `json:",omitempty"`
	MAC          string
	// Aliases are extra names (--network-alias) answered by the network's
	// DNS server, besides the container's name and short ID.
	Aliases []string `json:",omitempty"`
	// Links are "name:alias" pairs (--link on a user-defined network):
	// the network's DNS server answers alias with the addresses of the
	// container name, to this endpoint alone.
	Links []string `json:",omitempty"`
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

// sandboxState is sandbox.json: the sandboxes, and the Last address of
// each pool by network ID (IPv6 pools under "<id>/6").
type sandboxState struct {
	Sandboxes map[string]*Sandbox
	Last      map[string]netip.Addr `json:",omitempty"`
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
	// nftLoaded is set once applyMasquerade loaded the daemon's table.
	nftLoaded bool

	mu        sync.Mutex
	st        state
	dns       map[string]*dnsServer // by network ID
	listeners map[string][]io.Closer
	// unplugging holds the host veths Teardown is deleting in the
	// background, each with a channel closed once it is gone; unplugged
	// waits for them all.
	unplugging map[string]chan struct{}
	unplugged  sync.WaitGroup
	// discovery answers the cluster's service names (SetDiscovery).
	discovery atomic.Pointer[discoveryBox]
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
		dns:        map[string]*dnsServer{}, listeners: map[string][]io.Closer{}, unplugging: map[string]chan struct{}{},
		st: state{Networks: map[string]*Network{}, Sandboxes: map[string]*Sandbox{}},
	}
	for _, o := range opts {
		o(m)
	}
	if len(m.defBridge) == 0 || len(m.defBridge) > 15 {
		return nil, fmt.Errorf("invalid bridge name %q (1 to 15 characters): %w", m.defBridge, errdefs.ErrInvalidArgument)
	}
	for _, d := range []string{m.root, m.netnsDir(), filepath.Dir(m.sandboxPath())} {
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
	case !os.IsNotExist(err):
		return nil, err
	}
	if err := m.loadSandboxes(); err != nil {
		return nil, err
	}
	if err := m.ensurePredefined(); err != nil {
		return nil, err
	}
	for _, n := range m.st.Networks {
		if n.Driver != DriverBridge {
			continue
		}
		if err := m.ensureBridge(n); err != nil {
			return nil, fmt.Errorf("network %s: %w", n.Name, err)
		}
		if n.Pool6 != nil && hostForwardsIPv6() {
			m.log.Warn("the host forwards IPv6: the containers of this IPv6 network are not kept from other networks and the outside", "network", n.Name)
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
	if err := m.saveSandboxesLocked(); err != nil {
		return nil, err
	}
	return m, m.saveLocked()
}

func (m *Manager) statePath() string { return filepath.Join(m.root, "state.json") }

// sandboxPath is sandbox.json, on the exec-root.
func (m *Manager) sandboxPath() string { return filepath.Join(m.execRoot, "network", "sandbox.json") }

// loadSandboxes reads sandbox.json (or, the first time, the sandboxes an
// older daemon kept in state.json) and rebuilds every pool's leases and
// last address from it. A sandbox.json that does not parse is set aside:
// what it named is freed as leaked by Restore (its namespaces and veths
// are found on disk and on the bridges).
func (m *Manager) loadSandboxes() error {
	var ss sandboxState
	data, err := os.ReadFile(m.sandboxPath())
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &ss); err != nil {
			m.log.Warn("network sandbox state does not parse; freeing what it held", "path", m.sandboxPath(), "err", err)
			_, _ = atomicfile.SetAside(m.sandboxPath(), time.Now())
			ss = sandboxState{}
		}
	case os.IsNotExist(err):
		// An older daemon's state.json holds its sandboxes and leases.
		ss.Sandboxes = m.st.Sandboxes
		for id, n := range m.st.Networks {
			if n.Pool != nil && n.Pool.Last.IsValid() {
				if ss.Last == nil {
					ss.Last = map[string]netip.Addr{}
				}
				ss.Last[id] = n.Pool.Last
			}
		}
	default:
		return err
	}
	m.st.Sandboxes = ss.Sandboxes
	if m.st.Sandboxes == nil {
		m.st.Sandboxes = map[string]*Sandbox{}
	}
	for id, n := range m.st.Networks {
		if n.Pool != nil {
			n.Pool.Leases, n.Pool.Last = map[netip.Addr]string{}, ss.Last[id]
		}
		if n.Pool6 != nil {
			n.Pool6.Leases, n.Pool6.Last = map[netip.Addr]string{}, ss.Last[id+"/6"]
		}
	}
	for cid, sb := range m.st.Sandboxes {
		for _, ep := range sb.Endpoints {
			n := m.st.Networks[ep.NetworkID]
			if n == nil {
				continue
			}
			if n.Pool != nil && ep.IP.IsValid() {
				n.Pool.Leases[ep.IP] = cid
			}
			if n.Pool6 != nil && ep.IP6.IsValid() {
				n.Pool6.Leases[ep.IP6] = cid
			}
		}
	}
	return nil
}

// saveSandboxesLocked writes sandbox.json: atomically, not durably (see
// the package doc).
func (m *Manager) saveSandboxesLocked() error {
	ss := sandboxState{Sandboxes: m.st.Sandboxes}
	for id, n := range m.st.Networks {
		for key, p := range map[string]*Pool{id: n.Pool, id + "/6": n.Pool6} {
			if p != nil && p.Last.IsValid() {
				if ss.Last == nil {
					ss.Last = map[string]netip.Addr{}
				}
				ss.Last[key] = p.Last
			}
		}
	}
	data, err := json.Marshal(&ss)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(m.sandboxPath(), data, 0o600, atomicfile.NoSync())
}

func (m *Manager) netnsDir() string { return filepath.Join(m.execRoot, "netns") }

// NetNSPath is where the namespace of a container is pinned.
func (m *Manager) NetNSPath(containerID string) string {
	return filepath.Join(m.netnsDir(), containerID[:16])
}

func (m *Manager) forwarding(n *Network) bool {
	return (m.masquerade || n.Routed.IsValid()) && !n.Internal
}

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

// saveLocked writes the networks atomically and durably
// (internal/atomicfile), without the leases and last addresses, which
// sandbox.json holds.
func (m *Manager) saveLocked() error {
	st := state{Networks: make(map[string]*Network, len(m.st.Networks))}
	for id, n := range m.st.Networks {
		cp := *n
		for _, p := range []**Pool{&cp.Pool, &cp.Pool6} {
			if *p != nil {
				q := **p
				q.Leases, q.Last = nil, netip.Addr{}
				*p = &q
			}
		}
		st.Networks[id] = &cp
	}
	data, err := json.MarshalIndent(&st, "", "  ")
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
		return fmt.Errorf("error while removing network: network %s id %s has active endpoints: %w", n.Name, n.ID, errdefs.ErrForbidden)
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

// Close stops the DNS servers and the published ports, and waits for the
// veths Teardown was deleting. Sandboxes, bridges and namespaces stay for
// the containers that keep running.
func (m *Manager) Close() {
	m.unplugged.Wait()
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
