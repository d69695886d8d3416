package invoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/runtime/logfile"
)

// DefaultLogLimits bound a function's log unless WithLogLimits says
// otherwise: 3 files of 10 MiB, the current one and two rotated ones
// (logs/<name>.log.1, .2), so that a chatty function cannot fill the disk.
var DefaultLogLimits = logfile.Limits{MaxSize: 10 << 20, MaxFiles: 3}

// WithLogLimits bounds each function's log; lim.MaxSize 0 lets it grow
// without bound.
func WithLogLimits(lim logfile.Limits) Option { return func(e *Engine) { e.logLimits = lim } }

// funcLog appends a function's log lines (START, the runtime's output,
// END, REPORT) to its file, rotating it within its limits. The file is a
// CloudWatch log group: each line is a record in Docker's json-file shape
// (runtime/logfile) whose stream is the log stream of the sandbox that
// wrote it, named as Lambda names them (YYYY/MM/DD/[$LATEST]<32 hex>), and
// whose time is when the daemon received it. Every write is one File
// write, however many lines it holds: a rotation never splits it.
type funcLog struct {
	mu sync.Mutex
	f  *logfile.File // nil once closed
}

func openFuncLog(path string, lim logfile.Limits) (*funcLog, error) {
	f, err := logfile.OpenFile(path, lim, 0o600)
	if err != nil {
		return nil, err
	}
	return &funcLog{f: f}, nil
}

// Write appends p's lines in a stream of their own (what no sandbox
// wrote: a failed init's report).
func (l *funcLog) Write(p []byte) (int, error) {
	return l.WriteStream(streamName(time.Now(), "$LATEST"), p)
}

// WriteStream appends p's lines as records of stream, in one write. After
// Close (the function was deleted) what its last sandboxes still write is
// dropped: a write must not create the log again, as a rotation would.
func (l *funcLog) WriteStream(stream string, p []byte) (int, error) {
	rec := encodeLines(stream, p, time.Now().UTC())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return len(p), nil
	}
	if _, err := l.f.Write(rec); err != nil {
		return 0, err
	}
	return len(p), nil
}

// encodeLines turns p into one json-file record per line (a last line
// without its newline is a record too).
func encodeLines(stream string, p []byte, t time.Time) []byte {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	for len(p) > 0 {
		n := bytes.IndexByte(p, '\n') + 1
		if n == 0 {
			n = len(p)
		}
		_ = enc.Encode(logfile.Entry{Log: string(p[:n]), Stream: stream, Time: t})
		p = p[n:]
	}
	return out.Bytes()
}

// streamName names a new sandbox's log stream as Lambda does: the date it
// started, the version it runs, and 32 random hex digits.
func streamName(t time.Time, version string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("2006/01/02") + "/[" + version + "]" + hex.EncodeToString(b[:])
}

func (l *funcLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// removeLog closes a deleted function's log and removes its files, the
// rotated ones (<name>.log.N) too. It runs with the store locked
// (changed), so that no function of the same name is created meanwhile.
func (e *Engine) removeLog(name string) error {
	e.mu.Lock()
	l := e.logs[name]
	delete(e.logs, name)
	e.mu.Unlock()
	if l != nil {
		_ = l.Close()
	}
	path := e.LogPath(name)
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	base := filepath.Base(path)
	var errs []error
	for _, de := range ents {
		n := de.Name()
		// Its retention (CloudWatch Logs' PutRetentionPolicy) goes too.
		if n != base && !isRotated(n, base) && n != filepath.Base(logfile.RetentionPath(path)) {
			continue
		}
		if err := os.Remove(filepath.Join(filepath.Dir(path), n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isRotated reports whether n is a rotated file of the log named base
// (base.N). Function names hold no dot, so no other function's log
// matches.
func isRotated(n, base string) bool {
	num, ok := strings.CutPrefix(n, base+".")
	if !ok || num == "" {
		return false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return false
		}
	}
	return true
}

func (e *Engine) logFor(name string) (*funcLog, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.logs[name]; ok {
		return l, nil
	}
	l, err := openFuncLog(e.LogPath(name), e.logLimits)
	if err != nil {
		return nil, err
	}
	e.logs[name] = l
	return l, nil
}

// LogPath is where a function's log is written; rotated files get .1,
// .2, ... after it.
func (e *Engine) LogPath(name string) string { return e.st.LogPath(name) }

// CopyLog writes a function's log to w, its rotated files first, and with
// follow what is appended to it (across rotations) until ctx ends; a log
// that does not exist yet is empty, or waited for.
func (e *Engine) CopyLog(ctx context.Context, name string, follow bool, w io.Writer) error {
	return logfile.Copy(ctx, e.LogPath(name), follow, &recordSplitter{each: func(en logfile.Entry) error {
		_, err := io.WriteString(w, en.Log)
		return err
	}})
}

// ReadLog calls each with every record of a function's log, oldest
// first, across its rotated files. Lines written before the log held
// records (plain text) come with their text only.
func (e *Engine) ReadLog(ctx context.Context, name string, each func(logfile.Entry) error) error {
	return logfile.Copy(ctx, e.LogPath(name), false, &recordSplitter{each: each})
}

// recordSplitter decodes the lines written to it as records.
type recordSplitter struct {
	each    func(logfile.Entry) error
	pending []byte
}

// maxRecordLine bounds a line held while its end has not arrived; the
// writer never writes a longer one (a longer one is dropped).
const maxRecordLine = 1 << 20

func (s *recordSplitter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(s.pending)+len(p) <= maxRecordLine {
				s.pending = append(s.pending, p...)
			} else {
				s.pending = s.pending[:0]
			}
			break
		}
		line := p[:i+1]
		if len(s.pending) > 0 {
			line = append(s.pending, line...)
			s.pending = nil
		}
		p = p[i+1:]
		var en logfile.Entry
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &en) != nil {
			en = logfile.Entry{Log: string(line)}
		}
		if err := s.each(en); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// tailSize is how much log an invocation with LogType Tail returns.
const tailSize = 4096

// sandboxOutput receives one sandbox's stdout and stderr: everything goes
// to the function's log, and what arrives during an invocation is also
// kept for the Tail log of that invocation.
//
// An invocation's START line is held (pending) until the next write: the
// runtime's first output or the END and REPORT lines. A function that
// prints nothing thus costs one write to the log per invocation, not two,
// and the order of the lines in the file is unchanged.
type sandboxOutput struct {
	log *funcLog
	// stream is the sandbox's log stream (streamName).
	stream  string
	mu      sync.Mutex
	cap     *bytes.Buffer
	pending []byte
}

func (o *sandboxOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(p), o.writeLocked(p)
}

// writeLocked writes any pending line and then p, in one write.
func (o *sandboxOutput) writeLocked(p []byte) error {
	if o.pending != nil {
		p = append(o.pending, p...)
		o.pending = nil
	}
	if o.cap != nil {
		o.cap.Write(p)
		if o.cap.Len() > 4*tailSize {
			b := o.cap.Bytes()
			o.cap = bytes.NewBuffer(append([]byte(nil), b[len(b)-tailSize:]...))
		}
	}
	_, err := o.log.WriteStream(o.stream, p)
	return err
}

// capture starts (or with nil ends) collecting output for an invocation.
func (o *sandboxOutput) capture(b *bytes.Buffer) {
	o.mu.Lock()
	o.cap = b
	o.mu.Unlock()
}

// start holds an invocation's START line until the next write (see
// sandboxOutput).
func (o *sandboxOutput) start(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending != nil {
		_ = o.writeLocked(nil)
	}
	o.pending = append(make([]byte, 0, len(s)+1+256), s...)
	o.pending = append(o.pending, '\n')
}

// flush writes a pending START line.
func (o *sandboxOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending != nil {
		_ = o.writeLocked(nil)
	}
}

// line writes a platform line (END, REPORT, errors) to the log and the
// capture, after any pending START.
func (o *sandboxOutput) line(s string) {
	o.lineBytes([]byte(s))
}

// lineBytes is line for a line built in b (which it may append to).
func (o *sandboxOutput) lineBytes(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.writeLocked(append(b, '\n'))
}
