package dockerapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"

	"github.com/wharf-dev/wharf/errdefs"
)

// Networks and volumes: the engine offers the network modes "none" and
// "host" and no volumes yet (user-defined networks, published ports and
// volumes are issue 2's, in engine/network and engine/volume). Until the
// container engine takes them, the Docker API lists the two predefined
// networks, an empty set of volumes, and refuses to create either with
// 501, so that a client fails clearly instead of running a container
// without the network or volume it asked for.

// predefined are the networks this daemon always has.
var predefined = []network.Inspect{
	{Network: network.Network{Name: "none", ID: strings.Repeat("0", 63) + "1", Scope: "local", Driver: "null", IPAM: network.IPAM{Driver: "default", Config: []network.IPAMConfig{}}, Options: map[string]string{}, Labels: map[string]string{}}, Containers: map[string]network.EndpointResource{}},
	{Network: network.Network{Name: "host", ID: strings.Repeat("0", 63) + "2", Scope: "local", Driver: "host", IPAM: network.IPAM{Driver: "default", Config: []network.IPAMConfig{}}, Options: map[string]string{}, Labels: map[string]string{}}, Containers: map[string]network.EndpointResource{}},
}

func findNetwork(ref string) (*network.Inspect, error) {
	for i := range predefined {
		n := &predefined[i]
		if n.Name == ref || (len(ref) >= 4 && strings.HasPrefix(n.ID, ref)) {
			return n, nil
		}
	}
	return nil, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
}

func notYet(what string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("%s is not supported by this daemon yet (only the none and host networks exist, and no volumes): %w", what, errdefs.ErrNotImplemented)
	}
}

func (s *Server) networkRoutes() {
	s.handle("GET /networks", s.listNetworks)
	s.handle("GET /networks/{$}", s.listNetworks)
	s.handle("GET /networks/{id}", func(w http.ResponseWriter, r *http.Request) error {
		n, err := findNetwork(r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, n)
	})
	s.handle("POST /networks/create", notYet("creating networks"))
	s.handle("POST /networks/prune", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: []string{}})
	})
	s.handle("POST /networks/{id}/connect", notYet("connecting containers to networks"))
	s.handle("POST /networks/{id}/disconnect", notYet("disconnecting containers from networks"))
	s.handle("DELETE /networks/{id}", func(w http.ResponseWriter, r *http.Request) error {
		n, err := findNetwork(r.PathValue("id"))
		if err != nil {
			return err
		}
		return fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", n.Name, errdefs.ErrForbidden)
	})
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	out := []network.Summary{}
	for _, n := range predefined {
		ok := true
		for key, vals := range f {
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
					hit = hit || v == "builtin"
				case "label", "dangling":
					hit = false
				default:
					return fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
				}
			}
			ok = ok && hit
		}
		if ok {
			out = append(out, network.Summary{Network: n.Network})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) volumeRoutes() {
	s.handle("GET /volumes", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}})
	})
	s.handle("POST /volumes/create", notYet("creating volumes"))
	s.handle("POST /volumes/prune", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: []string{}})
	})
	s.handle("GET /volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("get %s: no such volume: %w", r.PathValue("name"), errdefs.ErrNotFound)
	})
	s.handle("DELETE /volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("get %s: no such volume: %w", r.PathValue("name"), errdefs.ErrNotFound)
	})
}

// volumeUsage lists volumes for system df: none on this daemon yet.
func (s *Server) volumeUsage(r *http.Request) []volume.Volume { return []volume.Volume{} }
