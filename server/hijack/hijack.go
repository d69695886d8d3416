// Package hijack holds what the Docker and the native API share for
// streams over a taken-over HTTP connection (attach, exec) and for
// streamed answers: the hand-over, the polite close, error frames, a
// flushing writer and Docker's since/until times.
package hijack

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	wstream "github.com/wharf-dev/wharf/stream"
)

// Take takes over the connection of an attach or exec-start request and
// returns the connection, a stream reading what the client sends and
// writing to it, and a function that writes the answer's header (call it
// once the stream is ready, so no output is lost). As Docker does, the
// answer is "101 UPGRADED" when the client asked to upgrade, else a bare
// 200 whose body is the raw stream. header lines ("Name: value\r\n") are
// added to the answer.
func Take(w http.ResponseWriter, r *http.Request, tty bool, header string) (net.Conn, io.ReadWriter, func(), error) {
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
				_, _ = io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: "+ctype+"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"+header+"\r\n")
			} else {
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: "+ctype+"\r\n"+header+"\r\n")
			}
		})
	}
	return conn, &taken{r: brw.Reader, conn: conn}, answer, nil
}

// taken reads first what the server already buffered.
type taken struct {
	r    *bufio.Reader
	conn net.Conn
}

func (h *taken) Read(p []byte) (int, error)  { return h.r.Read(p) }
func (h *taken) Write(p []byte) (int, error) { return h.conn.Write(p) }

// Close ends a taken-over stream politely: it half-closes the connection
// so the client reads EOF after the last output, drains what the client
// still sends (closing a socket with unread input makes the kernel reset
// the connection, and the client could lose output), then closes it.
func Close(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.Copy(io.Discard, conn)
	}
	_ = conn.Close()
}

// WriteError writes msg as an error frame (stream 3) of a multiplexed
// stream.
func WriteError(w io.Writer, msg string) {
	n := len(msg)
	hdr := []byte{wstream.Systemerr, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	if _, err := w.Write(hdr); err == nil {
		_, _ = io.WriteString(w, msg)
	}
}

// FlushWriter flushes the response after every write, for streams.
type FlushWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

// NewFlushWriter wraps w.
func NewFlushWriter(w http.ResponseWriter) *FlushWriter {
	f, _ := w.(http.Flusher)
	return &FlushWriter{w: w, f: f}
}

func (f *FlushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.Flush()
	return n, err
}

// Flush sends what is buffered.
func (f *FlushWriter) Flush() {
	if f.f != nil {
		f.f.Flush()
	}
}

// ParseTime reads Docker's since/until values: Unix seconds with an
// optional fraction, or RFC 3339. "" and "0" are the zero time.
func ParseTime(v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	// The docker CLI sends a timestamp as "seconds.nanoseconds"; read
	// as a float it would lose the last digits, and `logs --since` a
	// timestamp that `logs -t` printed would miss its own line.
	if s, frac, _ := strings.Cut(v, "."); s != "" && s[0] != '-' && len(frac) <= 9 {
		sec, err1 := strconv.ParseInt(s, 10, 64)
		nsec, err2 := int64(0), error(nil)
		if frac != "" {
			nsec, err2 = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		}
		if err1 == nil && err2 == nil && nsec >= 0 {
			return time.Unix(sec, nsec), nil
		}
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: %w", v, errdefs.ErrInvalidArgument)
}
