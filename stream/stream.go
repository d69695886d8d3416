// Package stream implements the multiplexed stdio stream format shared by the
// shim, the engine and the API: Docker's 8-byte frame header (stream id,
// three zero bytes, big-endian uint32 length) before each payload.
package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Stream ids of the multiplexed stream format, the same as Docker's: a
// non-TTY attach, exec or log stream is a sequence of frames, each an 8-byte
// header (stream id, three zero bytes, big-endian uint32 length) and payload.
const (
	Stdin  byte = 0
	Stdout byte = 1
	Stderr byte = 2
	// Systemerr carries an error message from the daemon in the stream.
	Systemerr byte = 3
	// Exit is wharf's own: the last frame of a native exec run, whose
	// payload is the process's exit code in decimal.
	Exit byte = 4
	// Mark is wharf's own too: a supervisor's answer to a flush, whose
	// payload is the flush's token, sent after every byte the process
	// wrote before the flush. Only a stream that asked for marks gets
	// them (the shim's attach with Marks): Docker's clients know no
	// stream 5.
	Mark byte = 5
)

// maxControlFrame bounds the payload of a Systemerr, Exit or Mark frame.
const maxControlFrame = 64 * 1024

// WriteFrame writes one frame of stream id with payload p.
func WriteFrame(w io.Writer, id byte, p []byte) error {
	var hdr [8]byte
	hdr[0] = id
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := w.Write(append(hdr[:], p...)); err != nil {
		return err
	}
	return nil
}

// MuxWriter writes frames of one stream id to a shared writer. Writers of
// different ids that share w serialise on mu.
type MuxWriter struct {
	mu *sync.Mutex
	w  io.Writer
	id byte
}

// NewMuxWriters returns writers for stdout and stderr that frame into w.
func NewMuxWriters(w io.Writer) (stdout, stderr *MuxWriter) {
	mu := &sync.Mutex{}
	return &MuxWriter{mu: mu, w: w, id: Stdout}, &MuxWriter{mu: mu, w: w, id: Stderr}
}

// Write frames p as one message.
func (m *MuxWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var hdr [8]byte
	hdr[0] = m.id
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	return m.w.Write(p)
}

// Demux copies a multiplexed stream from src to stdout and stderr until EOF.
// The text of a Systemerr frame is the error returned at the end.
func Demux(stdout, stderr io.Writer, src io.Reader) error {
	_, _, err := DemuxExit(stdout, stderr, src)
	return err
}

// DemuxExit is Demux for a stream that may end with an Exit frame: it
// returns the exit code and true when one came, with the error of a
// Systemerr frame before it (a run whose start failed has both).
func DemuxExit(stdout, stderr io.Writer, src io.Reader) (code int, exited bool, err error) {
	return demux(stdout, stderr, src, nil)
}

// DemuxMarks is Demux for a stream that carries Mark frames: mark is
// called with each one's token, in the stream's order (after the output
// that came before it was written to stdout or stderr).
func DemuxMarks(stdout, stderr io.Writer, src io.Reader, mark func(token []byte)) error {
	_, _, err := demux(stdout, stderr, src, mark)
	return err
}

// demux is DemuxExit that hands Mark frames to mark (nil: a Mark frame
// is an unknown stream).
func demux(stdout, stderr io.Writer, src io.Reader, mark func([]byte)) (code int, exited bool, err error) {
	var hdr [8]byte
	buf := make([]byte, 32*1024)
	var sysErr error // the daemon's error frame, returned at the end
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return 0, false, sysErr
			}
			return 0, false, err
		}
		n := int(binary.BigEndian.Uint32(hdr[4:]))
		var dst io.Writer
		switch hdr[0] {
		case Stdin, Stdout:
			dst = stdout
		case Stderr:
			dst = stderr
		case Mark:
			if mark == nil {
				return 0, false, fmt.Errorf("stream: unknown stream id %d", hdr[0])
			}
			if n > maxControlFrame {
				return 0, false, fmt.Errorf("stream: frame %d of %d bytes", hdr[0], n)
			}
			token := make([]byte, n)
			if _, err := io.ReadFull(src, token); err != nil {
				return 0, false, err
			}
			mark(token)
			continue
		case Systemerr, Exit:
			if n > maxControlFrame {
				return 0, false, fmt.Errorf("stream: frame %d of %d bytes", hdr[0], n)
			}
			msg := make([]byte, n)
			if _, err := io.ReadFull(src, msg); err != nil {
				return 0, false, err
			}
			if hdr[0] == Systemerr {
				// An exit code may follow (a run whose start failed).
				sysErr = errors.New(string(msg))
				continue
			}
			code, err := strconv.Atoi(string(msg))
			if err != nil {
				return 0, false, fmt.Errorf("stream: exit frame %q", msg)
			}
			return code, true, sysErr
		default:
			return 0, false, fmt.Errorf("stream: unknown stream id %d", hdr[0])
		}
		for n > 0 {
			chunk := min(n, len(buf))
			if _, err := io.ReadFull(src, buf[:chunk]); err != nil {
				return 0, false, err
			}
			if dst != nil {
				if _, err := dst.Write(buf[:chunk]); err != nil {
					return 0, false, err
				}
			}
			n -= chunk
		}
	}
}
