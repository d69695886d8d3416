package build

// Synced contexts: the client keeps a context directory on the daemon in
// step with its own instead of sending the whole context every build.
// It sends a manifest (path, type, mode, size, modification time, link
// target of every file after .dockerignore); the daemon answers which
// regular files it needs, comparing with the manifest of the last sync of
// the same context key, and the client sends those only, as a tar. An
// unchanged file costs neither a read, a send, a write nor a hash: its
// content digest stays in the file index, keyed by the file's stat, which
// did not change either.
//
// The directories live under tmp/contexts/<sha256(key)>/ (so a daemon
// restart starts them over), at most maxSynced of them; a build holds its
// context's lock from the sync to its end. The client's names are
// checked and every path is resolved inside the directory, never
// following a symlink the client made.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/unpack"
)

// maxSynced bounds the synced contexts the daemon keeps.
const maxSynced = 8

// MaxManifestEntries bounds a context manifest.
const MaxManifestEntries = 1 << 20

// FileMeta is one entry of a context manifest.
type FileMeta struct {
	Path  string `json:"p"`
	Mode  uint32 `json:"m"` // unix mode: type and permission bits
	Size  int64  `json:"s,omitempty"`
	MTime int64  `json:"t,omitempty"` // nanoseconds
	Link  string `json:"l,omitempty"`
}

func (m FileMeta) typ() uint32 { return m.Mode & unix.S_IFMT }

type syncedContext struct {
	mu       sync.Mutex // held by the build using the directory
	dir      string
	index    map[string]FileMeta // what dir holds; nil: unknown (start over)
	lastUsed time.Time
}

type syncedContexts struct {
	mu sync.Mutex
	m  map[string]*syncedContext
}

// acquire returns the locked context of key, evicting the least recently
// used idle one when there are too many.
func (b *Builder) acquire(key string) (*syncedContext, error) {
	sum := sha256.Sum256([]byte(key))
	id := hex.EncodeToString(sum[:])
	b.synced.mu.Lock()
	if b.synced.m == nil {
		b.synced.m = map[string]*syncedContext{}
	}
	sc := b.synced.m[id]
	if sc == nil {
		for len(b.synced.m) >= maxSynced {
			var old string
			for k, v := range b.synced.m {
				if v.mu.TryLock() {
					v.mu.Unlock()
					if old == "" || v.lastUsed.Before(b.synced.m[old].lastUsed) {
						old = k
					}
				}
			}
			if old == "" {
				break
			}
			victim := b.synced.m[old]
			delete(b.synced.m, old)
			victim.mu.Lock()
			os.RemoveAll(victim.dir)
			victim.mu.Unlock()
		}
		sc = &syncedContext{dir: filepath.Join(b.tmp(), "contexts", id)}
		b.synced.m[id] = sc
	}
	b.synced.mu.Unlock()
	sc.mu.Lock()
	sc.lastUsed = time.Now()
	if err := os.MkdirAll(sc.dir, 0o700); err != nil {
		sc.mu.Unlock()
		return nil, err
	}
	return sc, nil
}

// checkManifest validates the client's names: clean, relative, unique,
// parents listed before children, of the types a context holds.
func checkManifest(entries []FileMeta) error {
	if len(entries) > MaxManifestEntries {
		return fmt.Errorf("context manifest of %d entries, more than %d: %w", len(entries), MaxManifestEntries, errdefs.ErrInvalidArgument)
	}
	seen := make(map[string]uint32, len(entries))
	for _, e := range entries {
		p := e.Path
		if p == "" || p != path.Clean(p) || strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || strings.ContainsRune(p, 0) {
			return fmt.Errorf("context manifest: bad path %q: %w", p, errdefs.ErrInvalidArgument)
		}
		if _, dup := seen[p]; dup {
			return fmt.Errorf("context manifest: %q twice: %w", p, errdefs.ErrInvalidArgument)
		}
		if d := path.Dir(p); d != "." && seen[d] != unix.S_IFDIR {
			return fmt.Errorf("context manifest: %q comes before its directory: %w", p, errdefs.ErrInvalidArgument)
		}
		switch e.typ() {
		case unix.S_IFDIR, unix.S_IFREG:
		case unix.S_IFLNK:
			if e.Link == "" || strings.ContainsRune(e.Link, 0) {
				return fmt.Errorf("context manifest: symlink %q: bad target: %w", p, errdefs.ErrInvalidArgument)
			}
		default:
			return fmt.Errorf("context manifest: %q: unsupported type: %w", p, errdefs.ErrInvalidArgument)
		}
		if e.Size < 0 {
			return fmt.Errorf("context manifest: %q: bad size: %w", p, errdefs.ErrInvalidArgument)
		}
		seen[p] = e.typ()
	}
	return nil
}

// SyncContext brings the synced context key in step with the manifest:
// send is called with the indexes of the regular files the daemon needs
// and returns a tar of exactly those. The context is the build's until
// it is closed.
func (b *Builder) SyncContext(ctx context.Context, key string, entries []FileMeta, send func(need []int) (io.Reader, error)) (*Context, error) {
	if key == "" {
		return nil, fmt.Errorf("context key is empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkManifest(entries); err != nil {
		return nil, err
	}
	sc, err := b.acquire(key)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			// Whatever state the directory is in, the next sync starts
			// over.
			sc.index = nil
			os.RemoveAll(sc.dir)
			sc.mu.Unlock()
		}
	}()
	old := sc.index
	var need []int
	for i, e := range entries {
		if e.typ() != unix.S_IFREG {
			continue
		}
		if o, ok := old[e.Path]; !ok || o != e {
			need = append(need, i)
		}
	}
	r, err := send(need)
	if err != nil {
		return nil, err
	}
	if err := sc.apply(ctx, old, entries, need, r); err != nil {
		return nil, err
	}
	c, err := OpenContext(sc.dir)
	if err != nil {
		return nil, err
	}
	sc.index = make(map[string]FileMeta, len(entries))
	for _, e := range entries {
		sc.index[e.Path] = e
	}
	ok = true
	c.cleanup = sc.mu.Unlock
	return c, nil
}

// apply removes what the manifest no longer has, writes the files sent
// and sets up directories and symlinks.
func (sc *syncedContext) apply(ctx context.Context, old map[string]FileMeta, entries []FileMeta, need []int, r io.Reader) error {
	if old == nil {
		if err := os.RemoveAll(sc.dir); err != nil {
			return err
		}
		if err := os.MkdirAll(sc.dir, 0o700); err != nil {
			return err
		}
	}
	rfd, err := unix.Open(sc.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	root := os.NewFile(uintptr(rfd), sc.dir)
	defer root.Close()
	cur := make(map[string]FileMeta, len(entries))
	for _, e := range entries {
		cur[e.Path] = e
	}
	// Removals, deepest first: gone, or of another type now.
	var gone []string
	for p, o := range old {
		if n, ok := cur[p]; !ok || n.typ() != o.typ() || (o.typ() == unix.S_IFLNK && n.Link != o.Link) {
			gone = append(gone, p)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(gone)))
	changedDirs := map[string]bool{}
	for _, p := range gone {
		if err := removeIn(root, p); err != nil {
			return err
		}
		changedDirs[path.Dir(p)] = true
	}
	// Directories and symlinks, parents first (the manifest's order).
	for _, e := range entries {
		if o, ok := old[e.Path]; ok && o == e {
			continue
		}
		changedDirs[path.Dir(e.Path)] = true
		parent, err := pathrs.OpenatInRoot(root, "./"+path.Dir(e.Path))
		if err != nil {
			return fmt.Errorf("context %s: %w", e.Path, err)
		}
		base := path.Base(e.Path)
		switch e.typ() {
		case unix.S_IFDIR:
			err = unix.Mkdirat(int(parent.Fd()), base, 0o755)
			if errors.Is(err, unix.EEXIST) {
				err = nil
			}
			if err == nil {
				err = fchmodatNoFollow(parent, base, e.Mode&0o7777)
			}
			changedDirs[e.Path] = true
		case unix.S_IFLNK:
			err = unix.Symlinkat(e.Link, int(parent.Fd()), base)
			if errors.Is(err, unix.EEXIST) {
				err = nil // unchanged target (a changed one was removed)
			}
			if err == nil {
				err = setTimes(parent, base, e.MTime)
			}
		}
		parent.Close()
		if err != nil {
			return fmt.Errorf("context %s: %w", e.Path, err)
		}
	}
	// The files sent.
	if len(need) > 0 {
		if err := unpack.Extract(ctx, root, r, unpack.ExtractOptions{}); err != nil {
			return fmt.Errorf("context: %w", err)
		}
	} else if _, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20)); err != nil {
		return err
	}
	for _, i := range need {
		e := entries[i]
		parent, err := pathrs.OpenatInRoot(root, "./"+path.Dir(e.Path))
		if err != nil {
			return fmt.Errorf("context %s: %w", e.Path, err)
		}
		var st unix.Stat_t
		base := path.Base(e.Path)
		err = unix.Fstatat(int(parent.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && (st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != e.Size) {
			err = fmt.Errorf("the client sent another file than it listed: %w", errdefs.ErrInvalidArgument)
		}
		if err == nil {
			err = fchmodatNoFollow(parent, base, e.Mode&0o7777)
		}
		if err == nil {
			err = setTimes(parent, base, e.MTime)
		}
		parent.Close()
		if err != nil {
			return fmt.Errorf("context %s: %w", e.Path, err)
		}
	}
	// Directory times last: their content changed them.
	dirs := make([]string, 0, len(changedDirs))
	for d := range changedDirs {
		if d != "." {
			dirs = append(dirs, d)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		e, ok := cur[d]
		if !ok {
			continue
		}
		parent, err := pathrs.OpenatInRoot(root, "./"+path.Dir(d))
		if err != nil {
			return err
		}
		err = setTimes(parent, path.Base(d), e.MTime)
		parent.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// removeIn removes p (recursively) inside root without following
// symlinks.
func removeIn(root *os.File, p string) error {
	parent, err := pathrs.OpenatInRoot(root, "./"+path.Dir(p))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer parent.Close()
	base := path.Base(p)
	var st unix.Stat_t
	if err := unix.Fstatat(int(parent.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return os.RemoveAll(fmt.Sprintf("/proc/self/fd/%d/%s", parent.Fd(), base))
	}
	return unix.Unlinkat(int(parent.Fd()), base, 0)
}

// fchmodatNoFollow sets the mode of a non-symlink entry of dir.
func fchmodatNoFollow(dir *os.File, base string, mode uint32) error {
	fd, err := unix.Openat(int(dir.Fd()), base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fchmodat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), mode, 0)
}

func setTimes(dir *os.File, base string, ns int64) error {
	ts := unix.NsecToTimespec(ns)
	return unix.UtimesNanoAt(int(dir.Fd()), base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
