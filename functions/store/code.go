package store

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Code packages on disk, under <root>/functions/code:
//
//	<sha256>.zip        the package as uploaded, written atomically
//	<sha256>/           the package unpacked (bind-mounted read-only at /var/task)
//	<sha256>.unpacked   completion marker: "<sha256>\n", written atomically
//	                    once <sha256>/ is complete and on disk
//
// The directory is unpacked under a temporary name, every file in it
// fsynced, and renamed into place (atomicfile.RenameDir); only then is the
// marker written. A directory without a marker that names its digest is
// never trusted: a crash between the rename and the marker, or a
// directory written by a daemon that did not fsync, may hold truncated
// files. It is unpacked again from the zip, at the next upload of the same
// package or, for the packages functions use, when the store opens.

// markerSuffix names the completion marker of an unpacked package.
const markerSuffix = ".unpacked"

// PutCode stores a zip package and unpacks it once, and sets c's
// CodeSha256 (base64, as Lambda reports it) and CodeSize to it. A package
// that does not unpack is ErrInvalidArgument and leaves nothing stored.
func (s *Store) PutCode(c *functions.Config, zipData []byte) error {
	if len(zipData) == 0 {
		return fmt.Errorf("code: ZipFile is empty: %w", errdefs.ErrInvalidArgument)
	}
	if len(zipData) > functions.MaxZipSize {
		return fmt.Errorf("Unzipped size must be smaller than %d bytes: %w", functions.MaxZipSize, errors.Join(functions.ErrTooLarge, errdefs.ErrInvalidArgument))
	}
	sum := sha256.Sum256(zipData)
	if err := s.ensureCode(hex.EncodeToString(sum[:]), zipData); err != nil {
		return err
	}
	c.CodeSha256, c.CodeSize = base64.StdEncoding.EncodeToString(sum[:]), int64(len(zipData))
	return nil
}

// CodeDir is where the zip package of c is unpacked ("" when c has no
// zip package).
func (s *Store) CodeDir(c *functions.Config) string {
	h := codeHex(c)
	if c.PackageType != functions.PackageZip || h == "" {
		return ""
	}
	return s.codeDir(h)
}

// codeHex recovers the content address from Lambda's base64 CodeSha256.
func codeHex(c *functions.Config) string {
	b, err := base64.StdEncoding.DecodeString(c.CodeSha256)
	if err != nil || len(b) != sha256.Size {
		return ""
	}
	return hex.EncodeToString(b)
}

// codeDir is where the unpacked package of a code hash lives.
func (s *Store) codeDir(hexSum string) string { return filepath.Join(s.root, "code", hexSum) }

// unpacked reports whether the package hexSum is unpacked completely.
func (s *Store) unpacked(hexSum string) bool {
	b, err := os.ReadFile(s.codeDir(hexSum) + markerSuffix)
	if err != nil || strings.TrimSpace(string(b)) != hexSum {
		return false
	}
	fi, err := os.Lstat(s.codeDir(hexSum))
	return err == nil && fi.IsDir()
}

// ensureCode makes sure the package hexSum is stored and unpacked
// completely. zipData is the package when the caller has it; otherwise it
// is read from the stored zip, whose digest must match.
func (s *Store) ensureCode(hexSum string, zipData []byte) error {
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	zipPath := s.codeDir(hexSum) + ".zip"
	if zipData == nil {
		if s.unpacked(hexSum) {
			return nil
		}
		data, err := os.ReadFile(zipPath)
		if err != nil {
			return fmt.Errorf("code package %s: %w", hexSum, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hexSum {
			return fmt.Errorf("code package %s: the stored zip does not match its digest: %w", hexSum, errdefs.ErrUnavailable)
		}
		zipData = data
	}
	// The zip is stored before the directory is renamed into place and
	// marked: a marker never exists without the zip it was unpacked
	// from, so the directory can always be rebuilt. A package that does
	// not unpack is not stored at all.
	storeZip := func() error {
		if old, err := os.ReadFile(zipPath); err == nil && sha256.Sum256(old) == sha256.Sum256(zipData) {
			return nil
		}
		return atomicfile.WriteFile(zipPath, zipData, 0o600)
	}
	if s.unpacked(hexSum) {
		return storeZip()
	}
	dir := s.codeDir(hexSum)
	if err := removeTree(dir); err != nil {
		return err
	}
	_ = atomicfile.Remove(dir + markerSuffix)
	if err := unzip(zipData, dir, storeZip); err != nil {
		return err
	}
	return atomicfile.WriteFile(dir+markerSuffix, []byte(hexSum+"\n"), 0o600)
}

// removeTree removes an untrusted directory: it is renamed to a temporary
// name first, so that a crash during the removal leaves no half-removed
// tree under the real name.
func removeTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	tmp, err := atomicfile.TempDir(dir)
	if err != nil {
		return err
	}
	if err := os.Rename(dir, tmp+"/x"); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.RemoveAll(tmp)
}

// unzip unpacks a function package into dir, which must not exist, via a
// temporary directory renamed into place with everything fsynced, so that
// a failed unpack leaves nothing and a crash leaves no torn file under
// dir. beforeRename (if not nil) runs once the package has unpacked,
// before the rename. Every entry is created relative to a descriptor of its parent,
// resolved inside the package root (openat2 RESOLVE_IN_ROOT), never
// following a link: entries can never land outside the package, whatever
// links earlier entries made. Sizes are bounded; regular files keep their
// execute bits.
func unzip(data []byte, dir string, beforeRename func() error) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("Could not unzip uploaded file. Please check your file, then try to upload again: %w", errdefs.ErrInvalidArgument)
	}
	tmp, err := atomicfile.TempDir(dir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root, err := os.OpenFile(tmp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = unzipInto(zr, root)
	root.Close()
	if err != nil {
		return err
	}
	// The sandbox user reads the package: the root is 0755, not the
	// temporary directory's 0700.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if beforeRename != nil {
		if err := beforeRename(); err != nil {
			return err
		}
	}
	return atomicfile.RenameDir(tmp, dir)
}

func unzipInto(zr *zip.Reader, root *os.File) error {
	var total int64
	for _, f := range zr.File {
		// Cleaning against "/" confines "../" and absolute names to the
		// package root.
		if strings.IndexByte(f.Name, 0) >= 0 {
			return fmt.Errorf("zip entry %q: NUL in name: %w", f.Name, errdefs.ErrInvalidArgument)
		}
		name := strings.TrimPrefix(path.Clean("/"+f.Name), "/")
		mode := f.Mode()
		bad := func(err error) error {
			return fmt.Errorf("zip entry %q: %v: %w", f.Name, err, errdefs.ErrInvalidArgument)
		}
		if mode.IsDir() {
			if name == "" {
				continue
			}
			d, err := pathrs.MkdirAllHandle(root, name, 0o755)
			if err != nil {
				return bad(err)
			}
			d.Close()
			continue
		}
		if name == "" {
			return bad(errors.New("not a file name"))
		}
		parent, err := openParent(root, name)
		if err != nil {
			return bad(err)
		}
		n, err := unzipEntry(f, parent, path.Base(name), functions.MaxUnzippedSize-total)
		parent.Close()
		total += n
		if total > functions.MaxUnzippedSize {
			return fmt.Errorf("Unzipped size must be smaller than %d bytes: %w", functions.MaxUnzippedSize, errdefs.ErrInvalidArgument)
		}
		if err != nil {
			return bad(err)
		}
	}
	return nil
}

// openParent returns an O_PATH handle on the directory that holds name
// inside root, creating missing directories.
func openParent(root *os.File, name string) (*os.File, error) {
	if dir := path.Dir(name); dir != "." {
		return pathrs.MkdirAllHandle(root, dir, 0o755)
	}
	return pathrs.Reopen(root, unix.O_PATH|unix.O_DIRECTORY)
}

// unzipEntry creates one link or regular file named base in parent and
// returns the bytes written; at most left+1 are written (so that the
// caller sees the total go over its bound).
func unzipEntry(f *zip.File, parent *os.File, base string, left int64) (int64, error) {
	mode := f.Mode()
	switch {
	case mode&os.ModeSymlink != 0:
		rc, err := f.Open()
		if err != nil {
			return 0, err
		}
		link, err := io.ReadAll(io.LimitReader(rc, 4096))
		rc.Close()
		if err != nil {
			return 0, err
		}
		// The link is kept as written; at run time it resolves inside
		// the sandbox's own root, never the host's.
		return 0, unix.Symlinkat(string(link), int(parent.Fd()), base)
	case !mode.IsRegular():
		return 0, errors.New("unsupported file type")
	}
	perm := uint32(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	fd, err := unix.Openat(int(parent.Fd()), base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return 0, err
	}
	out := os.NewFile(uintptr(fd), base)
	defer out.Close()
	if err := out.Chmod(os.FileMode(perm)); err != nil {
		return 0, err
	}
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(out, io.LimitReader(rc, left+1))
}
