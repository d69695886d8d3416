package portproxy

import (
	"errors"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// pipeSize is the pipe the splice loop moves data through. The standard
// library's splice uses the default 64 KiB pipe; a 1 MiB one cuts the
// system calls per byte by up to 16 and is what makes the proxy keep up
// with a direct connection on a small machine.
const pipeSize = 1 << 20

// spliceCopy copies src to dst inside the kernel (socket → pipe →
// socket), waiting on Go's poller between moves. It returns io.EOF-free
// like io.Copy: nil at the end of src.
func spliceCopy(dst, src *net.TCPConn) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		_, err := io.Copy(dst, src)
		return err
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	_, _ = unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, pipeSize)
	rc, err := src.SyscallConn()
	if err != nil {
		return err
	}
	wc, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	const flags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK
	for {
		var n int64
		var serr error
		if err := rc.Read(func(fd uintptr) bool {
			n, serr = unix.Splice(int(fd), nil, p[1], nil, pipeSize, flags)
			return !errors.Is(serr, unix.EAGAIN)
		}); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		if n == 0 {
			return nil
		}
		for n > 0 {
			var m int64
			var werr error
			if err := wc.Write(func(fd uintptr) bool {
				m, werr = unix.Splice(p[0], nil, int(fd), nil, int(n), flags)
				return !errors.Is(werr, unix.EAGAIN)
			}); err != nil {
				return err
			}
			if werr != nil {
				return werr
			}
			n -= m
		}
	}
}
