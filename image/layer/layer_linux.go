// Package layer turns the writable (upper) directory of an overlay mount
// into an OCI layer tar: what a container changed, without reading the
// image layers below it. Builds (RUN steps) and commits use it.
//
// Overlayfs records a deletion in the upper directory as a whiteout (a
// character device 0/0) and a directory that replaces the one below as an
// opaque directory (xattr trusted.overlay.opaque or user.overlay.opaque =
// "y"). The OCI layer format says the same with names: ".wh.<name>" for a
// deletion and ".wh..wh..opq" inside an opaque directory. Upper
// directories written with redirect_dir or metacopy hold only references
// into the lower layers; those are refused, since the layer would need the
// lowers after all.
//
// The tar is deterministic: entries in name order, PAX format, times cut to
// the second, no access or change times, no user or group names. With an
// epoch (SOURCE_DATE_EPOCH) every later modification time is clamped to it,
// so the same changes give a byte-identical layer.
package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

// Whiteout names of the OCI image layer specification.
const (
	WhiteoutPrefix = ".wh."
	WhiteoutOpaque = ".wh..wh..opq"
)

// maxDepth bounds how deep the walk descends: it holds a handle per level.
const maxDepth = 1024

// Options tune WriteUpper.
type Options struct {
	// Epoch, when set, clamps every modification time after it to it
	// (SOURCE_DATE_EPOCH).
	Epoch *time.Time
}

// WriteUpper writes the changes recorded in the overlay upper directory
// upper as an OCI layer tar to w. The directory must not be mounted or
// written meanwhile. Every entry is opened relative to its parent's handle
// without following symlinks.
func WriteUpper(ctx context.Context, w io.Writer, upper string, o Options) error {
	fd, err := unix.Open(upper, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("layer: open %s: %w", upper, err)
	}
	root := os.NewFile(uintptr(fd), upper)
	defer root.Close()
	t := &walker{ctx: ctx, tw: tar.NewWriter(w), o: o, links: map[[2]uint64]string{}}
	if err := t.children(root, "", 0); err != nil {
		return err
	}
	return t.tw.Close()
}

type walker struct {
	ctx   context.Context
	tw    *tar.Writer
	o     Options
	links map[[2]uint64]string
}

func (t *walker) time(ts unix.Timespec) time.Time {
	tm := time.Unix(ts.Sec, 0).UTC()
	if t.o.Epoch != nil && tm.After(*t.o.Epoch) {
		tm = t.o.Epoch.UTC()
	}
	return tm
}

// children writes the entries of the directory d (opened for reading),
// whose tar name is prefix ("" for the layer's root).
func (t *walker) children(d *os.File, prefix string, depth int) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	if depth >= maxDepth {
		return fmt.Errorf("layer: %s: directories nested deeper than %d: %w", prefix, maxDepth, errdefs.ErrInvalidArgument)
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("layer: %s: %w", prefix, err)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := t.entry(d, n, prefix+n, depth); err != nil {
			return err
		}
	}
	return nil
}

func (t *walker) entry(parent *os.File, base, name string, depth int) error {
	fd, err := unix.Openat(int(parent.Fd()), base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("layer: %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("layer: %s: %w", name, err)
	}
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: t.time(st.Mtim),
		Format:  tar.FormatPAX,
	}
	mode := st.Mode & unix.S_IFMT
	if mode == unix.S_IFCHR && st.Rdev == 0 {
		// An overlay whiteout: the name was deleted.
		dir, file := splitName(name)
		return t.tw.WriteHeader(&tar.Header{Name: dir + WhiteoutPrefix + file, Typeflag: tar.TypeReg, ModTime: hdr.ModTime, Format: tar.FormatPAX})
	}
	var xattrs map[string]string
	if mode != unix.S_IFLNK {
		if xattrs, err = readXattrs(fd); err != nil {
			return fmt.Errorf("layer: %s: %w", name, err)
		}
		for k := range xattrs {
			if k == "trusted.overlay.redirect" || k == "user.overlay.redirect" || k == "trusted.overlay.metacopy" || k == "user.overlay.metacopy" {
				return fmt.Errorf("layer: %s: the upper directory was written with overlay %s, which keeps data in the lower layers: %w", name, k, errdefs.ErrNotImplemented)
			}
		}
	}
	opaque := xattrs["trusted.overlay.opaque"] == "y" || xattrs["user.overlay.opaque"] == "y"
	for k, v := range xattrs {
		if strings.HasPrefix(k, "trusted.overlay.") || strings.HasPrefix(k, "user.overlay.") {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = v
	}
	switch mode {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if err := t.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if opaque {
			if err := t.tw.WriteHeader(&tar.Header{Name: hdr.Name + WhiteoutOpaque, Typeflag: tar.TypeReg, ModTime: hdr.ModTime, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("layer: %s: %w", name, err)
		}
		d := os.NewFile(uintptr(dfd), name)
		defer d.Close()
		return t.children(d, hdr.Name, depth+1)
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return fmt.Errorf("layer: %s: %w", name, err)
		}
		hdr.Linkname = string(buf[:n])
		return t.tw.WriteHeader(hdr)
	case unix.S_IFREG:
		if st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := t.links[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				return t.tw.WriteHeader(hdr)
			}
			t.links[key] = name
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		r, err := pathrs.Reopen(f, unix.O_RDONLY|unix.O_NOCTTY)
		if err != nil {
			return fmt.Errorf("layer: %s: %w", name, err)
		}
		defer r.Close()
		if err := t.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.CopyN(t.tw, r, hdr.Size); err != nil {
			return fmt.Errorf("layer: %s: %w", name, err)
		}
		return nil
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if mode == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
		return t.tw.WriteHeader(hdr)
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
		return t.tw.WriteHeader(hdr)
	}
	return nil // sockets are not archived, as docker does
}

// splitName splits "a/b/c" into "a/b/" and "c".
func splitName(name string) (string, string) {
	i := strings.LastIndexByte(name, '/')
	return name[:i+1], name[i+1:]
}

// readXattrs reads the extended attributes of the file behind the O_PATH
// handle fd, through its /proc/self/fd link (the *xattr calls refuse O_PATH
// handles themselves; the link reaches this very inode).
func readXattrs(fd int) (map[string]string, error) {
	p := fmt.Sprintf("/proc/self/fd/%d", fd)
	buf := make([]byte, 4096)
	n, err := unix.Listxattr(p, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Listxattr(p, nil); err == nil {
			buf = make([]byte, n)
			n, err = unix.Listxattr(p, buf)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, k := range strings.Split(string(buf[:n]), "\x00") {
		if k == "" {
			continue
		}
		v := make([]byte, 4096)
		m, err := unix.Getxattr(p, k, v)
		if errors.Is(err, unix.ERANGE) {
			if m, err = unix.Getxattr(p, k, nil); err == nil {
				v = make([]byte, m)
				m, err = unix.Getxattr(p, k, v)
			}
		}
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("xattr %s: %w", k, err)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = string(v[:m])
	}
	return out, nil
}
