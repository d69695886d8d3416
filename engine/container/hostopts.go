package container

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/spec"
)

// HostOptions are the parts of Docker's HostConfig beyond limits, ports
// and mounts: names and addresses in the container's /etc files, shared
// namespaces, /dev/shm, sysctls, groups and devices. Each is applied to
// the container (prepare, writeEtcFiles) and kept to be shown as given;
// what wharf cannot do is refused at create, never dropped.
type HostOptions struct {
	// Dns, DnsSearch and DnsOptions replace the name servers, search
	// domains and options of the container's resolv.conf.
	Dns, DnsSearch, DnsOptions []string `json:",omitempty"`
	// ExtraHosts are "name:address" lines added to /etc/hosts.
	ExtraHosts []string `json:",omitempty"`
	// GroupAdd are more groups of the container's process.
	GroupAdd []string `json:",omitempty"`
	// PidMode and UTSMode are "" or "host"; IpcMode "", "private" or
	// "shareable" (the container's own namespace either way).
	PidMode, UTSMode, IpcMode string `json:",omitempty"`
	// ShmSize is the size of /dev/shm in bytes; create records dockerd's
	// 64 MiB when none is given.
	ShmSize int64 `json:",omitempty"`
	// Sysctls are set in the container's namespaces.
	Sysctls map[string]string `json:",omitempty"`
	// OomScoreAdj is the process's OOM score adjustment.
	OomScoreAdj int `json:",omitempty"`
	// DeviceCgroupRules allow more devices ("c 1:3 rwm").
	DeviceCgroupRules []string `json:",omitempty"`
	// VolumeDriver ("" or "local") and Isolation ("" or "default") are
	// what Linux has; they are kept as given.
	VolumeDriver, Isolation string `json:",omitempty"`
	// UsernsMode ("" or "host") and CgroupnsMode ("" or "private") are
	// the namespaces containers get.
	UsernsMode, CgroupnsMode string `json:",omitempty"`
	// ContainerIDFile is the client's (docker run --cidfile writes it);
	// dockerd keeps it to show, and so does wharf.
	ContainerIDFile string `json:",omitempty"`
	// Annotations are added to the runtime spec's.
	Annotations map[string]string `json:",omitempty"`
}

// defaultShmSize is dockerd's /dev/shm size.
const defaultShmSize = 64 << 20

// check refuses, with dockerd's words where dockerd refuses too, what the
// container cannot have, and fills in dockerd's defaults.
func (h *HostOptions) check(hostname string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
	}
	switch h.PidMode {
	case "", "host":
	default:
		return bad("invalid PID mode %q: wharf runs containers in their own pid namespace or the host's", h.PidMode)
	}
	switch h.UTSMode {
	case "":
	case "host":
		if hostname != "" {
			return bad("Conflicting options: hostname and the UTS mode")
		}
	default:
		return bad("invalid UTS mode %q: wharf runs containers in their own UTS namespace or the host's", h.UTSMode)
	}
	switch h.IpcMode {
	case "", "private", "shareable":
	default:
		return bad("invalid IPC mode %q: wharf runs containers in their own IPC namespace", h.IpcMode)
	}
	switch h.UsernsMode {
	case "", "host":
	default:
		return bad("invalid user namespace mode %q: wharf runs containers in the host's user namespace", h.UsernsMode)
	}
	switch h.CgroupnsMode {
	case "", "private":
	default:
		return bad("invalid cgroup namespace mode %q: wharf runs containers in their own cgroup namespace", h.CgroupnsMode)
	}
	switch h.Isolation {
	case "", "default":
	default:
		return bad("Invalid isolation: %q - linux only supports 'default'", h.Isolation)
	}
	switch h.VolumeDriver {
	case "", "local":
	default:
		return bad("volume driver %q is not available: wharf has the local driver only", h.VolumeDriver)
	}
	if h.ShmSize < 0 {
		return bad("SHM size can not be less than 0")
	}
	if h.ShmSize == 0 {
		h.ShmSize = defaultShmSize
	}
	if h.OomScoreAdj < -1000 || h.OomScoreAdj > 1000 {
		return bad("Invalid value %d, range for oom score adj is [-1000, 1000]", h.OomScoreAdj)
	}
	for _, r := range h.DeviceCgroupRules {
		if _, err := spec.DeviceCgroupRule(r); err != nil {
			return err
		}
	}
	for _, d := range h.Dns {
		if _, err := netip.ParseAddr(d); err != nil {
			return bad("%s is not an ip address", d)
		}
	}
	return h.checkHosts()
}

// checkDNS refuses name servers for a container on a user-defined
// network: its embedded DNS server answers there, and wharf's cannot
// forward to others as dockerd's does.
func (h HostOptions) checkDNS(networkMode string) error {
	switch {
	case len(h.Dns) == 0, networkMode == "", networkMode == "default", networkMode == "bridge",
		networkMode == "none", networkMode == "host", strings.HasPrefix(networkMode, "container:"),
		// A namespace by path has no embedded server of its own.
		strings.HasPrefix(networkMode, "ns:"):
		return nil
	}
	return fmt.Errorf("--dns on the user-defined network %s: its embedded DNS server answers, and it cannot forward to other servers on this daemon: %w", networkMode, errdefs.ErrInvalidArgument)
}

// checkHosts refuses --add-host values dockerd refuses, and host-gateway,
// which wharf has no address for.
func (h HostOptions) checkHosts() error {
	for _, e := range h.ExtraHosts {
		if _, _, err := extraHost(e); err != nil {
			return err
		}
	}
	return nil
}

// extraHost reads an --add-host value, "name:address" (or "name=address"
// as newer clients send it).
func extraHost(s string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok {
		name, addr, ok = strings.Cut(s, ":")
	}
	if !ok || name == "" {
		return "", "", fmt.Errorf("bad format for add-host: %q: %w", s, errdefs.ErrInvalidArgument)
	}
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if addr == "host-gateway" {
		return "", "", fmt.Errorf("add-host %q: the host-gateway address is not available on this daemon: %w", s, errdefs.ErrInvalidArgument)
	}
	if _, err := netip.ParseAddr(addr); err != nil {
		return "", "", fmt.Errorf("invalid IP address in add-host: %q: %w", addr, errdefs.ErrInvalidArgument)
	}
	return name, addr, nil
}

// spec is what the runtime spec takes of h.
func (h HostOptions) spec() spec.HostOptions {
	shm := h.ShmSize
	if shm == 0 {
		shm = defaultShmSize
	}
	return spec.HostOptions{
		PidHost: h.PidMode == "host", UTSHost: h.UTSMode == "host", ShmSize: shm,
		Sysctls: h.Sysctls, OomScoreAdj: h.OomScoreAdj, GroupAdd: h.GroupAdd, DeviceCgroupRules: h.DeviceCgroupRules,
	}
}

// hostsLines are the ExtraHosts lines of /etc/hosts.
func (h HostOptions) hostsLines() []string {
	var out []string
	for _, e := range h.ExtraHosts {
		if name, addr, err := extraHost(e); err == nil {
			out = append(out, addr+"\t"+name)
		}
	}
	return out
}

// resolv applies Dns, DnsSearch and DnsOptions to a resolv.conf, each
// replacing the lines of its kind as dockerd replaces them. With embedded
// (a user-defined network's DNS server answers the container) the name
// server stays: Dns is refused at create for those networks.
func (h HostOptions) resolv(conf string, embedded bool) string {
	if embedded {
		h.Dns = nil
	}
	if len(h.Dns) == 0 && len(h.DnsSearch) == 0 && len(h.DnsOptions) == 0 {
		return conf
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(conf, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "nameserver" && len(h.Dns) > 0 || f[0] == "search" && len(h.DnsSearch) > 0 || f[0] == "options" && len(h.DnsOptions) > 0) {
			continue
		}
		if line != "" {
			b.WriteString(line + "\n")
		}
	}
	for _, d := range h.Dns {
		b.WriteString("nameserver " + d + "\n")
	}
	if len(h.DnsSearch) > 0 {
		b.WriteString("search " + strings.Join(h.DnsSearch, " ") + "\n")
	}
	if len(h.DnsOptions) > 0 {
		b.WriteString("options " + strings.Join(h.DnsOptions, " ") + "\n")
	}
	return b.String()
}
