package events

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

const (
	currentName  = "events.log"
	previousName = "events.log.1"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is an event as a log line holds it.
type record struct {
	Type   string            `json:"type"`
	Action string            `json:"action"`
	ID     string            `json:"id,omitempty"`
	Attrs  map[string]string `json:"attrs,omitempty"`
	Scope  string            `json:"scope,omitempty"`
	Time   int64             `json:"time"` // Unix nanoseconds
}

// encodeLine renders an event as one log line.
func encodeLine(ev Event) ([]byte, error) {
	data, err := json.Marshal(record{Type: ev.Type, Action: ev.Action, ID: ev.Actor.ID, Attrs: ev.Actor.Attributes, Scope: ev.Scope, Time: ev.Time.UnixNano()})
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(data)+10)
	var sum [4]byte
	c := crc32.Checksum(data, castagnoli)
	sum[0], sum[1], sum[2], sum[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	line = hex.AppendEncode(line, sum[:])
	line = append(line, ' ')
	line = append(line, data...)
	return append(line, '\n'), nil
}

var errBadLine = errors.New("torn or corrupt line")

// decodeLine parses a line without its newline.
func decodeLine(line []byte) (Event, error) {
	if len(line) < 10 || line[8] != ' ' {
		return Event{}, errBadLine
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return Event{}, errBadLine
	}
	data := line[9:]
	if crc32.Checksum(data, castagnoli) != uint32(sum[0])<<24|uint32(sum[1])<<16|uint32(sum[2])<<8|uint32(sum[3]) {
		return Event{}, errBadLine
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return Event{}, errBadLine
	}
	if r.Attrs == nil {
		r.Attrs = map[string]string{}
	}
	return Event{Type: r.Type, Action: r.Action, Actor: Actor{ID: r.ID, Attributes: r.Attrs}, Scope: r.Scope, Time: time.Unix(0, r.Time)}, nil
}

// diskLog is the on-disk log (see the package doc). The bus's lock
// guards it.
type diskLog struct {
	dir string
	// segment is the size a segment may reach: half the log's bound.
	segment int64
	f       *os.File
	size    int64
}

func openLog(dir string, maxBytes int64) (*diskLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l := &diskLog{dir: dir, segment: maxBytes / 2}
	cur := filepath.Join(dir, currentName)
	good, err := validPrefix(cur, l.segment)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if err == nil {
		// What follows the last whole line is a write a crash tore.
		if err := os.Truncate(cur, good); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(cur, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	l.f, l.size = f, good
	return l, nil
}

// validPrefix is the length of the file's leading whole, valid lines.
func validPrefix(path string, maxLine int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	lr := newLineReader(f, maxLine)
	var good int64
	for {
		line, n, err := lr.line()
		if err != nil {
			return good, nil
		}
		if _, err := decodeLine(line); err != nil {
			return good, nil
		}
		good += n
	}
}

// append writes one event; an event too big for a segment is refused.
func (l *diskLog) append(ev Event) error {
	line, err := encodeLine(ev)
	if err != nil {
		return err
	}
	n := int64(len(line))
	if n > l.segment {
		return fmt.Errorf("an event of %d bytes does not fit in the log", n)
	}
	if l.size+n > l.segment && l.size > 0 {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if _, err := l.f.Write(line); err != nil {
		// A part of a line would end the segment for replays: take it
		// back (were that to fail too, the next open truncates it).
		_ = l.f.Truncate(l.size)
		return err
	}
	l.size += n
	return nil
}

// rotate makes the current segment the previous one and starts a new one.
func (l *diskLog) rotate() error {
	if err := l.f.Close(); err != nil {
		return err
	}
	cur := filepath.Join(l.dir, currentName)
	if err := os.Rename(cur, filepath.Join(l.dir, previousName)); err != nil {
		return err
	}
	f, err := os.OpenFile(cur, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	l.f, l.size = f, 0
	return nil
}

// replay opens the segments as they are now: the reader sees the events
// logged so far and none after, even if segments rotate while it reads.
func (l *diskLog) replay() (replayer, error) {
	r := &fileReplay{maxLine: l.segment}
	if f, err := os.Open(filepath.Join(l.dir, previousName)); err == nil {
		r.files = append(r.files, fileAt{f: f, size: -1})
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	f, err := os.Open(filepath.Join(l.dir, currentName))
	if err != nil {
		r.close()
		return nil, err
	}
	r.files = append(r.files, fileAt{f: f, size: l.size})
	return r, nil
}

func (l *diskLog) close() error { return l.f.Close() }

type fileAt struct {
	f    *os.File
	size int64 // bytes to read; -1: all
}

// fileReplay reads the segments a replay opened, oldest first.
type fileReplay struct {
	files   []fileAt
	maxLine int64
	lr      *lineReader
}

func (r *fileReplay) next() (Event, error) {
	for {
		if r.lr == nil {
			if len(r.files) == 0 {
				return Event{}, io.EOF
			}
			var src io.Reader = r.files[0].f
			if r.files[0].size >= 0 {
				src = io.LimitReader(src, r.files[0].size)
			}
			r.lr = newLineReader(src, r.maxLine)
		}
		line, _, err := r.lr.line()
		if err == nil {
			ev, derr := decodeLine(line)
			if derr == nil {
				return ev, nil
			}
		}
		// The end of a segment, or a torn line, which ends it.
		r.files[0].f.Close()
		r.files = r.files[1:]
		r.lr = nil
	}
}

func (r *fileReplay) close() {
	for _, f := range r.files {
		f.f.Close()
	}
	r.files = nil
	r.lr = nil
}

// lineReader reads newline-terminated lines of at most max bytes.
type lineReader struct {
	br  *bufio.Reader
	max int64
	buf bytes.Buffer
}

func newLineReader(r io.Reader, max int64) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// line returns the next line without its newline and the bytes it took;
// a last line without a newline is an error, as is a line too long.
func (lr *lineReader) line() ([]byte, int64, error) {
	lr.buf.Reset()
	for {
		frag, err := lr.br.ReadSlice('\n')
		lr.buf.Write(frag)
		if int64(lr.buf.Len()) > lr.max {
			return nil, 0, errBadLine
		}
		switch {
		case err == nil:
			b := lr.buf.Bytes()
			return b[:len(b)-1], int64(len(b)), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			if err == io.EOF && lr.buf.Len() > 0 {
				return nil, 0, errBadLine
			}
			return nil, 0, err
		}
	}
}
