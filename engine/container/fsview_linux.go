package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/snapshot"
)

// viewFlags are the mount flags of a stopped container's private view:
// nothing in a container's files is run or opened as a device, nor gives
// privileges, through the daemon's view of them.
const viewFlags = snapshot.NoSuid | snapshot.NoDev | snapshot.NoExec

// A view of a container's files is an O_PATH handle on a directory that
// shows them:
//
//   - a running container's own view (with what the runtime and the user
//     mounted into it): its init's /proc/<pid>/root, opened through a
//     handle on /proc/<pid> after checking that the process is still in
//     the container's cgroup, so that a recycled pid cannot hand out some
//     other process's root;
//   - a running container's root filesystem without its mounts (export):
//     the overlay mounted at <dir>/rootfs;
//   - a stopped container: a private overlay mount of the image's layers
//     and the container's writable layer at <root>/fsviews/<id[:12]>-<rand>
//     (the directory and its parent 0700, the mount nosuid, nodev, noexec
//     and of private propagation, read-only unless the operation writes),
//     with the container's volumes and bind mounts attached below it for
//     the container's own view. It is taken down when the view closes; a
//     daemon that died with views open takes them down at its next start
//     (cleanupViews).
type view struct {
	root *os.File
	// mnt is the private mount point to take down, "" for none.
	mnt string
	e   *Engine
}

// viewOptions choose the kind of view.
type viewOptions struct {
	// mounts asks for the container's own view, with its volumes and bind
	// mounts; otherwise the root filesystem alone.
	mounts bool
	// readOnly: the operation only reads.
	readOnly bool
}

// overlayMagic is overlayfs's statfs f_type.
const overlayMagic = 0x794c7630

// viewsDir holds the private mounts of stopped containers' filesystems.
func (e *Engine) viewsDir() string { return filepath.Join(filepath.Dir(e.root), "fsviews") }

// openView opens a view of c's files. The caller holds c's op lock.
func (e *Engine) openView(ctx context.Context, c *Container, o viewOptions) (*view, error) {
	if c.State.Running() {
		if c.State.Pid <= 0 {
			// Never mount a second overlay on the layer of a container
			// whose runtime holds it.
			return nil, fmt.Errorf("container %s has no process: %w", c.ID, errdefs.ErrUnavailable)
		}
		if o.mounts {
			root, err := e.procRoot(c)
			if err != nil {
				return nil, err
			}
			return &view{root: root, e: e}, nil
		}
		root, err := os.OpenFile(e.RootfsPath(c.ID), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("root filesystem of container %s: %w", c.ID, err)
		}
		var fs unix.Statfs_t
		if err := unix.Fstatfs(int(root.Fd()), &fs); err != nil || fs.Type != overlayMagic {
			root.Close()
			return nil, fmt.Errorf("root filesystem of container %s is not mounted: %w", c.ID, errdefs.ErrUnavailable)
		}
		return &view{root: root, e: e}, nil
	}
	return e.mountView(ctx, c, o)
}

// procRoot opens the root directory of c's init process.
func (e *Engine) procRoot(c *Container) (*os.File, error) {
	proc, err := os.OpenFile("/proc/"+strconv.Itoa(c.State.Pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("process of container %s: %v: %w", c.ID, err, errdefs.ErrConflict)
	}
	defer proc.Close()
	// The handle pins this process: if it is not in the container's
	// cgroup, the pid was recycled after the container exited.
	cg, err := readAt(proc, "cgroup")
	if err != nil || !strings.Contains(cg, cgroupsPathOf(c)) {
		return nil, fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	fd, err := unix.Openat(int(proc.Fd()), "root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("root of container %s: %v: %w", c.ID, err, errdefs.ErrConflict)
	}
	return os.NewFile(uintptr(fd), "/"), nil
}

// readAt reads a small file in the directory handle d.
func readAt(d *os.File, name string) (string, error) {
	fd, err := unix.Openat(int(d.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<16))
	return string(b), err
}

// mountView mounts a stopped container's filesystem privately.
func (e *Engine) mountView(ctx context.Context, c *Container, o viewOptions) (*view, error) {
	layers, err := e.layers(ctx, c)
	if err != nil {
		return nil, err
	}
	dir := e.viewsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	mnt, err := os.MkdirTemp(dir, c.ID[:12]+"-")
	if err != nil {
		return nil, err
	}
	if err := e.rootfs.Mount(ctx, mnt, layers, viewFlags); err != nil {
		os.Remove(mnt)
		return nil, fmt.Errorf("mounting the filesystem of container %s: %w", c.ID, err)
	}
	v := &view{mnt: mnt, e: e}
	if err := unix.Mount("", mnt, "", unix.MS_PRIVATE, ""); err != nil {
		v.close()
		return nil, fmt.Errorf("remounting the filesystem of container %s: %w", c.ID, err)
	}
	v.root, err = os.OpenFile(mnt, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		v.close()
		return nil, err
	}
	if o.mounts {
		// Mount points are made (as the runtime makes them at start)
		// before the view turns read-only.
		if err := v.attachMounts(ctx, c, o.readOnly); err != nil {
			v.close()
			return nil, err
		}
	}
	if o.readOnly {
		const private = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
		if err := unix.Mount("", mnt, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|private, ""); err != nil {
			v.close()
			return nil, fmt.Errorf("remounting the filesystem of container %s: %w", c.ID, err)
		}
	}
	return v, nil
}

// attachMounts attaches c's volumes and bind mounts below the view's root,
// parents first, each nosuid, nodev, noexec, private, and read-only when
// the mount or the view is. The mounts are cloned and given their
// attributes detached, then moved onto a handle on the mount point, so no
// path inside the container is resolved by string.
func (v *view) attachMounts(ctx context.Context, c *Container, readOnly bool) error {
	mps := append([]MountPoint(nil), c.MountPoints...)
	sort.SliceStable(mps, func(i, j int) bool {
		return strings.Count(path.Clean(mps[i].Target), "/") < strings.Count(path.Clean(mps[j].Target), "/")
	})
	for _, mp := range mps {
		var src string
		switch mp.Type {
		case volume.TypeBind:
			src = mp.Source
		case volume.TypeVolume:
			if v.e.vols == nil {
				continue
			}
			vol, err := v.e.vols.Get(ctx, mp.Name)
			if err != nil {
				return err
			}
			src = vol.Mountpoint
		default:
			// A tmpfs holds nothing while the container is stopped.
			continue
		}
		fi, err := os.Stat(src)
		if err != nil {
			// The container cannot start either; show what it has.
			v.e.log.Warn("mount source missing for a copy", "container", c.ID, "source", src, "err", err)
			continue
		}
		err = v.attach(src, mp.Target, fi.IsDir(), readOnly || mp.ReadOnly)
		if errors.Is(err, unix.ENOSYS) {
			// Kernels before 5.12 lack mount_setattr: the copy sees
			// the root filesystem alone, as it did before volumes.
			v.e.log.Warn("this kernel cannot attach volumes to a copy", "container", c.ID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("mounting %s at %s for the copy: %w", src, mp.Target, err)
		}
	}
	return nil
}

func (v *view) attach(src, target string, dir, readOnly bool) error {
	var at *os.File
	var err error
	if dir {
		at, err = pathrs.MkdirAllHandle(v.root, target, 0o755)
	} else {
		at, err = mkfileHandle(v.root, target)
	}
	if err != nil {
		return err
	}
	defer at.Close()
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC, Propagation: unix.MS_PRIVATE}
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return err
	}
	return unix.MoveMount(tree, "", int(at.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
}

// mkfileHandle returns a handle on the file at p inside root, creating it
// (and its parents) if missing, as a mount point for a file.
func mkfileHandle(root *os.File, p string) (*os.File, error) {
	parent, err := pathrs.MkdirAllHandle(root, path.Dir(path.Clean("/"+p)), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	base := path.Base(path.Clean("/" + p))
	fd, err := unix.Openat(int(parent.Fd()), base, unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o755)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), base), nil
}

// close releases the view and takes down its private mounts.
func (v *view) close() {
	if v.root != nil {
		v.root.Close()
	}
	if v.mnt == "" {
		return
	}
	// Volumes attached below make a plain unmount busy; Unmount then
	// detaches the whole tree.
	if err := v.e.rootfs.Unmount(context.Background(), v.mnt); err != nil {
		v.e.log.Error("unmounting a container filesystem view", "dir", v.mnt, "err", err)
		return
	}
	if err := os.Remove(v.mnt); err != nil {
		v.e.log.Warn("removing a container filesystem view", "dir", v.mnt, "err", err)
	}
}

// cleanupViews takes down the views a daemon that died left mounted.
func (e *Engine) cleanupViews() {
	ents, err := os.ReadDir(e.viewsDir())
	if err != nil {
		return
	}
	for _, d := range ents {
		p := filepath.Join(e.viewsDir(), d.Name())
		for range 16 { // stacked mounts, if any
			if unix.Unmount(p, unix.MNT_DETACH) != nil {
				break
			}
		}
		if err := os.Remove(p); err != nil {
			e.log.Warn("removing a stale container filesystem view", "dir", p, "err", err)
		}
	}
}

// lookup opens the file at the client's path p (an O_PATH handle) and
// describes it. The last component is followed only when p ends in "/"
// or "/.".
func (v *view) lookup(p string) (*os.File, *PathStat, error) {
	clean, follow := splitPath(p)
	var f *os.File
	var err error
	if follow {
		f, err = pathrs.OpenatInRoot(v.root, clean)
	} else {
		var parent *os.File
		parent, err = pathrs.OpenatInRoot(v.root, path.Dir(clean))
		if err == nil {
			f, err = openPath(parent, path.Base(clean))
			parent.Close()
		}
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	st := &PathStat{Name: tarPrefix(p, clean), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&os.ModeSymlink != 0 {
		st.LinkTarget, _ = v.resolve(clean)
	}
	return f, st, nil
}

// resolve evaluates every symlink of the clean absolute path p inside the
// view, as far as the path exists, and returns the path it names inside
// the container (dockerd's FollowSymlinkInScope). Only the walk is
// securejoin's: each step is looked up through the view's handle.
func (v *view) resolve(p string) (string, error) {
	return securejoin.SecureJoinVFS("/", p, fdVFS{v.root})
}

// fdVFS answers securejoin's lookups inside a root handle.
type fdVFS struct{ root *os.File }

func (fs fdVFS) open(name string) (*os.File, error) {
	clean := path.Clean("/" + name)
	if clean == "/" {
		return dupFile(fs.root)
	}
	parent, err := pathrs.OpenatInRoot(fs.root, path.Dir(clean))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	return openPath(parent, path.Base(clean))
}

func (fs fdVFS) Lstat(name string) (os.FileInfo, error) {
	f, err := fs.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

func (fs fdVFS) Readlink(name string) (string, error) {
	f, err := fs.open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return readlinkFd(f)
}

// openPath opens base in the directory handle dir as an O_PATH handle on
// whatever is there, a symlink itself included: opening it has no effect
// on devices or fifos, and its fstat tells what it is.
func openPath(dir *os.File, base string) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "openat", Path: base, Err: err}
	}
	return os.NewFile(uintptr(fd), base), nil
}

// readlinkFd reads the symlink an O_PATH|O_NOFOLLOW handle refers to.
func readlinkFd(f *os.File) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(int(f.Fd()), "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// dupFile returns a second handle on f's open file.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// frozenMarker, in a container's directory, says the daemon froze the
// container for a copy; a daemon that died before thawing it finds it at
// its next start (thawAfterCrash).
const frozenMarker = "frozen-for-copy"

// freeze freezes a running container for a copy into it and returns the
// function that thaws it. A container the user paused stays as it is. The
// record keeps saying "running": the freeze is not a pause of the user's,
// and emits no events.
func (e *Engine) freeze(ctx context.Context, c *Container) (func(), error) {
	if c.State.Status == StatusPaused {
		return func() {}, nil
	}
	rt, err := e.runtime(c)
	if err != nil {
		return nil, err
	}
	marker := filepath.Join(e.dir(c.ID), frozenMarker)
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return nil, err
	}
	// Not cancelled with the request: a runtime killed half-way could
	// leave the container frozen.
	ctx = context.WithoutCancel(ctx)
	if err := rt.Pause(ctx, c.ID); err != nil {
		_ = rt.Resume(ctx, c.ID)
		os.Remove(marker)
		return nil, fmt.Errorf("freezing container %s for the copy: %v: %w", c.ID, err, errdefs.ErrUnavailable)
	}
	return func() {
		if err := rt.Resume(ctx, c.ID); err != nil {
			e.log.Error("thawing a container after a copy", "container", c.ID, "err", err)
			return
		}
		os.Remove(marker)
	}, nil
}

// thawAfterCrash thaws a re-adopted container that a daemon froze for a
// copy and died before thawing.
func (e *Engine) thawAfterCrash(ctx context.Context, c *Container) {
	marker := filepath.Join(e.dir(c.ID), frozenMarker)
	if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
		return
	}
	if rt := e.runtimes[c.Runtime]; rt != nil && c.State.Status == StatusRunning {
		if err := rt.Resume(ctx, c.ID); err != nil {
			e.log.Warn("thawing a container frozen for a copy", "container", c.ID, "err", err)
		}
	}
	os.Remove(marker)
}
