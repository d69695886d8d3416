package network

import (
	"net/netip"
	"sort"
	"strings"
)

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

// lookup returns the addresses (IPv4 and IPv6) of name on the network as
// src sees it: a container's name, short ID or alias, or an alias of the
// links of src's own endpoint (a link on a user-defined network is a name
// only its container resolves, as in dockerd).
func (r *netResolver) lookup(src netip.Addr, name string) ([]netip.Addr, bool) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if target, ok := r.linkTargetLocked(src, name); ok {
		name = target
	}
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
				if ep.IP6.IsValid() {
					out = append(out, ep.IP6)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out, len(out) > 0
}

// linkTargetLocked returns the container name a link alias of src's
// endpoint on this network stands for.
func (r *netResolver) linkTargetLocked(src netip.Addr, name string) (string, bool) {
	if !src.IsValid() {
		return "", false
	}
	for _, sb := range r.m.st.Sandboxes {
		for _, ep := range sb.Endpoints {
			if ep.NetworkID != r.netID || (ep.IP != src && ep.IP6 != src) {
				continue
			}
			for _, l := range ep.Links {
				target, alias, _ := strings.Cut(l, ":")
				if strings.EqualFold(alias, name) {
					return target, true
				}
			}
			return "", false
		}
	}
	return "", false
}
