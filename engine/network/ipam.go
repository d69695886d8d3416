package network

import (
	"fmt"
	"net/netip"

	"github.com/wharf-dev/wharf/errdefs"
)

// Pool is the IPv4 address pool of one network: its subnet, the range
// addresses are handed out from, the gateway and the leases. It is pure
// data with its decision logic, persisted as part of the network record,
// so that an address is never handed out twice, also across a daemon
// restart.
//
// Addresses are handed out round-robin from the one after the last
// allocated, so that an address just freed is not reused at once (a peer
// may still hold it in its ARP cache or DNS answers).
type Pool struct {
	Subnet  netip.Prefix
	Range   netip.Prefix
	Gateway netip.Addr
	// Leases maps an allocated address to its owner (a container ID).
	Leases map[netip.Addr]string
	// Last is the address handed out last.
	Last netip.Addr `json:",omitzero"`
}

// NewPool validates a subnet, an optional range inside it and an optional
// gateway (default: the first host address of the subnet).
func NewPool(subnet, ipRange netip.Prefix, gateway netip.Addr) (*Pool, error) {
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return nil, fmt.Errorf("invalid subnet %s: only IPv4 subnets are supported: %w", subnet, errdefs.ErrInvalidArgument)
	}
	subnet = subnet.Masked()
	if subnet.Bits() > 30 {
		return nil, fmt.Errorf("subnet %s is too small: %w", subnet, errdefs.ErrInvalidArgument)
	}
	if !ipRange.IsValid() {
		ipRange = subnet
	}
	ipRange = ipRange.Masked()
	if !ipRange.Addr().Is4() || ipRange.Bits() < subnet.Bits() || !subnet.Contains(ipRange.Addr()) {
		return nil, fmt.Errorf("ip-range %s is not inside subnet %s: %w", ipRange, subnet, errdefs.ErrInvalidArgument)
	}
	if !gateway.IsValid() {
		gateway = subnet.Addr().Next()
	}
	if !subnet.Contains(gateway) || gateway == subnet.Addr() || gateway == broadcast(subnet) {
		return nil, fmt.Errorf("gateway %s is not a host address of subnet %s: %w", gateway, subnet, errdefs.ErrInvalidArgument)
	}
	return &Pool{Subnet: subnet, Range: ipRange, Gateway: gateway, Leases: map[netip.Addr]string{}}, nil
}

// broadcast returns the last address of p.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1 << host) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// usable reports whether a can be leased: inside the subnet, not its
// network or broadcast address, not the gateway.
func (p *Pool) usable(a netip.Addr) bool {
	return p.Subnet.Contains(a) && a != p.Subnet.Addr() && a != broadcast(p.Subnet) && a != p.Gateway
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
