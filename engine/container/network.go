package container

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/network/portspec"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
)

// Networks is what the engine needs of the network driver (package
// network). Setup runs before a container starts, Teardown when it has
// exited or is removed; Restore once at daemon start, after every
// container record is loaded.
type Networks interface {
	Inspect(ctx context.Context, ref string) (*network.Network, error)
	Setup(ctx context.Context, c network.SandboxConfig) (*network.Sandbox, error)
	Teardown(ctx context.Context, containerID string) error
	Connect(ctx context.Context, containerID string, ec network.EndpointConfig) (*network.Endpoint, error)
	Disconnect(ctx context.Context, containerID, network string) error
	Restore(ctx context.Context, running func(containerID string) bool) error
}

// WithNetworks gives the engine a network driver. Without one, containers
// get an empty network namespace by default, as before bridge networking.
func WithNetworks(n Networks) Option { return func(e *Engine) { e.net = n } }

// EndpointOptions are a container's settings on one network, as asked
// for; inspect echoes them (IPAMConfig, Links, DriverOpts...) as dockerd
// does.
type EndpointOptions struct {
	// IPv4Address and IPv6Address are requested addresses (--ip, --ip6).
	IPv4Address string `json:",omitempty"`
	IPv6Address string `json:",omitempty"`
	// LinkLocalIPs are extra link-local addresses (--link-local-ip).
	LinkLocalIPs []string `json:",omitempty"`
	// MacAddress is a requested MAC address (--mac-address).
	MacAddress string `json:",omitempty"`
	// Aliases are extra DNS names on the network (--network-alias).
	Aliases []string `json:",omitempty"`
	// Links are "name[:alias]" links on a user-defined network: names
	// only this container resolves (--link with --network).
	Links []string `json:",omitempty"`
	// DriverOpts are the endpoint's driver options. The bridge driver
	// takes none (dockerd's ignores them too): they are only recorded and
	// shown, except the options of Docker's own namespace, which dockerd
	// applies and wharf refuses.
	DriverOpts map[string]string `json:",omitempty"`
}

// EndpointSettings is a container's attachment to one network: what was
// asked for, and while the container runs, what it got.
type EndpointSettings struct {
	EndpointOptions
	NetworkID   string
	EndpointID  string `json:",omitempty"`
	IPAddress   string `json:",omitempty"`
	IPPrefixLen int    `json:",omitempty"`
	Gateway     string `json:",omitempty"`
	// GlobalIPv6Address, GlobalIPv6PrefixLen and IPv6Gateway are the
	// IPv6 side on a network with IPv6 enabled.
	GlobalIPv6Address   string `json:",omitempty"`
	GlobalIPv6PrefixLen int    `json:",omitempty"`
	IPv6Gateway         string `json:",omitempty"`
	MacAddress          string `json:",omitempty"`
	// DNS is the network's embedded DNS server, if it has one.
	DNS string `json:",omitempty"`
}

// endpointConfig is what the network driver is asked for one endpoint.
func endpointConfig(ref string, o EndpointOptions) network.EndpointConfig {
	return network.EndpointConfig{Network: ref, IP: o.IPv4Address, IP6: o.IPv6Address, MAC: o.MacAddress,
		LinkLocalIPs: o.LinkLocalIPs, Aliases: o.Aliases, Links: o.Links}
}

// validateEndpointOptions checks a container's settings on network n as
// dockerd does at create and connect (network.ValidateEndpoint), and the
// driver options wharf cannot honour.
func validateEndpointOptions(n *network.Network, o EndpointOptions) error {
	for k := range o.DriverOpts {
		if strings.HasPrefix(k, "com.docker.network.") {
			return fmt.Errorf("endpoint driver option %s is not supported by this daemon: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return network.ValidateEndpoint(n, endpointConfig(n.ID, o))
}

// NetworkSettings is the network state of a container.
type NetworkSettings struct {
	// Networks maps network names to the container's attachments (bridge
	// networks only: host, none and container: modes have none).
	Networks map[string]*EndpointSettings `json:",omitempty"`
	// Ports are the published ports as bound while the container runs.
	Ports []network.PortBinding `json:",omitempty"`
	// SandboxKey is the pinned network namespace while it runs.
	SandboxKey string `json:",omitempty"`
}

func (n NetworkSettings) clone() NetworkSettings {
	cp := n
	if n.Networks != nil {
		cp.Networks = make(map[string]*EndpointSettings, len(n.Networks))
		for k, v := range n.Networks {
			vv := *v
			vv.Aliases = append([]string(nil), v.Aliases...)
			vv.Links = append([]string(nil), v.Links...)
			vv.LinkLocalIPs = append([]string(nil), v.LinkLocalIPs...)
			vv.DriverOpts = maps.Clone(v.DriverOpts)
			cp.Networks[k] = &vv
		}
	}
	cp.Ports = append([]network.PortBinding(nil), n.Ports...)
	return cp
}

// networkKind classifies a container's NetworkMode.
type networkKind int

const (
	netEmpty     networkKind = iota // a namespace of its own with only lo
	netHost                         // the host's
	netContainer                    // another container's
	netBridge                       // bridge networks through the driver
	netPath                         // an existing namespace by path ("ns:/path", as podman's)
)

func (e *Engine) kindOf(mode string) networkKind {
	switch {
	case mode == "none":
		return netEmpty
	case mode == "host":
		return netHost
	case strings.HasPrefix(mode, "container:"):
		return netContainer
	case strings.HasPrefix(mode, "ns:"):
		return netPath
	case (mode == "" || mode == "default") && e.net == nil:
		return netEmpty
	}
	return netBridge
}

// resolveNetworking validates the network mode of a new container and
// fills in its networks. o.HostConfig.NetworkMode is normalised: "" and
// "default" become "bridge", a user network is kept by name, a host or
// null network by its mode, container:<ref> gets the full ID.
func (e *Engine) resolveNetworking(ctx context.Context, o *CreateOptions, img *store.Image) (NetworkSettings, error) {
	var ns NetworkSettings
	h := &o.HostConfig
	mode := h.NetworkMode
	if (mode == "" || mode == "default") && e.net != nil {
		mode = network.NameBridge
	}
	switch e.kindOf(mode) {
	case netPath:
		// The namespace is the caller's to set up (function sandboxes hold
		// their Runtime API in it); the engine only joins it.
		if p := strings.TrimPrefix(mode, "ns:"); !filepath.IsAbs(p) {
			return ns, fmt.Errorf("network mode %s: the namespace path must be absolute: %w", mode, errdefs.ErrInvalidArgument)
		}
		if len(o.Endpoints) > 0 || len(h.PortBindings) > 0 || h.PublishAllPorts {
			return ns, fmt.Errorf("network mode %s takes no networks or published ports: %w", mode, errdefs.ErrInvalidArgument)
		}
		return ns, nil
	case netEmpty, netHost:
		if len(o.Endpoints) > 0 {
			if _, ok := o.Endpoints[mode]; !ok || len(o.Endpoints) > 1 {
				return ns, fmt.Errorf("container cannot join other networks in network mode %s: %w", mode, errdefs.ErrInvalidArgument)
			}
		}
		h.PortBindings, h.PublishAllPorts = nil, false
		h.NetworkMode = mode
		return ns, nil
	case netContainer:
		ref := strings.TrimPrefix(mode, "container:")
		other, err := e.Get(ctx, ref)
		if err != nil {
			return ns, err
		}
		if len(h.PortBindings) > 0 || h.PublishAllPorts {
			return ns, fmt.Errorf("conflicting options: port publishing and the container type network mode: %w", errdefs.ErrInvalidArgument)
		}
		if o.Config.Hostname != "" {
			return ns, fmt.Errorf("conflicting options: hostname and the network mode: %w", errdefs.ErrInvalidArgument)
		}
		h.NetworkMode = "container:" + other.ID
		return ns, nil
	}
	n, err := e.net.Inspect(ctx, mode)
	if err != nil {
		return ns, err
	}
	switch n.Driver {
	case network.DriverHost:
		h.NetworkMode = "host"
		h.PortBindings, h.PublishAllPorts = nil, false
		return ns, nil
	case network.DriverNull:
		h.NetworkMode = "none"
		h.PortBindings, h.PublishAllPorts = nil, false
		return ns, nil
	}
	h.NetworkMode = n.Name
	ns.Networks = map[string]*EndpointSettings{n.Name: {NetworkID: n.ID}}
	for name, eo := range o.Endpoints {
		m, err := e.net.Inspect(ctx, name)
		if err != nil {
			return ns, err
		}
		if m.Driver != network.DriverBridge {
			return ns, fmt.Errorf("container cannot be connected to network %s alongside others: %w", m.Name, errdefs.ErrInvalidArgument)
		}
		if err := validateEndpointOptions(m, eo); err != nil {
			return ns, err
		}
		ns.Networks[m.Name] = &EndpointSettings{EndpointOptions: eo, NetworkID: m.ID}
	}
	// -P publishes every exposed port (the image's and --expose) on a
	// random host port; explicit bindings win.
	if h.PublishAllPorts {
		exposed := map[string]struct{}{}
		for k := range o.Config.ExposedPorts {
			exposed[k] = struct{}{}
		}
		if img.Config != nil {
			for k := range img.Config.Config.ExposedPorts {
				exposed[k] = struct{}{}
			}
		}
		bound := map[string]bool{}
		for _, b := range h.PortBindings {
			bound[b.Key()] = true
		}
		keys := make([]string, 0, len(exposed))
		for k := range exposed {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			proto, s, end, err := portspec.ParsePortKey(k)
			if err != nil {
				return ns, err
			}
			for p := int(s); p <= int(end); p++ {
				b := network.PortBinding{Proto: proto, ContainerPort: uint16(p)}
				if !bound[b.Key()] {
					h.PortBindings = append(h.PortBindings, b)
				}
			}
		}
	}
	for _, b := range h.PortBindings {
		if b.ContainerPort == 0 || (b.Proto != "tcp" && b.Proto != "udp") {
			return ns, fmt.Errorf("invalid port binding %+v: %w", b, errdefs.ErrInvalidArgument)
		}
		if o.Config.ExposedPorts == nil {
			o.Config.ExposedPorts = map[string]struct{}{}
		}
		o.Config.ExposedPorts[b.Key()] = struct{}{}
	}
	return ns, nil
}

// endpointOrder lists a container's networks with its primary network
// (its NetworkMode) first, then by name: the first gets eth0, the
// default route and the published ports.
func endpointOrder(c *Container) []string {
	var names []string
	for name := range c.NetworkSettings.Networks {
		if name != c.HostConfig.NetworkMode {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if _, ok := c.NetworkSettings.Networks[c.HostConfig.NetworkMode]; ok {
		names = append([]string{c.HostConfig.NetworkMode}, names...)
	}
	return names
}

// netPlan is what prepare learned about the container's network.
type netPlan struct {
	// nsPath is a namespace to join ("" for a new one, or the host's).
	nsPath string
	// sandbox is set for bridge networking.
	sandbox *network.Sandbox
	// shareFrom is the container whose /etc files are shared
	// (container: mode).
	shareFrom string
	// host: the joined container uses the host's network.
	host bool
	// linkHosts are the /etc/hosts lines of its legacy links.
	linkHosts []string
	// userns is the pinned user namespace that owns nsPath, for a
	// container in a user namespace of its own (userns_linux.go).
	userns string
}

// setupNetwork prepares the container's network before its start.
func (e *Engine) setupNetwork(ctx context.Context, c *Container) (*netPlan, error) {
	switch e.kindOf(c.HostConfig.NetworkMode) {
	case netEmpty, netHost:
		return &netPlan{}, nil
	case netPath:
		return &netPlan{nsPath: strings.TrimPrefix(c.HostConfig.NetworkMode, "ns:")}, nil
	case netContainer:
		ref := strings.TrimPrefix(c.HostConfig.NetworkMode, "container:")
		other, err := e.Get(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("joining the network of container %.12s: %w", ref, err)
		}
		if other.State.Status != StatusRunning || other.State.Pid == 0 {
			return nil, fmt.Errorf("cannot join network of a non running container: %.12s: %w", other.ID, errdefs.ErrConflict)
		}
		if e.kindOf(other.HostConfig.NetworkMode) == netHost {
			return &netPlan{host: true, shareFrom: other.ID}, nil
		}
		return &netPlan{nsPath: "/proc/" + strconv.Itoa(other.State.Pid) + "/ns/net", shareFrom: other.ID}, nil
	}
	cfg := network.SandboxConfig{ContainerID: c.ID, Name: c.Name, Ports: c.HostConfig.PortBindings}
	for _, name := range endpointOrder(c) {
		es := c.NetworkSettings.Networks[name]
		ref := es.NetworkID
		if ref == "" {
			ref = name
		}
		cfg.Networks = append(cfg.Networks, endpointConfig(ref, es.EndpointOptions))
	}
	if len(cfg.Networks) == 0 {
		// Disconnected from every network: a namespace with only lo.
		return &netPlan{}, nil
	}
	userns := ""
	if c.IDMap != nil {
		from, done, err := e.usernsNetNS(c)
		if err != nil {
			return nil, err
		}
		defer done()
		cfg.NetNSFrom, userns = from, e.usernsPin(c.ID)
	}
	sb, err := e.net.Setup(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &netPlan{nsPath: sb.NetNS, sandbox: sb, userns: userns}, nil
}

// applySandbox records what the sandbox got in the container's record.
func applySandbox(c *Container, sb *network.Sandbox) {
	if sb == nil {
		return
	}
	c.NetworkSettings.SandboxKey = sb.NetNS
	c.NetworkSettings.Ports = sb.Ports
	for _, ep := range sb.Endpoints {
		es := c.NetworkSettings.Networks[ep.NetworkName]
		if es == nil {
			es = &EndpointSettings{}
			if c.NetworkSettings.Networks == nil {
				c.NetworkSettings.Networks = map[string]*EndpointSettings{}
			}
			c.NetworkSettings.Networks[ep.NetworkName] = es
		}
		setEndpoint(es, ep)
	}
}

func setEndpoint(es *EndpointSettings, ep *network.Endpoint) {
	es.NetworkID = ep.NetworkID
	es.EndpointID = ep.ID
	es.IPAddress = ep.IP.String()
	es.IPPrefixLen = ep.PrefixLen
	es.MacAddress = ep.MAC
	es.Gateway, es.DNS, es.GlobalIPv6Address, es.GlobalIPv6PrefixLen, es.IPv6Gateway = "", "", "", 0, ""
	if ep.Gateway.IsValid() {
		es.Gateway = ep.Gateway.String()
	}
	if ep.IP6.IsValid() {
		es.GlobalIPv6Address, es.GlobalIPv6PrefixLen = ep.IP6.String(), ep.PrefixLen6
	}
	if ep.Gateway6.IsValid() {
		es.IPv6Gateway = ep.Gateway6.String()
	}
	if ep.DNS.IsValid() {
		es.DNS = ep.DNS.String()
	}
}

// clearRuntimeNetwork forgets what the last run's sandbox had.
func clearRuntimeNetwork(c *Container) {
	c.NetworkSettings.SandboxKey = ""
	c.NetworkSettings.Ports = nil
	for _, es := range c.NetworkSettings.Networks {
		es.EndpointID, es.IPAddress, es.IPPrefixLen, es.Gateway, es.MacAddress, es.DNS = "", "", 0, "", "", ""
		es.GlobalIPv6Address, es.GlobalIPv6PrefixLen, es.IPv6Gateway = "", 0, ""
	}
}

// teardownNetwork frees the container's sandbox, if it has one.
func (e *Engine) teardownNetwork(ctx context.Context, id string) {
	if e.net == nil {
		return
	}
	if err := e.net.Teardown(ctx, id); err != nil {
		e.log.Warn("releasing network resources", "container", id, "err", err)
	}
}

// etcNetwork returns the /etc/hosts lines for the container's own
// addresses and the resolv.conf it gets.
func etcNetwork(c *Container, hostname string) (hosts []string, resolv string) {
	var dns string
	for _, name := range endpointOrder(c) {
		es := c.NetworkSettings.Networks[name]
		for _, ip := range []string{es.IPAddress, es.GlobalIPv6Address} {
			if ip == "" {
				continue
			}
			line := ip + "\t" + hostname
			if c.Name != "" && c.Name != hostname {
				line += " " + c.Name
			}
			hosts = append(hosts, line)
		}
		if dns == "" && es.DNS != "" {
			dns = es.DNS
		}
	}
	if dns == "" {
		return hosts, resolvConf(false)
	}
	// A user-defined network: its embedded DNS server, with the host's
	// search domains and options.
	var b strings.Builder
	b.WriteString("nameserver " + dns + "\n")
	if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && (f[0] == "search" || f[0] == "options") {
				b.WriteString(line + "\n")
			}
		}
	}
	return hosts, b.String()
}

// ConnectNetwork attaches a container to one more network (docker network
// connect). A running container gets its interface at once.
func (e *Engine) ConnectNetwork(ctx context.Context, ref, netRef string, o EndpointOptions) error {
	if e.net == nil {
		return fmt.Errorf("this daemon has no network driver: %w", errdefs.ErrNotImplemented)
	}
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	n, err := e.net.Inspect(ctx, netRef)
	if err != nil {
		return err
	}
	en.op.Lock()
	defer en.op.Unlock()
	e.mu.Lock()
	c := en.c.clone()
	e.mu.Unlock()
	if e.kindOf(c.HostConfig.NetworkMode) != netBridge || n.Driver != network.DriverBridge {
		return fmt.Errorf("container sharing network namespace with another container or host cannot be connected to any other network: %w", errdefs.ErrInvalidArgument)
	}
	if _, ok := c.NetworkSettings.Networks[n.Name]; ok {
		return fmt.Errorf("endpoint with name %s already exists in network %s: %w", c.Name, n.Name, errdefs.ErrForbidden)
	}
	if err := validateEndpointOptions(n, o); err != nil {
		return err
	}
	es := &EndpointSettings{EndpointOptions: o, NetworkID: n.ID}
	st, _, _ := e.snapshot(en)
	if st.Running() {
		ep, err := e.net.Connect(ctx, c.ID, endpointConfig(n.ID, o))
		if err != nil {
			return err
		}
		setEndpoint(es, ep)
	}
	e.update(en, func(c *Container) {
		if c.NetworkSettings.Networks == nil {
			c.NetworkSettings.Networks = map[string]*EndpointSettings{}
		}
		c.NetworkSettings.Networks[n.Name] = es
	})
	// dockerd tells a connect when the container gets its interface: at
	// once if it runs, else at its start.
	if st.Running() {
		e.publishNetworks(c, "connect", []*network.Network{n})
	}
	return nil
}

// DisconnectNetwork detaches a container from a network (docker network
// disconnect).
func (e *Engine) DisconnectNetwork(ctx context.Context, ref, netRef string, force bool) error {
	if e.net == nil {
		return fmt.Errorf("this daemon has no network driver: %w", errdefs.ErrNotImplemented)
	}
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	n, err := e.net.Inspect(ctx, netRef)
	if err != nil && !force {
		return err
	}
	name := netRef
	if n != nil {
		name = n.Name
	}
	en.op.Lock()
	defer en.op.Unlock()
	e.mu.Lock()
	_, ok := en.c.NetworkSettings.Networks[name]
	id := en.c.ID
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("container %.12s is not connected to network %s: %w", id, name, errdefs.ErrForbidden)
	}
	if st, _, _ := e.snapshot(en); st.Running() && n != nil {
		if err := e.net.Disconnect(ctx, id, n.ID); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	e.update(en, func(c *Container) { delete(c.NetworkSettings.Networks, name) })
	gone := &network.Network{Name: name, Driver: network.DriverBridge}
	if n != nil {
		gone = n
	}
	e.mu.Lock()
	c := en.c.clone()
	e.mu.Unlock()
	e.publishNetworks(c, "disconnect", []*network.Network{gone})
	return nil
}

// NetworkInUse reports whether any container (running or not) is
// configured for the network with this ID, for network prune.
func (e *Engine) NetworkInUse(networkID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.byID {
		for _, es := range en.c.NetworkSettings.Networks {
			if es.NetworkID == networkID {
				return true
			}
		}
	}
	return false
}

// sharedEtc copies the /etc files of the container whose network a
// container: mode container joins.
func (e *Engine) sharedEtc(otherID, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(e.dir(otherID), name))
}
