package network

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// bridgeConfig describes the bridge of one network.
type bridgeConfig struct {
	name string
	gw   netip.Addr
	bits int
	// gw6, bits6: the IPv6 gateway of an IPv6 network.
	gw6     netip.Addr
	bits6   int
	forward bool
}

// ensureBridge creates the bridge link (if missing) with its gateway
// addresses, brings it up and turns IPv4 forwarding off for packets that
// enter through it (see the package doc: isolation between bridges and
// from the outside without a firewall). An IPv6 gateway is added without
// duplicate address detection (the daemon owns the subnet), as dockerd
// does, so that it answers at once.
func ensureBridge(c bridgeConfig) error {
	name := c.name
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("looking up bridge %s: %w", name, err)
		}
		// A MAC of its own: without one the bridge takes the lowest MAC
		// of its ports and changes it when that port leaves, and the
		// other containers' ARP entries for the gateway go stale — their
		// DNS and published-port traffic to the gateway is dropped for
		// up to half a minute after a neighbour container stops (dockerd
		// sets a random MAC for the same reason).
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, TxQLen: -1, HardwareAddr: randomMAC()}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("creating bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("looking up bridge %s: %w", name, err)
		}
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("link %s exists and is not a bridge", name)
	}
	if c.gw6.IsValid() {
		// The bridge is the daemon's: IPv6 on it, whatever the host's
		// default for new interfaces.
		if err := writeSysctl(filepath.Join("/proc/sys/net/ipv6/conf", name, "disable_ipv6"), "0"); err != nil {
			return err
		}
	}
	for _, a := range []struct {
		gw     netip.Addr
		bits   int
		family int
	}{{c.gw, c.bits, netlink.FAMILY_V4}, {c.gw6, c.bits6, netlink.FAMILY_V6}} {
		if !a.gw.IsValid() {
			continue
		}
		want := &net.IPNet{IP: a.gw.AsSlice(), Mask: net.CIDRMask(a.bits, a.gw.BitLen())}
		addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, a.family) })
		if err != nil {
			return err
		}
		have := false
		for _, x := range addrs {
			if x.IPNet.String() == want.String() {
				have = true
			}
		}
		if !have {
			na := &netlink.Addr{IPNet: want}
			if a.family == netlink.FAMILY_V6 {
				na.Flags = unix.IFA_F_NODAD
			}
			if err := netlink.AddrAdd(link, na); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("adding %s to bridge %s: %w", want, name, err)
			}
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing up bridge %s: %w", name, err)
	}
	v := "0"
	if c.forward {
		v = "1"
	}
	return writeSysctl(filepath.Join("/proc/sys/net/ipv4/conf", name, "forwarding"), v)
}

func writeSysctl(path, v string) error {
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", path, v, err)
	}
	return nil
}

// deleteLink deletes a link by name; a missing link is not an error.
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return err
	}
	return nil
}

// createNetNS creates a network namespace kept alive by a bind mount at
// path, brings its loopback up, and returns. With from set, the
// namespace is that existing one (a ns file), pinned at path instead.
func createNetNS(path, from string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	defer func() {
		if err != nil {
			_ = unix.Unmount(path, unix.MNT_DETACH)
			_ = os.Remove(path)
		}
	}()
	// A thread enters the new namespace, the namespace is pinned by a bind
	// mount of the thread's ns file, and the thread goes back. Should the
	// way back fail, the thread stays locked and dies with its goroutine.
	errc := make(chan error, 1)
	if from != "" {
		if err := unix.Mount(from, path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting the network namespace %s at %s: %w", from, path, err)
		}
		errc <- nil
	} else {
		go newNetNSThread(path, errc)
	}
	if err := <-errc; err != nil {
		return err
	}
	h, err := nsHandle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	return h.LinkSetUp(lo)
}

// newNetNSThread creates a network namespace pinned at path from a
// thread of its own, and tells errc.
func newNetNSThread(path string, errc chan<- error) {
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		errc <- err
		return
	}
	defer origin.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
		return
	}
	merr := unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "", unix.MS_BIND, "")
	if err := netns.Set(origin); err != nil {
		errc <- fmt.Errorf("returning to the daemon's network namespace: %w", err)
		return // the thread stays locked: it is discarded
	}
	runtime.UnlockOSThread()
	if merr != nil {
		merr = fmt.Errorf("bind-mounting the network namespace at %s: %w", path, merr)
	}
	errc <- merr
}

// removeNetNS unmounts and deletes a namespace file; a missing one is not
// an error.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// nsHandle returns a netlink handle working inside the namespace at path.
func nsHandle(path string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// vethConfig describes one interface of a container.
type vethConfig struct {
	hostName, ifName, bridge string
	ip                       netip.Addr
	bits                     int
	gateway                  netip.Addr
	// ip6, bits6, gateway6: the IPv6 address of an IPv6 network.
	ip6      netip.Addr
	bits6    int
	gateway6 netip.Addr
	// linkLocal are extra link-local addresses (IPAMConfig.LinkLocalIPs).
	linkLocal []netip.Addr
	// defaultRoute: the gateways (both families) become the default
	// routes.
	defaultRoute bool
	mac          net.HardwareAddr
}

// addVeth creates a veth pair, puts its peer into the namespace at nsPath
// as c.ifName with its addresses and (optionally) the default routes, and
// attaches the host end to the bridge. Addresses the daemon hands out are
// added without duplicate address detection, as dockerd adds them: an
// IPv6 address would otherwise stay tentative, unusable, for a second or
// more after the container started.
func addVeth(nsPath string, c vethConfig) (err error) {
	br, err := netlink.LinkByName(c.bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", c.bridge, err)
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	tmpPeer := "wp" + strings.TrimPrefix(c.hostName, "wv")
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: c.hostName, MasterIndex: br.Attrs().Index, TxQLen: -1},
		PeerName:      tmpPeer,
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if c.mac != nil {
		veth.PeerHardwareAddr = c.mac
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating veth %s: %w", c.hostName, err)
	}
	defer func() {
		if err != nil {
			_ = deleteLink(c.hostName)
		}
	}()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	peer, err := h.LinkByName(tmpPeer)
	if err != nil {
		return fmt.Errorf("veth peer in the container: %w", err)
	}
	if err := h.LinkSetName(peer, c.ifName); err != nil {
		return fmt.Errorf("naming %s: %w", c.ifName, err)
	}
	addrs := []*netlink.Addr{{IPNet: &net.IPNet{IP: c.ip.AsSlice(), Mask: net.CIDRMask(c.bits, 32)}}}
	if c.ip6.IsValid() {
		addrs = append(addrs, &netlink.Addr{IPNet: &net.IPNet{IP: c.ip6.AsSlice(), Mask: net.CIDRMask(c.bits6, 128)}, Flags: unix.IFA_F_NODAD})
	}
	for _, ll := range c.linkLocal {
		// Link-local addresses take their scope's usual prefix, as in
		// dockerd: 169.254.0.0/16 and fe80::/64.
		bits := 16
		if ll.Is6() {
			bits = 64
		}
		addrs = append(addrs, &netlink.Addr{IPNet: &net.IPNet{IP: ll.AsSlice(), Mask: net.CIDRMask(bits, ll.BitLen())}, Flags: unix.IFA_F_NODAD})
	}
	for _, a := range addrs {
		if err := h.AddrAdd(peer, a); err != nil {
			return fmt.Errorf("address %s on %s: %w", a.IPNet, c.ifName, err)
		}
	}
	if err := h.LinkSetUp(peer); err != nil {
		return err
	}
	if c.defaultRoute {
		for _, gw := range []netip.Addr{c.gateway, c.gateway6} {
			if !gw.IsValid() {
				continue
			}
			if err := h.RouteAdd(&netlink.Route{LinkIndex: peer.Attrs().Index, Gw: gw.AsSlice(), Scope: netlink.SCOPE_UNIVERSE}); err != nil {
				return fmt.Errorf("default route via %s: %w", gw, err)
			}
		}
	}
	host, err := netlink.LinkByName(c.hostName)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(host)
}

// bridgePorts returns the names of the links attached to a bridge.
func bridgePorts(bridge string) ([]string, error) {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return nil, err
	}
	links, err := linkList()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// hostPrefixes returns the IPv4 prefixes of the host's addresses and
// routes, to pick a subnet for a new network that collides with none.
func hostPrefixes() []netip.Prefix {
	var out []netip.Prefix
	routes, _ := retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V4) })
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok {
			out = append(out, p)
		}
	}
	addrs, _ := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			out = append(out, p.Masked())
		}
	}
	return out
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits), true
}

// retryDump repeats a netlink dump that concurrent changes interrupted
// (its results would be incomplete).
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var err error
	for i := 0; i < 20; i++ {
		var out []T
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}

func linkList() ([]netlink.Link, error) { return retryDump(netlink.LinkList) }

// randomMAC returns a random locally administered unicast MAC address.
func randomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac)
	mac[0] = mac[0]&^1 | 2
	return mac
}
