// Package logstream is GET /containers/{id}/logs for both API servers:
// the reading of the request's options and the streaming loop are written
// once, as dockerd has them, and a server says only how the stream is
// framed (Framing).
//
// Options, as dockerd reads them: stdout and stderr select the streams
// (at least one is required); follow keeps the stream open while the
// container runs; since and until bound the entries' times (Unix seconds
// with a fraction, or RFC 3339; "0" is no bound); tail keeps the last n
// lines, and "all", "", a negative number or anything that is not a
// number means every line; timestamps prefixes each line with its time,
// in UTC, RFC 3339 with the nanoseconds padded to nine digits. A boolean
// is true unless it is empty, "0", "no", "false" or "none".
//
// The answer's headers go out once the engine found the log readable, so
// that a container whose log driver keeps nothing is answered with an
// error status; after them an error (a client that left) can only end the
// stream.
package logstream

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/server/backend"
	"github.com/wharf-dev/wharf/server/hijack"
	wstream "github.com/wharf-dev/wharf/stream"
)

// Media types of a logs answer.
const (
	MultiplexedStream = "application/vnd.docker.multiplexed-stream"
	RawStream         = "application/vnd.docker.raw-stream"
)

// rfc3339NanoFixed is RFC 3339 with the nanoseconds always nine digits,
// so that timestamps line up (dockerd's logstream).
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// Options are a logs request's options.
type Options struct {
	container.LogsOptions
	Timestamps bool
}

// ParseOptions reads a logs request's query. Errors carry
// errdefs.ErrInvalidArgument.
func ParseOptions(q url.Values) (Options, error) {
	o := Options{
		LogsOptions: container.LogsOptions{
			Stdout: BoolValue(q, "stdout"), Stderr: BoolValue(q, "stderr"), Follow: BoolValue(q, "follow"),
			Tail: ParseTail(q.Get("tail")),
		},
		Timestamps: BoolValue(q, "timestamps"),
	}
	if !o.Stdout && !o.Stderr {
		return o, fmt.Errorf("you must choose at least one stream: %w", errdefs.ErrInvalidArgument)
	}
	var err error
	if o.Since, err = hijack.ParseTime(q.Get("since")); err != nil {
		return o, fmt.Errorf(`invalid value for "since": %w`, err)
	}
	if o.Until, err = hijack.ParseTime(q.Get("until")); err != nil {
		return o, fmt.Errorf(`invalid value for "until": %w`, err)
	}
	return o, nil
}

// ParseTail reads the tail option: the number of lines to keep from the
// end, or -1 for all of them. As in dockerd, a value that is not a number
// is not an error but all lines.
func ParseTail(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// BoolValue reads a boolean query parameter as dockerd does
// (httputils.BoolValue).
func BoolValue(q url.Values, key string) bool {
	switch strings.ToLower(strings.TrimSpace(q.Get(key))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// Framing is how a server frames a logs stream.
type Framing struct {
	// ContentType is the answer's media type.
	ContentType string
	// Mux writes stdout and stderr as frames of a multiplexed stream
	// (package stream, Docker's stdcopy format); without it every line is
	// written as it is, as for a container with a TTY, whose output is
	// one stream.
	Mux bool
}

// Serve streams the log of container c, read through logs, with options
// o and framing f. An error is returned only while nothing was written,
// for the server to answer it; later ones end the stream.
func Serve(w http.ResponseWriter, r *http.Request, logs backend.ContainerLogs, c *container.Container, o Options, f Framing) error {
	var fw *hijack.FlushWriter
	var stdout, stderr io.Writer
	lo := o.LogsOptions
	lo.Ready = func() {
		w.Header().Set("Content-Type", f.ContentType)
		w.WriteHeader(http.StatusOK)
		fw = hijack.NewFlushWriter(w)
		fw.Flush()
		stdout, stderr = io.Writer(fw), io.Writer(fw)
		if f.Mux {
			mo, me := wstream.NewMuxWriters(fw)
			stdout, stderr = mo, me
		}
	}
	var line []byte
	err := logs.Logs(r.Context(), c.ID, lo, func(e logfile.Entry) error {
		if fw == nil {
			lo.Ready() // an engine that reads without saying so first
		}
		line = line[:0]
		if o.Timestamps {
			line = e.Time.UTC().AppendFormat(line, rfc3339NanoFixed)
			line = append(line, ' ')
		}
		line = append(line, e.Log...)
		out := stdout
		if e.Stream == "stderr" {
			out = stderr
		}
		_, err := out.Write(line)
		return err
	})
	if fw == nil {
		return err
	}
	return nil
}
