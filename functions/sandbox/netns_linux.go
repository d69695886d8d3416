package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// sandboxNetNS creates the network namespace of a function sandbox,
// pinned by a bind mount at path, with its loopback up and the sandbox's
// Runtime API listener already bound at 127.0.0.1:9001 inside it. The
// listener exists before the runtime starts, so a bootstrap that calls the
// API at once never races it; the daemon serves it from its own namespace
// (a socket stays in the namespace it was created in).
func sandboxNetNS(path string) (l net.Listener, err error) {
	if err := privateDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return nil, err
	}
	f.Close()
	defer func() {
		if err != nil {
			_ = removeNetNS(path)
		}
	}()
	type result struct {
		l   net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The thread enters the new namespace and comes back; if it
		// cannot come back it stays locked and dies with this goroutine.
		runtime.LockOSThread()
		origin, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer origin.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{nil, fmt.Errorf("unshare(CLONE_NEWNET): %w", err)}
			return
		}
		var r result
		if err := unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "", unix.MS_BIND, ""); err != nil {
			r.err = fmt.Errorf("pinning the sandbox namespace: %w", err)
		} else if err := loopbackUp(); err != nil {
			r.err = err
		} else {
			r.l, r.err = net.Listen("tcp4", "127.0.0.1:9001")
		}
		if err := unix.Setns(int(origin.Fd()), unix.CLONE_NEWNET); err != nil {
			if r.l != nil {
				r.l.Close()
			}
			done <- result{nil, fmt.Errorf("returning to the daemon's namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		done <- r
	}()
	r := <-done
	return r.l, r.err
}

// privateDir makes dir, 0700, or tightens it to 0700 when an older daemon
// made it 0755: the namespace pins and spare staging mounts beneath are
// for no other user of the host.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// loopbackUp sets IFF_UP on lo in the current thread's namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

// removeNetNS unpins and deletes a namespace file.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
