package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// MountOverlay mounts an overlay filesystem at target with the mount flags
// f, which the mount has from its creation on. lowers are listed bottom
// first, as store.LayerDirs returns them; upper and work are created if
// missing. With zero lowers an empty directory "<work>.empty" is created
// and used, because overlayfs needs at least one lower layer.
//
// On kernels with the new mount API and "lowerdir+" (Linux >= 6.8) each
// lower is passed on its own, so any number of layers fits. Older kernels
// get the classic mount(2) option string; when it would exceed a page, the
// paths are made relative to their common parent and mount(2) runs on a
// thread that has chdir'd there privately.
func MountOverlay(target string, lowers []string, upper, work string, f Flags) error {
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
	}
	if len(lowers) == 0 {
		empty := filepath.Clean(work) + ".empty"
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
		lowers = []string{empty}
	}
	// Overlay lists the topmost lower first.
	top := make([]string, len(lowers))
	for i, l := range lowers {
		top[len(lowers)-1-i] = l
	}
	err := mountNewAPI(target, top, upper, work, f)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errNoNewAPI) {
		return fmt.Errorf("overlay mount %s: %w", target, err)
	}
	if err := mountLegacy(target, top, upper, work, f); err != nil {
		return fmt.Errorf("overlay mount %s: %w", target, err)
	}
	return nil
}

// errNoNewAPI means the kernel lacks fsopen or overlay's "lowerdir+".
var errNoNewAPI = errors.New("new mount API unavailable")

func mountNewAPI(target string, top []string, upper, work string, f Flags) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			return errNoNewAPI
		}
		return fmt.Errorf("fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	for i, l := range top {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
			if i == 0 && errors.Is(err, unix.EINVAL) {
				// Kernels before 6.8 do not know "lowerdir+".
				return errNoNewAPI
			}
			return fmt.Errorf("lowerdir+ %s: %w", l, err)
		}
	}
	if err := unix.FsconfigSetString(fsfd, "upperdir", upper); err != nil {
		return fmt.Errorf("upperdir %s: %w", upper, err)
	}
	if err := unix.FsconfigSetString(fsfd, "workdir", work); err != nil {
		return fmt.Errorf("workdir %s: %w", work, err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("fsconfig create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, f.mountAttr())
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

func mountLegacy(target string, top []string, upper, work string, f Flags) error {
	opts := "lowerdir=" + strings.Join(top, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(opts) < os.Getpagesize() {
		return unix.Mount("overlay", target, "overlay", f.msFlags(), opts)
	}
	dir := commonDir(append(append([]string{}, top...), upper, work))
	rel := make([]string, len(top))
	for i, l := range top {
		r, err := filepath.Rel(dir, l)
		if err != nil {
			return err
		}
		rel[i] = r
	}
	ru, _ := filepath.Rel(dir, upper)
	rw, _ := filepath.Rel(dir, work)
	opts = "lowerdir=" + strings.Join(rel, ":") + ",upperdir=" + ru + ",workdir=" + rw
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("%d layers do not fit in a mount option string on this kernel", len(top))
	}
	absTarget, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		// The thread unshares its fs struct so that its chdir does not move
		// the daemon's working directory. It is never unlocked, so Go
		// discards the thread when this goroutine exits.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount("overlay", absTarget, "overlay", f.msFlags(), opts)
	}()
	return <-errc
}

// mountAttr are f as fsmount's MOUNT_ATTR_* flags.
func (f Flags) mountAttr() int {
	var a int
	for _, m := range []struct {
		f    Flags
		attr int
	}{{ReadOnly, unix.MOUNT_ATTR_RDONLY}, {NoSuid, unix.MOUNT_ATTR_NOSUID}, {NoDev, unix.MOUNT_ATTR_NODEV}, {NoExec, unix.MOUNT_ATTR_NOEXEC}} {
		if f&m.f != 0 {
			a |= m.attr
		}
	}
	return a
}

// msFlags are f as mount(2)'s MS_* flags.
func (f Flags) msFlags() uintptr {
	var ms uintptr
	for _, m := range []struct {
		f  Flags
		ms uintptr
	}{{ReadOnly, unix.MS_RDONLY}, {NoSuid, unix.MS_NOSUID}, {NoDev, unix.MS_NODEV}, {NoExec, unix.MS_NOEXEC}} {
		if f&m.f != 0 {
			ms |= m.ms
		}
	}
	return ms
}

// commonDir returns the deepest directory containing all paths.
func commonDir(paths []string) string {
	c := filepath.Clean(paths[0])
	for _, p := range paths[1:] {
		p = filepath.Clean(p)
		for c != "/" && !strings.HasPrefix(p+"/", c+"/") {
			c = filepath.Dir(c)
		}
	}
	return c
}

// Unmount unmounts target. It is not an error if nothing is mounted there;
// a busy mount is detached lazily so that it goes away with its last user.
func Unmount(target string) error {
	err := unix.Unmount(target, 0)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EBUSY):
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
		return nil
	default:
		return fmt.Errorf("unmount %s: %w", target, err)
	}
}
