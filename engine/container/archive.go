package container

// Copying files into and out of a container (docker cp), exporting its
// root filesystem and listing its changes.
//
// Every operation works on a view of the container's files (fsview_linux.go)
// reached through an O_PATH handle on its root, never through a path string
// the daemon resolves: a running container can swap any component of any
// path for a symlink at any moment, and an absolute symlink met while the
// daemon (root, in the host's mount namespace) walks a path string resolves
// against the host's root. So every lookup goes through openat2 with
// RESOLVE_IN_ROOT (filepath-securejoin's pathrs-lite), every entry of a
// walk is opened relative to its already-open parent without following
// symlinks, and extraction is image/unpack's fd-based extractor.
//
// A view holds the container's operation lock (entry.op) while it exists,
// as dockerd holds the container's lock until a copy's archive is read: the
// container is neither started, stopped nor removed under a copy, and a
// stopped container's private overlay mount never meets the runtime's.
// Extraction into a running container also freezes it (cgroup freezer) for
// its duration, so the container cannot move the ground under the copy; a
// container the user paused stays paused.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/unpack"
)

// PathStat describes one file of a container's filesystem.
type PathStat struct {
	Name  string
	Size  int64
	Mode  os.FileMode
	Mtime time.Time
	// LinkTarget is, for a symlink, the absolute path inside the container
	// that the link resolves to (as far as it exists), as dockerd reports it.
	LinkTarget string
}

// Archive is a tar stream of a container's files that has not been read
// yet. Stream writes it (once); Close releases the container, and must be
// called whether or not Stream was.
type Archive struct {
	// Stat describes the archived path; nil for an export.
	Stat *PathStat

	top    *os.File // the archived file or directory (O_PATH)
	prefix string   // tar name of top
	oneFS  bool     // skip what is mounted below top (export)
	close  func()
	once   sync.Once
}

// Stream writes the archive to w. It stops at the first write error (a
// client that went away) or when ctx ends.
func (a *Archive) Stream(ctx context.Context, w io.Writer) error {
	return writeTree(ctx, w, a.top, a.prefix, a.oneFS)
}

// Close releases the view of the container's files and the container.
func (a *Archive) Close() error {
	a.once.Do(func() {
		a.top.Close()
		a.close()
	})
	return nil
}

// ExtractOptions are docker cp's options for copying into a container.
type ExtractOptions struct {
	// KeepOwners keeps the uid and gid the archive records (copyUIDGID);
	// otherwise everything copied in belongs to root.
	KeepOwners bool
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the reverse.
	NoOverwriteDirNonDir bool
}

// ChangeKind says how a path differs from the container's image.
type ChangeKind int

// Kinds of change.
const (
	ChangeModify ChangeKind = iota
	ChangeAdd
	ChangeDelete
)

// Change is one path of a container's writable layer.
type Change struct {
	Path string
	Kind ChangeKind
}

// errFileNotFound is dockerd's error for a missing path.
func errFileNotFound(p string, c *Container) error {
	return fmt.Errorf("Could not find the file %s in container %s: %w", p, c.Name, errdefs.ErrNotFound)
}

// lockForFS looks a container up and takes its operation lock for a view
// of its files. The caller unlocks en.op.
func (e *Engine) lockForFS(ref string) (*entry, *Container, error) {
	en, err := e.lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	en.op.Lock()
	st, _, removed := e.snapshot(en)
	if removed {
		en.op.Unlock()
		return nil, nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	if st.Status == StatusRemoving || st.Status == StatusDead {
		en.op.Unlock()
		return nil, nil, fmt.Errorf("container %s is %s: %w", en.c.ID, st.Status, errdefs.ErrConflict)
	}
	e.mu.Lock()
	c := en.c.clone()
	e.mu.Unlock()
	return en, c, nil
}

// splitPath cleans a client's path inside the container and reports
// whether its last component is to be followed: docker follows it when
// the path ends in "/" or "/." ("the directory itself, not a link to it").
func splitPath(p string) (clean string, follow bool) {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	clean = path.Clean(p)
	return clean, clean == "/" || strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.")
}

// tarPrefix is the name of the archived path inside the tar, as dockerd
// names it: the base name, "." for "dir/." (the directory's contents), and
// "/" for the root.
func tarPrefix(p, clean string) string {
	if clean == "/" {
		return "/"
	}
	if strings.HasSuffix(p, "/.") {
		return "."
	}
	return path.Base(clean)
}

// StatPath describes the file at p in the container; a missing file is
// errdefs.ErrNotFound.
func (e *Engine) StatPath(ctx context.Context, ref, p string) (*PathStat, error) {
	en, c, err := e.lockForFS(ref)
	if err != nil {
		return nil, err
	}
	defer en.op.Unlock()
	v, err := e.openView(ctx, c, viewOptions{mounts: true, readOnly: true})
	if err != nil {
		return nil, err
	}
	defer v.close()
	f, st, err := v.lookup(p)
	if err != nil {
		return nil, mapLookupErr(err, p, c)
	}
	f.Close()
	return st, nil
}

// ArchivePath opens a tar stream of the file or directory at p in the
// container, as the container sees it (with its volumes). The container
// stays locked until the Archive is closed.
func (e *Engine) ArchivePath(ctx context.Context, ref, p string) (*Archive, error) {
	en, c, err := e.lockForFS(ref)
	if err != nil {
		return nil, err
	}
	v, err := e.openView(ctx, c, viewOptions{mounts: true, readOnly: true})
	if err != nil {
		en.op.Unlock()
		return nil, err
	}
	release := func() {
		v.close()
		en.op.Unlock()
	}
	f, st, err := v.lookup(p)
	if err != nil {
		release()
		return nil, mapLookupErr(err, p, c)
	}
	clean, _ := splitPath(p)
	e.publish(c, "archive-path", nil)
	return &Archive{Stat: st, top: f, prefix: tarPrefix(p, clean), close: release}, nil
}

// Export opens a tar stream of the container's whole root filesystem,
// without what is mounted into it. The container stays locked until the
// Archive is closed.
func (e *Engine) Export(ctx context.Context, ref string) (*Archive, error) {
	en, c, err := e.lockForFS(ref)
	if err != nil {
		return nil, err
	}
	v, err := e.openView(ctx, c, viewOptions{readOnly: true})
	if err != nil {
		en.op.Unlock()
		return nil, err
	}
	top, err := dupFile(v.root)
	if err != nil {
		v.close()
		en.op.Unlock()
		return nil, err
	}
	e.publish(c, "export", nil)
	return &Archive{top: top, oneFS: true, close: func() {
		v.close()
		en.op.Unlock()
	}}, nil
}

// ExtractToDir extracts the uncompressed tar read from r into the
// directory at p in the container (symlinks followed, inside the
// container). A running container is frozen meanwhile.
func (e *Engine) ExtractToDir(ctx context.Context, ref, p string, r io.Reader, o ExtractOptions) error {
	en, c, err := e.lockForFS(ref)
	if err != nil {
		return err
	}
	defer en.op.Unlock()
	if c.State.Running() {
		thaw, err := e.freeze(ctx, c)
		if err != nil {
			return err
		}
		defer thaw()
	}
	v, err := e.openView(ctx, c, viewOptions{mounts: true})
	if err != nil {
		return err
	}
	defer v.close()
	clean, _ := splitPath(p)
	dest, err := v.resolve(clean)
	if err != nil {
		return mapLookupErr(err, p, c)
	}
	f, st, err := v.lookup(dest + "/")
	if err != nil {
		return mapLookupErr(err, p, c)
	}
	f.Close()
	if !st.Mode.IsDir() {
		return fmt.Errorf("extraction point is not a directory: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkWritable(c, dest); err != nil {
		return err
	}
	err = unpack.Extract(ctx, v.root, r, unpack.ExtractOptions{Dir: dest, KeepOwners: o.KeepOwners, NoOverwriteDirNonDir: o.NoOverwriteDirNonDir})
	if errors.Is(err, unix.EROFS) {
		return fmt.Errorf("%v: %w", err, errdefs.ErrForbidden)
	}
	if err == nil {
		e.publish(c, "extract-to-dir", nil)
	}
	return err
}

// checkWritable refuses a destination on a read-only volume or bind mount
// or, outside them, on a read-only root filesystem, as dockerd does. dest
// is a resolved path inside the container.
func checkWritable(c *Container, dest string) error {
	best := -1
	for i, mp := range c.MountPoints {
		if mp.Type != volume.TypeBind && mp.Type != volume.TypeVolume {
			continue
		}
		if dest == mp.Target || strings.HasPrefix(dest, strings.TrimSuffix(mp.Target, "/")+"/") {
			if best < 0 || len(mp.Target) > len(c.MountPoints[best].Target) {
				best = i
			}
		}
	}
	if best >= 0 {
		if c.MountPoints[best].ReadOnly {
			return fmt.Errorf("mounted volume is marked read-only: %w", errdefs.ErrForbidden)
		}
		return nil
	}
	if c.HostConfig.ReadonlyRootfs {
		return fmt.Errorf("container rootfs is marked read-only: %w", errdefs.ErrForbidden)
	}
	return nil
}

// mapLookupErr turns a failed lookup of p into dockerd's errors.
func mapLookupErr(err error, p string, c *Container) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return errFileNotFound(p, c)
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("too many levels of symbolic links in %s: %w", p, errdefs.ErrInvalidArgument)
	}
	return err
}
