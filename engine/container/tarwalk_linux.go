package container

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

// maxTreeDepth bounds how deep a walk of a container's files descends: the
// walk holds a handle per level, and a container can nest directories
// without end.
const maxTreeDepth = 1024

// treeWriter writes a tree reached through handles as a tar stream. Each
// entry is opened relative to its parent's handle without following
// symlinks (O_PATH, which has no effect on devices or fifos), and what
// goes into the archive is what that handle is: its own fstat gives the
// header, a regular file's content is read through a reopening of the
// same handle, a symlink's target is read from it. A container swapping
// names for symlinks meanwhile changes at most which of its own files are
// archived, never reaches a host file.
type treeWriter struct {
	ctx     context.Context
	tw      *tar.Writer
	oneFS   bool
	rootDev uint64
	// links maps a multiply-linked file to the tar name it was first
	// written under, to write the others as hardlinks.
	links map[[2]uint64]string
	buf   []byte
	// layer writes an overlay upper directory as an image layer
	// (commit_linux.go): whiteouts in OCI form, skip leaving out the
	// names it reports.
	layer bool
	skip  func(name string) bool
}

// writeTree writes the tree at top (an O_PATH handle) to w as a tar whose
// names start with prefix ("" to name the top directory's children
// without a prefix and leave the top out). With oneFS directories of
// other filesystems (mount points) are written but not entered.
func writeTree(ctx context.Context, w io.Writer, top *os.File, prefix string, oneFS bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(top.Fd()), &st); err != nil {
		return err
	}
	t := &treeWriter{ctx: ctx, tw: tar.NewWriter(w), oneFS: oneFS, rootDev: st.Dev, links: map[[2]uint64]string{}}
	if err := t.node(top, prefix, 0); err != nil {
		return err
	}
	return t.tw.Close()
}

// childName joins a tar name and a directory entry's name.
func childName(name, base string) string {
	switch {
	case name == "":
		return base
	case strings.HasSuffix(name, "/"):
		return name + base
	}
	return name + "/" + base
}

// node writes the file f refers to, and a directory's contents.
func (t *treeWriter) node(f *os.File, name string, depth int) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("no stat for %s", name)
	}
	if t.layer {
		if t.skip != nil && t.skip(name) {
			return nil
		}
		if fi.Mode()&os.ModeCharDevice != 0 && st.Rdev == 0 {
			return t.whiteout(fi, name)
		}
	}
	switch {
	case fi.IsDir():
		return t.dir(f, fi, st, name, depth)
	case fi.Mode().IsRegular():
		return t.file(f, fi, st, name)
	case fi.Mode()&os.ModeSocket != 0:
		return nil // as docker: sockets are not archived
	}
	link := ""
	if fi.Mode()&os.ModeSymlink != 0 {
		if link, err = readlinkFd(f); err != nil {
			return err
		}
	}
	hdr, err := header(fi, name, link)
	if err != nil {
		return nil
	}
	return t.tw.WriteHeader(hdr)
}

// header is the tar header of fi under name, without host user names.
func header(fi os.FileInfo, name, link string) (*tar.Header, error) {
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil, err
	}
	hdr.Name = name
	hdr.Uname, hdr.Gname = "", ""
	return hdr, nil
}

func (t *treeWriter) dir(f *os.File, fi os.FileInfo, st *syscall.Stat_t, name string, depth int) error {
	if name != "" {
		hdr, err := header(fi, name, "")
		if err != nil {
			return err
		}
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
		if err := t.tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	if t.oneFS && st.Dev != t.rootDev {
		return nil // a mount point: the directory, not what is mounted
	}
	if depth >= maxTreeDepth {
		return fmt.Errorf("%s: directories nested deeper than %d: %w", name, maxTreeDepth, errdefs.ErrInvalidArgument)
	}
	// "." relative to the O_PATH handle is the same directory, now open
	// for reading its entries.
	fd, err := unix.Openat(int(f.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	if t.layer {
		if err := t.opaque(d, fi, name); err != nil {
			return err
		}
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		c, err := openPath(d, n)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed meanwhile
			}
			return err
		}
		err = t.node(c, childName(name, n), depth+1)
		c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *treeWriter) file(f *os.File, fi os.FileInfo, st *syscall.Stat_t, name string) error {
	hdr, err := header(fi, name, "")
	if err != nil {
		return err
	}
	if st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := t.links[key]; ok {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			hdr.Size = 0
			return t.tw.WriteHeader(hdr)
		}
		t.links[key] = name
	}
	// Reopening through /proc/self/fd reaches this very inode; no name is
	// looked up again.
	r, err := pathrs.Reopen(f, unix.O_RDONLY|unix.O_NOCTTY)
	if err != nil {
		return err
	}
	defer r.Close()
	if t.layer {
		if err := refuseMetacopy(r, name); err != nil {
			return err
		}
	}
	if cp, ok := fileCapability(r); ok {
		hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": cp}
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	// The container may grow or shrink the file meanwhile: the entry has
	// the size its header promised, cut or padded with zeros.
	n, err := io.CopyN(t.tw, r, hdr.Size)
	if errors.Is(err, io.EOF) {
		_, err = io.CopyN(t.tw, zeros{}, hdr.Size-n)
	}
	return err
}

// fileCapability returns a file's security.capability xattr, which docker
// carries in archives (ping's cap_net_raw, for one).
func fileCapability(f *os.File) (string, bool) {
	buf := make([]byte, 256)
	n, err := unix.Fgetxattr(int(f.Fd()), "security.capability", buf)
	if err != nil || n <= 0 {
		return "", false
	}
	return string(buf[:n]), true
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
