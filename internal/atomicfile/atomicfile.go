// Package atomicfile writes records and directories so that a crash, at
// any instant, leaves either the old content or the new one on disk,
// never a torn or empty file.
//
// A file is written to a temporary name in the same directory, fsynced,
// renamed over its final name, and the directory is fsynced so that the
// rename itself is durable. A directory is built under a temporary name,
// every file and directory in it fsynced, then renamed into place the same
// way. Without the fsyncs a crash after the rename can leave the new name
// pointing at data that never reached the disk: a zero-length record, or a
// code directory whose files are empty.
//
// Every record the daemon writes goes through WriteFile: the engine's
// container, network and volume records, the image store's records and
// tags, the functions' records, the CLI's credentials. Pending is the
// same for content that is streamed, or named only once written (a blob
// by its digest). NoSync keeps the atomic rename without the fsyncs, for
// the deliberate exceptions that need a whole file, not a durable one;
// each use says why.
//
// This package is linked into the lean binary (shim, init, the CLI's hot
// commands): it imports nothing beyond the standard library and
// golang.org/x/sys/unix.
//
// Reading side: SetAside moves a record that does not parse out of the way
// (<name>.corrupt-<time>), so that a daemon starts with the rest and the
// damaged file is kept for a person to look at.
//
// Temporary names start with "." and contain ".tmp-"; IsTemp tells them,
// so that whoever lists a directory of records can skip (or remove) those
// a crash left.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tmpInfix marks the temporary names this package creates.
const tmpInfix = ".tmp-"

// IsTemp reports whether name (a base name) is one of the temporary names
// WriteFile or TempDir create.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tmpInfix)
}

// Option changes how WriteFile and Pending.Commit write.
type Option func(*options)

type options struct{ noSync bool }

// NoSync keeps the temporary name and the rename, so that a reader, and a
// daemon restarted after a crash of its own, sees the old content or the
// new one, whole, but skips both fsyncs: a crash of the host may lose the
// write, or leave an empty file. It is for records that need to be whole
// and not durable: those that live on a tmpfs (the exec-root), that are
// rewritten and read at once (an OCI bundle's config.json), or whose
// owner does not survive a host crash anyway (a --rm container). Each use
// says why.
func NoSync() Option { return func(o *options) { o.noSync = true } }

// WriteFile writes data to path atomically and durably, with permissions
// perm (the umask does not apply). An existing file is replaced only once
// the new content is on disk.
func WriteFile(path string, data []byte, perm os.FileMode, opts ...Option) error {
	dir, base := filepath.Split(path)
	p, err := CreateTemp(dir, base)
	if err != nil {
		return err
	}
	defer p.Abort()
	if _, err := p.Write(data); err != nil {
		return err
	}
	return p.Commit(path, perm, opts...)
}

// Pending is a file being written under a temporary name, for content
// that is streamed rather than held in memory, or whose final name is
// known only once it is written (a blob named by its digest). Commit
// publishes it; Abort, which is safe to defer, removes it unless it was
// committed.
type Pending struct {
	f    *os.File
	done bool
}

// CreateTemp creates a Pending file in dir, named after base (IsTemp
// tells its name). The final name given to Commit must be on the same
// filesystem, and is best in the same directory.
func CreateTemp(dir, base string) (*Pending, error) {
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+tmpInfix+"*")
	if err != nil {
		return nil, err
	}
	return &Pending{f: f}, nil
}

// Write appends to the file.
func (p *Pending) Write(b []byte) (int, error) { return p.f.Write(b) }

// Name is the file's temporary name.
func (p *Pending) Name() string { return p.f.Name() }

// Commit gives the file the permissions perm, fsyncs it, renames it to
// path and fsyncs path's directory, so that the new name never points at
// data that did not reach the disk. With NoSync it only renames.
func (p *Pending) Commit(path string, perm os.FileMode, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := p.f.Chmod(perm); err != nil {
		return err
	}
	if !o.noSync {
		if err := p.f.Sync(); err != nil {
			return err
		}
	}
	if err := p.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(p.f.Name(), path); err != nil {
		return err
	}
	p.done = true
	if o.noSync {
		return nil
	}
	return SyncDir(filepath.Dir(path))
}

// Abort closes and removes the file unless Commit published it.
func (p *Pending) Abort() {
	if p.done {
		return
	}
	p.done = true
	_ = p.f.Close()
	_ = os.Remove(p.f.Name())
}

// SyncDir fsyncs a directory, making the creations, renames and removals
// of its entries durable.
func SyncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// Remove removes the file at path durably (its directory is fsynced). A
// missing file is not an error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// TempDir creates a new directory, mode 0700, beside dst, for content that
// RenameDir will move to dst.
func TempDir(dst string) (string, error) {
	dir, base := filepath.Split(filepath.Clean(dst))
	if dir == "" {
		dir = "."
	}
	return os.MkdirTemp(dir, "."+base+tmpInfix+"*")
}

// RenameDir moves the fully written directory src to dst durably: every
// regular file and directory under src is fsynced (symbolic links are
// never followed), src is renamed to dst, and the parent directories of
// both are fsynced. dst must not exist, or be an empty directory; a
// non-empty dst fails with an error that errors.Is os.ErrExist.
func RenameDir(src, dst string) error {
	fd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: src, Err: err}
	}
	err = syncTree(fd, src)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: %w", err, os.ErrExist)
		}
		return err
	}
	if err := SyncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	if sp, dp := filepath.Dir(filepath.Clean(src)), filepath.Dir(filepath.Clean(dst)); sp != dp {
		return SyncDir(sp)
	}
	return nil
}

// syncTree fsyncs the directory open at dirfd and everything below it,
// opening each entry relative to its parent's descriptor without
// following symbolic links, so that no name under it can lead elsewhere.
func syncTree(dirfd int, name string) error {
	// The names are read through a duplicate: closing the *os.File that
	// reads them must not close dirfd, which the caller owns.
	dup, err := unix.Dup(dirfd)
	if err != nil {
		return err
	}
	dd := os.NewFile(uintptr(dup), name)
	ents, err := dd.ReadDir(-1)
	dd.Close()
	if err != nil {
		return err
	}
	for _, e := range ents {
		switch {
		case e.Type().IsDir():
			cfd, err := unix.Openat(dirfd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return &os.PathError{Op: "open", Path: filepath.Join(name, e.Name()), Err: err}
			}
			err = syncTree(cfd, filepath.Join(name, e.Name()))
			unix.Close(cfd)
			if err != nil {
				return err
			}
		case e.Type().IsRegular():
			cfd, err := unix.Openat(dirfd, e.Name(), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
			if err != nil {
				return &os.PathError{Op: "open", Path: filepath.Join(name, e.Name()), Err: err}
			}
			err = unix.Fsync(cfd)
			unix.Close(cfd)
			if err != nil {
				return &os.PathError{Op: "fsync", Path: filepath.Join(name, e.Name()), Err: err}
			}
		}
	}
	if err := unix.Fsync(dirfd); err != nil {
		return &os.PathError{Op: "fsync", Path: name, Err: err}
	}
	return nil
}

// SetAside renames the damaged record at path to
// <path>.corrupt-<now, UTC, to the nanosecond> and returns the new name.
// The directory is fsynced so that a crash does not bring the damaged
// record back under its name.
func SetAside(path string, now time.Time) (string, error) {
	dst := path + ".corrupt-" + now.UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, dst); err != nil {
		return "", err
	}
	return dst, SyncDir(filepath.Dir(path))
}
