package dockerapi

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	wstream "github.com/wharf-dev/wharf/stream"
)

// hijack takes over the connection of an attach or exec-start request and
// returns the connection, a stream reading what the client sends and
// writing to it, and a function that writes the answer's header (called
// once the stream is ready, so no output is lost). Docker answers
// "101 UPGRADED" when the client asked to upgrade, else a bare 200 whose
// body is the raw stream.
func hijack(w http.ResponseWriter, r *http.Request, tty bool) (net.Conn, io.ReadWriter, func(), error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, nil, errors.New("connection cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, nil, err
	}
	ctype := "application/vnd.docker.multiplexed-stream"
	if tty {
		ctype = "application/vnd.docker.raw-stream"
	}
	var once sync.Once
	answer := func() {
		once.Do(func() {
			if r.Header.Get("Upgrade") != "" {
				_, _ = io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: "+ctype+"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: "+APIVersion+"\r\n\r\n")
			} else {
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: "+ctype+"\r\nApi-Version: "+APIVersion+"\r\n\r\n")
			}
		})
	}
	return conn, &hijacked{r: brw.Reader, conn: conn}, answer, nil
}

// hijacked reads first what the server already buffered.
type hijacked struct {
	r    *bufio.Reader
	conn net.Conn
}

func (h *hijacked) Read(p []byte) (int, error)  { return h.r.Read(p) }
func (h *hijacked) Write(p []byte) (int, error) { return h.conn.Write(p) }

// closeStream ends a hijacked stream politely: half-close so the client
// reads EOF after the last output, drain what it still sends (closing a
// socket with unread input resets the connection and the client could
// lose output), then close.
func closeStream(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.Copy(io.Discard, conn)
	}
	_ = conn.Close()
}

// writeSysErr writes an error frame (stream 3) into a multiplexed stream.
func writeSysErr(w io.Writer, msg string) {
	n := len(msg)
	hdr := []byte{wstream.Systemerr, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	if _, err := w.Write(hdr); err == nil {
		_, _ = io.WriteString(w, msg)
	}
}
