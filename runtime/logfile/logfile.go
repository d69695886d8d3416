// Package logfile writes and reads container logs in Docker's json-file
// format: one JSON object per line,
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-23T19:20:26.123456789Z"}
//
// The shim is the only writer of a container's log (so logs keep flowing
// while the daemon is down); the daemon only reads. stdout and stderr are
// kept apart by the stream field.
package logfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// Entry is one log record.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// maxLine is the longest partial line held back waiting for its newline.
const maxLine = 16 * 1024

// Writer appends entries to a log file. It is safe for concurrent use by
// the stdout and stderr copiers.
type Writer struct {
	mu sync.Mutex
	f  *os.File
	bw *bufio.Writer
}

// Open opens (creating) the log file at path for appending.
func Open(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, bw: bufio.NewWriterSize(f, 8192)}, nil
}

// Write records one chunk of a stream and flushes it to the file, so a
// reader following the file sees it at once.
func (w *Writer) Write(stream string, p []byte, t time.Time) error {
	data, err := json.Marshal(Entry{Log: string(p), Stream: stream, Time: t.UTC()})
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.bw.Write(data)
	_ = w.bw.WriteByte('\n')
	return w.bw.Flush()
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.bw.Flush()
	return w.f.Close()
}

// LineSplitter turns a byte stream into log records of whole lines. It holds
// back a partial line until its newline arrives, the stream ends, or it
// grows past 16 KiB, as docker does.
type LineSplitter struct {
	Stream string
	Out    *Writer
	buf    []byte
}

// Write takes raw output of the container.
func (s *LineSplitter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	now := time.Now()
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		if err := s.Out.Write(s.Stream, s.buf[:i+1], now); err != nil {
			return 0, err
		}
		s.buf = s.buf[i+1:]
	}
	for len(s.buf) >= maxLine {
		if err := s.Out.Write(s.Stream, s.buf[:maxLine], now); err != nil {
			return 0, err
		}
		s.buf = s.buf[maxLine:]
	}
	if len(s.buf) == 0 {
		s.buf = nil
	}
	return len(p), nil
}

// Held returns the partial line held back, if any.
func (s *LineSplitter) Held() []byte { return s.buf }

// Hold sets the partial line held back, as a splitter that stopped left it.
func (s *LineSplitter) Hold(p []byte) { s.buf = append([]byte(nil), p...) }

// Flush writes out a held-back partial line (at the end of the stream).
func (s *LineSplitter) Flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.Out.Write(s.Stream, s.buf, time.Now())
	s.buf = nil
	return err
}

// ReadOptions selects entries.
type ReadOptions struct {
	Stdout, Stderr bool
	// Tail keeps only the last Tail entries; negative means all.
	Tail  int
	Since time.Time
	Until time.Time
	// Follow keeps reading new entries until Running reports false and the
	// file holds nothing more, or ctx ends.
	Follow  bool
	Running func() bool
}

// Read calls emit for every selected entry of the log at path. A missing
// file is an empty log.
func Read(ctx context.Context, path string, o ReadOptions, emit func(Entry) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	keep := func(e *Entry) bool {
		if e.Stream == "stdout" && !o.Stdout || e.Stream == "stderr" && !o.Stderr {
			return false
		}
		if !o.Since.IsZero() && e.Time.Before(o.Since) {
			return false
		}
		if !o.Until.IsZero() && e.Time.After(o.Until) {
			return false
		}
		return true
	}
	br := bufio.NewReaderSize(f, 64*1024)
	var pending []byte
	// readAvailable reads every complete line now in the file.
	readAvailable := func(each func(Entry) error) error {
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 && line[len(line)-1] != '\n' {
				pending = append(pending, line...)
			} else if len(line) > 0 {
				if len(pending) > 0 {
					line = append(pending, line...)
					pending = nil
				}
				var e Entry
				if json.Unmarshal(line, &e) == nil && keep(&e) {
					if err := each(e); err != nil {
						return err
					}
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	if o.Tail >= 0 {
		ring := make([]Entry, 0, min(o.Tail, 4096))
		if err := readAvailable(func(e Entry) error {
			if o.Tail == 0 {
				return nil
			}
			if len(ring) == o.Tail {
				ring = ring[1:]
			}
			ring = append(ring, e)
			return nil
		}); err != nil {
			return err
		}
		for _, e := range ring {
			if err := emit(e); err != nil {
				return err
			}
		}
	} else if err := readAvailable(emit); err != nil {
		return err
	}
	if !o.Follow {
		return nil
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		running := o.Running == nil || o.Running()
		if err := readAvailable(emit); err != nil {
			return err
		}
		if !running {
			// The writer is gone; one last read catches what it wrote
			// between the check and its exit.
			return readAvailable(emit)
		}
	}
}
