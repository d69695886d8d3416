package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/unpack"
)

// Context is a build context: a directory the build reads through a
// handle, every path resolved inside it (openat2 RESOLVE_IN_ROOT via
// pathrs-lite; the last component never followed), so that no symlink in
// the context reaches a file outside it.
type Context struct {
	dir     string
	root    *os.File
	ignore  *patternmatcher.PatternMatcher
	cleanup func()
}

// OpenContext uses the directory dir as a context. The caller keeps it
// unchanged for the build.
func OpenContext(dir string) (*Context, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	return &Context{dir: dir, root: os.NewFile(uintptr(fd), dir)}, nil
}

// ContextFromTar extracts the tar stream r (plain or compressed, as the
// Docker API's body) into a new directory under the builder's tmp and
// opens it; Close removes it.
func (b *Builder) ContextFromTar(ctx context.Context, r io.Reader) (*Context, error) {
	dir, err := os.MkdirTemp(b.tmp(), "context-")
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d := os.NewFile(uintptr(fd), dir)
	zr, err := decompress(r)
	if err == nil {
		err = unpack.Extract(ctx, d, zr, unpack.ExtractOptions{KeepOwners: true})
	}
	d.Close()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("build context: %w", err)
	}
	c, err := OpenContext(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.cleanup = func() { os.RemoveAll(dir) }
	return c, nil
}

// Close releases the context (and removes an extracted one).
func (c *Context) Close() error {
	c.root.Close()
	if c.cleanup != nil {
		c.cleanup()
	}
	return nil
}

// cleanRel makes p a clean path relative to the context root ("" for the
// root); ".." cannot climb above it.
func cleanRel(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

// readFile reads a small file of the context (the Dockerfile,
// .dockerignore), following symlinks only inside it.
func (c *Context) readFile(rel string, max int64) ([]byte, error) {
	f, err := pathrs.OpenatInRoot(c.root, cleanRel(rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", rel, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	defer f.Close()
	r, err := pathrs.Reopen(f, unix.O_RDONLY|unix.O_NOCTTY)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", rel, max, errdefs.ErrInvalidArgument)
	}
	return b, nil
}

// loadIgnore reads the .dockerignore of the Dockerfile (BuildKit's
// <Dockerfile>.dockerignore first, then the context's).
func (c *Context) loadIgnore(dockerfile string) error {
	var data []byte
	var err error
	for _, name := range []string{dockerfile + ".dockerignore", ".dockerignore"} {
		if data, err = c.readFile(name, 1<<20); err == nil {
			break
		}
		if !errdefs.IsNotFound(err) {
			return err
		}
	}
	if data == nil {
		c.ignore = nil
		return nil
	}
	patterns, err := ignorefile.ReadAll(strings.NewReader(string(data)))
	if err != nil {
		return fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	c.ignore = pm
	return nil
}

// ignored reports whether rel is excluded by .dockerignore.
func (c *Context) ignored(rel string) bool {
	if c.ignore == nil || rel == "" {
		return false
	}
	m, err := c.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// skipDir reports whether an excluded directory can be skipped whole: no
// exception pattern could bring back anything below it.
func (c *Context) skipDir(rel string) bool {
	if !c.ignored(rel) {
		return false
	}
	if !c.ignore.Exclusions() {
		return true
	}
	prefix := rel + "/"
	for _, p := range c.ignore.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", prefix) {
			return false
		}
	}
	return true
}

// contextFS is the context as a source of files for COPY and ADD.
type contextFS struct {
	c *Context
	b *Builder
}

func (s contextFS) stat(rel string) (*srcNode, error) {
	rel = cleanRel(rel)
	if s.c.ignored(rel) {
		return nil, fmt.Errorf("%s: %w (excluded by .dockerignore)", rel, fs.ErrNotExist)
	}
	var f *os.File
	var err error
	if rel == "" {
		f, err = pathrs.OpenatInRoot(s.c.root, ".")
	} else {
		dir, base := path.Split(rel)
		var parent *os.File
		parent, err = pathrs.OpenatInRoot(s.c.root, "./"+dir)
		if err == nil {
			var fd int
			fd, err = unix.Openat(int(parent.Fd()), base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			parent.Close()
			if err == nil {
				f = os.NewFile(uintptr(fd), rel)
			}
		}
	}
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", rel, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return s.node(f, rel)
}

func (s contextFS) node(f *os.File, rel string) (*srcNode, error) {
	n := &srcNode{rel: rel, handle: f}
	if err := unix.Fstat(int(f.Fd()), &n.st); err != nil {
		f.Close()
		return nil, err
	}
	if n.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		buf := make([]byte, unix.PathMax)
		m, err := unix.Readlinkat(int(f.Fd()), "", buf)
		if err != nil {
			f.Close()
			return nil, err
		}
		n.link = string(buf[:m])
	}
	return n, nil
}

func (s contextFS) readDir(dir *srcNode) ([]*srcNode, error) {
	fd, err := unix.Openat(int(dir.handle.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), dir.rel)
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []*srcNode
	for _, name := range names {
		rel := path.Join(dir.rel, name)
		cfd, err := unix.Openat(int(dir.handle.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			closeNodes(out)
			return nil, err
		}
		n, err := s.node(os.NewFile(uintptr(cfd), rel), rel)
		if err != nil {
			closeNodes(out)
			return nil, err
		}
		if n.isReg() {
			// Opened relative to the directory without following a
			// symlink, and checked to be the same file: no path through
			// /proc is needed to read it.
			rfd, err := unix.Openat(int(dir.handle.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
			var st unix.Stat_t
			if err == nil && unix.Fstat(rfd, &st) == nil && st.Ino == n.st.Ino && st.Dev == n.st.Dev {
				n.rd = os.NewFile(uintptr(rfd), rel)
			} else if err == nil {
				unix.Close(rfd)
			}
		}
		if n.isDir() && s.c.skipDir(rel) || !n.isDir() && s.c.ignored(rel) {
			n.close()
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

func (s contextFS) open(n *srcNode) (io.ReadCloser, error) {
	if n.rd != nil {
		// Positioned reads from the start: the node keeps the file, the
		// reader needs no handle of its own.
		return io.NopCloser(io.NewSectionReader(n.rd, 0, n.st.Size)), nil
	}
	return pathrs.Reopen(n.handle, unix.O_RDONLY|unix.O_NOCTTY)
}

func (s contextFS) digest(n *srcNode) (string, error) {
	return s.b.index.digest(n, func() (io.ReadCloser, error) { return s.open(n) })
}

// excluded reports whether a directory node itself is excluded (its
// content may still be brought back by exceptions).
func (s contextFS) excluded(n *srcNode) bool { return s.c.ignored(n.rel) }

// fileIndex remembers the content digests of files by what their stat
// says (device, inode, size, modification and change time, mode), as
// BuildKit's content hash does: a file whose stat did not change is not
// read again. It is bounded; when full it starts over.
type fileIndex struct {
	mu   sync.Mutex
	m    map[statKey]string
	max  int
	hits int
}

type statKey struct {
	dev, ino      uint64
	size          int64
	mtime, ctime  int64
	mode, uid, id uint32
}

func newFileIndex(max int) *fileIndex { return &fileIndex{m: map[statKey]string{}, max: max} }

func (x *fileIndex) digest(n *srcNode, open func() (io.ReadCloser, error)) (string, error) {
	k := statKey{dev: n.st.Dev, ino: n.st.Ino, size: n.st.Size, mtime: n.st.Mtim.Nano(), ctime: n.st.Ctim.Nano(), mode: n.st.Mode, uid: n.st.Uid, id: n.st.Gid}
	x.mu.Lock()
	d, ok := x.m[k]
	if ok {
		x.hits++
	}
	x.mu.Unlock()
	if ok {
		return d, nil
	}
	r, err := open()
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	d = "sha256:" + hex.EncodeToString(h.Sum(nil))
	x.mu.Lock()
	if len(x.m) >= x.max {
		x.m = map[statKey]string{}
	}
	x.m[k] = d
	x.mu.Unlock()
	return d, nil
}
