package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

// Changes lists the container's writable layer against its image, in
// path order: a whiteout (a 0/0 character device) is a deletion, a path
// one of the image's layers has is a modification, any other an addition.
//
// The writable layer is walked through directory handles without following
// symlinks, and each image layer is walked beside it the same way, so a
// running container renaming directories and symlinks meanwhile cannot
// make the daemon list or probe host paths.
func (e *Engine) Changes(ctx context.Context, ref string) ([]Change, error) {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	img, err := e.images.Get(ctx, c.ImageID)
	if err != nil {
		return nil, fmt.Errorf("image of container %s: %w", c.ID, err)
	}
	dirs, err := e.images.LayerDirs(ctx, img)
	if err != nil {
		return nil, err
	}
	out := []Change{}
	upper, err := os.OpenFile(filepath.Join(e.dir(c.ID), "upper"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil // never started, nothing written yet
	}
	if err != nil {
		return nil, err
	}
	defer upper.Close()
	var lowers []*os.File
	defer func() {
		for _, l := range lowers {
			l.Close()
		}
	}()
	for _, d := range dirs {
		l, err := os.OpenFile(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		lowers = append(lowers, l)
	}
	w := changeWalker{ctx: ctx, out: out}
	if err := w.dir(upper, lowers, "/", 0); err != nil {
		return nil, err
	}
	return w.out, nil
}

type changeWalker struct {
	ctx context.Context
	out []Change
}

// dir lists the directory d of the writable layer at path p; lowers are
// the image layers' directories at the same path.
func (w *changeWalker) dir(d *os.File, lowers []*os.File, p string, depth int) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if depth >= maxTreeDepth {
		return fmt.Errorf("%s: directories nested deeper than %d: %w", p, maxTreeDepth, errdefs.ErrInvalidArgument)
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(int(d.Fd()), n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return err
		}
		kind := ChangeAdd
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0:
			kind = ChangeDelete
		case inAny(lowers, n):
			kind = ChangeModify
		}
		child := path.Join(p, n)
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if kind != ChangeDelete && daemonFiles[child] {
			continue
		}
		at := len(w.out)
		w.out = append(w.out, Change{Path: child, Kind: kind})
		if !isDir {
			continue
		}
		fd, err := unix.Openat(int(d.Fd()), n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				continue // replaced meanwhile
			}
			return err
		}
		sub := os.NewFile(uintptr(fd), child)
		var subLowers []*os.File
		for _, l := range lowers {
			if fd, err := unix.Openat(int(l.Fd()), n, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
				subLowers = append(subLowers, os.NewFile(uintptr(fd), child))
			}
		}
		err = w.dir(sub, subLowers, child, depth+1)
		sub.Close()
		for _, l := range subLowers {
			l.Close()
		}
		if err != nil {
			return err
		}
		if kind != ChangeDelete && initDirs[child] {
			// Listed only when something under it is, and then as
			// modified, as against dockerd's init layer (below).
			if len(w.out) == at+1 {
				w.out = w.out[:at]
			} else {
				w.out[at].Kind = ChangeModify
			}
		}
	}
	return nil
}

// The mount points the runtime creates in a container's writable layer
// are the daemon's, not changes the container made. dockerd keeps them in
// an "init" layer between the image and the container's layer
// (daemon/initlayer), so its diff never lists them: /etc/hosts,
// /etc/hostname and /etc/resolv.conf, which the daemon bind-mounts, and
// the directories /dev, /proc, /sys and /etc that hold mount points,
// which it lists only as modified when the container changed something
// inside them. Both lists were checked with docker diff against dockerd
// 20.10 on an image without /etc.
var (
	daemonFiles = map[string]bool{"/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true}
	initDirs    = map[string]bool{"/dev": true, "/proc": true, "/sys": true, "/etc": true}
)

// inAny reports whether any of the directories has an entry named n.
func inAny(dirs []*os.File, n string) bool {
	var st unix.Stat_t
	for _, d := range dirs {
		if unix.Fstatat(int(d.Fd()), n, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			return true
		}
	}
	return false
}
