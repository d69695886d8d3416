package build

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/layerfs"
)

// srcNode is one file of a COPY or ADD source: the build context or an
// image's layers.
type srcNode struct {
	rel    string // slash path relative to the source's root; "" is the root
	st     unix.Stat_t
	link   string
	handle *os.File      // context: O_PATH handle
	rd     *os.File      // context: the regular file, opened for reading
	lnode  *layerfs.Node // image: merged node
}

func (n *srcNode) isDir() bool     { return n.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (n *srcNode) isReg() bool     { return n.st.Mode&unix.S_IFMT == unix.S_IFREG }
func (n *srcNode) isSymlink() bool { return n.st.Mode&unix.S_IFMT == unix.S_IFLNK }

func (n *srcNode) close() {
	if n.handle != nil {
		n.handle.Close()
	}
	if n.rd != nil {
		n.rd.Close()
	}
	if n.lnode != nil {
		n.lnode.Close()
	}
}

func closeNodes(ns []*srcNode) {
	for _, n := range ns {
		n.close()
	}
}

// srcFS is where COPY and ADD read: the context or an image.
type srcFS interface {
	// stat returns the node at rel without following its last component.
	stat(rel string) (*srcNode, error)
	// readDir returns a directory's children in name order.
	readDir(dir *srcNode) ([]*srcNode, error)
	// open reads a regular file.
	open(n *srcNode) (io.ReadCloser, error)
	// digest is the sha256 of a regular file's content.
	digest(n *srcNode) (string, error)
	// excluded says a directory is itself excluded (.dockerignore) though
	// some of its content may not be.
	excluded(n *srcNode) bool
}

// imageFS is an image's files as a COPY --from source.
type imageFS struct{ fs *layerfs.FS }

func (s imageFS) stat(rel string) (*srcNode, error) {
	// Directories on the way are resolved inside the image; the last
	// component is kept as it is.
	p, err := s.fs.Resolve("/"+cleanRel(path.Dir("/"+rel)), true)
	if err != nil {
		return nil, err
	}
	full := path.Join(p, path.Base("/"+rel))
	if cleanRel(rel) == "" {
		full = "/"
	}
	n, err := s.fs.Lookup(full, false)
	if err != nil {
		return nil, err
	}
	return &srcNode{rel: cleanRel(rel), st: n.Stat, link: n.Link, lnode: n}, nil
}

func (s imageFS) readDir(dir *srcNode) ([]*srcNode, error) {
	names, err := s.fs.ReadDir(dir.lnode)
	if err != nil {
		return nil, err
	}
	var out []*srcNode
	for _, name := range names {
		n, err := s.fs.Child(dir.lnode, name)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			closeNodes(out)
			return nil, err
		}
		out = append(out, &srcNode{rel: path.Join(dir.rel, name), st: n.Stat, link: n.Link, lnode: n})
	}
	return out, nil
}

func (s imageFS) open(n *srcNode) (io.ReadCloser, error) { return n.lnode.OpenFile() }

func (s imageFS) digest(n *srcNode) (string, error) {
	return hashReader(func() (io.ReadCloser, error) { return s.open(n) })
}

func (s imageFS) excluded(*srcNode) bool { return false }

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOENT) }

// hasMeta reports whether a path pattern has glob characters.
func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[\\") }

// glob expands a COPY source pattern into the nodes it names, in order;
// a pattern without wildcards names one node (which must exist).
func glob(s srcFS, pattern string) ([]*srcNode, error) {
	rel := cleanRel(pattern)
	if !hasMeta(rel) {
		n, err := s.stat(rel)
		if err != nil {
			return nil, err
		}
		return []*srcNode{n}, nil
	}
	parts := strings.Split(rel, "/")
	cur := []string{""}
	for i, part := range parts {
		var next []string
		for _, base := range cur {
			if !hasMeta(part) {
				next = append(next, path.Join(base, part))
				continue
			}
			if _, err := path.Match(part, ""); err != nil {
				return nil, fmt.Errorf("bad pattern %q: %w", pattern, errdefs.ErrInvalidArgument)
			}
			dir, err := s.stat(base)
			if err != nil {
				if isNotExist(err) {
					continue
				}
				return nil, err
			}
			if !dir.isDir() {
				dir.close()
				continue
			}
			kids, err := s.readDir(dir)
			dir.close()
			if err != nil {
				return nil, err
			}
			for _, k := range kids {
				name := path.Base(k.rel)
				if ok, _ := path.Match(part, name); ok && (i == len(parts)-1 || k.isDir()) {
					next = append(next, k.rel)
				}
				k.close()
			}
		}
		cur = next
	}
	var out []*srcNode
	for _, rel := range cur {
		n, err := s.stat(rel)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			closeNodes(out)
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// hashReader hashes what open reads.
func hashReader(open func() (io.ReadCloser, error)) (string, error) {
	x := newFileIndex(1)
	return x.digest(&srcNode{}, open)
}

// decompress sniffs gzip, bzip2 and zstd; anything else is returned as
// it is.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("zstd: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return zr.IOReadCloser(), nil
	}
	return br, nil
}
