package nativeapi

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/network/portspec"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/backend"
)

// Networks, NetworkConnector and Volumes are the network manager, the
// container engine's network attachment and the volume store, as declared
// in package backend.
type (
	Networks         = backend.Networks
	NetworkConnector = backend.NetworkConnector
	Volumes          = backend.Volumes
)

// Option configures a Server.
type Option func(*Server)

// WithNetworks serves /networks over the driver n and the connector c.
func WithNetworks(n Networks, c NetworkConnector) Option {
	return func(s *Server) { s.nets, s.conn = n, c }
}

// WithVolumes serves /volumes over the store v.
func WithVolumes(v Volumes) Option { return func(s *Server) { s.vols = v } }

func (s *Server) networkRoutes() {
	p := wharf.Prefix
	s.handle("POST "+p+"/networks/create", s.createNetwork)
	s.handle("GET "+p+"/networks", s.listNetworks)
	s.handle("POST "+p+"/networks/prune", s.pruneNetworks)
	s.handle("GET "+p+"/networks/{id}", func(w http.ResponseWriter, r *http.Request) error {
		if s.nets == nil {
			return errNoNetworks
		}
		n, err := s.nets.Inspect(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, 200, s.networkResource(r.Context(), n))
	})
	s.handle("DELETE "+p+"/networks/{id}", func(w http.ResponseWriter, r *http.Request) error {
		if s.nets == nil {
			return errNoNetworks
		}
		return noContent(w, s.nets.Remove(r.Context(), r.PathValue("id")))
	})
	s.handle("POST "+p+"/networks/{id}/connect", func(w http.ResponseWriter, r *http.Request) error {
		if s.conn == nil {
			return errNoNetworks
		}
		var req wharf.NetworkConnectRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		var o container.EndpointOptions
		if ec := req.EndpointConfig; ec != nil {
			o.Aliases = ec.Aliases
			if ec.IPAMConfig != nil {
				o.IPv4Address = ec.IPAMConfig.IPv4Address
			}
		}
		if err := s.conn.ConnectNetwork(r.Context(), req.Container, r.PathValue("id"), o); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("POST "+p+"/networks/{id}/disconnect", func(w http.ResponseWriter, r *http.Request) error {
		if s.conn == nil {
			return errNoNetworks
		}
		var req wharf.NetworkDisconnectRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		if err := s.conn.DisconnectNetwork(r.Context(), req.Container, r.PathValue("id"), req.Force); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})

	s.handle("POST "+p+"/volumes/create", s.createVolume)
	s.handle("GET "+p+"/volumes", s.listVolumes)
	s.handle("POST "+p+"/volumes/prune", s.pruneVolumes)
	s.handle("GET "+p+"/volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		if s.vols == nil {
			return errNoVolumes
		}
		v, err := s.vols.Get(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, 200, volumeJSON(v))
	})
	s.handle("DELETE "+p+"/volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		if s.vols == nil {
			return errNoVolumes
		}
		return noContent(w, s.vols.Remove(r.Context(), r.PathValue("name"), boolQuery(r, "force")))
	})
}

var (
	errNoNetworks = fmt.Errorf("this daemon has no network driver: %w", errdefs.ErrNotImplemented)
	errNoVolumes  = fmt.Errorf("this daemon has no volume store: %w", errdefs.ErrNotImplemented)
)

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) error {
	if s.nets == nil {
		return errNoNetworks
	}
	var req wharf.NetworkCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	o := network.CreateOptions{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Labels: req.Labels, Options: req.Options}
	if req.IPAM != nil && len(req.IPAM.Config) > 0 {
		c := req.IPAM.Config[0]
		o.Subnet, o.IPRange, o.Gateway = c.Subnet, c.IPRange, c.Gateway
	}
	n, err := s.nets.Create(r.Context(), o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, wharf.NetworkCreateResponse{ID: n.ID})
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) error {
	if s.nets == nil {
		return errNoNetworks
	}
	out := []wharf.NetworkResource{}
	for _, n := range s.nets.List(r.Context()) {
		out = append(out, s.networkResource(r.Context(), n))
	}
	return writeJSON(w, 200, out)
}

func (s *Server) pruneNetworks(w http.ResponseWriter, r *http.Request) error {
	if s.nets == nil {
		return errNoNetworks
	}
	names, err := s.nets.Prune(r.Context(), func(n *network.Network) bool { return s.conn != nil && s.conn.NetworkInUse(n.ID) })
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	return writeJSON(w, 200, wharf.NetworkPruneReport{NetworksDeleted: names})
}

// networkResource renders a network in Docker's shape.
func (s *Server) networkResource(ctx context.Context, n *network.Network) wharf.NetworkResource {
	nr := wharf.NetworkResource{
		Name: n.Name, ID: n.ID, Created: ts(n.Created), Scope: "local", Driver: n.Driver, Internal: n.Internal,
		Attachable: false, IPAM: wharf.IPAM{Driver: "default", Config: []wharf.IPAMConfig{}},
		Containers: map[string]wharf.NetworkEndpoint{}, Options: n.Options, Labels: n.Labels,
	}
	if nr.Options == nil {
		nr.Options = map[string]string{}
	}
	if nr.Labels == nil {
		nr.Labels = map[string]string{}
	}
	if n.Pool != nil {
		c := wharf.IPAMConfig{Subnet: n.Pool.Subnet.String(), Gateway: n.Pool.Gateway.String()}
		if n.Pool.Range != n.Pool.Subnet {
			c.IPRange = n.Pool.Range.String()
		}
		nr.IPAM.Config = append(nr.IPAM.Config, c)
		if p := n.Pool6; p != nil {
			nr.IPAM.Config = append(nr.IPAM.Config, wharf.IPAMConfig{Subnet: p.Subnet.String(), Gateway: p.Gateway.String()})
		}
		if n.Bridge != "" {
			nr.Options["com.docker.network.bridge.name"] = n.Bridge
		}
	}
	for cid, ep := range n.Containers {
		name := ""
		if c, err := s.c.Get(ctx, cid); err == nil {
			name = c.Name
		}
		nr.Containers[cid] = wharf.NetworkEndpoint{Name: name, EndpointID: ep.ID, MacAddress: ep.MAC,
			IPv4Address: ep.IP.String() + "/" + strconv.Itoa(ep.PrefixLen)}
	}
	return nr
}

func (s *Server) createVolume(w http.ResponseWriter, r *http.Request) error {
	if s.vols == nil {
		return errNoVolumes
	}
	var req wharf.VolumeCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	v, err := s.vols.Create(r.Context(), volume.CreateOptions{Name: req.Name, Driver: req.Driver, Labels: req.Labels, Options: req.DriverOpts})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, volumeJSON(v))
}

func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request) error {
	if s.vols == nil {
		return errNoVolumes
	}
	out := wharf.VolumeListResponse{Volumes: []*wharf.Volume{}, Warnings: []string{}}
	for _, v := range s.vols.List(r.Context()) {
		out.Volumes = append(out.Volumes, volumeJSON(v))
	}
	return writeJSON(w, 200, out)
}

func (s *Server) pruneVolumes(w http.ResponseWriter, r *http.Request) error {
	if s.vols == nil {
		return errNoVolumes
	}
	names, freed, err := s.vols.Prune(r.Context(), boolQuery(r, "all"), nil)
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	return writeJSON(w, 200, wharf.VolumePruneReport{VolumesDeleted: names, SpaceReclaimed: freed})
}

func volumeJSON(v *volume.Volume) *wharf.Volume {
	out := &wharf.Volume{Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt.Format(time.RFC3339),
		Labels: v.Labels, Scope: "local", Options: v.Options, UsageData: &wharf.VolumeUsage{RefCount: int64(len(v.UsedBy)), Size: -1}}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	return out
}

// containerNetworkJSON fills the network and mount parts of inspect.
func containerNetworkJSON(ctx context.Context, j *wharf.ContainerJSON, c *container.Container, vols Volumes) {
	ns := j.NetworkSettings
	ns.SandboxKey = c.NetworkSettings.SandboxKey
	ns.Ports = map[string][]wharf.PortBinding{}
	for k := range c.Config.ExposedPorts {
		ns.Ports[k] = nil
	}
	for _, b := range c.NetworkSettings.Ports {
		ns.Ports[b.Key()] = append(ns.Ports[b.Key()], wharf.PortBinding{HostIP: b.HostIPString(), HostPort: b.HostPortString()})
	}
	for name, es := range c.NetworkSettings.Networks {
		ep := &wharf.EndpointSettings{
			Aliases: es.Aliases, NetworkID: es.NetworkID, EndpointID: es.EndpointID, Gateway: es.Gateway,
			IPAddress: es.IPAddress, IPPrefixLen: es.IPPrefixLen, MacAddress: es.MacAddress,
		}
		if es.IPv4Address != "" {
			ep.IPAMConfig = &wharf.EndpointIPAMConfig{IPv4Address: es.IPv4Address}
		}
		if name != network.NameBridge {
			ep.DNSNames = append([]string{c.Name}, es.Aliases...)
			ep.DNSNames = append(ep.DNSNames, c.ID[:12])
		}
		ns.Networks[name] = ep
		if name == network.NameBridge {
			ns.IPAddress, ns.IPPrefixLen, ns.Gateway, ns.MacAddress = es.IPAddress, es.IPPrefixLen, es.Gateway, es.MacAddress
		}
	}
	for _, mp := range c.MountPoints {
		m := wharf.MountPoint{Type: mp.Type, Source: mp.Source, Destination: mp.Target, RW: !mp.ReadOnly, Propagation: mp.Propagation}
		if mp.ReadOnly {
			m.Mode = "ro"
		}
		if mp.Type == volume.TypeVolume {
			m.Name, m.Driver = mp.Name, volume.DriverLocal
			m.Source = ""
			if vols != nil {
				if v, err := vols.Get(ctx, mp.Name); err == nil {
					m.Source = v.Mountpoint
				}
			}
		}
		if mp.Type == volume.TypeBind && m.Propagation == "" {
			m.Propagation = "rprivate"
		}
		j.Mounts = append(j.Mounts, m)
	}
}

// listPorts renders a container's ports for the list: each published
// binding, and exposed ports without one.
func listPorts(c *container.Container) []wharf.Port {
	out := []wharf.Port{}
	bound := map[string]bool{}
	for _, b := range c.NetworkSettings.Ports {
		bound[b.Key()] = true
		out = append(out, wharf.Port{IP: b.HostIPString(), PrivatePort: b.ContainerPort, PublicPort: b.HostPort, Type: b.Proto})
	}
	var keys []string
	for k := range c.Config.ExposedPorts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if bound[k] {
			continue
		}
		if proto, p, _, err := portspec.ParsePortKey(k); err == nil {
			out = append(out, wharf.Port{PrivatePort: p, Type: proto})
		}
	}
	return out
}
