package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wharf-dev/wharf/internal/wharfbuild"
)

// RandomBridgeName returns a bridge name no other test or daemon uses:
// "wt" and 8 random hex digits.
func RandomBridgeName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "wt" + hex.EncodeToString(b[:])
}

var (
	subnetMu    sync.Mutex
	subnetTaken = map[netip.Prefix]bool{}
)

// FreeSubnet returns a random 10.2xx.y.0/24 that overlaps no address or
// route of the host and no subnet handed out before in this process.
func FreeSubnet(t testing.TB) string {
	t.Helper()
	subnetMu.Lock()
	defer subnetMu.Unlock()
	var used []netip.Prefix
	routes, _ := retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V4) })
	for _, r := range routes {
		if r.Dst != nil {
			if p, ok := prefix(r.Dst); ok {
				used = append(used, p)
			}
		}
	}
	addrs, _ := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	for _, a := range addrs {
		if p, ok := prefix(a.IPNet); ok {
			used = append(used, p.Masked())
		}
	}
	for i := 0; i < 1000; i++ {
		x, _ := rand.Int(rand.Reader, big.NewInt(50))
		y, _ := rand.Int(rand.Reader, big.NewInt(256))
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(200 + x.Int64()), byte(y.Int64()), 0}), 24)
		free := !subnetTaken[cand]
		for _, u := range used {
			if u.Bits() > 0 && u.Overlaps(cand) {
				free = false
			}
		}
		if free {
			subnetTaken[cand] = true
			return cand.String()
		}
	}
	t.Fatal("no free 10.2xx.y.0/24 subnet on this host")
	return ""
}

func prefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits), true
}

// Bridges returns the Linux bridges of the daemon's networks: its default
// bridge and those named in its network state.
func (d *Daemon) Bridges() []string {
	out := []string{d.Bridge}
	data, err := os.ReadFile(filepath.Join(d.Root, "network", "state.json"))
	if err != nil {
		return out
	}
	var st struct {
		Networks map[string]struct{ Bridge string }
	}
	if json.Unmarshal(data, &st) != nil {
		return out
	}
	for _, n := range st.Networks {
		if n.Bridge != "" && n.Bridge != d.Bridge {
			out = append(out, n.Bridge)
		}
	}
	return out
}

// DeleteLink deletes a network link by name; a missing one is fine.
func DeleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return netlink.LinkDel(l)
}

// NetState counts what a daemon's containers hold in the kernel: veths
// attached to its bridges, namespace files under its exec-root, and IPv4
// addresses on the host in its bridges' subnets besides the gateways.
type NetState struct {
	Veths, NetNS, Leases int
	// Listeners counts the daemon's listening TCP and bound UDP sockets
	// (published ports, DNS servers; not its unix API socket).
	Listeners int
}

// WaitNetResources waits up to 5 s for the daemon's NetState to be want
// (a stopped container's veth is deleted in the background) and returns
// the last one read.
func (d *Daemon) WaitNetResources(t testing.TB, want NetState) NetState {
	t.Helper()
	st := d.NetResources(t)
	for deadline := time.Now().Add(5 * time.Second); st != want && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		st = d.NetResources(t)
	}
	return st
}

// NetResources returns the daemon's current NetState.
func (d *Daemon) NetResources(t testing.TB) NetState {
	t.Helper()
	var st NetState
	for _, br := range d.Bridges() {
		l, err := netlink.LinkByName(br)
		if err != nil {
			continue
		}
		links, err := linkList()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range links {
			if x.Attrs().MasterIndex == l.Attrs().Index {
				st.Veths++
			}
		}
	}
	ents, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns"))
	st.NetNS = len(ents)
	// The leases are the sandboxes' addresses (engine/network keeps them
	// on the exec-root, not in state.json).
	data, err := os.ReadFile(filepath.Join(d.ExecRoot, "network", "sandbox.json"))
	if err == nil {
		var s struct {
			Sandboxes map[string]struct {
				Endpoints []struct{ IP string }
			}
		}
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		for _, sb := range s.Sandboxes {
			for _, ep := range sb.Endpoints {
				if ep.IP != "" {
					st.Leases++
				}
			}
		}
	}
	st.Listeners = d.inetListeners()
	return st
}

// inetListeners counts the daemon's listening TCP and bound UDP sockets:
// the socket inodes among its file descriptors that /proc/net lists as
// TCP LISTEN or UDP.
func (d *Daemon) inetListeners() int {
	pid := d.Pid()
	if pid == 0 {
		return 0
	}
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, _ := os.ReadDir(fdDir)
	inodes := map[string]bool{}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, f := range []string{"tcp", "tcp6", "udp", "udp6"} {
		data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "net", f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			if strings.HasPrefix(f, "udp") || fields[3] == "0A" {
				n++
			}
		}
	}
	return n
}

// String renders the state for test failures.
func (s NetState) String() string {
	return fmt.Sprintf("veths=%d netns=%d leases=%d listeners=%d", s.Veths, s.NetNS, s.Leases, s.Listeners)
}

// BuildProgram builds the Go main package in dir (relative to the test's
// working directory) as a static binary and returns its path, for tests
// that need a helper inside a container that busybox lacks.
func BuildProgram(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(dir))
	cmd := exec.Command(wharfbuild.GoTool(), "build", "-o", out, "./"+dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
	return out
}

// retryDump repeats a netlink dump that concurrent changes (other tests'
// containers) interrupted.
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
