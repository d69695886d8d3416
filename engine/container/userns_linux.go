package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/containerd/containerd/v2/core/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/spec"
)

// idmapDir is where a start attaches the idmapped clones of a user
// namespace container's layers and bind sources, under the container's
// directory; they are detached once the overlay is mounted (layers) or
// the runtime has started the container (binds).
func (e *Engine) idmapDir(id string) string { return filepath.Join(e.dir(id), "idmap") }

// usernsFD returns a file holding a user namespace with the mapping m,
// for mount_setattr; the namespace lives as long as the file.
func usernsFD(m spec.IDMap) (*os.File, error) {
	uid := "0:" + strconv.FormatUint(uint64(m.HostUID), 10) + ":" + strconv.FormatUint(uint64(m.Size), 10)
	gid := "0:" + strconv.FormatUint(uint64(m.HostGID), 10) + ":" + strconv.FormatUint(uint64(m.Size), 10)
	f, err := mount.GetUsernsFD(uid, gid)
	if err != nil {
		return nil, fmt.Errorf("user namespace for the id mapping: %v: %w", err, errdefs.ErrUnavailable)
	}
	return f, nil
}

// idmapped attaches an idmapped clone of each source (directory or file)
// under the container's idmap directory, named prefix<i>, and returns
// their paths. An error names the source the kernel refused: a
// filesystem that cannot be idmapped, or a kernel without idmapped
// mounts; the container then does not start, it never runs with the
// host's ids instead.
func (e *Engine) idmapped(id string, m spec.IDMap, prefix string, srcs []string) ([]string, error) {
	if len(srcs) == 0 {
		return nil, nil
	}
	ns, err := usernsFD(m)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	dir := e.idmapDir(id)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(srcs))
	for i, src := range srcs {
		target := filepath.Join(dir, prefix+strconv.Itoa(i))
		_ = unix.Unmount(target, unix.MNT_DETACH)
		fi, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			err = os.MkdirAll(target, 0o711)
		} else {
			var f *os.File
			if f, err = os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
				f.Close()
			}
		}
		if err != nil {
			return nil, err
		}
		if err := mount.IDMapMount(src, target, int(ns.Fd())); err != nil {
			return nil, fmt.Errorf("idmapped mount of %s for a container in a user namespace (the filesystem or the kernel cannot idmap it): %v: %w", src, err, errdefs.ErrInvalidArgument)
		}
		out = append(out, target)
	}
	return out, nil
}

// releaseIdmapped detaches every idmapped clone of the container and
// removes the directory that held them: the overlay and the container's
// mount namespace keep what they took of them.
func (e *Engine) releaseIdmapped(id string) {
	dir := e.idmapDir(id)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, d := range ents {
		p := filepath.Join(dir, d.Name())
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			e.log.Warn("detaching an idmapped mount", "container", id, "path", p, "err", err)
		}
		_ = os.Remove(p)
	}
	_ = os.Remove(dir)
}

// prepareUserns readies the directories of a container in a user
// namespace: its root must reach them (the runtime mounts the root
// filesystem from inside the namespace), its root owns the top of the
// writable layer and the files bound over /etc, and every directory above
// the daemon's root must be searchable by others.
func (e *Engine) prepareUserns(c *Container) error {
	m := c.IDMap
	for _, d := range []string{e.root, e.dir(c.ID)} {
		if err := os.Chmod(d, 0o711); err != nil {
			return err
		}
	}
	// The daemon's root too, as dockerd makes its root 0711 under
	// --userns-remap; the directories above it are the host's to open.
	daemonRoot := filepath.Dir(e.root)
	if fi, err := os.Stat(daemonRoot); err == nil && fi.Mode().Perm()&0o001 == 0 {
		if err := os.Chmod(daemonRoot, fi.Mode().Perm()|0o011); err != nil {
			return err
		}
	}
	for d := daemonRoot; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("container in a user namespace: %s (mode %#o) is not searchable by the container's root, host uid %d; make it searchable (chmod o+x) or put the daemon's --root elsewhere: %w",
				d, fi.Mode().Perm(), m.HostUID, errdefs.ErrUnavailable)
		}
		if d == "/" || d == "." {
			break
		}
	}
	for _, p := range []string{filepath.Join(e.dir(c.ID), "upper"), filepath.Join(e.dir(c.ID), "rootfs")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Lchown(p, int(m.HostUID), int(m.HostGID)); err != nil {
			return err
		}
	}
	return nil
}

// chownEtcFiles gives the container's root the files bound over its
// /etc, as dockerd does under --userns-remap.
func (e *Engine) chownEtcFiles(c *Container, mounts []specs.Mount) error {
	for _, mt := range mounts {
		if filepath.Dir(mt.Source) == e.dir(c.ID) {
			if err := os.Lchown(mt.Source, int(c.IDMap.HostUID), int(c.IDMap.HostGID)); err != nil {
				return err
			}
		}
	}
	return nil
}

// idmapBinds replaces the sources of the bind mounts (binds and volumes)
// of a user namespace container with idmapped clones.
func (e *Engine) idmapBinds(c *Container, mounts []specs.Mount) error {
	var srcs []string
	var idx []int
	for i, mt := range mounts {
		if mt.Type == "bind" {
			srcs = append(srcs, mt.Source)
			idx = append(idx, i)
		}
	}
	paths, err := e.idmapped(c.ID, *c.IDMap, "bind", srcs)
	if err != nil {
		return err
	}
	for j, i := range idx {
		mounts[i].Source = paths[j]
	}
	return nil
}

// usernsLayers readies the directories of a user namespace container and
// returns idmapped clones of its image's layers, to mount the overlay on.
func (e *Engine) usernsLayers(c *Container, lowers []string) ([]string, error) {
	if err := e.prepareUserns(c); err != nil {
		return nil, err
	}
	out, err := e.idmapped(c.ID, *c.IDMap, "layer", lowers)
	if err != nil {
		e.releaseIdmapped(c.ID)
		return nil, err
	}
	return out, nil
}

// usernsMounts gives the container's root its /etc files (etc) and
// idmaps its bind mounts and volumes (user).
func (e *Engine) usernsMounts(c *Container, etc, user []specs.Mount) error {
	if err := e.chownEtcFiles(c, etc); err != nil {
		return err
	}
	return e.idmapBinds(c, user)
}

// usernsPin is where the user namespace owning a container's network
// namespace is pinned (a bind mount of its ns file) while the container
// has it.
func (e *Engine) usernsPin(id string) string { return filepath.Join(e.dir(id), "userns") }

// usernsNetNS creates, for a container in a user namespace of its own on
// a bridge network, a user namespace with the container's mapping and a
// network namespace owned by it: runc 1.1 joins a container's user
// namespace before its other namespaces when it execs, and could not
// join a network namespace owned by the host's user namespace from
// there. The user namespace is pinned at usernsPin; the network
// namespace is returned as a /proc ns file to pin (network.Setup pins
// it) before done is called.
func (e *Engine) usernsNetNS(c *Container) (netns string, done func(), err error) {
	e.unpinUserns(c.ID)
	netns, done, err = e.holderNS(*c.IDMap, e.usernsPin(c.ID), true)
	if err != nil {
		return "", nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	return netns, done, nil
}

// holderNS starts a process in a new user namespace with the mapping m
// (and, with withNet, a new network namespace owned by it), pins the user
// namespace at pin (replacing what was pinned there) and returns the
// network namespace as a /proc ns file, valid until done is called (""
// without withNet). The process stops at its execve (it is traced) and
// never runs code: its namespaces are all that is wanted of it, as
// containerd's GetUsernsFD does.
func (e *Engine) holderNS(m spec.IDMap, pin string, withNet bool) (netns string, done func(), err error) {
	flags := uintptr(unix.CLONE_NEWUSER)
	if withNet {
		flags |= unix.CLONE_NEWNET
	}
	proc, err := os.StartProcess("/proc/self/exe", []string{"wharf-userns-holder"}, &os.ProcAttr{Sys: &syscall.SysProcAttr{
		Cloneflags:  flags,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.HostUID), Size: int(m.Size)}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.HostGID), Size: int(m.Size)}},
		Ptrace:      true,
		Pdeathsig:   syscall.SIGKILL,
	}})
	if err != nil {
		return "", nil, fmt.Errorf("user namespace with the range from %d: %v: %w", m.HostUID, err, errdefs.ErrUnavailable)
	}
	done = func() {
		_ = proc.Kill()
		_, _ = proc.Wait()
	}
	if err := pinNS(fmt.Sprintf("/proc/%d/ns/user", proc.Pid), pin); err != nil {
		done()
		return "", nil, fmt.Errorf("pinning a user namespace: %w", err)
	}
	if !withNet {
		return "", done, nil
	}
	return fmt.Sprintf("/proc/%d/ns/net", proc.Pid), done, nil
}

// pinNS bind mounts the namespace file ns at pin, detaching whatever was
// mounted there.
func pinNS(ns, pin string) error {
	for unix.Unmount(pin, unix.MNT_DETACH) == nil {
	}
	f, err := os.OpenFile(pin, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	return unix.Mount(ns, pin, "", unix.MS_BIND, "")
}

// pinned reports whether a namespace is pinned at path.
func pinned(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// sharedUsernsPath returns the pinned shared user namespace a container
// of the share joins at its start, making and pinning it first when
// nothing is pinned (the host restarted, or no network namespace was
// made for the share: the container makes its own inside it).
func (e *Engine) sharedUsernsPath(c *Container) (string, error) {
	name := c.HostConfig.UsernsShare
	pin := e.sharedPin(name)
	if pinned(pin) {
		return pin, nil
	}
	e.mu.Lock()
	_, ok := e.shared[name]
	e.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("container %s: its shared user namespace %s was released: %w", c.ID, name, errdefs.ErrNotFound)
	}
	_, done, err := e.holderNS(*c.IDMap, pin, false)
	if err != nil {
		return "", fmt.Errorf("shared user namespace %s: %w", name, err)
	}
	done()
	return pin, nil
}

// unpinShared releases the pinned shared user namespace name, if any.
func (e *Engine) unpinShared(name string) {
	pin := e.sharedPin(name)
	for {
		err := unix.Unmount(pin, unix.MNT_DETACH)
		if err == nil {
			continue
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			e.log.Warn("unpinning a shared user namespace", "userns", name, "err", err)
		}
		break
	}
	_ = os.Remove(pin)
}

// unpinUserns releases the pinned user namespace of a container, if any.
func (e *Engine) unpinUserns(id string) {
	pin := e.usernsPin(id)
	if err := unix.Unmount(pin, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		e.log.Warn("unpinning a user namespace", "container", id, "err", err)
	}
	_ = os.Remove(pin)
}
