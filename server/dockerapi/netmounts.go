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

// networkSettings renders the engine's network state: one endpoint per
// network (or the mode's name for host and none), the published ports.
func networkSettings(c *container.Container) *mcontainer.NetworkSettings {
	ns := &mcontainer.NetworkSettings{SandboxKey: c.NetworkSettings.SandboxKey, Ports: portMap(c.NetworkSettings.Ports),
		Networks: map[string]*mnetwork.EndpointSettings{}}
	for name, ep := range c.NetworkSettings.Networks {
		es := &mnetwork.EndpointSettings{NetworkID: ep.NetworkID, EndpointID: ep.EndpointID, IPPrefixLen: ep.IPPrefixLen, Aliases: ep.Aliases}
		es.IPAddress, _ = netip.ParseAddr(ep.IPAddress)
		es.Gateway, _ = netip.ParseAddr(ep.Gateway)
		if mac, err := net.ParseMAC(ep.MacAddress); err == nil {
			es.MacAddress = mnetwork.HardwareAddr(mac)
		}
		if ep.IPv4Address != "" {
			a, _ := netip.ParseAddr(ep.IPv4Address)
			es.IPAMConfig = &mnetwork.EndpointIPAMConfig{IPv4Address: a}
		}
		ns.Networks[name] = es
	}
	if len(ns.Networks) == 0 {
		ns.Networks[networkName(c.HostConfig.NetworkMode)] = &mnetwork.EndpointSettings{}
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

// mountPoints renders the container's resolved mounts.
func mountPoints(c *container.Container) []mcontainer.MountPoint {
	out := []mcontainer.MountPoint{}
	for _, m := range c.MountPoints {
		mp := mcontainer.MountPoint{Type: mount.Type(m.Type), Name: m.Name, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly,
			Propagation: mount.Propagation(m.Propagation)}
		if m.Type == volume.TypeVolume {
			mp.Driver = "local"
		}
		out = append(out, mp)
	}
	return out
}
