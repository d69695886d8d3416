package spec

import (
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
)

// HostOptions are the settings of Docker's HostConfig that shape the
// container's namespaces and process beyond its limits.
type HostOptions struct {
	// PidHost and UTSHost share the host's pid and UTS namespaces
	// (--pid host, --uts host); IpcHost its IPC namespace.
	PidHost, UTSHost bool
	// ShmSize is the size of /dev/shm in bytes (0: the runtime's
	// default).
	ShmSize int64
	// Sysctls are set in the container's namespaces (--sysctl).
	Sysctls map[string]string
	// OomScoreAdj is the process's OOM score adjustment.
	OomScoreAdj int
	// GroupAdd are more groups for the process, by name (in the image's
	// /etc/group) or number.
	GroupAdd []string
	// DeviceCgroupRules allow devices in the device cgroup ("c 1:3 rwm").
	DeviceCgroupRules []string
}

var deviceRule = regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)

// DeviceCgroupRule parses a --device-cgroup-rule as dockerd does.
func DeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	m := deviceRule.FindStringSubmatch(rule)
	if m == nil {
		return specs.LinuxDeviceCgroup{}, fmt.Errorf("invalid device cgroup format '%s': %w", rule, errdefs.ErrInvalidArgument)
	}
	d := specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Access: m[4]}
	num := func(s string) *int64 {
		if s == "*" {
			return nil
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		return &n
	}
	d.Major, d.Minor = num(m[2]), num(m[3])
	return d, nil
}

// applyHostOptions applies o to s, whose process runs in rootfs.
func applyHostOptions(s *specs.Spec, rootfs string, o HostOptions) error {
	var keep []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if o.PidHost && ns.Type == specs.PIDNamespace || o.UTSHost && ns.Type == specs.UTSNamespace {
			continue
		}
		keep = append(keep, ns)
	}
	s.Linux.Namespaces = keep
	if o.UTSHost {
		// The host's name, which the container may not change.
		s.Hostname = ""
	}
	if o.ShmSize > 0 {
		for i, m := range s.Mounts {
			if m.Destination != "/dev/shm" || m.Type != "tmpfs" {
				continue
			}
			var opts []string
			for _, opt := range m.Options {
				if len(opt) < 5 || opt[:5] != "size=" {
					opts = append(opts, opt)
				}
			}
			s.Mounts[i].Options = append(opts, "size="+strconv.FormatInt(o.ShmSize, 10))
		}
	}
	if len(o.Sysctls) > 0 {
		s.Linux.Sysctl = map[string]string{}
		for k, v := range o.Sysctls {
			s.Linux.Sysctl[k] = v
		}
	}
	if o.OomScoreAdj != 0 {
		adj := o.OomScoreAdj
		s.Process.OOMScoreAdj = &adj
	}
	for _, r := range o.DeviceCgroupRules {
		d, err := DeviceCgroupRule(r)
		if err != nil {
			return err
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, d)
	}
	if len(o.GroupAdd) > 0 {
		group, err := openUserFile(rootfs, "/etc/group")
		if err != nil {
			return err
		}
		var gr io.Reader
		if group != nil {
			defer group.Close()
			gr = io.LimitReader(group, maxUserFileSize)
		}
		gids, err := user.GetAdditionalGroups(o.GroupAdd, gr)
		if err != nil {
			return invalidArg{err}
		}
	next:
		for _, g := range gids {
			for _, have := range s.Process.User.AdditionalGids {
				if have == uint32(g) {
					continue next
				}
			}
			s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, uint32(g))
		}
	}
	return nil
}
