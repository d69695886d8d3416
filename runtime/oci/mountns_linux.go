package oci

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A hybrid cgroup layout mounts the cgroup v1 controllers under
// /sys/fs/cgroup and, beside them, a cgroup2 hierarchy (usually at
// /sys/fs/cgroup/unified, on these hosts carrying `hugetlb`). Debian 12's
// crun 1.8.1 refuses such a host ("cgroups in hybrid mode not supported,
// drop all controllers from cgroupv2"); with the cgroup2 mount out of its
// sight it sees a plain cgroup v1 host and works, with the v1 controllers,
// where runc puts the same limits.
//
// The host's layout is not altered: every invocation of such a runtime is
// started in a mount namespace of its own, a copy of the daemon's made at
// that moment, in which the cgroup2 mounts are detached. The copy is made
// in the calling process on a thread of its own (unshare on a locked OS
// thread, then fork and exec from that thread), so that no wrapper process
// is exec'd on the way: a Go wrapper costs a process start per runtime
// command, the namespace copy alone a fraction of a millisecond.
//
// Propagation in the copy is rslave, not rprivate. A copy made by unshare
// keeps the host's shared mounts shared, so the detach below would
// propagate back to the host; both rslave and rprivate stop that. rslave
// also keeps mounts and unmounts the daemon makes later in shared mounts
// reaching the namespace and, through it, the container's own mount
// namespace, which the runtime copies from it: a spare function sandbox's
// code is bind-mounted into a shared staging directory after its container
// started, and must appear inside (mounts with rslave propagation in the
// container's spec). With rprivate the container's mounts would be cut
// from the host's for good. Everything mounted before the runtime is
// started (the container's root filesystem, its volumes) is in the copy
// either way, since the copy is made per invocation.

// HybridCgroup2Mounts returns the mount points of the cgroup2 file systems
// in mountinfo (the text of /proc/<pid>/mountinfo) when the layout is
// hybrid: cgroup v1 hierarchies are mounted too. On a host with cgroup2
// alone (a pure unified layout) or v1 alone it returns nothing: there a
// runtime has nothing to be hidden from. The mount points come deepest
// first, the order to detach them in.
func HybridCgroup2Mounts(mountinfo []byte) ([]string, error) {
	var v1 bool
	var v2 []string
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		// "36 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory":
		// the mount point is field 5, the file system type the first field after " - ".
		pre, post, ok := strings.Cut(line, " - ")
		fields := strings.Fields(pre)
		rest := strings.Fields(post)
		if !ok || len(fields) < 5 || len(rest) < 1 {
			// Not a mount this needs to know of; one bad line must not
			// hide the others.
			continue
		}
		switch rest[0] {
		case "cgroup":
			v1 = true
		case "cgroup2":
			mp, err := unescapeMountinfo(fields[4])
			if err != nil {
				return nil, err
			}
			v2 = append(v2, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	if !v1 || len(v2) == 0 {
		return nil, nil
	}
	sort.SliceStable(v2, func(i, j int) bool {
		return strings.Count(v2[i], "/") > strings.Count(v2[j], "/")
	})
	out := v2[:0]
	for i, mp := range v2 {
		if i == 0 || mp != out[len(out)-1] {
			out = append(out, mp)
		}
	}
	return out, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a mountinfo path.
func unescapeMountinfo(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("mountinfo: bad escape in %q", s)
		}
		n, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("mountinfo: bad escape in %q", s)
		}
		b.WriteByte(byte(n))
		i += 3
	}
	return b.String(), nil
}

// HostHybridCgroup2Mounts is HybridCgroup2Mounts of the calling process's
// mount namespace.
func HostHybridCgroup2Mounts() ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return HybridCgroup2Mounts(data)
}

// startHidden starts cmd in a new mount namespace, a copy of the calling
// process's, in which the mounts at hide are detached (see the comment at
// the top of this file); with hide empty, in the caller's namespace.
//
// The copy is made on a goroutine locked to its OS thread, and the child
// is forked from that thread, so it inherits the thread's namespace while
// every other thread of the process keeps the host's. The goroutine never
// unlocks the thread: Go then ends the thread with the goroutine instead
// of handing a thread in another namespace to other goroutines.
//
// A child with a parent-death signal gets it when the thread that forked
// it ends, not the process (prctl(2), go.dev/issue/27505): for such a
// child the thread lives until the child has exited. A Go thread ends
// whenever a goroutine locked to it returns (this function's, for every
// command of a runtime with hidden mounts), so a child with a parent-death
// signal forked from an arbitrary thread is killed at a moment nobody
// chose; that is why Start brings such a child here with or without
// mounts to hide.
func startHidden(cmd *exec.Cmd, hide []string) error {
	errc := make(chan error, 1)
	go startHiddenLocked(cmd, hide, errc)
	return <-errc
}

// startHiddenLocked is startHidden's goroutine.
func startHiddenLocked(cmd *exec.Cmd, hide []string, errc chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread never ends (Go parks it instead), and the
		// process's /proc/self views (mountinfo among them) are the main
		// thread's: it must stay in the host's namespace. While this
		// goroutine holds it, the next one runs on another thread.
		inner := make(chan error, 1)
		go startHiddenLocked(cmd, hide, inner)
		err := <-inner
		runtime.UnlockOSThread()
		errc <- err
		return
	}
	if len(hide) > 0 {
		if err := enterHiddenNS(hide); err != nil {
			errc <- err
			return
		}
	}
	err := cmd.Start()
	errc <- err
	if err == nil && cmd.SysProcAttr != nil && cmd.SysProcAttr.Pdeathsig != 0 {
		waitChildExit(cmd.Process.Pid)
	}
	if len(hide) == 0 {
		// Nothing about the thread changed: it can serve again.
		runtime.UnlockOSThread()
	}
}

// enterHiddenNS moves the calling (locked) thread into a new mount
// namespace with rslave propagation and the mounts at hide detached.
func enterHiddenNS(hide []string) error {
	// CLONE_FS: the thread's root and working directory become its own,
	// which the kernel requires of a thread changing mount namespace.
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("runtime mount namespace: unshare: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("runtime mount namespace: rslave: %w", err)
	}
	for _, mp := range hide {
		// Already gone (unmounted on the host since the probe) is fine.
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("runtime mount namespace: detaching %s: %w", mp, err)
		}
	}
	return nil
}

// waitChildExit blocks the calling thread until process pid has exited,
// without reaping it (its exec.Cmd's Wait does).
func waitChildExit(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			return
		}
	}
}
