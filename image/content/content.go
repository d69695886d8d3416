// Package content stores blobs (layers, configs, manifests) by digest.
//
// On-disk layout, under the root passed to New:
//
//	<root>/blobs/sha256/<hex>   one file per blob; its sha256 is <hex>
//	<root>/ingest/.blob.tmp-<random>  blobs being written; never read as content
//
// A blob is first written to a temporary file in ingest/ (same filesystem as
// blobs/), its digest checked against the one the caller expected, and only
// then fsync'd and renamed into blobs/, whose directory is fsync'd too
// (internal/atomicfile). A failed, short or corrupt write (or
// ENOSPC) therefore never leaves anything under blobs/: what is there has
// always been verified. Leftover ingest files from a crash are removed by
// New.
package content

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Store is a content-addressed blob store. It is safe for concurrent use:
// every write goes through its own temporary file and the final rename is
// atomic, so two writers of the same blob both succeed.
type Store struct {
	root string
}

// New opens (creating if needed) a blob store under root and removes stale
// ingest files left by an interrupted process.
func New(root string) (*Store, error) {
	s := &Store{root: root}
	if err := os.MkdirAll(filepath.Join(root, "blobs", "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	// Ingest files belong to writes that never finished; nobody can resume them.
	if err := os.RemoveAll(filepath.Join(root, "ingest")); err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "ingest"), 0o700); err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	return s, nil
}

// ValidateDigest checks that d is "sha256:" followed by 64 lowercase hex
// characters and returns the hex part. Anything else is ErrInvalidArgument,
// which also keeps a digest from ever naming a path outside blobs/.
func ValidateDigest(d string) (string, error) {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return "", fmt.Errorf("digest %q: %w", d, errdefs.ErrInvalidArgument)
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("digest %q: %w", d, errdefs.ErrInvalidArgument)
		}
	}
	return h, nil
}

// Path returns the file that holds digest d (whether or not it exists).
func (s *Store) Path(d string) (string, error) {
	h, err := ValidateDigest(d)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.root, "blobs", "sha256", h), nil
}

// Has reports whether the blob is stored.
func (s *Store) Has(d string) bool {
	p, err := s.Path(d)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// Size returns the stored size of a blob, or ErrNotFound.
func (s *Store) Size(d string) (int64, error) {
	p, err := s.Path(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", d, err)
	}
	return fi.Size(), nil
}

// Open opens a blob for reading, or returns ErrNotFound.
func (s *Store) Open(d string) (*os.File, error) {
	p, err := s.Path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return f, nil
}

// ReadAll returns a whole (small) blob such as a config or a manifest.
func (s *Store) ReadAll(d string) ([]byte, error) {
	f, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Put stores the bytes read from r as blob expected. If expected is empty
// the digest is whatever the bytes hash to. It returns the digest and the
// number of bytes stored. A mismatch with expected is ErrInvalidArgument and
// leaves nothing behind. If the blob already exists, r is still consumed and
// verified, so callers can rely on Put having read the stream.
func (s *Store) Put(ctx context.Context, expected string, r io.Reader) (string, int64, error) {
	if expected != "" {
		if _, err := ValidateDigest(expected); err != nil {
			return "", 0, err
		}
	}
	tmp, err := atomicfile.CreateTemp(filepath.Join(s.root, "ingest"), "blob")
	if err != nil {
		return "", 0, fmt.Errorf("content: %w", err)
	}
	defer tmp.Abort()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return "", n, fmt.Errorf("content: write blob %s: %w", expected, err)
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if expected != "" && got != expected {
		return "", n, fmt.Errorf("content: blob digest mismatch: expected %s, got %s: %w", expected, got, errdefs.ErrInvalidArgument)
	}
	// The commit fsyncs the blob before the rename and blobs/sha256 after
	// it: after a crash the name never points at data that did not reach
	// the disk.
	final, _ := s.Path(got)
	if err := tmp.Commit(final, 0o444); err != nil {
		return "", n, fmt.Errorf("content: commit blob %s: %w", got, err)
	}
	return got, n, nil
}

// Delete removes a blob; a missing blob is not an error.
func (s *Store) Delete(d string) error {
	p, err := s.Path(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("content: delete %s: %w", d, err)
	}
	return nil
}

// List returns the digests of all stored blobs.
func (s *Store) List() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	if err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		d := "sha256:" + e.Name()
		if _, err := ValidateDigest(d); err == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// ctxReader stops a long copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ErrNotLinkable is Adopt's error when the file cannot be hard-linked
// into the store (another filesystem); the caller copies it instead.
var ErrNotLinkable = errors.New("content: the file cannot be linked into the store")

// Adopt stores the blob expected by hard-linking the file at path (a
// blob another store on the same filesystem keeps, such as the
// registry's) instead of copying it: no byte is written. The linked file
// is hashed and checked against expected before it takes its name, as
// Put checks what it writes; a mismatch is ErrInvalidArgument. A file on
// another filesystem is ErrNotLinkable. The file must never be written
// in place by its other owner (content-addressed stores never do): the
// two names share the bytes, and either owner may remove its name.
func (s *Store) Adopt(ctx context.Context, expected, path string) (int64, error) {
	h, err := ValidateDigest(expected)
	if err != nil {
		return 0, err
	}
	final := filepath.Join(s.root, "blobs", "sha256", h)
	if fi, err := os.Stat(final); err == nil {
		return fi.Size(), nil
	}
	tmp := filepath.Join(s.root, "ingest", ".adopt-"+h+"-"+randomSuffix())
	if err := os.Link(path, tmp); err != nil {
		if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EPERM) {
			return 0, ErrNotLinkable
		}
		return 0, fmt.Errorf("content: adopt %s: %w", expected, err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(tmp)
		}
	}()
	f, err := os.Open(tmp)
	if err != nil {
		return 0, fmt.Errorf("content: adopt %s: %w", expected, err)
	}
	defer f.Close()
	sum := sha256.New()
	n, err := io.Copy(sum, ctxReader{ctx, f})
	if err != nil {
		return 0, fmt.Errorf("content: adopt %s: %w", expected, err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h {
		return 0, fmt.Errorf("content: adopted blob digest mismatch: expected %s, got sha256:%s: %w", expected, got, errdefs.ErrInvalidArgument)
	}
	if err := os.Rename(tmp, final); err != nil {
		return 0, fmt.Errorf("content: adopt %s: %w", expected, err)
	}
	keep = true
	if err := atomicfile.SyncDir(filepath.Dir(final)); err != nil {
		return 0, err
	}
	return n, nil
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
