package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Limits bound a log on disk, as Docker's max-size and max-file options
// do.
type Limits struct {
	// MaxSize is the size a file may reach; the record that would take it
	// past MaxSize goes to a new file. Zero or less: the log never
	// rotates and grows without bound.
	MaxSize int64
	// MaxFiles is how many files the log keeps, the one being written
	// included; less than 1 counts as 1 (rotation then starts the file
	// afresh).
	MaxFiles int
}

// rotated returns the name of the nth rotated file of the log at path.
func rotated(path string, n int) string { return path + "." + strconv.Itoa(n) }

// File is an append-only log file that rotates itself within its Limits.
// Every Write is one record: a record never straddles two files, so a
// file holds at most MaxSize bytes unless a single record is larger. It
// is not safe for concurrent use; its callers serialise their writes.
//
// All its state is on disk (the size of the current file, the rotated
// files next to it), so a File opened again on the same path, by another
// process or after a restart, carries on where the last one stopped.
type File struct {
	path string
	lim  Limits
	perm os.FileMode
	f    *os.File
	size int64
	// last is the file's last bytes (Position's Last), as far as this
	// File wrote them.
	last []byte
}

// OpenFile opens (creating) the log at path for appending.
func OpenFile(path string, lim Limits, perm os.FileMode) (*File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, perm)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if lim.MaxFiles < 1 {
		lim.MaxFiles = 1
	}
	return &File{path: path, lim: lim, perm: perm, f: f, size: st.Size()}, nil
}

// Write appends one record, rotating first if the record would take the
// current file past MaxSize.
func (l *File) Write(p []byte) (int, error) {
	if l.lim.MaxSize > 0 && l.size > 0 && l.size+int64(len(p)) > l.lim.MaxSize {
		// A rotation that could not shift the files but started a new
		// one loses the old records, not this one; one that could not
		// start a new file writes nothing rather than pass the bound.
		if err := l.rotate(); err != nil && l.size != 0 {
			return 0, fmt.Errorf("rotating log %s: %w", l.path, err)
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	l.last = append(l.last, p[max(0, n-lastLen):n]...)
	if k := len(l.last) - lastLen; k > 0 {
		l.last = append(l.last[:0], l.last[k:]...)
	}
	return n, err
}

// Close closes the current file.
func (l *File) Close() error { return l.f.Close() }

// Position is a point in a rotating log: the end of the current file at
// some instant, named by the file's identity (device and inode), which
// rotations keep, and its size then. A reader stops there (Set.ReadTo)
// to read what the log held at that instant, whatever rotated since.
//
// Last is the file's last bytes then (up to lastLen; fewer when the
// writer did not write them all, having opened the file with records in
// it): records carry their time to the nanosecond, so a file
// that got the inode after the position's file was dropped does not
// hold the same bytes there, and is not taken for it.
type Position struct {
	Dev, Ino uint64
	Size     int64
	Last     []byte `json:",omitempty"`
}

// lastLen is how much of the last record a Position keeps.
const lastLen = 64

// Position is where the next record goes: the current file's end.
func (l *File) Position() (Position, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(l.f.Fd()), &st); err != nil {
		return Position{}, err
	}
	return Position{Dev: uint64(st.Dev), Ino: st.Ino, Size: l.size, Last: bytes.Clone(l.last)}, nil
}

// names reports whether f is the file of p: its identity, and the end of
// its last record at p where p knows it.
func (p Position) names(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || uint64(st.Dev) != p.Dev || st.Ino != p.Ino {
		return false
	}
	if len(p.Last) == 0 {
		return true
	}
	if int64(len(p.Last)) > p.Size {
		return false
	}
	b := make([]byte, len(p.Last))
	if _, err := f.ReadAt(b, p.Size-int64(len(b))); err != nil {
		return false
	}
	return bytes.Equal(b, p.Last)
}

// rotate shifts path.N-2 → path.N-1, ..., path → path.1 (dropping the
// oldest), as Docker's json-file driver does, and starts an empty path.
// Readers hold the directory's lock shared while they open the files, so
// they see the log before or after a rotation, never halfway.
func (l *File) rotate() error {
	unlock, err := lockDir(l.path, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	var renameErr error
	if l.lim.MaxFiles > 1 {
		renameErr = shift(l.path, l.lim.MaxFiles)
	} else if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		renameErr = err
	}
	// Files past the limit (left by a larger max-file before) go, so
	// that the log fits its bound whatever it held when opened.
	for n := l.lim.MaxFiles; ; n++ {
		if err := os.Remove(rotated(l.path, n)); err != nil {
			break
		}
	}
	dropExpired(l.path, l.lim.MaxFiles, time.Now())
	// Whatever happened above, the file written from now on starts
	// empty: a failed rename must not let the log grow past its bound.
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, l.perm)
	if err != nil {
		return errors.Join(renameErr, err)
	}
	l.f.Close()
	l.f, l.size, l.last = f, 0, l.last[:0]
	return renameErr
}

// RetentionPath is the file that holds a log's retention in days
// (CloudWatch Logs' PutRetentionPolicy): rotations drop the rotated files
// whose newest record is older than that. The daemon writes it; the log's
// writer (a shim, the functions engine) reads it at each rotation only, so
// a change applies to running containers without telling their shims.
func RetentionPath(path string) string { return path + ".retention" }

// SetRetention writes (days > 0) or removes (days 0) the retention of the
// log at path.
func SetRetention(path string, days int) error {
	if days <= 0 {
		if err := os.Remove(RetentionPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	tmp := RetentionPath(path) + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(days)+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, RetentionPath(path))
}

// Retention reads the retention of the log at path (0: none).
func Retention(path string) int {
	data, err := os.ReadFile(RetentionPath(path))
	if err != nil || len(data) > 16 {
		return 0
	}
	days, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || days < 0 {
		return 0
	}
	return days
}

// dropExpired removes the rotated files of the log at path whose last
// write (their newest record) is older than the log's retention. The
// current file is never dropped: it is being written.
func dropExpired(path string, maxFiles int, now time.Time) {
	days := Retention(path)
	if days == 0 {
		return
	}
	cutoff := now.Add(-time.Duration(days) * 24 * time.Hour)
	for n := 1; n < maxFiles; n++ {
		st, err := os.Stat(rotated(path, n))
		if err == nil && st.ModTime().Before(cutoff) {
			_ = os.Remove(rotated(path, n))
		}
	}
}

// shift renames the files of the log to make room for a new current file.
func shift(path string, maxFiles int) error {
	if err := os.Remove(rotated(path, maxFiles-1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for n := maxFiles - 1; n > 1; n-- {
		if err := os.Rename(rotated(path, n-1), rotated(path, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(path, rotated(path, 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// lockDir takes the flock of the directory holding the log at path:
// exclusive while a writer rotates, shared while a reader opens the files.
// A missing directory is reported as fs.ErrNotExist.
func lockDir(path string, how int) (unlock func(), err error) {
	fd, err := unix.Open(filepath.Dir(path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "flock", Path: filepath.Dir(path), Err: err}
	}
	return func() { unix.Close(fd) }, nil
}

// maxRotated bounds the scan for rotated files: no log keeps more.
const maxRotated = 1000

// openSet opens the files of the log at path, oldest first (path.N-1 ...
// path.1, path), under the directory's shared lock so that no rotation
// is halfway. A log with no file at all gives none and no error.
func openSet(path string) ([]*os.File, error) {
	unlock, err := lockDir(path, unix.LOCK_SH)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	var files []*os.File
	fail := func(err error) ([]*os.File, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	for n := 1; n <= maxRotated; n++ {
		f, err := os.Open(rotated(path, n))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return fail(err)
		}
		files = append(files, f)
	}
	for i, j := 0, len(files)-1; i < j; i, j = i+1, j-1 {
		files[i], files[j] = files[j], files[i]
	}
	f, err := os.Open(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	if f != nil {
		files = append(files, f)
	}
	return files, nil
}
