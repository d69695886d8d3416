package container

import (
	"fmt"
	"path"
	"regexp"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/spec"
)

// A container created with HostConfig.PrivateUserns runs in a user
// namespace of its own: its ids 0..65535 are a range of the host's ids
// that no other container of the daemon holds, taken from the engine's
// IDPool at create and kept in the record (Container.IDMap), so that a
// restart of the container or of the daemon runs it with the same
// mapping and its files keep their owners.
//
// The image's layers are not chowned: at every start each layer is
// cloned as an idmapped mount (mount_setattr MOUNT_ATTR_IDMAP) through
// which the layer's ids 0..65535 read as the range's, the overlay is
// mounted over those clones and the clones are detached again (the
// overlay holds its own references). The kernel refuses to idmap an
// overlay mount itself (EINVAL), but takes idmapped layers. The upper
// layer is the container's own and is not idmapped: what the container
// creates there is owned by the host ids of its range, which is what a
// look at <root>/containers/<id>/upper shows. Bind mounts and volumes
// are idmapped in the same way (a filesystem that cannot be idmapped is
// refused at start); tmpfs mounts belong to the container's namespace.
// See userns_linux.go.

// UsernsSize is how many ids a container in a user namespace gets:
// 0..65535, as Docker's --userns-remap maps.
const UsernsSize = 65536

// IDPool is where the engine takes the host id ranges of containers in
// user namespaces: Slots ranges of UsernsSize ids from Start, the same
// numbers for users and groups.
type IDPool struct {
	Start, Slots uint32
}

// DefaultIDPool starts at 2^30, far above the ids useradd hands out
// (/etc/subuid ranges start at 100000), with room for 1024 containers.
var DefaultIDPool = IDPool{Start: 1 << 30, Slots: 1024}

// Validate checks that the pool fits in the host's 32-bit ids (the
// highest, 2^32-1, is the invalid id) and does not include root.
func (p IDPool) Validate() error {
	if p.Start == 0 || p.Slots == 0 {
		return fmt.Errorf("user namespace id pool %d+%d×%d: it must start above 0 and have a slot: %w", p.Start, p.Slots, UsernsSize, errdefs.ErrInvalidArgument)
	}
	if end := uint64(p.Start) + uint64(p.Slots)*UsernsSize; end > 1<<32-1 {
		return fmt.Errorf("user namespace id pool %d+%d×%d ends past the host's highest id: %w", p.Start, p.Slots, UsernsSize, errdefs.ErrInvalidArgument)
	}
	return nil
}

// allocate returns the lowest slot of p that overlaps none of the ranges
// in use (a range recorded under another pool configuration counts
// wherever it lies). It is pure: the caller holds what makes used whole.
func (p IDPool) allocate(used []spec.IDMap) (spec.IDMap, error) {
	if err := p.Validate(); err != nil {
		return spec.IDMap{}, err
	}
	overlaps := func(a0, a1 uint64, m spec.IDMap) bool {
		for _, s := range []uint32{m.HostUID, m.HostGID} {
			b0, b1 := uint64(s), uint64(s)+uint64(m.Size)
			if a0 < b1 && b0 < a1 {
				return true
			}
		}
		return false
	}
next:
	for i := uint32(0); i < p.Slots; i++ {
		s0 := uint64(p.Start) + uint64(i)*UsernsSize
		s1 := s0 + UsernsSize
		for _, m := range used {
			if overlaps(s0, s1, m) {
				continue next
			}
		}
		return spec.IDMap{HostUID: uint32(s0), HostGID: uint32(s0), Size: UsernsSize}, nil
	}
	return spec.IDMap{}, fmt.Errorf("no free user namespace id range: all %d ranges of %d ids from %d are taken: %w", p.Slots, UsernsSize, p.Start, errdefs.ErrUnavailable)
}

// checkUserns refuses what a container in a user namespace of its own
// cannot have: the host's namespaces and all of its privileges, as
// dockerd refuses them under --userns-remap.
func checkUserns(h *HostConfig) error {
	if !h.PrivateUserns {
		return nil
	}
	bad := func(what string) error {
		return fmt.Errorf("a container in a user namespace of its own cannot %s: %w", what, errdefs.ErrInvalidArgument)
	}
	switch {
	case h.Privileged:
		return bad("be privileged")
	case h.UsernsMode == "host":
		return bad("also ask for the host's user namespace")
	case h.PidMode == "host":
		return bad("share the host's pid namespace")
	case h.NetworkMode == "host":
		return bad("share the host's network namespace")
	case h.UTSMode == "host":
		return bad("share the host's UTS namespace")
	}
	return nil
}

var validCgroupParent = regexp.MustCompile(`^(/[a-zA-Z0-9][a-zA-Z0-9_.-]*)+$`)

// checkCgroupParent accepts an absolute cgroup path of plain names.
func checkCgroupParent(p string) error {
	if p == "" {
		return nil
	}
	if !validCgroupParent.MatchString(p) || path.Clean(p) != p {
		return fmt.Errorf("invalid cgroup parent %q: an absolute path of names of letters, digits, '_', '.' and '-': %w", p, errdefs.ErrInvalidArgument)
	}
	return nil
}

// cgroupsPathOf is the runtime's cgroupsPath of c: /wharf/<id>, or
// <CgroupParent>/<id>.
func cgroupsPathOf(c *Container) string {
	if c.HostConfig.CgroupParent != "" {
		return path.Join(c.HostConfig.CgroupParent, c.ID)
	}
	return "/wharf/" + c.ID
}

// idMapsLocked are the id ranges held by containers, by creates in
// progress and by shared user namespaces; the caller holds e.mu.
func (e *Engine) idMapsLocked() []spec.IDMap {
	var out []spec.IDMap
	for _, en := range e.byID {
		if en.c.IDMap != nil {
			out = append(out, *en.c.IDMap)
		}
	}
	for start := range e.idReserved {
		out = append(out, spec.IDMap{HostUID: start, HostGID: start, Size: UsernsSize})
	}
	for _, sh := range e.shared {
		out = append(out, sh.m)
	}
	return out
}
