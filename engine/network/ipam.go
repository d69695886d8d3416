package network

import (
	"fmt"
	"maps"
	"net/netip"

	"github.com/wharf-dev/wharf/errdefs"
)

// Pool is the address pool of one network and one address family: its
// subnet, the range addresses are handed out from, the gateway, the
// addresses reserved by the user (IPAM AuxiliaryAddresses) and the
// leases. It is pure data with its decision logic, persisted as part of
// the network record, so that an address is never handed out twice, also
// across a daemon restart. A network has an IPv4 pool and, with IPv6
// enabled, an IPv6 one.
//
// Addresses are handed out round-robin from the one after the last
// allocated, so that an address just freed is not reused at once (a peer
// may still hold it in its ARP cache or DNS answers).
type Pool struct {
	Subnet  netip.Prefix
	Range   netip.Prefix
	Gateway netip.Addr
	// Reserved are addresses never handed out, by the name the user gave
	// them (docker network create --aux-address name=addr).
	Reserved map[string]netip.Addr `json:",omitempty"`
	// Leases maps an allocated address to its owner (a container ID).
	Leases map[netip.Addr]string
	// Last is the address handed out last.
	Last netip.Addr `json:",omitzero"`
}

// NewPool validates a subnet (IPv4 or IPv6), an optional range inside it
// and an optional gateway (default: the first host address of the
// subnet).
func NewPool(subnet, ipRange netip.Prefix, gateway netip.Addr) (*Pool, error) {
	if !subnet.IsValid() {
		return nil, fmt.Errorf("invalid subnet %s: %w", subnet, errdefs.ErrInvalidArgument)
	}
	subnet = subnet.Masked()
	if subnet.Bits() > subnet.Addr().BitLen()-2 {
		return nil, fmt.Errorf("subnet %s is too small: %w", subnet, errdefs.ErrInvalidArgument)
	}
	if !ipRange.IsValid() {
		ipRange = subnet
	}
	ipRange = ipRange.Masked()
	if ipRange.Addr().BitLen() != subnet.Addr().BitLen() || ipRange.Bits() < subnet.Bits() || !subnet.Contains(ipRange.Addr()) {
		return nil, fmt.Errorf("ip-range %s is not inside subnet %s: %w", ipRange, subnet, errdefs.ErrInvalidArgument)
	}
	if !gateway.IsValid() {
		gateway = subnet.Addr().Next()
	}
	if !subnet.Contains(gateway) || gateway == subnet.Addr() || gateway == broadcast(subnet) && subnet.Addr().Is4() {
		return nil, fmt.Errorf("gateway %s is not a host address of subnet %s: %w", gateway, subnet, errdefs.ErrInvalidArgument)
	}
	return &Pool{Subnet: subnet, Range: ipRange, Gateway: gateway, Leases: map[netip.Addr]string{}}, nil
}

func (p *Pool) clone() *Pool {
	if p == nil {
		return nil
	}
	cp := *p
	cp.Leases = maps.Clone(p.Leases)
	cp.Reserved = maps.Clone(p.Reserved)
	return &cp
}

// Reserve keeps a named address of the subnet from ever being handed out
// (an auxiliary address, used by a device the network does not manage).
func (p *Pool) Reserve(name string, a netip.Addr) error {
	if !p.Subnet.Contains(a) {
		return fmt.Errorf("auxiliary address %s=%s is not in subnet %s: %w", name, a, p.Subnet, errdefs.ErrInvalidArgument)
	}
	if p.Reserved == nil {
		p.Reserved = map[string]netip.Addr{}
	}
	if _, dup := p.Reserved[name]; dup {
		return fmt.Errorf("auxiliary address name %s is given twice: %w", name, errdefs.ErrInvalidArgument)
	}
	p.Reserved[name] = a
	return nil
}

func (p *Pool) reserved(a netip.Addr) bool {
	for _, r := range p.Reserved {
		if r == a {
			return true
		}
	}
	return false
}

// broadcast returns the last address of p.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// usable reports whether a can be leased: inside the subnet, not its
// network or (IPv4) broadcast address, not the gateway, not reserved.
func (p *Pool) usable(a netip.Addr) bool {
	return p.Subnet.Contains(a) && a != p.Subnet.Addr() && !(a.Is4() && a == broadcast(p.Subnet)) && a != p.Gateway && !p.reserved(a)
}

// Allocate leases an address to owner: want if it is valid (anywhere in
// the subnet, as docker allows --ip outside --ip-range), else the next
// free one of the range. A taken address is ErrConflict, an exhausted pool
// ErrUnavailable.
func (p *Pool) Allocate(owner string, want netip.Addr) (netip.Addr, error) {
	if p.Leases == nil {
		p.Leases = map[netip.Addr]string{}
	}
	if want.IsValid() {
		if p.reserved(want) {
			return netip.Addr{}, fmt.Errorf("Address already in use: %s is an auxiliary address of the network: %w", want, errdefs.ErrConflict)
		}
		if !p.usable(want) {
			return netip.Addr{}, fmt.Errorf("address %s is not a usable address of subnet %s: %w", want, p.Subnet, errdefs.ErrInvalidArgument)
		}
		if o, taken := p.Leases[want]; taken {
			return netip.Addr{}, fmt.Errorf("address %s is already in use (by %.12s): %w", want, o, errdefs.ErrConflict)
		}
		p.Leases[want] = owner
		return want, nil
	}
	first, last := p.Range.Masked().Addr(), broadcast(p.Range)
	start := p.Last
	if !start.IsValid() || !p.Range.Contains(start) {
		start = last
	}
	a := start
	for {
		a = a.Next()
		if !a.IsValid() || a.Compare(last) > 0 {
			a = first
		}
		if _, taken := p.Leases[a]; !taken && p.usable(a) {
			p.Leases[a] = owner
			p.Last = a
			return a, nil
		}
		if a == start {
			return netip.Addr{}, fmt.Errorf("no available address in %s: %w", p.Range, errdefs.ErrUnavailable)
		}
	}
}

// Release frees an address.
func (p *Pool) Release(a netip.Addr) { delete(p.Leases, a) }

// ReleaseOwner frees every address of owner and returns how many.
func (p *Pool) ReleaseOwner(owner string) int {
	n := 0
	for a, o := range p.Leases {
		if o == owner {
			delete(p.Leases, a)
			n++
		}
	}
	return n
}
