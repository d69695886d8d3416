package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetlinkRouter is the Router of the node's own network namespace: routes
// in the main table with protocol RouteProtocol.
type NetlinkRouter struct{}

// List returns the agent's routes inside cidr.
func (NetlinkRouter) List(cidr netip.Prefix) (map[netip.Prefix]netip.Addr, error) {
	rs, err := retryDump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	out := map[netip.Prefix]netip.Addr{}
	for _, r := range rs {
		if r.Dst == nil || r.Gw == nil {
			continue
		}
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		via, ok2 := netip.AddrFromSlice(r.Gw)
		if !ok || !ok2 {
			continue
		}
		bits, _ := r.Dst.Mask.Size()
		p := netip.PrefixFrom(a.Unmap(), bits)
		if cidr.IsValid() && !cidr.Contains(p.Addr()) {
			continue
		}
		out[p] = via.Unmap()
	}
	return out, nil
}

// Replace routes dst via the node address via (which must be on a
// directly connected network).
func (NetlinkRouter) Replace(dst netip.Prefix, via netip.Addr) error {
	r := &netlink.Route{Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)}, Gw: via.AsSlice(),
		Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("route %s via %s: %w", dst, via, err)
	}
	return nil
}

// Delete removes the agent's route to dst.
func (NetlinkRouter) Delete(dst netip.Prefix) error {
	r := &netlink.Route{Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)}, Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	if err := netlink.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("deleting route %s: %w", dst, err)
	}
	return nil
}

// Forward turns IPv4 forwarding on on the interface that holds addr.
func (NetlinkRouter) Forward(addr netip.Addr) error {
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr.Unmap() {
			l, err := netlink.LinkByIndex(a.LinkIndex)
			if err != nil {
				return err
			}
			p := filepath.Join("/proc/sys/net/ipv4/conf", l.Attrs().Name, "forwarding")
			if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=1: %w", p, err)
			}
			return nil
		}
	}
	return fmt.Errorf("no interface holds the node's address %s", addr)
}

// retryDump retries a netlink dump the kernel interrupted (the table
// changed under it), which returns partial results.
func retryDump[T any](f func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for i := 0; i < 5; i++ {
		if out, err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}
