package fake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/snapshot"
)

// RootFS is a snapshot.Mounter that needs no privilege. Mount copies the
// layers, bottom first and the upper layer last, into the target
// directory, applying whiteouts and opaque directories as overlayfs does;
// Unmount writes what changed under the target back into the upper layer
// (a changed or new file or directory is copied up, a removed one gets a
// whiteout) and empties the target. So the layers end up as a kernel
// overlay would leave them, with two differences a test can see: changes
// reach the upper layer when the target is unmounted rather than when
// they are made, and flags are recorded but not enforced (the copy is an
// ordinary directory).
//
// Whiteouts are read in both forms, overlayfs's (a 0/0 character device,
// as image/unpack writes them) and OCI's (a ".wh.<name>" file), and
// written in the OCI form, which needs no privilege to create; opaque
// directories likewise (the trusted.overlay.opaque attribute, or a
// ".wh..wh..opq" file).
//
// The mount table is the RootFS's: one RootFS is one host's kernel, and a
// restarted daemon on that host uses the same one (Host.RootFS).
type RootFS struct {
	mu     sync.Mutex
	mounts map[string]mount
}

type mount struct {
	layers snapshot.Layers
	flags  snapshot.Flags
}

// NewRootFS returns a RootFS with nothing mounted.
func NewRootFS() *RootFS { return &RootFS{mounts: map[string]mount{}} }

const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh..opq"
)

// Mount implements snapshot.Mounter.
func (r *RootFS) Mount(_ context.Context, target string, l snapshot.Layers, f snapshot.Flags) error {
	target = filepath.Clean(target)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.mounts[target]; ok {
		return fmt.Errorf("fake mount %s: already mounted: %w", target, errdefs.ErrConflict)
	}
	ents, err := os.ReadDir(target)
	if err != nil {
		return fmt.Errorf("fake mount %s: %w", target, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("fake mount %s: the target is not empty: %w", target, errdefs.ErrInvalidArgument)
	}
	for _, d := range []string{l.Upper, l.Work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("fake mount: %w", err)
		}
	}
	for _, layer := range append(append([]string{}, l.Lowers...), l.Upper) {
		if err := applyLayer(target, layer); err != nil {
			_ = clearDir(target)
			return fmt.Errorf("fake mount %s: layer %s: %w", target, layer, err)
		}
	}
	r.mounts[target] = mount{layers: l, flags: f}
	return nil
}

// Unmount implements snapshot.Mounter.
func (r *RootFS) Unmount(_ context.Context, target string) error {
	target = filepath.Clean(target)
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.mounts[target]
	if !ok {
		return nil
	}
	if err := r.unmountLocked(target, m); err != nil {
		return fmt.Errorf("fake unmount %s: %w", target, err)
	}
	return nil
}

func (r *RootFS) unmountLocked(target string, m mount) error {
	if m.flags&snapshot.ReadOnly == 0 {
		if err := writeBack(target, m.layers); err != nil {
			return err
		}
	}
	delete(r.mounts, target)
	return clearDir(target)
}

// Mounted reports whether target is mounted.
func (r *RootFS) Mounted(target string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.mounts[filepath.Clean(target)]
	return ok
}

// unmountAll takes every mount down, as a host going down does: the
// changes are kept (a kernel overlay has them in its upper layer already).
func (r *RootFS) unmountAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for target, m := range r.mounts {
		_ = r.unmountLocked(target, m)
	}
}

// writeBack records the differences between target and the merged lower
// layers in a fresh upper layer.
func writeBack(target string, l snapshot.Layers) error {
	lower := filepath.Join(l.Work, "fake-lower")
	if err := os.RemoveAll(lower); err != nil {
		return err
	}
	if err := os.Mkdir(lower, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(lower)
	for _, layer := range l.Lowers {
		if err := applyLayer(lower, layer); err != nil {
			return err
		}
	}
	if err := clearDir(l.Upper); err != nil {
		return err
	}
	return diffInto(target, lower, l.Upper)
}

// applyLayer applies the layer directory src onto dst.
func applyLayer(dst, src string) error {
	return applyDir(dst, src)
}

func applyDir(dst, src string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if isOpaque(src, ents) {
		if err := clearDir(dst); err != nil {
			return err
		}
	}
	for _, ent := range ents {
		name := ent.Name()
		s, d := filepath.Join(src, name), filepath.Join(dst, name)
		if name == whOpaque {
			continue
		}
		if strings.HasPrefix(name, whPrefix) {
			if err := os.RemoveAll(filepath.Join(dst, strings.TrimPrefix(name, whPrefix))); err != nil {
				return err
			}
			continue
		}
		fi, err := os.Lstat(s)
		if err != nil {
			return err
		}
		if isWhiteoutDev(fi) {
			if err := os.RemoveAll(d); err != nil {
				return err
			}
			continue
		}
		if fi.IsDir() {
			if di, err := os.Lstat(d); err == nil && !di.IsDir() {
				if err := os.Remove(d); err != nil {
					return err
				}
			}
			// Writable while its entries go in; copyMeta gives it
			// its mode after.
			if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if err := os.Chmod(d, 0o700); err != nil {
				return err
			}
			if err := applyDir(d, s); err != nil {
				return err
			}
			if err := copyMeta(d, fi); err != nil {
				return err
			}
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := copyEntry(d, s, fi); err != nil {
			return err
		}
	}
	return nil
}

func isOpaque(dir string, ents []os.DirEntry) bool {
	for _, e := range ents {
		if e.Name() == whOpaque {
			return true
		}
	}
	buf := make([]byte, 1)
	n, err := unix.Lgetxattr(dir, "trusted.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

func isWhiteoutDev(fi os.FileInfo) bool {
	if fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// copyEntry copies the non-directory src (lstat'ed as fi) to the missing
// path dst.
func copyEntry(dst, src string, fi os.FileInfo) error {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case fi.Mode().IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	default:
		// Devices, fifos and sockets: an empty file stands in for
		// them; the fake never opens them.
		if err := os.WriteFile(dst, nil, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return copyMeta(dst, fi)
}

// copyMeta gives dst the mode, owner (as far as allowed) and times of fi.
func copyMeta(dst string, fi os.FileInfo) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st != nil {
		if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, fs.ErrPermission) {
			return err
		}
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		if err := os.Chmod(dst, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
			return err
		}
	}
	if st != nil {
		ts := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

// diffInto writes into upper what differs between the directories merged
// and lower: changed and new entries are copied, missing ones get a
// whiteout.
func diffInto(merged, lower, upper string) error {
	ents, err := os.ReadDir(merged)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, ent := range ents {
		name := ent.Name()
		present[name] = true
		m, l, u := filepath.Join(merged, name), filepath.Join(lower, name), filepath.Join(upper, name)
		mi, err := os.Lstat(m)
		if err != nil {
			return err
		}
		li, lerr := os.Lstat(l)
		if mi.IsDir() {
			if lerr == nil && li.IsDir() {
				if err := os.Mkdir(u, 0o700); err != nil {
					return err
				}
				if err := diffInto(m, l, u); err != nil {
					return err
				}
				if err := copyMeta(u, mi); err != nil {
					return err
				}
				if same, _ := os.ReadDir(u); len(same) == 0 && sameMeta(mi, li) {
					if err := os.Remove(u); err != nil {
						return err
					}
				}
				continue
			}
			// New, or in place of a non-directory: copied up whole.
			if err := copyTree(u, m); err != nil {
				return err
			}
			continue
		}
		if lerr == nil && !li.IsDir() && sameFile(m, mi, l, li) {
			continue
		}
		if err := copyEntry(u, m, mi); err != nil {
			return err
		}
	}
	lents, err := os.ReadDir(lower)
	if err != nil {
		return err
	}
	for _, ent := range lents {
		if present[ent.Name()] {
			continue
		}
		if err := os.WriteFile(filepath.Join(upper, whPrefix+ent.Name()), nil, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the directory src to the missing path dst.
func copyTree(dst, src string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	if err := applyDir(dst, src); err != nil {
		return err
	}
	// Whatever the lower layers have under this name is hidden by it.
	if err := os.WriteFile(filepath.Join(dst, whOpaque), nil, 0o600); err != nil {
		return err
	}
	return copyMeta(dst, fi)
}

func sameMeta(a, b os.FileInfo) bool {
	if a.Mode() != b.Mode() {
		return false
	}
	sa, _ := a.Sys().(*syscall.Stat_t)
	sb, _ := b.Sys().(*syscall.Stat_t)
	return sa == nil || sb == nil || sa.Uid == sb.Uid && sa.Gid == sb.Gid
}

func sameFile(a string, ai os.FileInfo, b string, bi os.FileInfo) bool {
	if !sameMeta(ai, bi) || ai.Size() != bi.Size() {
		return false
	}
	if ai.Mode()&os.ModeSymlink != 0 {
		ta, _ := os.Readlink(a)
		tb, _ := os.Readlink(b)
		return ta == tb
	}
	if !ai.Mode().IsRegular() {
		return true
	}
	da, err1 := os.ReadFile(a)
	db, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && bytes.Equal(da, db)
}

// clearDir removes everything inside dir.
func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
