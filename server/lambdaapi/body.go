package lambdaapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/identity"
)

// Request bodies before their signature is verified.
//
// Everything of a signature that does not need the body is checked first
// (identity.CheckHeaders: a known key, a fresh date, the scope's day and
// service), and the announced Content-Length against the operation's
// bound. Only then is the body read, and it is hashed as it is read:
//
//   - a code upload (CreateFunction, UpdateFunctionCode: up to
//     MaxCodeBody) is streamed to an unnamed file in the spool directory,
//     at most maxSpooling at once, each holding its slot until its request
//     is done (the handler decodes the JSON from the file);
//   - any other body (an invocation's, up to 6 MB) is read into memory,
//     within a budget of memoryBudget bytes for all requests together
//     until their signatures are verified.
//
// A request over either bound is refused with TooManyRequestsException
// (the SDKs retry it). A body must arrive within bodyTimeout of its
// headers: the read deadline is per request, set when the request
// arrives and cleared once its body is read, so that a long synchronous
// invocation's response is never cut (http.Server's ReadTimeout would
// cancel the request's context, its WriteTimeout the response).
const (
	maxSpooling  = 4
	memoryBudget = 64 << 20
	// minBodyRate is the slowest a body may arrive: a 68 MB upload may
	// take five minutes, a 6 MB payload about one.
	minBodyRate = 256 << 10
	bodyGrace   = 30 * time.Second
)

// bodyTimeout is how long a body of n bytes may take to arrive.
func (s *Server) bodyTimeout(n int64) time.Duration {
	return s.bodyGrace + time.Duration(n/s.minBodyRate)*time.Second
}

// WithBodyDeadline replaces the body deadline's grace (30s) and the
// slowest rate it allows (256 KB/s).
func WithBodyDeadline(grace time.Duration, minRate int64) Option {
	return func(s *Server) { s.bodyGrace, s.minBodyRate = grace, max(minRate, 1) }
}

// WithSpoolDir sets where code uploads are spooled while their signature
// is verified (default: os.TempDir()). The files have no name: a crash
// leaves nothing behind.
func WithSpoolDir(dir string) Option { return func(s *Server) { s.spoolDir = dir } }

// budget is a count of bytes that requests take from and give back.
type budget struct {
	mu   sync.Mutex
	left int64
}

func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

// errBusy is a request refused because the bounds above are reached.
var errBusy = &apiError{status: http.StatusTooManyRequests, typ: "TooManyRequestsException", msg: "Rate exceeded", reason: "CallerRateLimitExceeded"}

// spooled is a code upload's body on disk; Close closes the file (which
// has no name, so this removes it).
type spooled struct {
	*os.File
}

// readSigned reads r's body as the package doc above says and verifies the
// signature sr started. It returns the identity and a function that
// releases what the request holds, to be called when it is done.
func (s *Server) readSigned(r *http.Request, sr *identity.Signed, limit int64) (*identity.Identity, func(), error) {
	if r.ContentLength == 0 || !spools(r.URL.Path) {
		n := r.ContentLength
		if n < 0 || n > limit {
			n = limit
		}
		if !s.memory.take(n) {
			return nil, nil, errBusy
		}
		defer s.memory.give(n)
		id, err := sr.VerifyBody(r, limit)
		return id, func() {}, err
	}
	select {
	case s.spoolSlots <- struct{}{}:
	default:
		return nil, nil, errBusy
	}
	release := func() { <-s.spoolSlots }
	f, hash, err := spool(s.spoolDir, r.Body, limit)
	if err != nil {
		release()
		return nil, nil, err
	}
	release = func() { f.Close(); <-s.spoolSlots }
	id, err := sr.VerifyPayload(r, hash)
	if err != nil {
		release()
		return nil, nil, err
	}
	r.Body = spooled{f}
	return id, release, nil
}

// spools tells the operations whose body is spooled to disk.
func spools(path string) bool { return bodyLimit(path) == MaxCodeBody }

// spool copies body (at most limit bytes; more is an error) to an unnamed
// file in dir, hashing it as it goes, and returns the file rewound and the
// hex SHA-256.
func spool(dir string, body io.Reader, limit int64) (*os.File, string, error) {
	f, err := unnamedFile(dir)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, limit+1))
	if err == nil && n > limit {
		err = &http.MaxBytesError{Limit: limit}
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, "", err
	}
	return f, hex.EncodeToString(h.Sum(nil)), nil
}

// unnamedFile opens a file in dir that has no name (O_TMPFILE), or one
// whose name is removed at once where the file system lacks O_TMPFILE.
func unnamedFile(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(spooled body)"), nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f, err := os.CreateTemp(dir, ".lambda-body-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return f, nil
}
