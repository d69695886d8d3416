package dockerapi

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	mnetwork "github.com/moby/moby/api/types/network"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
)

// portBindings translates Docker's PortMap ("80/tcp" -> [{HostIp, HostPort}])
// to the engine's bindings; a HostPort may be a range "8000-8010" and an
// empty one asks for a random port.
func portBindings(pm mnetwork.PortMap) ([]network.PortBinding, error) {
	var out []network.PortBinding
	for p, bs := range pm {
		for _, b := range bs {
			pb := network.PortBinding{Proto: string(p.Proto()), ContainerPort: p.Num(), HostIP: b.HostIP}
			if pb.HostIP.IsValid() && pb.HostIP.IsUnspecified() && pb.HostIP.Is4() {
				pb.HostIP = netip.Addr{}
			}
			if b.HostPort != "" {
				lo, hi, _ := strings.Cut(b.HostPort, "-")
				n, err := strconv.ParseUint(lo, 10, 16)
				if err != nil {
					return nil, fmt.Errorf("invalid host port %q: %w", b.HostPort, errdefs.ErrInvalidArgument)
				}
				pb.HostPort = uint16(n)
				if hi != "" {
					m, err := strconv.ParseUint(hi, 10, 16)
					if err != nil {
						return nil, fmt.Errorf("invalid host port %q: %w", b.HostPort, errdefs.ErrInvalidArgument)
					}
					pb.HostPortEnd = uint16(m)
				}
			}
			out = append(out, pb)
		}
	}
	return out, nil
}

// mounts translates -v (Binds), --mount (Mounts) and --tmpfs (Tmpfs).
func mounts(h *mcontainer.HostConfig) ([]volume.Mount, error) {
	var out []volume.Mount
	for _, b := range h.Binds {
		m, err := volume.ParseVolumeSpec(b)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for _, mm := range h.Mounts {
		m := volume.Mount{Type: string(mm.Type), Source: mm.Source, Target: mm.Target, ReadOnly: mm.ReadOnly}
		switch mm.Type {
		case mount.TypeBind, mount.TypeVolume, mount.TypeTmpfs:
		default:
			return nil, fmt.Errorf("mount type %q is not supported: %w", mm.Type, errdefs.ErrInvalidArgument)
		}
		if o := mm.BindOptions; o != nil {
			m.Propagation = string(o.Propagation)
			m.CreateSource = o.CreateMountpoint
		}
		if o := mm.VolumeOptions; o != nil {
			m.NoCopy = o.NoCopy
		}
		if o := mm.TmpfsOptions; o != nil {
			m.TmpfsSize, m.TmpfsMode = o.SizeBytes, uint32(o.Mode.Perm())
		}
		out = append(out, m)
	}
	for target, opts := range h.Tmpfs {
		spec := target
		if opts != "" {
			spec += ":" + opts
		}
		m, err := volume.ParseTmpfs(spec)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

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
