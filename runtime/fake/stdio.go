package fake

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/runtime/task"
	"github.com/wharf-dev/wharf/stream"
)

// The supervisor's side of a container's stdio, as wharf's shim keeps it:
// output goes to the container's log (json-file lines, rotated within the
// log's limits) and to every attached stream, in Docker's multiplexed
// frames unless the container has a terminal; output waits while it is
// held (StartOptions.Hold) until a release, or for 10 seconds; a stream
// that does not take its output within 5 seconds is dropped.

// client is one attached stream, from the supervisor's side.
type client struct {
	conn           *net.UnixConn
	stdout, stderr bool
	marks          bool // takes Mark frames (AttachOptions.Marks)
}

// holdFor is how long held output waits for a release that never comes.
const holdFor = 10 * time.Second

// output writes one output stream of the container's init.
type output struct {
	c      *ctr
	p      *proc
	stream string // "stdout" or "stderr"
}

func (o *output) Write(b []byte) (int, error) {
	c := o.c
	select {
	case <-c.released:
	default:
		err := o.p.block(func() error {
			select {
			case <-c.released:
			case <-time.After(holdFor):
			case <-o.p.killed:
				return errKilled
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	data := b
	stream := o.stream
	if c.opts.Tty {
		data = onlcr(b)
		stream = "stdout"
	}
	c.emit(stream, data)
	return len(b), nil
}

// emit writes data of stream to the log and the attached streams.
func (c *ctr) emit(stream string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sp := c.split[stream]; sp != nil {
		_, _ = sp.Write(data)
	}
	var hdr [8]byte
	hdr[0] = 1
	if stream == "stderr" {
		hdr[0] = 2
	}
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(data)))
	for cl := range c.clients {
		if stream == "stdout" && !cl.stdout || stream == "stderr" && !cl.stderr {
			continue
		}
		_ = cl.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		var err error
		if !c.opts.Tty {
			_, err = cl.conn.Write(hdr[:])
		}
		if err == nil {
			_, err = cl.conn.Write(data)
		}
		if err != nil {
			cl.conn.Close()
			delete(c.clients, cl)
		}
	}
}

// mark sends a Mark frame with token to the streams that take marks. The
// fake's output reaches the streams as its process writes it (emit), so
// everything written before is already ahead of the mark.
func (c *ctr) mark(token string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exit != nil {
		return fmt.Errorf("container exited: %w", errdefs.ErrConflict)
	}
	select {
	case <-c.released:
	default:
		return fmt.Errorf("output is held: %w", errdefs.ErrConflict)
	}
	sent := false
	for cl := range c.clients {
		if !cl.marks {
			continue
		}
		_ = cl.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := stream.WriteFrame(cl.conn, stream.Mark, []byte(token)); err != nil {
			cl.conn.Close()
			delete(c.clients, cl)
			continue
		}
		sent = true
	}
	if !sent {
		return fmt.Errorf("no attached stream takes marks: %w", errdefs.ErrConflict)
	}
	return nil
}

// cutLocked is where a stream registered now begins in the output
// (task.Cut); called with c.mu held, under which emit writes to the log
// and the streams.
func (c *ctr) cutLocked() *task.Cut {
	cut := &task.Cut{}
	if c.logw == nil {
		return cut
	}
	pos, err := c.logw.Position()
	if err != nil {
		return nil
	}
	cut.Log = &pos
	for _, s := range []string{"stdout", "stderr"} {
		if h := c.split[s].Held(); len(h) > 0 {
			cut.Held = append(cut.Held, logfile.Entry{Log: string(h), Stream: s})
		}
	}
	return cut
}

// cutStream is a stream attached with a cut (task.CutStream).
type cutStream struct {
	*net.UnixConn
	cut *task.Cut
}

func (s *cutStream) Cut() *task.Cut { return s.cut }

// openLog opens the container's log within its limits, with a line
// splitter per stream; none without a log.
func (c *ctr) openLog() error {
	c.split = map[string]*logfile.LineSplitter{}
	if c.opts.LogPath == "" {
		return nil
	}
	w, err := logfile.Open(c.opts.LogPath, logfile.Limits{MaxSize: c.opts.LogMaxSize, MaxFiles: c.opts.LogMaxFiles})
	if err != nil {
		return err
	}
	c.logw = w
	for _, s := range []string{"stdout", "stderr"} {
		c.split[s] = &logfile.LineSplitter{Stream: s, Out: w}
	}
	return nil
}

// closeLog flushes the partial lines and closes the log.
func (c *ctr) closeLog() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sp := range c.split {
		_ = sp.Flush()
	}
	if c.logw != nil {
		c.logw.Close()
	}
}

// onlcr is a terminal's output translation: "\n" becomes "\r\n".
func onlcr(b []byte) []byte {
	if bytes.IndexByte(b, '\n') < 0 {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// socketPair returns the two ends of a connected unix stream socket: a
// real kernel buffer between the client and the supervisor, with the
// half-close an attached stream's input needs.
func socketPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "attach")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			if i == 0 {
				unix.Close(fds[1])
			}
			return nil, nil, err
		}
		conns[i] = c.(*net.UnixConn)
	}
	return conns[0], conns[1], nil
}

// terminalInput is what a terminal does with typed input: it echoes it
// to the output and turns carriage returns into newlines for the program.
type terminalInput struct {
	w    io.Writer // the program's input
	echo func([]byte)
}

func (t *terminalInput) Write(b []byte) (int, error) {
	t.echo(onlcr(bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))))
	if _, err := t.w.Write(bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// serveStdin feeds one client's input to the container's stdin. When the
// client ends its input and the container was started with StdinOnce (and
// without a terminal), the container's stdin is closed so it sees EOF.
func (c *ctr) serveStdin(conn *net.UnixConn) {
	var w io.Writer = c.stdinW
	if c.opts.Tty {
		w = &terminalInput{w: c.stdinW, echo: func(b []byte) { c.emit("stdout", b) }}
	}
	_, _ = io.Copy(w, conn)
	if c.opts.StdinOnce && !c.opts.Tty {
		c.stdinOnce.Do(func() { _ = c.stdinW.Close() })
	}
}
