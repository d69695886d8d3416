// Package snapshot keeps unpacked image layers and mounts them with overlayfs.
//
// On-disk layout, under the root passed to New (wharf uses
// <image-root>/snapshots):
//
//	<root>/<chainID-hex>/fs          the layer's files, overlay whiteouts included
//	<root>/<chainID-hex>/meta.json   {"chainID","diffID","size"}
//	<root>/.tmp/<random>/            a layer being unpacked or removed
//
// A layer is unpacked exactly once per chain ID: it is extracted into
// .tmp/, its diffID checked, the filesystem synced, and only then renamed to
// <chainID-hex>. A directory named by a chain ID is therefore always a
// complete, verified layer; a crash leaves at most garbage in .tmp/, which
// New removes. Removal renames into .tmp/ first for the same reason.
package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/content"
	"github.com/wharf-dev/wharf/image/unpack"
)

// Info describes one unpacked layer.
type Info struct {
	ChainID string `json:"chainID"`
	DiffID  string `json:"diffID"`
	Size    int64  `json:"size"` // bytes of regular files in the layer
}

// Snapshotter manages unpacked layers under one root. It is safe for
// concurrent use; two goroutines unpacking the same chain ID both succeed
// and one copy is kept.
type Snapshotter struct {
	root string
}

// New opens (creating if needed) a snapshot root and discards unfinished
// work left in .tmp by a previous process.
func New(root string) (*Snapshotter, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(root, ".tmp")); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(root, ".tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &Snapshotter{root: root}, nil
}

// ChainID computes the chain IDs of a stack of diffIDs (bottom first):
// chain[0] = diffID[0], chain[n] = sha256(chain[n-1] + " " + diffID[n]).
func ChainID(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

func (s *Snapshotter) dir(chainID string) (string, error) {
	h, err := content.ValidateDigest(chainID)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.root, h), nil
}

// Dir returns the directory holding the files of a layer (for overlay's
// lowerdir), or ErrNotFound.
func (s *Snapshotter) Dir(chainID string) (string, error) {
	if _, err := s.Stat(chainID); err != nil {
		return "", err
	}
	d, _ := s.dir(chainID)
	return filepath.Join(d, "fs"), nil
}

// Stat returns a layer's metadata, or ErrNotFound.
func (s *Snapshotter) Stat(chainID string) (Info, error) {
	d, err := s.dir(chainID)
	if err != nil {
		return Info{}, err
	}
	b, err := os.ReadFile(filepath.Join(d, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("snapshot %s: %w", chainID, errdefs.ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("snapshot %s: %w", chainID, err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, fmt.Errorf("snapshot %s: bad metadata: %w", chainID, err)
	}
	return info, nil
}

// Unpack applies the uncompressed layer tar r as chain chainID unless that
// snapshot already exists (then r is not read and existed is true). The
// tar's sha256 must equal diffID, otherwise nothing is kept and the error
// is ErrInvalidArgument.
func (s *Snapshotter) Unpack(ctx context.Context, chainID, diffID string, r io.Reader) (info Info, existed bool, err error) {
	final, err := s.dir(chainID)
	if err != nil {
		return Info{}, false, err
	}
	if info, err := s.Stat(chainID); err == nil {
		return info, true, nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, ".tmp"), "unpack-")
	if err != nil {
		return Info{}, false, fmt.Errorf("snapshot: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	fsDir := filepath.Join(tmp, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return Info{}, false, fmt.Errorf("snapshot: %w", err)
	}
	got, size, err := unpack.Apply(ctx, fsDir, r)
	if err != nil {
		return Info{}, false, err
	}
	if got != diffID {
		return Info{}, false, fmt.Errorf("snapshot %s: layer diffID mismatch: expected %s, got %s: %w", chainID, diffID, got, errdefs.ErrInvalidArgument)
	}
	info = Info{ChainID: chainID, DiffID: diffID, Size: size}
	b, _ := json.Marshal(info)
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), b, 0o600); err != nil {
		return Info{}, false, fmt.Errorf("snapshot: %w", err)
	}
	// One syncfs makes every extracted file durable before the rename
	// publishes the layer.
	if f, err := os.Open(tmp); err == nil {
		_ = unix.Syncfs(int(f.Fd()))
		f.Close()
	}
	if err := os.Rename(tmp, final); err != nil {
		// Someone else finished the same layer first.
		if info2, err2 := s.Stat(chainID); err2 == nil {
			return info2, true, nil
		}
		return Info{}, false, fmt.Errorf("snapshot: commit %s: %w", chainID, err)
	}
	return info, false, nil
}

// ApplyNew applies the uncompressed layer tar r on top of the chain
// parent ("" for a first layer) when its diffID is not known in advance,
// as for a layer a build just made: the chain ID follows from the diffID
// the tar hashes to. An existing snapshot of that chain is kept and the
// new copy discarded.
func (s *Snapshotter) ApplyNew(ctx context.Context, parent string, r io.Reader) (Info, error) {
	tmp, err := os.MkdirTemp(filepath.Join(s.root, ".tmp"), "apply-")
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	fsDir := filepath.Join(tmp, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	diffID, size, err := unpack.Apply(ctx, fsDir, r)
	if err != nil {
		return Info{}, err
	}
	chainID := diffID
	if parent != "" {
		chainID = ChainID([]string{parent, diffID})[1]
	}
	if info, err := s.Stat(chainID); err == nil {
		return info, nil
	}
	final, err := s.dir(chainID)
	if err != nil {
		return Info{}, err
	}
	info := Info{ChainID: chainID, DiffID: diffID, Size: size}
	b, _ := json.Marshal(info)
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), b, 0o600); err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	if f, err := os.Open(tmp); err == nil {
		_ = unix.Syncfs(int(f.Fd()))
		f.Close()
	}
	if err := os.Rename(tmp, final); err != nil {
		if info2, err2 := s.Stat(chainID); err2 == nil {
			return info2, nil
		}
		return Info{}, fmt.Errorf("snapshot: commit %s: %w", chainID, err)
	}
	return info, nil
}

// Remove deletes a layer; a missing layer is not an error.
func (s *Snapshotter) Remove(chainID string) error {
	d, err := s.dir(chainID)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, ".tmp"), "remove-")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	dead := filepath.Join(tmp, "x")
	if err := os.Rename(d, dead); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("snapshot: remove %s: %w", chainID, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("snapshot: remove %s: %w", chainID, err)
	}
	return nil
}

// List returns the chain IDs of all complete layers.
func (s *Snapshotter) List() ([]string, error) {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	var out []string
	for _, e := range ents {
		id := "sha256:" + e.Name()
		if _, err := content.ValidateDigest(id); err == nil && e.IsDir() {
			out = append(out, id)
		}
	}
	return out, nil
}
