// Package unpack applies OCI/Docker layer tars to a directory.
//
// Every path in a layer is resolved inside the target directory: parent
// directories are opened with openat2(RESOLVE_IN_ROOT) through
// github.com/cyphar/filepath-securejoin, and the last component is created
// with *at system calls relative to that parent, never following a symlink.
// A symlink in the layer pointing at "/" or "../../.." therefore resolves to
// the layer's own root, as it would inside the container, and nothing can be
// written outside the directory. Names that try to climb out ("../x") or are
// absolute are refused with errdefs.ErrInvalidArgument.
//
// OCI whiteouts are converted to the overlayfs form, so that each layer can
// be unpacked into its own empty directory and stacked with overlay:
//
//	.wh.<name>      -> a 0/0 character device <name>
//	.wh..wh..opq    -> xattr trusted.overlay.opaque=y on the directory
//
// trusted.overlay.* xattrs carried by the tar itself are dropped: only the
// conversion above may set them, otherwise a layer could forge redirects or
// metacopy attributes that overlayfs would trust.
package unpack

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	paxXattr       = "SCHILY.xattr."
)

// Apply extracts the uncompressed layer tar read from r into dir, which must
// exist. It returns the diffID (sha256 of the whole tar stream, padding
// included) and the unpacked size (the sum of regular file sizes).
//
// Hostile or corrupt input fails with an errdefs.ErrInvalidArgument error.
// On failure dir may hold part of the layer: callers extract into a
// temporary directory and rename it only on success.
func Apply(ctx context.Context, dir string, r io.Reader) (string, int64, error) {
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", 0, fmt.Errorf("layer: open root: %w", err)
	}
	defer root.Close()

	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(r, h))
	a := &applier{root: root}
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return "", 0, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", 0, fmt.Errorf("layer: read tar: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		n, err := a.entry(hdr, tr)
		if err != nil {
			return "", 0, err
		}
		size += n
	}
	// The diffID covers the whole stream, including the end-of-archive
	// blocks and any padding the tar reader did not need to consume.
	if _, err := io.Copy(io.Discard, io.TeeReader(r, h)); err != nil {
		return "", 0, fmt.Errorf("layer: read tar: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := a.finish(); err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), size, nil
}

// applier holds the state of one extraction.
type applier struct {
	root *os.File
	// dirTimes are applied last: creating children changes a directory's mtime.
	dirTimes []dirTime
}

type dirTime struct {
	name  string
	mtime time.Time
}

// invalid builds the one-line error for hostile input.
func invalid(format string, args ...any) error {
	return fmt.Errorf("layer: "+format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// cleanName turns a tar path into a clean relative path ("." for the root).
// Absolute paths and paths climbing above the root are refused rather than
// silently re-rooted: no legitimate layer builder produces them.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", invalid("empty path")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", invalid("path %q contains NUL", name)
	}
	if strings.HasPrefix(name, "/") {
		return "", invalid("path %q is absolute", name)
	}
	depth := 0
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", invalid("path %q escapes the root", name)
			}
		default:
			depth++
		}
	}
	return path.Clean(name), nil
}

// openParent returns an O_PATH handle on the directory that will hold name,
// creating missing directories (0755, root-owned, as Docker does) inside
// the root.
func (a *applier) openParent(name string) (*os.File, error) {
	dir := path.Dir(name)
	if dir == "." {
		return pathrs.Reopen(a.root, unix.O_PATH|unix.O_DIRECTORY)
	}
	f, err := pathrs.MkdirAllHandle(a.root, dir, 0o755)
	if err != nil {
		return nil, invalid("parent of %q: %v", name, err)
	}
	return f, nil
}

// entry applies one tar header and returns the bytes it added.
func (a *applier) entry(hdr *tar.Header, body io.Reader) (int64, error) {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return 0, nil
	case tar.TypeReg, tar.TypeRegA, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return 0, invalid("path %q: unsupported entry type %q", hdr.Name, hdr.Typeflag)
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return 0, err
	}
	if hdr.Size < 0 || hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid > 1<<31 || hdr.Gid > 1<<31 {
		return 0, invalid("path %q: bad header", hdr.Name)
	}
	base := path.Base(name)

	// Whiteouts.
	if strings.HasPrefix(base, whiteoutPrefix) {
		parent, err := a.openParent(name)
		if err != nil {
			return 0, err
		}
		defer parent.Close()
		if base == whiteoutOpaque {
			if err := unix.Setxattr(procPath(parent, ""), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				return 0, fmt.Errorf("layer: opaque %q: %w", path.Dir(name), err)
			}
			return 0, nil
		}
		if strings.HasPrefix(base, whiteoutMeta) {
			// Other aufs metadata (.wh..wh.plnk, ...) has no overlay meaning.
			return 0, nil
		}
		target := strings.TrimPrefix(base, whiteoutPrefix)
		if target == "" || target == "." || target == ".." {
			return 0, invalid("path %q: bad whiteout", hdr.Name)
		}
		if err := removeExisting(parent, target, false); err != nil {
			return 0, err
		}
		if err := unix.Mknodat(int(parent.Fd()), target, unix.S_IFCHR, 0); err != nil {
			return 0, fmt.Errorf("layer: whiteout %q: %w", hdr.Name, err)
		}
		return 0, nil
	}

	if name == "." {
		// The layer's own root: only its metadata applies.
		if hdr.Typeflag != tar.TypeDir {
			return 0, invalid("root entry %q is not a directory", hdr.Name)
		}
		return 0, a.dirMeta(a.root, ".", hdr)
	}

	parent, err := a.openParent(name)
	if err != nil {
		return 0, err
	}
	defer parent.Close()
	pfd := int(parent.Fd())

	if err := removeExisting(parent, base, hdr.Typeflag == tar.TypeDir); err != nil {
		return 0, err
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, fmt.Errorf("layer: mkdir %q: %w", name, err)
		}
		d, err := openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return 0, fmt.Errorf("layer: open %q: %w", name, err)
		}
		defer d.Close()
		return 0, a.dirMeta(d, name, hdr)

	case tar.TypeReg, tar.TypeRegA:
		f, err := openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL)
		if err != nil {
			return 0, fmt.Errorf("layer: create %q: %w", name, err)
		}
		defer f.Close()
		n, err := io.Copy(f, body)
		if err != nil {
			return 0, fmt.Errorf("layer: write %q: %v: %w", name, err, errdefs.ErrInvalidArgument)
		}
		if err := fileMeta(f, hdr); err != nil {
			return 0, fmt.Errorf("layer: %q: %w", name, err)
		}
		return n, lutimes(pfd, base, hdr)

	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return 0, invalid("symlink %q: bad target", name)
		}
		// The target is stored verbatim: it is only ever resolved inside a
		// root (here through RESOLVE_IN_ROOT, later inside the container).
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return 0, fmt.Errorf("layer: symlink %q: %w", name, err)
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, fmt.Errorf("layer: chown %q: %w", name, err)
		}
		setXattrs(procPath(parent, base), hdr)
		return 0, lutimes(pfd, base, hdr)

	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil || target == "." {
			return 0, invalid("hardlink %q: target %q escapes the root", name, hdr.Linkname)
		}
		tparent, err := pathrs.OpenatInRoot(a.root, path.Dir(target))
		if err != nil {
			return 0, invalid("hardlink %q: target %q: %v", name, hdr.Linkname, err)
		}
		defer tparent.Close()
		var st unix.Stat_t
		if err := unix.Fstatat(int(tparent.Fd()), path.Base(target), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, invalid("hardlink %q: target %q: %v", name, hdr.Linkname, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return 0, invalid("hardlink %q: target %q is a directory", name, hdr.Linkname)
		}
		// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
		if err := unix.Linkat(int(tparent.Fd()), path.Base(target), pfd, base, 0); err != nil {
			return 0, fmt.Errorf("layer: hardlink %q: %w", name, err)
		}
		return 0, nil

	default: // char, block, fifo
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		case tar.TypeFifo:
			mode |= unix.S_IFIFO
		}
		if hdr.Devmajor < 0 || hdr.Devminor < 0 || hdr.Devmajor > 0xfff || hdr.Devminor > 0xfffff {
			return 0, invalid("device %q: bad numbers %d:%d", name, hdr.Devmajor, hdr.Devminor)
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, mode, int(dev)); err != nil {
			return 0, fmt.Errorf("layer: mknod %q: %w", name, err)
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, fmt.Errorf("layer: chown %q: %w", name, err)
		}
		// chown clears setuid/setgid; set the mode again. The node was just
		// created by us, so it is not a symlink and Fchmodat is safe.
		if err := unix.Fchmodat(pfd, base, mode&0o7777, 0); err != nil {
			return 0, fmt.Errorf("layer: chmod %q: %w", name, err)
		}
		setXattrs(procPath(parent, base), hdr)
		return 0, lutimes(pfd, base, hdr)
	}
}

// removeExisting makes room for a new entry: an existing directory is kept
// when the new entry is a directory too (its metadata is updated), anything
// else is removed, recursively for directories.
func removeExisting(parent *os.File, base string, keepDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(int(parent.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("layer: stat %q: %w", base, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return nil
		}
		// The path goes through our parent handle's magic link; RemoveAll
		// itself never follows symlinks below it.
		if err := os.RemoveAll(procPath(parent, base)); err != nil {
			return fmt.Errorf("layer: remove %q: %w", base, err)
		}
		return nil
	}
	if err := unix.Unlinkat(int(parent.Fd()), base, 0); err != nil {
		return fmt.Errorf("layer: remove %q: %w", base, err)
	}
	return nil
}

// dirMeta sets a directory's owner, mode and xattrs now and its mtime at
// the end of the extraction.
func (a *applier) dirMeta(d *os.File, name string, hdr *tar.Header) error {
	f := d
	if name == "." {
		// a.root is O_PATH; fchown/fchmod need a real descriptor.
		var err error
		f, err = pathrs.Reopen(a.root, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("layer: open root: %w", err)
		}
		defer f.Close()
	}
	if err := fileMeta(f, hdr); err != nil {
		return fmt.Errorf("layer: %q: %w", name, err)
	}
	a.dirTimes = append(a.dirTimes, dirTime{name: name, mtime: hdr.ModTime})
	return nil
}

// finish applies directory mtimes, deepest (latest) first.
func (a *applier) finish() error {
	for i := len(a.dirTimes) - 1; i >= 0; i-- {
		dt := a.dirTimes[i]
		d, err := pathrs.OpenatInRoot(a.root, dt.name)
		if err != nil {
			// Replaced by a later entry; nothing to do.
			continue
		}
		ts := []unix.Timespec{timespec(dt.mtime), timespec(dt.mtime)}
		err = unix.UtimesNanoAt(unix.AT_FDCWD, procPath(d, ""), ts, 0)
		d.Close()
		if err != nil {
			return fmt.Errorf("layer: times %q: %w", dt.name, err)
		}
	}
	return nil
}

// fileMeta sets owner, then mode (chown clears setuid), then xattrs on an
// open file or directory.
func fileMeta(f *os.File, hdr *tar.Header) error {
	if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	if err := unix.Fchmod(int(f.Fd()), uint32(hdr.Mode&0o7777)); err != nil {
		return err
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, paxXattr)
		if !ok || !keepXattr(attr) {
			continue
		}
		if err := unix.Fsetxattr(int(f.Fd()), attr, []byte(v), 0); err != nil {
			if ignorableXattrErr(attr, err) {
				continue
			}
			return fmt.Errorf("xattr %s: %w", attr, err)
		}
	}
	return nil
}

// setXattrs applies xattrs through a path without following a final
// symlink. Failures are ignored: symlinks and device nodes cannot carry
// user.* attributes, and Docker ignores the same failures.
func setXattrs(p string, hdr *tar.Header) {
	for k, v := range hdr.PAXRecords {
		if attr, ok := strings.CutPrefix(k, paxXattr); ok && keepXattr(attr) {
			_ = unix.Lsetxattr(p, attr, []byte(v), 0)
		}
	}
}

// keepXattr drops overlay's own attributes, which only whiteout conversion
// may set.
func keepXattr(attr string) bool {
	return attr != "" && !strings.HasPrefix(attr, "trusted.overlay.")
}

// ignorableXattrErr reports whether a failed xattr should be skipped rather
// than fail the layer: security.* labels (e.g. SELinux) the kernel refuses
// or does not support, and any xattr on a filesystem without support.
func ignorableXattrErr(attr string, err error) bool {
	if errors.Is(err, unix.ENOTSUP) {
		return true
	}
	return strings.HasPrefix(attr, "security.") && attr != "security.capability" &&
		(errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EACCES))
}

// lutimes sets atime/mtime of parent/base without following a symlink.
func lutimes(pfd int, base string, hdr *tar.Header) error {
	mt := timespec(hdr.ModTime)
	at := mt
	if !hdr.AccessTime.IsZero() {
		at = timespec(hdr.AccessTime)
	}
	if err := unix.UtimesNanoAt(pfd, base, []unix.Timespec{at, mt}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer: times %q: %w", base, err)
	}
	return nil
}

// timespec converts a tar time, clamping times before the epoch (a zero
// time.Time among them) to the epoch as Docker does.
func timespec(t time.Time) unix.Timespec {
	if t.Before(time.Unix(0, 0)) {
		return unix.Timespec{}
	}
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// openat opens base in the directory pfd without following a symlink.
func openat(pfd int, base string, flags int) (*os.File, error) {
	fd, err := unix.Openat(pfd, base, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), base), nil
}

// procPath names base inside the directory handle d through /proc/self/fd,
// so that path-based calls (xattrs on O_PATH handles, RemoveAll) start from
// the already-resolved directory.
func procPath(d *os.File, base string) string {
	p := "/proc/self/fd/" + strconv.Itoa(int(d.Fd()))
	if base != "" {
		p += "/" + base
	}
	return p
}
