package oci

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ConsoleSocket receives the pseudo-terminal master of a container started
// with --console-socket: the runtime opens the pty inside the container and
// passes its master over this unix socket with SCM_RIGHTS.
type ConsoleSocket struct {
	l    *net.UnixListener
	path string
}

// NewConsoleSocket listens on path (which must not exist).
func NewConsoleSocket(path string) (*ConsoleSocket, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &ConsoleSocket{l: l, path: path}, nil
}

// Path is the socket's path, for the runtime's --console-socket flag.
func (c *ConsoleSocket) Path() string { return c.path }

// ReceiveMaster waits up to timeout for the runtime to send the master.
func (c *ConsoleSocket) ReceiveMaster(timeout time.Duration) (*os.File, error) {
	_ = c.l.SetDeadline(time.Now().Add(timeout))
	conn, err := c.l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: no control message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("console socket: no file descriptor (%v)", err)
	}
	// Non-blocking, so that the Go runtime polls it: reads take no thread
	// and honour deadlines.
	_ = unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// Close stops listening and removes the socket file.
func (c *ConsoleSocket) Close() error {
	err := c.l.Close()
	_ = os.Remove(c.path)
	return err
}

// SetWinsize resizes the terminal whose master is f.
func SetWinsize(f *os.File, height, width uint16) error {
	// Through the raw descriptor: Fd would put the file in blocking mode.
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := raw.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: height, Col: width})
	}); err != nil {
		return err
	}
	return ioErr
}
