package logfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pollInterval is how often a follower looks for new records.
const pollInterval = 50 * time.Millisecond

// maxRecord bounds what a reader holds of one record (a line): the
// writers here never write a longer one, so a longer line is damage and is
// skipped rather than buffered.
const maxRecord = 1 << 20

// cursor reads the files of a rotating log in order, and follows the
// current file across rotations: it notices that path names another file
// than the one it reads, finishes the one it has open (renamed or
// unlinked, its records are all there) and goes on with the files that
// came after it.
type cursor struct {
	path  string
	cur   *os.File   // the file being read; nil before the log exists
	queue []*os.File // files newer than cur, oldest first
	buf   []byte
}

// start positions the cursor at offset off of files[idx] (files oldest
// first, as openSet returns them) and closes the files before it.
func (c *cursor) start(files []*os.File, idx int, off int64) error {
	for _, f := range files[:idx] {
		f.Close()
	}
	c.cur, c.queue = files[idx], files[idx+1:]
	_, err := c.cur.Seek(off, io.SeekStart)
	return err
}

func (c *cursor) close() {
	if c.cur != nil {
		c.cur.Close()
	}
	for _, f := range c.queue {
		f.Close()
	}
	c.cur, c.queue = nil, nil
}

// read hands each every byte that is in the log now and that it has not
// handed before, oldest first; next is called when it moves to another
// file (a partial record left at the end of the previous one is damage).
func (c *cursor) read(each func([]byte) error, next func()) error {
	if c.buf == nil {
		c.buf = make([]byte, 64<<10)
	}
	for {
		if c.cur == nil {
			// The log did not exist yet when the cursor began.
			files, err := openSet(c.path)
			if err != nil || len(files) == 0 {
				return err
			}
			c.cur, c.queue = files[0], files[1:]
		}
		if err := c.drain(each); err != nil {
			return err
		}
		if len(c.queue) > 0 {
			c.cur.Close()
			c.cur, c.queue = c.queue[0], c.queue[1:]
			next()
			continue
		}
		moved, err := c.rotatedAway()
		if err != nil || !moved {
			return err
		}
		files, err := openSet(c.path)
		if err != nil {
			return err
		}
		// Records written between the drain above and the rotation.
		if err := c.drain(each); err != nil {
			for _, f := range files {
				f.Close()
			}
			return err
		}
		newer := files
		if st, err := c.cur.Stat(); err == nil {
			for i, f := range files {
				if fst, err := f.Stat(); err == nil && os.SameFile(st, fst) {
					newer = files[i+1:]
					for _, old := range files[:i+1] {
						old.Close()
					}
					break
				}
			}
		}
		// A file that is in neither place was rotated out of the log
		// before this reader got to what came after it: all the
		// files there are now are newer.
		if len(newer) == 0 {
			return nil // the log is gone (its container was removed)
		}
		c.queue = newer
	}
}

// drain hands each what the current file holds past the read position.
func (c *cursor) drain(each func([]byte) error) error {
	for {
		n, err := c.cur.Read(c.buf)
		if n > 0 {
			if err := each(c.buf[:n]); err != nil {
				return err
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

// rotatedAway reports whether path no longer names the file being read.
func (c *cursor) rotatedAway() (bool, error) {
	st, err := os.Stat(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	cst, err := c.cur.Stat()
	if err != nil {
		return false, err
	}
	return !os.SameFile(st, cst), nil
}

// follow reads what the log gains every pollInterval until ctx ends or,
// when running is set, it reports false; the writer is then gone and one
// last read catches what it wrote before.
func (c *cursor) follow(ctx context.Context, running func() bool, each func([]byte) error, next func()) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		alive := running == nil || running()
		if err := c.read(each, next); err != nil {
			return err
		}
		if !alive {
			return c.read(each, next)
		}
	}
}

// lineSplitter reassembles the lines (records) of a log from the chunks
// a cursor reads.
type lineSplitter struct {
	pending  []byte
	skipping bool // inside a line longer than maxRecord
}

func (l *lineSplitter) reset() { l.pending, l.skipping = nil, false }

// feed hands each every line that p completes, without its newline.
func (l *lineSplitter) feed(p []byte, each func([]byte) error) error {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if !l.skipping {
				l.pending = append(l.pending, p...)
				if len(l.pending) > maxRecord {
					l.pending, l.skipping = nil, true
				}
			}
			return nil
		}
		line := p[:i]
		p = p[i+1:]
		if l.skipping {
			l.skipping = false
			continue
		}
		if len(l.pending) > 0 {
			line = append(l.pending, line...)
			l.pending = l.pending[:0]
		}
		if err := each(line); err != nil {
			return err
		}
	}
	return nil
}

// scanBack hands each the complete lines of f[0:size), last first, with
// the offset each starts at; each returns false to stop, and scanBack then
// reports true. A last line without its newline (a record being written)
// is skipped, and so is a line longer than maxRecord.
func scanBack(f *os.File, size int64, each func(line []byte, off int64) bool) (bool, error) {
	const chunk = 64 << 10
	pos := size // buf holds the bytes from pos on that were not handed out
	var buf []byte
	started, skipping := false, false
	for pos > 0 {
		n := min(chunk, pos)
		b := make([]byte, n, n+int64(len(buf)))
		if _, err := f.ReadAt(b, pos-n); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		pos -= n
		if !started || skipping {
			// Looking for the newline that ends the line before the
			// bytes dropped so far.
			i := bytes.LastIndexByte(b, '\n')
			if i < 0 {
				continue
			}
			b = b[:i+1]
			started, skipping = true, false
		}
		buf = append(b, buf...)
		for len(buf) > 0 {
			i := bytes.LastIndexByte(buf[:len(buf)-1], '\n')
			if i < 0 {
				break
			}
			if !each(buf[i+1:], pos+int64(i+1)) {
				return true, nil
			}
			buf = buf[:i+1]
		}
		if len(buf) > maxRecord {
			buf, skipping = nil, true
		}
	}
	if len(buf) > 0 && !skipping && !each(buf, 0) {
		return true, nil
	}
	return false, nil
}

// tailStart finds where the last n lines that keep accepts begin in files
// (oldest first): the index of the file and the offset in it. With n == 0
// it is the end of the last complete line; with fewer than n lines, the
// start of the oldest file.
func tailStart(files []*os.File, n int, keep func(line []byte) bool) (int, int64, error) {
	last := len(files) - 1
	count := 0
	for i := last; i >= 0; i-- {
		st, err := files[i].Stat()
		if err != nil {
			return 0, 0, err
		}
		var at int64
		stopped, err := scanBack(files[i], st.Size(), func(line []byte, off int64) bool {
			if n == 0 {
				at = off + int64(len(line))
				return false
			}
			if keep(bytes.TrimSuffix(line, []byte("\n"))) {
				count++
				if count == n {
					at = off
					return false
				}
			}
			return true
		})
		if err != nil {
			return 0, 0, err
		}
		if stopped {
			return i, at, nil
		}
		if n == 0 {
			return last, 0, nil
		}
	}
	return 0, 0, nil
}

// Set is the files of a log held open from one instant on: a rotation
// that drops one of them cannot give its inode to a newer file while the
// set holds it, so a Position taken after the set was opened names one
// file without doubt. It is how a reader reads a log up to a position
// another process takes (an attach reads the log up to the instant its
// stream was attached, which the log's writer tells).
type Set struct {
	path  string
	files []*os.File // oldest first
}

// OpenSet opens the files of the log at path. A log that does not exist
// yet is an empty set.
func OpenSet(path string) (*Set, error) {
	files, err := openSet(path)
	if err != nil {
		return nil, err
	}
	return &Set{path: path, files: files}, nil
}

// Close closes the set's files.
func (s *Set) Close() {
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
}

// End is the position of the end of the set's newest file now (the zero
// Position for an empty set): what the log holds when no one writes it.
func (s *Set) End() (Position, error) {
	if len(s.files) == 0 {
		return Position{}, nil
	}
	f := s.files[len(s.files)-1]
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return Position{}, err
	}
	pos := Position{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size}
	pos.Last = make([]byte, min(lastLen, st.Size))
	if _, err := f.ReadAt(pos.Last, st.Size-int64(len(pos.Last))); err != nil {
		return Position{}, err
	}
	return pos, nil
}

// ReadTo calls emit for every entry o selects (its streams, Since and
// Until; not Tail or Follow) that the log held at pos, oldest first, and
// for none written after pos, however the log rotated since; pos must
// have been taken after the set was opened. It closes the set.
//
// When pos's file is one of the set's, the read ends inside it. When it
// is newer (the log rotated between the opening and pos), the set's files
// all came before pos, and the files that came after them are opened to
// find pos's; if it was rotated out of the log already, none of what is
// left came before pos. (A file of the log created and dropped between
// the opening and the read may have given its inode to a newer one; pos's
// Last tells them apart.)
func (s *Set) ReadTo(pos Position, o ReadOptions, emit func(Entry) error) error {
	defer s.Close()
	files, limit := s.files, int64(-1)
	if i := find(files, pos); i >= 0 {
		files, limit = files[:i+1], pos.Size
	} else {
		later, err := openSet(s.path)
		if err != nil {
			return err
		}
		defer func() {
			for _, f := range later {
				f.Close()
			}
		}()
		newer := later
		if n := len(s.files); n > 0 {
			if fi, err := s.files[n-1].Stat(); err == nil {
				newer = nil
				for j, f := range later {
					if st, err := f.Stat(); err == nil && os.SameFile(fi, st) {
						newer = later[j+1:]
						break
					}
				}
				if newer == nil {
					// The set's newest file was rotated out too: so
					// was every file between it and pos's.
					newer = later
				}
			}
		}
		if j := find(newer, pos); j >= 0 {
			files, limit = append(append([]*os.File(nil), files...), newer[:j+1]...), pos.Size
		}
	}
	buf := make([]byte, 64<<10)
	for i, f := range files {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		var r io.Reader = f
		if i == len(files)-1 && limit >= 0 {
			r = io.LimitReader(f, limit)
		}
		// A partial record at the end of a file is damage.
		var lines lineSplitter
		for {
			n, err := r.Read(buf)
			if n > 0 {
				ferr := lines.feed(buf[:n], func(line []byte) error {
					var e Entry
					if json.Unmarshal(line, &e) != nil || !o.keep(&e) {
						return nil
					}
					return emit(e)
				})
				if ferr != nil {
					return ferr
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// find returns the index of pos's file in files, or -1.
func find(files []*os.File, pos Position) int {
	for i, f := range files {
		if pos.names(f) {
			return i
		}
	}
	return -1
}

// Copy writes the log at path to w, its rotated files first, then, with
// follow, what is appended to it (across rotations) until ctx ends. A log
// that does not exist yet is empty, or, with follow, waited for.
func Copy(ctx context.Context, path string, follow bool, w io.Writer) error {
	files, err := openSet(path)
	if err != nil {
		return err
	}
	c := &cursor{path: path}
	defer c.close()
	if len(files) > 0 {
		if err := c.start(files, 0, 0); err != nil {
			return err
		}
	}
	each := func(p []byte) error { _, err := w.Write(p); return err }
	if err := c.read(each, func() {}); err != nil || !follow {
		return err
	}
	return c.follow(ctx, nil, each, func() {})
}
