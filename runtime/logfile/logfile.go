// Package logfile writes and reads container logs in Docker's json-file
// format: one JSON object per line,
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-23T19:20:26.123456789Z"}
//
// The shim is the only writer of a container's log (so logs keep flowing
// while the daemon is down); the daemon only reads. stdout and stderr are
// kept apart by the stream field.
//
// A log is bounded by Limits (Docker's max-size and max-file) and rotates
// as Docker's json-file driver does: the file being written is <path>;
// when the next record would take it past MaxSize, <path>.N-2 is renamed
// <path>.N-1 (the oldest, <path>.N-1, is dropped), ..., <path> becomes
// <path>.1 and a new <path> starts; with MaxFiles 1 <path> is removed and
// started again. Records never straddle files. Everything a writer needs
// to carry on is on disk (the current file's size and the rotated files),
// so a shim that resumes from dormancy, or any later writer, keeps the
// same bound.
//
// Writer and readers are different processes. A rotation holds the flock
// of the log's directory exclusively; a reader holds it shared while it
// opens the files, so it never sees a rotation halfway. A reader that
// follows the log keeps the file it reads open; when <path> names another
// file, it finishes the one it has (renamed or unlinked, it is complete)
// and goes on with the files that came after it.
//
// The same rotation serves logs of other formats (File, Copy): function
// logs are plain text.
package logfile

import (
	"bytes"
	"context"
	"encoding/json"
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
	f  *File
}

// Open opens (creating) the log at path for appending, rotating it
// within lim.
func Open(path string, lim Limits) (*Writer, error) {
	f, err := OpenFile(path, lim, 0o640)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f}, nil
}

// Write records one chunk of a stream in one write to the file, so a
// reader following the file sees it at once.
func (w *Writer) Write(stream string, p []byte, t time.Time) error {
	data, err := json.Marshal(Entry{Log: string(p), Stream: stream, Time: t.UTC()})
	if err != nil {
		return err
	}
	data = append(data, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.f.Write(data)
	return err
}

// Position is where the next record will be written (File.Position).
// Taken under the same lock as the callers' writes, it separates the
// records written before from those written after.
func (w *Writer) Position() (Position, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Position()
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
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

// keep reports whether o selects e.
func (o *ReadOptions) keep(e *Entry) bool {
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

// Read calls emit for every selected entry of the log at path, across
// its rotated files, oldest first. A log that does not exist is empty.
func Read(ctx context.Context, path string, o ReadOptions, emit func(Entry) error) error {
	files, err := openSet(path)
	if err != nil || len(files) == 0 {
		return err
	}
	keep := o.keep
	idx, off := 0, int64(0)
	if o.Tail >= 0 {
		// The tail is found reading backwards, so that the last lines
		// of a large log cost what they hold, not what the log holds.
		idx, off, err = tailStart(files, o.Tail, func(line []byte) bool {
			var e Entry
			return json.Unmarshal(line, &e) == nil && keep(&e)
		})
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return err
		}
	}
	c := &cursor{path: path}
	defer c.close()
	if err := c.start(files, idx, off); err != nil {
		return err
	}
	var lines lineSplitter
	each := func(p []byte) error {
		return lines.feed(p, func(line []byte) error {
			var e Entry
			if json.Unmarshal(line, &e) != nil || !keep(&e) {
				return nil
			}
			return emit(e)
		})
	}
	if err := c.read(each, lines.reset); err != nil || !o.Follow {
		return err
	}
	running := o.Running
	if running == nil {
		running = func() bool { return true }
	}
	return c.follow(ctx, running, each, lines.reset)
}
