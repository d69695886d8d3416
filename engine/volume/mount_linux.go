package volume

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

const (
	msRdonly      = unix.MS_RDONLY
	msNosuid      = unix.MS_NOSUID
	msNodev       = unix.MS_NODEV
	msNoexec      = unix.MS_NOEXEC
	msSynchronous = unix.MS_SYNCHRONOUS
	msDirsync     = unix.MS_DIRSYNC
	msNoatime     = unix.MS_NOATIME
	msNodiratime  = unix.MS_NODIRATIME
	msRelatime    = unix.MS_RELATIME
	msStrictatime = unix.MS_STRICTATIME
	msMandlock    = unix.MS_MANDLOCK
)

// checkHost refuses options this host cannot mount: a filesystem type the
// kernel does not list in /proc/filesystems, a bind source that is not a
// directory or file.
func (mo *MountOptions) checkHost() error {
	if mo.Bind {
		if _, err := os.Stat(mo.Device); err != nil {
			return fmt.Errorf("the device of a bind volume must exist on the host: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[len(fields)-1] == mo.Type {
			return nil
		}
	}
	return fmt.Errorf("the kernel offers no filesystem of type %q (see /proc/filesystems): %w", mo.Type, errdefs.ErrInvalidArgument)
}

// mount mounts mo on target and makes the mount private. A bind mount is
// made first and given its flags by a remount, as mount(8) does: the
// kernel ignores them on the bind itself.
func (mo *MountOptions) mount(target string) error {
	var err error
	if mo.Bind {
		flags := uintptr(unix.MS_BIND)
		if mo.Recursive {
			flags |= unix.MS_REC
		}
		if err = unix.Mount(mo.Device, target, "", flags, ""); err == nil {
			err = unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|mo.Flags, "")
			if err != nil {
				_ = unix.Unmount(target, unix.MNT_DETACH)
			}
		}
	} else {
		err = unix.Mount(mo.Device, target, mo.Type, mo.Flags, mo.Data)
	}
	if err != nil {
		return fmt.Errorf("failed to mount local volume: mount %s:%s, type %s: %w", mo.Device, target, mo.Type, err)
	}
	if err := unix.Mount("", target, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("making the volume's mount private: %w", err)
	}
	return nil
}

// unmount unmounts target until it is no mount point (a crash may have
// left mounts stacked), detaching a mount that a process of the host
// still uses (the containers' own copies of the mount are theirs); a
// target that is not mounted is no error.
func unmount(target string) error {
	for range 8 {
		m, err := mounted(target)
		if err != nil {
			return err
		}
		if !m {
			return nil
		}
		err = unix.Unmount(target, 0)
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(target, unix.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmounting %s: still mounted", target)
}

// mounted reports whether path is a mount point.
func mounted(path string) (bool, error) {
	m, err := mountinfo.Mounted(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return m, err
}
