// Package layerfs reads an image's files from its unpacked layers as an
// overlay mount of them would show them, without mounting anything: a
// build looks up where COPY writes, the users and groups of --chown, and
// the files of COPY --from through it.
//
// Layers are snapshot directories (overlay form: a whiteout is a character
// device 0/0, an opaque directory has trusted.overlay.opaque=y). A path is
// looked up one component at a time in every layer, top first: the first
// layer with an entry decides what it is; a directory merges with the
// directories below it until an opaque one, a whiteout or a non-directory.
// Every lookup is an openat relative to an already-open directory without
// following symlinks; symlinks are resolved by this package against the
// image's root (never the host's), at most maxLinks of them per path.
package layerfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

// maxLinks bounds the symlinks followed in one path, as the kernel's 40.
const maxLinks = 40

// FS is a read-only merged view of layer directories.
type FS struct {
	layers []*os.File // top first, O_PATH directories
}

// Open opens the layer directories dirs, bottom first (as
// store.LayerDirs returns them). Close releases them.
func Open(dirs []string) (*FS, error) {
	f := &FS{}
	for i := len(dirs) - 1; i >= 0; i-- {
		fd, err := unix.Open(dirs[i], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("layer %s: %w", dirs[i], err)
		}
		f.layers = append(f.layers, os.NewFile(uintptr(fd), dirs[i]))
	}
	return f, nil
}

// Close releases the layer handles.
func (f *FS) Close() error {
	for _, l := range f.layers {
		l.Close()
	}
	f.layers = nil
	return nil
}

// Node is one file of the merged view.
type Node struct {
	Stat unix.Stat_t
	// Link is a symlink's target.
	Link string
	// dirs are, for a directory, the open handles of it in every layer
	// that contributes entries, top first; file is a non-directory's
	// O_PATH handle.
	dirs []*os.File
	file *os.File
}

// IsDir reports whether the node is a directory.
func (n *Node) IsDir() bool { return n.Stat.Mode&unix.S_IFMT == unix.S_IFDIR }

// IsSymlink reports whether the node is a symlink.
func (n *Node) IsSymlink() bool { return n.Stat.Mode&unix.S_IFMT == unix.S_IFLNK }

// Close releases the node's handles.
func (n *Node) Close() {
	for _, d := range n.dirs {
		d.Close()
	}
	if n.file != nil {
		n.file.Close()
	}
}

// File returns the O_PATH handle of a non-directory (valid until Close).
func (n *Node) File() *os.File { return n.file }

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func isOpaque(d *os.File) bool {
	buf := make([]byte, 2)
	p := fmt.Sprintf("/proc/self/fd/%d", d.Fd())
	for _, k := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Getxattr(p, k, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// root is the merged root directory.
func (f *FS) root() (*Node, error) {
	// An image without layers (scratch) has an empty root directory.
	n := &Node{Stat: unix.Stat_t{Mode: unix.S_IFDIR | 0o755}}
	for i, l := range f.layers {
		fd, err := unix.Openat(int(l.Fd()), ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			n.Close()
			return nil, err
		}
		d := os.NewFile(uintptr(fd), "/")
		if i == 0 {
			if err := unix.Fstat(fd, &n.Stat); err != nil {
				d.Close()
				n.Close()
				return nil, err
			}
		}
		n.dirs = append(n.dirs, d)
		if isOpaque(d) {
			break
		}
	}
	return n, nil
}

// child looks up the entry name of the directory node dir.
func (f *FS) child(dir *Node, name string) (*Node, error) {
	n := &Node{}
	found := false
	for _, d := range dir.dirs {
		fd, err := unix.Openat(int(d.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			n.Close()
			return nil, err
		}
		h := os.NewFile(uintptr(fd), name)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			h.Close()
			n.Close()
			return nil, err
		}
		if isWhiteout(&st) {
			h.Close()
			break
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if found {
				h.Close() // a non-directory below a directory is hidden
				break
			}
			n.Stat = st
			n.file = h
			if st.Mode&unix.S_IFMT == unix.S_IFLNK {
				buf := make([]byte, unix.PathMax)
				m, err := unix.Readlinkat(fd, "", buf)
				if err != nil {
					n.Close()
					return nil, err
				}
				n.Link = string(buf[:m])
			}
			return n, nil
		}
		if !found {
			n.Stat = st
			found = true
		}
		n.dirs = append(n.dirs, h)
		if isOpaque(h) {
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return n, nil
}

// Lookup returns the node at the absolute path p of the image. Symlinks in
// the path's directories are followed, inside the image; a final symlink
// is followed only with follow. A missing path is fs.ErrNotExist.
func (f *FS) Lookup(p string, follow bool) (*Node, error) {
	_, n, err := f.resolve(p, follow)
	return n, err
}

// Resolve returns the path p names once every symlink in its directories
// (and in its last component with follow) is resolved inside the image.
// Components from the first missing one on are kept as they are, so a
// path that is yet to be created resolves too.
func (f *FS) Resolve(p string, follow bool) (string, error) {
	r, n, err := f.resolve(p, follow)
	if n != nil {
		n.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return r, nil
}

// resolve walks p; on a missing component it returns the resolved path
// with the rest appended and fs.ErrNotExist.
func (f *FS) resolve(p string, follow bool) (string, *Node, error) {
	cur, err := f.root()
	if err != nil {
		return "", nil, err
	}
	resolved := "/"
	rest := splitPath(p)
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		if name == ".." {
			resolved = path.Dir(resolved)
			cur.Close()
			if cur, err = f.Lookup(resolved, false); err != nil {
				return "", nil, err
			}
			continue
		}
		if !cur.IsDir() {
			cur.Close()
			return "", nil, fmt.Errorf("%s: %w", path.Join(resolved, name), unix.ENOTDIR)
		}
		next, err := f.child(cur, name)
		if err != nil {
			cur.Close()
			if errors.Is(err, fs.ErrNotExist) {
				return path.Join(append([]string{resolved, name}, rest...)...), nil, err
			}
			return "", nil, err
		}
		if next.IsSymlink() && (len(rest) > 0 || follow) {
			if links++; links > maxLinks {
				next.Close()
				cur.Close()
				return "", nil, fmt.Errorf("%s: %w", p, unix.ELOOP)
			}
			target := next.Link
			next.Close()
			if strings.HasPrefix(target, "/") {
				resolved = "/"
				cur.Close()
				if cur, err = f.root(); err != nil {
					return "", nil, err
				}
			}
			rest = append(splitPath(target), rest...)
			continue
		}
		cur.Close()
		cur = next
		resolved = path.Join(resolved, name)
	}
	return resolved, cur, nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// ReadDir lists the directory node, merged over its layers, sorted.
func (f *FS) ReadDir(dir *Node) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, d := range dir.dirs {
		fd, err := unix.Openat(int(d.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		rd := os.NewFile(uintptr(fd), "dir")
		list, err := rd.Readdirnames(-1)
		rd.Close()
		if err != nil {
			return nil, err
		}
		for _, n := range list {
			if seen[n] {
				continue
			}
			seen[n] = true
			var st unix.Stat_t
			if err := unix.Fstatat(int(d.Fd()), n, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && isWhiteout(&st) {
				continue
			}
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Child looks up one name in a directory node.
func (f *FS) Child(dir *Node, name string) (*Node, error) { return f.child(dir, name) }

// OpenFile opens a regular file node for reading.
func (n *Node) OpenFile() (*os.File, error) {
	if n.file == nil || n.Stat.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("not a regular file: %w", errdefs.ErrInvalidArgument)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", n.file.Fd()), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "file"), nil
}

// ReadFile reads the regular file at p (symlinks followed inside the
// image), up to max bytes.
func (f *FS) ReadFile(p string, max int64) ([]byte, error) {
	n, err := f.Lookup(p, true)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	r, err := n.OpenFile()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", p, max, errdefs.ErrInvalidArgument)
	}
	return b, nil
}
