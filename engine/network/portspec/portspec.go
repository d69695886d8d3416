// Package portspec parses published and exposed ports as docker writes
// them (-p, --expose, the API's port bindings) into PortBinding, the
// network driver's request to publish a port. It imports nothing but the
// standard library and errdefs: the lean CLI checks flags with the very
// parsers the daemon uses, without linking netlink or the DNS server.
package portspec

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// PortBinding publishes one container port on the host. HostPort 0 asks
// for a random free port; HostPortEnd > HostPort gives a range to pick the
// first free port from (docker's `-p 8000-8010:80`).
type PortBinding struct {
	Proto         string // "tcp" or "udp"
	ContainerPort uint16
	// HostIP is the address to listen on; the zero Addr means every
	// address (0.0.0.0).
	HostIP      netip.Addr `json:",omitzero"`
	HostPort    uint16
	HostPortEnd uint16 `json:",omitempty"`
}

// Key is docker's "80/tcp" form of the container side.
func (b PortBinding) Key() string { return strconv.Itoa(int(b.ContainerPort)) + "/" + b.Proto }

// HostIPString is the host address as docker prints it ("0.0.0.0" for all).
func (b PortBinding) HostIPString() string {
	if !b.HostIP.IsValid() {
		return "0.0.0.0"
	}
	return b.HostIP.String()
}

// HostPortString is the host port or range as docker writes it ("" when
// random).
func (b PortBinding) HostPortString() string {
	switch {
	case b.HostPort == 0:
		return ""
	case b.HostPortEnd > b.HostPort:
		return fmt.Sprintf("%d-%d", b.HostPort, b.HostPortEnd)
	}
	return strconv.Itoa(int(b.HostPort))
}

// ParsePortKey parses docker's "80/tcp", "80" (tcp) or "8000-8010/udp"
// into a protocol and a port range.
func ParsePortKey(s string) (proto string, start, end uint16, err error) {
	port, proto, _ := strings.Cut(s, "/")
	proto = strings.ToLower(proto)
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return "", 0, 0, fmt.Errorf("invalid proto: %s: %w", proto, errdefs.ErrInvalidArgument)
	}
	start, end, err = parsePortRange(port, false)
	if err != nil {
		return "", 0, 0, err
	}
	return proto, start, end, nil
}

// parsePortRange parses "80" or "8000-8010"; zeroOK allows an empty
// string and 0 (a random host port).
func parsePortRange(s string, zeroOK bool) (uint16, uint16, error) {
	if s == "" {
		if zeroOK {
			return 0, 0, nil
		}
		return 0, 0, fmt.Errorf("no port specified: %w", errdefs.ErrInvalidArgument)
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parsePort(lo, zeroOK && !isRange)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return a, a, nil
	}
	b, err := parsePort(hi, false)
	if err != nil {
		return 0, 0, err
	}
	if b < a {
		return 0, 0, fmt.Errorf("invalid range specified for port: %s: %w", s, errdefs.ErrInvalidArgument)
	}
	return a, b, nil
}

func parsePort(s string, zeroOK bool) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("invalid port: %q: %w", s, errdefs.ErrInvalidArgument)
	}
	return uint16(n), nil
}

// ParsePortSpec parses one -p value, [ip:][hostPort:]containerPort[/proto]
// where either port may be a range, into one binding per container port.
// An IPv6 host address is written in brackets ("[::1]:80:80").
func ParsePortSpec(spec string) ([]PortBinding, error) {
	bad := func(why string) error {
		return fmt.Errorf("invalid port specification %q: %s: %w", spec, why, errdefs.ErrInvalidArgument)
	}
	rest, proto, _ := strings.Cut(spec, "/")
	proto = strings.ToLower(proto)
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return nil, bad("protocol must be tcp or udp")
	}
	var ipStr, hostPart, ctrPart string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 || end+1 >= len(rest) || rest[end+1] != ':' {
			return nil, bad("malformed IPv6 address")
		}
		ipStr = rest[1:end]
		rest = rest[end+2:]
		var ok bool
		hostPart, ctrPart, ok = strings.Cut(rest, ":")
		if !ok {
			return nil, bad("a host address needs a host port field (it may be empty)")
		}
	} else {
		parts := strings.Split(rest, ":")
		switch len(parts) {
		case 1:
			ctrPart = parts[0]
		case 2:
			hostPart, ctrPart = parts[0], parts[1]
		case 3:
			ipStr, hostPart, ctrPart = parts[0], parts[1], parts[2]
		default:
			return nil, bad("too many colons")
		}
	}
	var ip netip.Addr
	if ipStr != "" {
		var err error
		ip, err = netip.ParseAddr(ipStr)
		if err != nil || ip.Zone() != "" {
			return nil, bad("invalid host address " + ipStr)
		}
		if ip.IsUnspecified() && ip.Is4() {
			ip = netip.Addr{}
		}
	}
	cs, ce, err := parsePortRange(ctrPart, false)
	if err != nil {
		return nil, bad("invalid container port " + strconv.Quote(ctrPart))
	}
	hs, he, err := parsePortRange(hostPart, true)
	if err != nil {
		return nil, bad("invalid host port " + strconv.Quote(hostPart))
	}
	n := int(ce) - int(cs) + 1
	var out []PortBinding
	switch {
	case hs == 0:
		for p := int(cs); p <= int(ce); p++ {
			out = append(out, PortBinding{Proto: proto, ContainerPort: uint16(p), HostIP: ip})
		}
	case n == 1 && he > hs:
		out = append(out, PortBinding{Proto: proto, ContainerPort: cs, HostIP: ip, HostPort: hs, HostPortEnd: he})
	case int(he)-int(hs)+1 == n:
		for i := 0; i < n; i++ {
			out = append(out, PortBinding{Proto: proto, ContainerPort: uint16(int(cs) + i), HostIP: ip, HostPort: uint16(int(hs) + i)})
		}
	default:
		return nil, bad("host and container port ranges differ in length")
	}
	return out, nil
}

// ParseWireBinding parses one of docker's wire port bindings: the
// container port key ("80/tcp") and the host address and port (either may
// be empty; the port may be a range).
func ParseWireBinding(key, hostIP, hostPort string) ([]PortBinding, error) {
	if strings.Contains(hostIP, ":") {
		hostIP = "[" + hostIP + "]"
	}
	if strings.ContainsAny(key, ":[]") || strings.ContainsAny(hostPort, ":[]/") {
		return nil, fmt.Errorf("invalid port binding %q -> %s:%s: %w", key, hostIP, hostPort, errdefs.ErrInvalidArgument)
	}
	return ParsePortSpec(hostIP + ":" + hostPort + ":" + key)
}

// ErrPortAllocated marks a host port that is already taken (always with
// errdefs.ErrConflict). Docker's API answers it 500 on start, as dockerd,
// whose port allocator's error carries no class.
var ErrPortAllocated = errors.New("port is already allocated")
