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
//
// Extract is the same extractor in the mode of docker cp: the archive lands
// in a directory of a live tree (a container's root, given as a handle), its
// names are relative to that directory, and every path, the symlinks a
// container may be swapping among them included, is still resolved inside
// the tree's root. That mode converts no whiteouts (".wh.x" is an ordinary
// name there), creates no device nodes or fifos (docker cp's callers never
// need them; a container must not get them this way), re-roots absolute
// names under the directory as dockerd does, and leaves the directory's own
// metadata alone.
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
	a := &applier{root: root, layer: true, kind: "layer", dir: "."}
	size, err := a.run(ctx, io.TeeReader(r, h))
	if err != nil {
		return "", 0, err
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

// ExtractOptions configure Extract.
type ExtractOptions struct {
	// Dir is the directory, relative to the root handle, that the
	// archive's names are relative to ("" or "/" for the root itself). It
	// is resolved inside the root like every other path.
	Dir string
	// KeepOwners keeps the uid and gid the archive records (docker cp's
	// copyUIDGID); otherwise everything extracted belongs to root.
	KeepOwners bool
	// NoOverwriteDirNonDir refuses to replace a directory with anything
	// else, or anything else with a directory.
	NoOverwriteDirNonDir bool
}

// Extract writes the entries of the uncompressed tar read from r into the
// tree whose root directory is the handle root (an O_PATH handle serves),
// under o.Dir, in docker cp's mode (see the package doc). Hostile or
// corrupt input fails with an errdefs.ErrInvalidArgument error; entries
// already written stay.
func Extract(ctx context.Context, root *os.File, r io.Reader, o ExtractOptions) error {
	a := &applier{root: root, kind: "archive", keepOwners: o.KeepOwners, noOverwriteDirNonDir: o.NoOverwriteDirNonDir}
	dir := strings.TrimLeft(o.Dir, "/")
	if dir == "" {
		dir = "."
	}
	dir, err := a.cleanName(dir)
	if err != nil {
		return err
	}
	a.dir = dir
	if _, err := a.run(ctx, r); err != nil {
		return err
	}
	return a.finish()
}

// run applies every entry of the tar read from r and returns the bytes
// written to regular files.
func (a *applier) run(ctx context.Context, r io.Reader) (int64, error) {
	defer a.forgetParent()
	tr := tar.NewReader(r)
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return size, nil
		}
		if err != nil {
			return 0, fmt.Errorf("%s: read tar: %v: %w", a.kind, err, errdefs.ErrInvalidArgument)
		}
		n, err := a.entry(hdr, tr)
		if err != nil {
			return 0, err
		}
		size += n
	}
}

// applier holds the state of one extraction.
type applier struct {
	root *os.File
	// layer selects the layer mode (whiteouts, devices, root metadata);
	// otherwise the extraction is docker cp's.
	layer bool
	// kind starts every error message: "layer" or "archive".
	kind string
	// dir is the clean directory, relative to root, that names are
	// relative to ("." for layers).
	dir                  string
	keepOwners           bool
	noOverwriteDirNonDir bool
	// dirTimes are applied last: creating children changes a directory's mtime.
	dirTimes []dirTime
	// lastDir and lastParent remember the parent directory of the last
	// entry: the entries of an archive come directory by directory, and
	// resolving the same parent inside the root again for each of them
	// is most of the cost of a layer of small files. The handle stays
	// right as long as no directory is removed (removeExisting forgets
	// it then); a tree another process writes meanwhile (a running
	// container) is frozen for the extraction.
	lastDir    string
	lastParent *os.File
}

// forgetParent drops the remembered parent handle.
func (a *applier) forgetParent() {
	if a.lastParent != nil {
		a.lastParent.Close()
	}
	a.lastDir, a.lastParent = "", nil
}

type dirTime struct {
	name  string
	mtime time.Time
}

// invalid builds the one-line error for hostile input.
func (a *applier) invalid(format string, args ...any) error {
	return fmt.Errorf(a.kind+": "+format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// errorf builds the error of a failed system call, prefixed like invalid.
func (a *applier) errorf(format string, args ...any) error {
	return fmt.Errorf(a.kind+": "+format, args...)
}

// cleanName turns a tar path into a clean relative path ("." for the root).
// Absolute paths and paths climbing above the root are refused rather than
// silently re-rooted: no legitimate layer builder produces them. (Extract
// strips leading slashes first, as dockerd does for docker cp.)
func (a *applier) cleanName(name string) (string, error) {
	if name == "" {
		return "", a.invalid("empty path")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", a.invalid("path %q contains NUL", name)
	}
	if strings.HasPrefix(name, "/") {
		return "", a.invalid("path %q is absolute", name)
	}
	depth := 0
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", a.invalid("path %q escapes the root", name)
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
	if a.lastParent != nil && dir == a.lastDir {
		fd, err := unix.FcntlInt(a.lastParent.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err == nil {
			return os.NewFile(uintptr(fd), dir), nil
		}
	}
	var f *os.File
	var err error
	if dir == "." {
		f, err = pathrs.Reopen(a.root, unix.O_PATH|unix.O_DIRECTORY)
	} else if f, err = pathrs.MkdirAllHandle(a.root, dir, 0o755); err != nil {
		return nil, a.invalid("parent of %q: %v", name, err)
	}
	if err != nil {
		return nil, err
	}
	if fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0); err == nil {
		a.forgetParent()
		a.lastDir, a.lastParent = dir, os.NewFile(uintptr(fd), dir)
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
		return 0, a.invalid("path %q: unsupported entry type %q", hdr.Name, hdr.Typeflag)
	}
	name, err := a.entryName(hdr.Name)
	if err != nil {
		return 0, err
	}
	if hdr.Size < 0 || hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid > 1<<31 || hdr.Gid > 1<<31 {
		return 0, a.invalid("path %q: bad header", hdr.Name)
	}
	if !a.layer {
		switch hdr.Typeflag {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return 0, nil
		}
		if name == a.dir {
			// The destination directory keeps its own metadata.
			return 0, nil
		}
		if !a.keepOwners {
			h := *hdr
			h.Uid, h.Gid = 0, 0
			hdr = &h
		}
	}
	base := path.Base(name)

	// Whiteouts.
	if a.layer && strings.HasPrefix(base, whiteoutPrefix) {
		parent, err := a.openParent(name)
		if err != nil {
			return 0, err
		}
		defer parent.Close()
		if base == whiteoutOpaque {
			if err := unix.Setxattr(procPath(parent, ""), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				return 0, a.errorf("opaque %q: %w", path.Dir(name), err)
			}
			return 0, nil
		}
		if strings.HasPrefix(base, whiteoutMeta) {
			// Other aufs metadata (.wh..wh.plnk, ...) has no overlay meaning.
			return 0, nil
		}
		target := strings.TrimPrefix(base, whiteoutPrefix)
		if target == "" || target == "." || target == ".." {
			return 0, a.invalid("path %q: bad whiteout", hdr.Name)
		}
		if err := a.removeExisting(parent, target, false); err != nil {
			return 0, err
		}
		if err := unix.Mknodat(int(parent.Fd()), target, unix.S_IFCHR, 0); err != nil {
			return 0, a.errorf("whiteout %q: %w", hdr.Name, err)
		}
		return 0, nil
	}

	if name == "." {
		// The layer's own root: only its metadata applies.
		if hdr.Typeflag != tar.TypeDir {
			return 0, a.invalid("root entry %q is not a directory", hdr.Name)
		}
		return 0, a.dirMeta(a.root, ".", hdr)
	}

	parent, err := a.openParent(name)
	if err != nil {
		return 0, err
	}
	defer parent.Close()
	pfd := int(parent.Fd())

	if a.noOverwriteDirNonDir {
		if err := a.checkOverwrite(pfd, base, name, hdr.Typeflag == tar.TypeDir); err != nil {
			return 0, err
		}
	}
	if err := a.removeExisting(parent, base, hdr.Typeflag == tar.TypeDir); err != nil {
		return 0, err
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, a.errorf("mkdir %q: %w", name, err)
		}
		d, err := openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return 0, a.errorf("open %q: %w", name, err)
		}
		defer d.Close()
		return 0, a.dirMeta(d, name, hdr)

	case tar.TypeReg, tar.TypeRegA:
		f, err := openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL)
		if err != nil {
			return 0, a.errorf("create %q: %w", name, err)
		}
		defer f.Close()
		n, err := io.Copy(f, body)
		if err != nil {
			return 0, a.errorf("write %q: %v: %w", name, err, errdefs.ErrInvalidArgument)
		}
		if err := fileMeta(f, hdr); err != nil {
			return 0, a.errorf("%q: %w", name, err)
		}
		return n, a.lutimes(pfd, base, hdr)

	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return 0, a.invalid("symlink %q: bad target", name)
		}
		// The target is stored verbatim: it is only ever resolved inside a
		// root (here through RESOLVE_IN_ROOT, later inside the container).
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return 0, a.errorf("symlink %q: %w", name, err)
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, a.errorf("chown %q: %w", name, err)
		}
		setXattrs(procPath(parent, base), hdr)
		return 0, a.lutimes(pfd, base, hdr)

	case tar.TypeLink:
		target, err := a.entryName(hdr.Linkname)
		if err != nil || target == a.dir {
			return 0, a.invalid("hardlink %q: target %q escapes the root", name, hdr.Linkname)
		}
		tparent, err := pathrs.OpenatInRoot(a.root, path.Dir(target))
		if err != nil {
			return 0, a.invalid("hardlink %q: target %q: %v", name, hdr.Linkname, err)
		}
		defer tparent.Close()
		var st unix.Stat_t
		if err := unix.Fstatat(int(tparent.Fd()), path.Base(target), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, a.invalid("hardlink %q: target %q: %v", name, hdr.Linkname, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return 0, a.invalid("hardlink %q: target %q is a directory", name, hdr.Linkname)
		}
		// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
		if err := unix.Linkat(int(tparent.Fd()), path.Base(target), pfd, base, 0); err != nil {
			return 0, a.errorf("hardlink %q: %w", name, err)
		}
		return 0, nil

	default: // char, block, fifo (layers only)
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
			return 0, a.invalid("device %q: bad numbers %d:%d", name, hdr.Devmajor, hdr.Devminor)
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, mode, int(dev)); err != nil {
			return 0, a.errorf("mknod %q: %w", name, err)
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, a.errorf("chown %q: %w", name, err)
		}
		// chown clears setuid/setgid; set the mode again. The node was just
		// created by us, so it is not a symlink and Fchmodat is safe.
		if err := unix.Fchmodat(pfd, base, mode&0o7777, 0); err != nil {
			return 0, a.errorf("chmod %q: %w", name, err)
		}
		setXattrs(procPath(parent, base), hdr)
		return 0, a.lutimes(pfd, base, hdr)
	}
}

// entryName turns a name or hardlink target of the archive into a clean
// path relative to the root. Layers name paths from their root; docker
// cp archives name them from the destination directory, and a leading
// "/" there only means that directory.
func (a *applier) entryName(name string) (string, error) {
	if a.layer {
		return a.cleanName(name)
	}
	rel := strings.TrimLeft(name, "/")
	if rel == "" {
		rel = "."
	}
	rel, err := a.cleanName(rel)
	if err != nil {
		return "", err
	}
	return path.Join(a.dir, rel), nil
}

// checkOverwrite refuses to replace a directory with a non-directory or the
// reverse (docker cp's noOverwriteDirNonDir).
func (a *applier) checkOverwrite(pfd int, base, name string, isDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return a.errorf("stat %q: %w", name, err)
	}
	wasDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case wasDir && !isDir:
		return a.invalid("cannot overwrite directory %q with non-directory", name)
	case !wasDir && isDir:
		return a.invalid("cannot overwrite non-directory %q with directory", name)
	}
	return nil
}

// removeExisting makes room for a new entry: an existing directory is kept
// when the new entry is a directory too (its metadata is updated), anything
// else is removed, recursively for directories.
func (a *applier) removeExisting(parent *os.File, base string, keepDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(int(parent.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return a.errorf("stat %q: %w", base, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return nil
		}
		// The remembered parent may be below what goes.
		a.forgetParent()
		// The path goes through our parent handle's magic link; RemoveAll
		// itself never follows symlinks below it.
		if err := os.RemoveAll(procPath(parent, base)); err != nil {
			return a.errorf("remove %q: %w", base, err)
		}
		return nil
	}
	if err := unix.Unlinkat(int(parent.Fd()), base, 0); err != nil {
		return a.errorf("remove %q: %w", base, err)
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
			return a.errorf("open root: %w", err)
		}
		defer f.Close()
	}
	if err := fileMeta(f, hdr); err != nil {
		return a.errorf("%q: %w", name, err)
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
			return a.errorf("times %q: %w", dt.name, err)
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
func (a *applier) lutimes(pfd int, base string, hdr *tar.Header) error {
	mt := timespec(hdr.ModTime)
	at := mt
	if !hdr.AccessTime.IsZero() {
		at = timespec(hdr.AccessTime)
	}
	if err := unix.UtimesNanoAt(pfd, base, []unix.Timespec{at, mt}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return a.errorf("times %q: %w", base, err)
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
