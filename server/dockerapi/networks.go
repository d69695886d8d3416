package dockerapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	mnetwork "github.com/moby/moby/api/types/network"
	mvolume "github.com/moby/moby/api/types/volume"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/backend"
)

// Networks and volumes: /networks is served over the network manager
// (engine/network) and the container engine's connect/disconnect, /volumes
// over the volume store (engine/volume), in the Moby API's shapes. Without
// a manager (WithNetworks/WithVolumes not given) the daemon lists the
// predefined networks none and host and no volumes, and refuses to create
// either with 501.

// Networks, NetworkConnector and Volumes are the network manager, the
// container engine's network attachment and the volume store, as declared
// in package backend.
type (
	Networks         = backend.Networks
	NetworkConnector = backend.NetworkConnector
	Volumes          = backend.Volumes
)

// WithNetworks serves /networks over the manager n and the connector c.
func WithNetworks(n Networks, c NetworkConnector) Option {
	return func(s *Server) { s.nets, s.conn = n, c }
}

// WithVolumes serves /volumes over the store v.
func WithVolumes(v Volumes) Option { return func(s *Server) { s.vols = v } }

// predefined are the networks a daemon without a network manager has
// (built on use, not at package init).
func predefined() []*network.Network {
	return []*network.Network{
		{Name: "none", ID: strings.Repeat("0", 63) + "1", Driver: network.DriverNull},
		{Name: "host", ID: strings.Repeat("0", 63) + "2", Driver: network.DriverHost},
	}
}

func notYet(what string) error {
	return fmt.Errorf("%s is not supported by this daemon (it has no network manager or volume store): %w", what, errdefs.ErrNotImplemented)
}

func (s *Server) listNets(ctx context.Context) []*network.Network {
	if s.nets == nil {
		return predefined()
	}
	return s.nets.List(ctx)
}

func (s *Server) inspectNet(ctx context.Context, ref string) (*network.Network, error) {
	if s.nets != nil {
		return s.nets.Inspect(ctx, ref)
	}
	for _, n := range predefined() {
		if n.Name == ref || n.ID == ref || (len(ref) >= 4 && strings.HasPrefix(n.ID, ref)) {
			return n, nil
		}
	}
	return nil, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
}

func (s *Server) networkRoutes() {
	s.handle("GET /networks", s.listNetworks)
	s.handle("GET /networks/{$}", s.listNetworks)
	// A network's name may hold slashes (dockerd takes any name), so the
	// name is the rest of the path, as dockerd's {id:.*} routes match it.
	s.handle("GET /networks/{id...}", func(w http.ResponseWriter, r *http.Request) error {
		n, err := s.inspectNet(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, s.networkInspect(r.Context(), n))
	})
	s.handle("POST /networks/create", s.createNetwork)
	s.handle("POST /networks/prune", s.pruneNetworks)
	s.handle("POST /networks/{rest...}", func(w http.ResponseWriter, r *http.Request) error {
		rest := r.PathValue("rest")
		if id, ok := strings.CutSuffix(rest, "/connect"); ok {
			r.SetPathValue("id", id)
			return s.connectNetwork(w, r)
		}
		if id, ok := strings.CutSuffix(rest, "/disconnect"); ok {
			r.SetPathValue("id", id)
			return s.disconnectNetwork(w, r)
		}
		return fmt.Errorf("page not found: %w", errdefs.ErrNotFound)
	})
	s.handle("DELETE /networks/{id...}", func(w http.ResponseWriter, r *http.Request) error {
		if s.nets == nil {
			n, err := s.inspectNet(r.Context(), r.PathValue("id"))
			if err != nil {
				return err
			}
			return fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", n.Name, errdefs.ErrForbidden)
		}
		return noContent(w, s.nets.Remove(r.Context(), r.PathValue("id")))
	})
}

func (s *Server) connectNetwork(w http.ResponseWriter, r *http.Request) error {
	if s.conn == nil {
		return notYet("connecting containers to networks")
	}
	var req mnetwork.ConnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	var o container.EndpointOptions
	if ec := req.EndpointConfig; ec != nil {
		o = endpointOptions(ec)
	}
	if err := s.conn.ConnectNetwork(r.Context(), req.Container, r.PathValue("id"), o); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) disconnectNetwork(w http.ResponseWriter, r *http.Request) error {
	if s.conn == nil {
		return notYet("disconnecting containers from networks")
	}
	var req mnetwork.DisconnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.conn.DisconnectNetwork(r.Context(), req.Container, r.PathValue("id"), req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// networkCreateRequest is Docker's create body; CheckDuplicate was dropped
// from the Moby types but older clients (docker-py, compose 1.x) send it.
type networkCreateRequest struct {
	mnetwork.CreateRequest
	CheckDuplicate bool `json:",omitempty"`
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) error {
	if s.nets == nil {
		return notYet("creating networks")
	}
	var req networkCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Scope != "" && req.Scope != "local" {
		return fmt.Errorf("network scope %q is not supported (only local): %w", req.Scope, errdefs.ErrInvalidArgument)
	}
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		return fmt.Errorf("IPv4 cannot be disabled on a network of this daemon: %w", errdefs.ErrInvalidArgument)
	}
	if req.Ingress {
		return fmt.Errorf("Ingress network can only be global scope network: %w", errdefs.ErrForbidden)
	}
	if req.ConfigOnly || req.ConfigFrom != nil && req.ConfigFrom.Network != "" {
		return fmt.Errorf("config-only networks are not supported by this daemon: %w", errdefs.ErrNotImplemented)
	}
	// Attachable means something only to swarm services; dockerd takes
	// it on a local network and shows it, and compose 1.x sends it.
	o := network.CreateOptions{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Attachable: req.Attachable,
		Labels: req.Labels, Options: req.Options, EnableIPv6: req.EnableIPv6 != nil && *req.EnableIPv6}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return fmt.Errorf("IPAM driver %q is not supported: %w", req.IPAM.Driver, errdefs.ErrInvalidArgument)
		}
		o.IPAMOptions = req.IPAM.Options
		for _, c := range req.IPAM.Config {
			var ic network.IPAMConfig
			if c.Subnet.IsValid() {
				ic.Subnet = c.Subnet.String()
			}
			if c.IPRange.IsValid() {
				ic.IPRange = c.IPRange.String()
			}
			if c.Gateway.IsValid() {
				ic.Gateway = c.Gateway.String()
			}
			for name, a := range c.AuxAddress {
				if ic.AuxAddresses == nil {
					ic.AuxAddresses = map[string]string{}
				}
				ic.AuxAddresses[name] = a.String()
			}
			o.IPAM = append(o.IPAM, ic)
		}
	}
	n, err := s.nets.Create(r.Context(), o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, mnetwork.CreateResponse{ID: n.ID})
}

func (s *Server) pruneNetworks(w http.ResponseWriter, r *http.Request) error {
	if s.nets == nil {
		return writeJSON(w, http.StatusOK, mnetwork.PruneReport{NetworksDeleted: []string{}})
	}
	f, err := filters(r)
	if err != nil {
		return err
	}
	for key := range f {
		if key != "label" && key != "label!" && key != "until" {
			return fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
		}
	}
	until, err := untilFilter(f["until"])
	if err != nil {
		return err
	}
	names, err := s.nets.Prune(r.Context(), func(n *network.Network) bool {
		if !matchLabelFilters(n.Labels, f["label"], f["label!"]) || (!until.IsZero() && !n.Created.Before(until)) {
			return true // kept: not selected by the filters
		}
		return s.conn != nil && s.conn.NetworkInUse(n.ID)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mnetwork.PruneReport{NetworksDeleted: nonNil(names)})
}

func untilFilter(vals []string) (time.Time, error) {
	var until time.Time
	for _, v := range vals {
		if d, err := time.ParseDuration(v); err == nil {
			until = time.Now().Add(-d)
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			until = t
			continue
		}
		if sec, err := parseUnix(v); err == nil {
			until = sec
			continue
		}
		return time.Time{}, fmt.Errorf("invalid until filter %q: %w", v, errdefs.ErrInvalidArgument)
	}
	return until, nil
}

func parseUnix(v string) (time.Time, error) {
	var sec, nsec int64
	secStr, nsStr, _ := strings.Cut(v, ".")
	if _, err := fmt.Sscanf(secStr, "%d", &sec); err != nil {
		return time.Time{}, err
	}
	if nsStr != "" {
		nsStr = (nsStr + "000000000")[:9]
		if _, err := fmt.Sscanf(nsStr, "%d", &nsec); err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(sec, nsec), nil
}

// matchLabelFilters checks Docker's label filters: "key" or "key=value",
// all of which must match; label! ones must not.
func matchLabelFilters(labels map[string]string, want, notWant []string) bool {
	has := func(f string) bool {
		k, v, withValue := strings.Cut(f, "=")
		got, ok := labels[k]
		return ok && (!withValue || got == v)
	}
	for _, f := range want {
		if !has(f) {
			return false
		}
	}
	for _, f := range notWant {
		if has(f) {
			return false
		}
	}
	return true
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	for key := range f {
		switch key {
		case "name", "id", "driver", "scope", "type", "label", "dangling":
		default:
			return fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
		}
	}
	out := []mnetwork.Inspect{}
	for _, n := range s.listNets(r.Context()) {
		ok := true
		for key, vals := range f {
			if key == "label" {
				ok = ok && matchLabelFilters(n.Labels, vals, nil)
				continue
			}
			hit := len(vals) == 0
			for _, v := range vals {
				switch key {
				case "name":
					hit = hit || strings.Contains(n.Name, v)
				case "id":
					hit = hit || strings.HasPrefix(n.ID, v)
				case "driver":
					hit = hit || n.Driver == v
				case "scope":
					hit = hit || v == "local"
				case "type":
					switch v {
					case "builtin":
						hit = hit || n.Predefined()
					case "custom":
						hit = hit || !n.Predefined()
					default:
						return fmt.Errorf("invalid filter: 'type'='%s': %w", v, errdefs.ErrInvalidArgument)
					}
				case "dangling":
					switch strings.ToLower(v) {
					case "true", "1":
						hit = hit || (!n.Predefined() && len(n.Containers) == 0)
					case "false", "0":
						hit = hit || n.Predefined() || len(n.Containers) > 0
					default:
						return fmt.Errorf("invalid filter 'dangling=%s': %w", v, errdefs.ErrInvalidArgument)
					}
				}
			}
			ok = ok && hit
		}
		if ok {
			// The list carries the Containers of each network (empty
			// here, as docker's does since 1.28) for older clients.
			ni := s.networkInspect(r.Context(), n)
			ni.Containers = map[string]mnetwork.EndpointResource{}
			out = append(out, ni)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// networkInspect renders a network in Docker's shape, with the endpoints
// of its running containers.
func (s *Server) networkInspect(ctx context.Context, n *network.Network) mnetwork.Inspect {
	ni := mnetwork.Inspect{
		Network: mnetwork.Network{
			Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver, EnableIPv4: n.Driver == network.DriverBridge,
			EnableIPv6: n.EnableIPv6, Internal: n.Internal, Attachable: n.Attachable,
			IPAM:    mnetwork.IPAM{Driver: "default", Options: map[string]string{}, Config: []mnetwork.IPAMConfig{}},
			Options: map[string]string{}, Labels: map[string]string{},
		},
		Containers: map[string]mnetwork.EndpointResource{},
	}
	if n.Created.IsZero() {
		ni.Created = time.Time{}
	}
	for k, v := range n.Options {
		ni.Options[k] = v
	}
	for k, v := range n.Labels {
		ni.Labels[k] = v
	}
	switch {
	case n.IPAM != nil:
		// As asked for: dockerd shows null options when none were
		// given, and no gateway for a subnet given without one.
		ni.IPAM.Driver, ni.IPAM.Options = n.IPAM.Driver, n.IPAM.Options
		for _, c := range n.IPAM.Config {
			var ic mnetwork.IPAMConfig
			ic.Subnet, _ = netip.ParsePrefix(c.Subnet)
			ic.IPRange, _ = netip.ParsePrefix(c.IPRange)
			ic.Gateway, _ = netip.ParseAddr(c.Gateway)
			for name, a := range c.AuxAddresses {
				if ic.AuxAddress == nil {
					ic.AuxAddress = map[string]netip.Addr{}
				}
				ic.AuxAddress[name], _ = netip.ParseAddr(a)
			}
			ni.IPAM.Config = append(ni.IPAM.Config, ic)
		}
	case n.Pool != nil:
		c := mnetwork.IPAMConfig{Subnet: n.Pool.Subnet, Gateway: n.Pool.Gateway}
		if n.Pool.Range.IsValid() && n.Pool.Range != n.Pool.Subnet {
			c.IPRange = n.Pool.Range
		}
		ni.IPAM.Config = append(ni.IPAM.Config, c)
	}
	// The Linux bridge's name shows only where it was asked for (an
	// option of the create, or the default network's), as on dockerd;
	// `wharf network inspect` always shows it.
	for cid, ep := range n.Containers {
		er := mnetwork.EndpointResource{EndpointID: ep.ID}
		if c, err := s.c.Get(ctx, cid); err == nil {
			er.Name = strings.TrimPrefix(c.Name, "/")
		}
		if ep.IP.IsValid() {
			er.IPv4Address = netip.PrefixFrom(ep.IP, ep.PrefixLen)
		}
		if ep.IP6.IsValid() {
			er.IPv6Address = netip.PrefixFrom(ep.IP6, ep.PrefixLen6)
		}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			er.MacAddress = mnetwork.HardwareAddr(mac)
		}
		ni.Containers[cid] = er
	}
	return ni
}

func (s *Server) volumeRoutes() {
	s.handle("GET /volumes", s.listVolumes)
	s.handle("GET /volumes/{$}", s.listVolumes)
	s.handle("POST /volumes/create", func(w http.ResponseWriter, r *http.Request) error {
		if s.vols == nil {
			return notYet("creating volumes")
		}
		var req mvolume.CreateRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		// The store refuses another driver as dockerd does (404, no
		// such plugin).
		v, err := s.vols.Create(r.Context(), volume.CreateOptions{Name: req.Name, Driver: req.Driver, Labels: req.Labels, Options: req.DriverOpts})
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, volumeJSON(v))
	})
	s.handle("POST /volumes/prune", func(w http.ResponseWriter, r *http.Request) error {
		if s.vols == nil {
			return writeJSON(w, http.StatusOK, mvolume.PruneReport{VolumesDeleted: []string{}})
		}
		f, err := filters(r)
		if err != nil {
			return err
		}
		all := false
		labels := map[string]string{}
		for key, vals := range f {
			switch key {
			case "all":
				for _, v := range vals {
					all = all || v == "true" || v == "1"
				}
			case "label":
				for _, v := range vals {
					k, val, _ := strings.Cut(v, "=")
					labels[k] = val
				}
			default:
				return fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
			}
		}
		// Before API 1.42 prune removed every unused volume.
		if versionLess(requestVersion(r), "1.42") {
			all = true
		}
		names, freed, err := s.vols.Prune(r.Context(), all, labels)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, mvolume.PruneReport{VolumesDeleted: nonNil(names), SpaceReclaimed: freed})
	})
	s.handle("GET /volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		if s.vols == nil {
			return fmt.Errorf("get %s: no such volume: %w", r.PathValue("name"), errdefs.ErrNotFound)
		}
		v, err := s.vols.Get(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, volumeJSON(v))
	})
	s.handle("DELETE /volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		if s.vols == nil {
			return fmt.Errorf("get %s: no such volume: %w", r.PathValue("name"), errdefs.ErrNotFound)
		}
		return noContent(w, s.vols.Remove(r.Context(), r.PathValue("name"), boolQuery(r, "force")))
	})
}

func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	for key := range f {
		switch key {
		case "name", "driver", "label", "dangling":
		default:
			return fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
		}
	}
	out := mvolume.ListResponse{Volumes: []mvolume.Volume{}, Warnings: []string{}}
	if s.vols == nil {
		return writeJSON(w, http.StatusOK, out)
	}
	for _, v := range s.vols.List(r.Context()) {
		if !volumeMatches(v, f) {
			continue
		}
		out.Volumes = append(out.Volumes, volumeJSON(v))
	}
	return writeJSON(w, http.StatusOK, out)
}

func volumeMatches(v *volume.Volume, f map[string][]string) bool {
	for key, vals := range f {
		if key == "label" {
			if !matchLabelFilters(v.Labels, vals, nil) {
				return false
			}
			continue
		}
		hit := len(vals) == 0
		for _, val := range vals {
			switch key {
			case "name":
				hit = hit || strings.Contains(v.Name, val)
			case "driver":
				hit = hit || volumeDriver(v) == val
			case "dangling":
				dangling := len(v.UsedBy) == 0
				hit = hit || (dangling == (val == "true" || val == "1"))
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

func volumeDriver(v *volume.Volume) string {
	if v.Driver == "" {
		return volume.DriverLocal
	}
	return v.Driver
}

func volumeJSON(v *volume.Volume) mvolume.Volume {
	out := mvolume.Volume{Name: v.Name, Driver: volumeDriver(v), Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt.UTC().Format(time.RFC3339),
		Labels: map[string]string{}, Scope: "local"}
	for k, val := range v.Labels {
		out.Labels[k] = val
	}
	// dockerd: null options for a volume created without any.
	for k, val := range v.Options {
		if out.Options == nil {
			out.Options = map[string]string{}
		}
		out.Options[k] = val
	}
	return out
}

// volumeUsage lists volumes for system df, with their reference counts.
func (s *Server) volumeUsage(r *http.Request) []mvolume.Volume {
	out := []mvolume.Volume{}
	if s.vols == nil {
		return out
	}
	vols := s.vols.List(r.Context())
	sort.Slice(vols, func(i, j int) bool { return vols[i].Name < vols[j].Name })
	for _, v := range vols {
		j := volumeJSON(v)
		j.UsageData = &mvolume.UsageData{RefCount: int64(len(v.UsedBy)), Size: -1}
		out = append(out, j)
	}
	return out
}
