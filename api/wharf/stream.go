package wharf

import (
	"io"

	"github.com/wharf-dev/wharf/stream"
)

// Stream ids of the multiplexed stream format (see package stream).
const (
	Stdin     = stream.Stdin
	Stdout    = stream.Stdout
	Stderr    = stream.Stderr
	Systemerr = stream.Systemerr
)

// NewMuxWriters returns writers for stdout and stderr that frame into w.
func NewMuxWriters(w io.Writer) (stdout, stderr *stream.MuxWriter) { return stream.NewMuxWriters(w) }

// Demux copies a multiplexed stream from src to stdout and stderr until EOF.
func Demux(stdout, stderr io.Writer, src io.Reader) error { return stream.Demux(stdout, stderr, src) }

// DemuxExit is Demux for the stream of an exec run (POST
// /containers/{id}/exec/run) or a run (POST /containers/run), which ends
// with the exit code, after an error frame when the start failed.
func DemuxExit(stdout, stderr io.Writer, src io.Reader) (code int, exited bool, err error) {
	return stream.DemuxExit(stdout, stderr, src)
}
