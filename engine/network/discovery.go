package network

import "net/netip"

// Discovery answers the names a network's own containers do not claim:
// the cluster's services (cluster/mesh). The embedded DNS server of every
// user-defined network asks it after its own names, so that a container
// resolves a service whatever network of the node it is on.
type Discovery interface {
	// Lookup returns the addresses of name for a client whose network
	// has its gateway (the node's own address on that network) at gw.
	// ok reports whether name is one Discovery answers: then an empty
	// addrs is an authoritative "no address", never a reason to forward
	// the query upstream.
	Lookup(name string, gw netip.Addr) (addrs []netip.Addr, ok bool)
}

// discoveryTTL is the TTL of the answers Discovery gives: its sets follow
// tasks that start and stop, so clients must not keep them long.
const discoveryTTL = 2

// discoveryBox holds the Discovery set on a Manager.
type discoveryBox struct{ d Discovery }

// SetDiscovery has the embedded DNS servers answer d's names (nil: none
// any more). It may be called at any time: the cluster's agent starts
// after the networks.
func (m *Manager) SetDiscovery(d Discovery) {
	if d == nil {
		m.discovery.Store(nil)
		return
	}
	m.discovery.Store(&discoveryBox{d: d})
}

// discover asks the manager's Discovery for name. An --internal network
// gets no answer: its containers must not reach out of it, and the
// services answer on the node's addresses.
func (r *netResolver) discover(name string) ([]netip.Addr, bool) {
	b := r.m.discovery.Load()
	if b == nil {
		return nil, false
	}
	r.m.mu.Lock()
	n := r.m.st.Networks[r.netID]
	internal := n != nil && n.Internal
	r.m.mu.Unlock()
	if internal {
		return nil, false
	}
	return b.d.Lookup(name, r.pool.Gateway)
}
