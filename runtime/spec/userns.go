package spec

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
)

// IDMap maps the container's ids 0..Size-1 onto the host's
// HostUID..HostUID+Size-1 (users) and HostGID..HostGID+Size-1 (groups):
// the container's root is an unprivileged user of the host.
type IDMap struct {
	HostUID, HostGID, Size uint32
}

// applyUserNS puts the container in a user namespace of its own with the
// mapping m. A namespace the container joins rather than creates (the
// network namespace the engine prepared) belongs to the host's user
// namespace, and a sysfs cannot be mounted for it from inside the new
// one: /sys is then bound from the host, read-only, as runc's own
// rootless specs do. The cgroup mount is bound read-only in the same way
// by the runtime, and stays so.
//
// With path set, the container joins that user namespace (which has the
// mapping m) instead: the engine creates it with the network namespace
// the container joins, so that the network namespace belongs to it and
// a runtime that joins the user namespace first (runc 1.1's exec) can
// still join the network namespace.
func applyUserNS(s *specs.Spec, m *IDMap, path string) error {
	if m.Size == 0 {
		return fmt.Errorf("%w: a user namespace needs a mapping of at least one id", errdefs.ErrInvalidArgument)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			return fmt.Errorf("%w: the spec already has a user namespace", errdefs.ErrInvalidArgument)
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: path})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: m.HostUID, Size: m.Size}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: m.HostGID, Size: m.Size}}
	joinsNet := false
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace && ns.Path != "" {
			joinsNet = true
		}
	}
	if joinsNet && path == "" {
		for i, mt := range s.Mounts {
			if mt.Destination == "/sys" && mt.Type == "sysfs" {
				s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys",
					Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			}
		}
	}
	return nil
}
