package dockerapi

import (
	"net"
	"net/netip"

	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	mnetwork "github.com/moby/moby/api/types/network"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
)

// portMap renders the engine's bindings as Docker's PortMap.
func portMap(bs []network.PortBinding) mnetwork.PortMap {
	pm := mnetwork.PortMap{}
	for _, b := range bs {
		p, err := mnetwork.ParsePort(b.Key())
		if err != nil {
			continue
		}
		ip := b.HostIP
		if !ip.IsValid() {
			ip = netip.IPv4Unspecified()
		}
		pm[p] = append(pm[p], mnetwork.PortBinding{HostIP: ip, HostPort: b.HostPortString()})
	}
	return pm
}

// endpointOptions copies the settings of an endpoint as a client sends
// them (create's EndpointsConfig, connect's EndpointConfig).
func endpointOptions(ep *mnetwork.EndpointSettings) container.EndpointOptions {
	o := container.EndpointOptions{Aliases: ep.Aliases, Links: ep.Links, DriverOpts: ep.DriverOpts}
	if len(ep.MacAddress) > 0 {
		o.MacAddress = ep.MacAddress.String()
	}
	if c := ep.IPAMConfig; c != nil {
		if c.IPv4Address.IsValid() {
			o.IPv4Address = c.IPv4Address.String()
		}
		if c.IPv6Address.IsValid() {
			o.IPv6Address = c.IPv6Address.String()
		}
		for _, a := range c.LinkLocalIPs {
			o.LinkLocalIPs = append(o.LinkLocalIPs, a.String())
		}
	}
	return o
}

// endpointSettings renders one of a container's endpoints: its settings
// as asked for (IPAMConfig, Links, DriverOpts, Aliases) and, while it
// runs, what it got. On a user-defined network a running container's
// aliases include its short ID, as dockerd's do up to API 1.44 (the
// newest wharf serves), and DNSNames lists every name the network's DNS
// answers for it.
func endpointSettings(c *container.Container, name string, ep *container.EndpointSettings) *mnetwork.EndpointSettings {
	es := &mnetwork.EndpointSettings{NetworkID: ep.NetworkID, EndpointID: ep.EndpointID, IPPrefixLen: ep.IPPrefixLen,
		Aliases: append([]string(nil), ep.Aliases...), Links: ep.Links, DriverOpts: ep.DriverOpts, GlobalIPv6PrefixLen: ep.GlobalIPv6PrefixLen}
	es.IPAddress, _ = netip.ParseAddr(ep.IPAddress)
	es.Gateway, _ = netip.ParseAddr(ep.Gateway)
	es.GlobalIPv6Address, _ = netip.ParseAddr(ep.GlobalIPv6Address)
	es.IPv6Gateway, _ = netip.ParseAddr(ep.IPv6Gateway)
	mac := ep.MacAddress
	if mac == "" {
		mac = ep.EndpointOptions.MacAddress // asked for, before the first start
	}
	if hw, err := net.ParseMAC(mac); err == nil {
		es.MacAddress = mnetwork.HardwareAddr(hw)
	}
	if ep.IPv4Address != "" || ep.IPv6Address != "" || len(ep.LinkLocalIPs) > 0 {
		es.IPAMConfig = &mnetwork.EndpointIPAMConfig{}
		es.IPAMConfig.IPv4Address, _ = netip.ParseAddr(ep.IPv4Address)
		es.IPAMConfig.IPv6Address, _ = netip.ParseAddr(ep.IPv6Address)
		for _, s := range ep.LinkLocalIPs {
			if a, err := netip.ParseAddr(s); err == nil {
				es.IPAMConfig.LinkLocalIPs = append(es.IPAMConfig.LinkLocalIPs, a)
			}
		}
	}
	if name != network.NameBridge && ep.EndpointID != "" {
		short := c.ID[:12]
		es.Aliases = append(es.Aliases, short)
		es.DNSNames = append(append([]string{c.Name}, ep.Aliases...), short)
	}
	return es
}

// networkSettings renders the engine's network state: one endpoint per
// network (or the mode's name for host and none), the published ports.
func networkSettings(c *container.Container) *mcontainer.NetworkSettings {
	ns := &mcontainer.NetworkSettings{SandboxKey: c.NetworkSettings.SandboxKey, Ports: portMap(c.NetworkSettings.Ports),
		Networks: map[string]*mnetwork.EndpointSettings{}}
	for name, ep := range c.NetworkSettings.Networks {
		ns.Networks[name] = endpointSettings(c, name, ep)
	}
	// host and none show as a network of that name; a container
	// disconnected from its last network shows none, as on dockerd.
	if m := c.HostConfig.NetworkMode; len(ns.Networks) == 0 && (m == "host" || m == "none") {
		ns.Networks[m] = &mnetwork.EndpointSettings{}
	}
	for p := range c.Config.ExposedPorts {
		if port, err := mnetwork.ParsePort(p); err == nil {
			if _, ok := ns.Ports[port]; !ok {
				ns.Ports[port] = nil
			}
		}
	}
	return ns
}

// inspectJSON is a container's inspect with the legacy network settings.
type inspectJSON struct {
	*mcontainer.InspectResponse
	NetworkSettings *legacyNetworkSettings
}

// legacyNetworkSettings is NetworkSettings with the fields Docker
// deprecated in API 1.21 and dropped only in 1.52, above the 1.44 wharf
// serves: dockerd fills them from the container's endpoint on the default
// bridge network ("bridge"), and clients of those versions (the Docker SDK
// for Python, scripts reading .NetworkSettings.IPAddress) read them. The
// field order is dockerd's.
type legacyNetworkSettings struct {
	Bridge                 string
	SandboxID              string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	Ports                  mnetwork.PortMap
	SandboxKey             string
	SecondaryIPAddresses   []legacyAddress
	SecondaryIPv6Addresses []legacyAddress
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
	Networks               map[string]*mnetwork.EndpointSettings
}

// legacyAddress is an entry of the secondary addresses, always null.
type legacyAddress struct {
	Addr      string
	PrefixLen int
}

// withLegacyFields adds the legacy fields to rendered network settings.
func withLegacyFields(ns *mcontainer.NetworkSettings) *legacyNetworkSettings {
	out := &legacyNetworkSettings{SandboxID: ns.SandboxID, SandboxKey: ns.SandboxKey, Ports: ns.Ports, Networks: ns.Networks}
	if es := ns.Networks[network.NameBridge]; es != nil && es.EndpointID != "" {
		out.EndpointID = es.EndpointID
		out.IPPrefixLen, out.GlobalIPv6PrefixLen = es.IPPrefixLen, es.GlobalIPv6PrefixLen
		out.MacAddress = es.MacAddress.String()
		for _, f := range []struct {
			dst *string
			a   netip.Addr
		}{{&out.Gateway, es.Gateway}, {&out.IPAddress, es.IPAddress}, {&out.GlobalIPv6Address, es.GlobalIPv6Address}, {&out.IPv6Gateway, es.IPv6Gateway}} {
			if f.a.IsValid() {
				*f.dst = f.a.String()
			}
		}
	}
	return out
}

// mountPoints renders the container's resolved mounts.
func mountPoints(c *container.Container) []mcontainer.MountPoint {
	out := []mcontainer.MountPoint{}
	for _, m := range c.MountPoints {
		mp := mcontainer.MountPoint{Type: mount.Type(m.Type), Name: m.Name, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly,
			Mode: m.Mode, Propagation: mount.Propagation(m.Propagation)}
		if m.Type == volume.TypeVolume {
			mp.Driver = "local"
		}
		if m.Type == volume.TypeBind && mp.Propagation == "" {
			// The engine mounts binds rprivate unless told otherwise.
			mp.Propagation = mount.PropagationRPrivate
		}
		out = append(out, mp)
	}
	return out
}
