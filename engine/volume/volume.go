// Package volume is wharf's volume store: named and anonymous volumes of
// the "local" driver, directories on the daemon's disk that outlive the
// containers mounting them.
//
// On-disk layout (under the daemon's root):
//
//	<root>/volumes/                     0700: no host user but root gets in
//	<root>/volumes/<name>/              0700
//	<root>/volumes/<name>/volume.json   the Volume record, written atomically
//	<root>/volumes/<name>/_data/        the volume's content (its Mountpoint),
//	                                    0755 or the mode copy-up gave it
//
// Containers write what they like into a volume, setuid-root programs and
// device-owned files included, and are meant to: a volume is bind-mounted
// (rbind) without nosuid, as dockerd does for local volumes, so a setuid
// binary a user keeps in a volume works inside containers. The host is
// protected by the directories above _data instead: _data must keep the
// mode the container expects (the container sees it as the mount's root),
// so it is the volumes directory and each volume's directory that are
// closed to every host user but root. dockerd gets the same from its
// root directory's 0710; wharf's root is 0711, so the volumes directory
// itself is 0700. New tightens the modes a volumes tree from an older
// daemon kept.
//
// A volume is "in use" while any container (running or not) refers to
// it; the container engine records that with Acquire and Release, and
// rebuilds it when the daemon starts. A volume in use cannot be removed.
//
// A volume created with driver options (type, device, o: see options.go)
// is a filesystem mounted on _data while containers using it run: the
// engine calls Mount at each start and Unmount when the run ends; the
// first Mount mounts it and the Unmount of the last running user
// unmounts it. The store keeps which running containers hold each such
// mount in memory only. When the daemon starts again, New adopts the
// mounts a previous daemon left; the engine then Mounts again for the
// containers that kept running and UnmountIdle unmounts the rest, so no
// stale mount is left and a running container keeps sharing its volume
// with the next one to start. A mounted volume is never removed: Remove
// unmounts first and refuses if it cannot, so that removing the
// directory never reaches into a mounted filesystem (a bind volume's
// host directory above all).
package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/containerd/continuity/fs"

	"github.com/wharf-dev/wharf/engine/volume/mountspec"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// DriverLocal is the one volume driver.
const DriverLocal = mountspec.DriverLocal

// Volume is the record of one volume.
type Volume struct {
	Name       string
	Driver     string
	Mountpoint string
	CreatedAt  time.Time
	Labels     map[string]string `json:",omitempty"`
	Options    map[string]string `json:",omitempty"`
	// Anonymous volumes were created for a container (an image VOLUME or
	// `-v /path`); `run --rm` and `rm -v` remove them with it, and
	// `volume prune` removes them by default.
	Anonymous bool `json:",omitempty"`
	// UsedBy lists the containers referring to the volume; only Get and
	// List fill it.
	UsedBy []string `json:"-"`
}

// Store manages the volumes of one daemon.
type Store struct {
	root string
	log  *slog.Logger

	mu   sync.Mutex
	vols map[string]*Volume
	refs map[string]map[string]bool // volume name -> container IDs
	// mounted lists the volumes with options whose filesystem is mounted
	// on _data, with the running containers that use it (none for a
	// mount adopted from a previous daemon and not yet claimed).
	mounted map[string]map[string]bool
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets the store's logger.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// New opens the store under root/volumes.
func New(root string, opts ...Option) (*Store, error) {
	s := &Store{root: filepath.Join(root, "volumes"), log: slog.Default(), vols: map[string]*Volume{}, refs: map[string]map[string]bool{},
		mounted: map[string]map[string]bool{}}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(s.root, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(s.root, 0o700); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.root, e.Name(), "volume.json"))
		if err != nil {
			// A create that never finished.
			s.log.Warn("dropping incomplete volume dir", "volume", e.Name(), "err", err)
			_ = os.RemoveAll(filepath.Join(s.root, e.Name()))
			continue
		}
		var v Volume
		if err := json.Unmarshal(data, &v); err != nil || v.Name != e.Name() {
			s.log.Error("unreadable volume record; left in place", "volume", e.Name(), "err", err)
			continue
		}
		if err := os.Chmod(filepath.Join(s.root, e.Name()), 0o700); err != nil {
			return nil, err
		}
		s.vols[v.Name] = &v
		if len(v.Options) > 0 {
			// A mount a previous daemon left: adopted, for the
			// containers that kept running to claim (see UnmountIdle).
			if m, err := mounted(v.Mountpoint); err == nil && m {
				s.mounted[v.Name] = map[string]bool{}
			}
		}
	}
	return s, nil
}

// ValidName reports whether s can name a volume (mountspec.ValidName).
func ValidName(s string) bool { return mountspec.ValidName(s) }

// CreateOptions are the settings of a new volume.
type CreateOptions struct {
	// Name is empty for a random 64-hex name.
	Name   string
	Driver string
	Labels map[string]string
	// Options are the local driver's options (type, device, o, size: see
	// ParseOptions).
	Options map[string]string
	// Anonymous marks a volume made for one container (see Volume).
	Anonymous bool
}

// Create makes a volume. Creating a name that exists returns the existing
// volume, as docker does.
func (s *Store) Create(ctx context.Context, o CreateOptions) (*Volume, error) {
	if o.Driver != "" && o.Driver != DriverLocal {
		return nil, fmt.Errorf("plugin %q not found: wharf has the local volume driver only: %w", o.Driver, errdefs.ErrNotFound)
	}
	mo, err := ParseOptions(o.Options)
	if err != nil {
		return nil, err
	}
	if mo != nil {
		if err := mo.checkHost(); err != nil {
			return nil, err
		}
	}
	name := o.Name
	if name == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		name = hex.EncodeToString(b[:])
	} else if !ValidName(name) {
		return nil, fmt.Errorf("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		return s.cloneLocked(v), nil
	}
	dir := filepath.Join(s.root, name)
	v := &Volume{Name: name, Driver: DriverLocal, Mountpoint: filepath.Join(dir, "_data"), CreatedAt: time.Now().UTC().Truncate(time.Second),
		Labels: o.Labels, Anonymous: o.Anonymous}
	if len(o.Options) > 0 {
		v.Options = maps.Clone(o.Options)
	}
	// The volume's own directory is closed to host users (see the package
	// doc); _data is what the container sees as the mount's root.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(v.Mountpoint, 0o755); err != nil {
		return nil, err
	}
	data, _ := json.MarshalIndent(v, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, "volume.json"), data, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s.vols[name] = v
	s.log.Info("volume created", "volume", name, "anonymous", v.Anonymous)
	return s.cloneLocked(v), nil
}

func (s *Store) cloneLocked(v *Volume) *Volume {
	cp := *v
	cp.UsedBy = nil
	for cid := range s.refs[v.Name] {
		cp.UsedBy = append(cp.UsedBy, cid)
	}
	sort.Strings(cp.UsedBy)
	return &cp
}

// Get returns a volume by name.
func (s *Store) Get(ctx context.Context, name string) (*Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return nil, fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
	}
	return s.cloneLocked(v), nil
}

// Inspect is Get under the name the Docker API uses.
func (s *Store) Inspect(ctx context.Context, name string) (*Volume, error) { return s.Get(ctx, name) }

// List returns every volume, sorted by name.
func (s *Store) List(ctx context.Context) []*Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Volume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, s.cloneLocked(v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Remove deletes a volume and its content. A volume in use is
// ErrConflict; force only makes a missing volume not an error.
func (s *Store) Remove(ctx context.Context, name string, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(name, force)
}

func (s *Store) removeLocked(name string, force bool) error {
	v, ok := s.vols[name]
	if !ok {
		if force {
			return nil
		}
		return fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
	}
	if users := s.cloneLocked(v).UsedBy; len(users) > 0 {
		short := make([]string, len(users))
		for i, u := range users {
			short[i] = u[:min(12, len(u))]
		}
		return fmt.Errorf("remove %s: volume is in use - %v: %w", name, short, errdefs.ErrConflict)
	}
	dir := filepath.Join(s.root, name)
	// A volume's filesystem comes off before anything is removed, and the
	// directory is not touched while anything is mounted on _data.
	if err := unmount(v.Mountpoint); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	delete(s.mounted, name)
	// The record goes first: a crash half-way leaves a directory without
	// a record, which New drops.
	if err := os.Remove(filepath.Join(dir, "volume.json")); err != nil && !os.IsNotExist(err) {
		return err
	}
	delete(s.vols, name)
	delete(s.refs, name)
	s.log.Info("volume removed", "volume", name)
	return os.RemoveAll(dir)
}

// Prune removes the volumes no container uses: anonymous ones only,
// unless all. It returns their names and the bytes freed.
func (s *Store) Prune(ctx context.Context, all bool, labels map[string]string) ([]string, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	var freed uint64
	for name, v := range s.vols {
		if len(s.refs[name]) > 0 || (!all && !v.Anonymous) || !matchLabels(v.Labels, labels) {
			continue
		}
		size := dirSize(v.Mountpoint)
		if err := s.removeLocked(name, false); err != nil {
			return names, freed, err
		}
		names = append(names, name)
		freed += size
	}
	sort.Strings(names)
	return names, freed, nil
}

func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

func dirSize(dir string) uint64 {
	var n uint64
	_ = filepath.WalkDir(dir, func(_ string, d iofs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
		return nil
	})
	return n
}

// Acquire records that a container refers to a volume.
func (s *Store) Acquire(name, containerID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		return fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
	}
	if s.refs[name] == nil {
		s.refs[name] = map[string]bool{}
	}
	s.refs[name][containerID] = true
	return nil
}

// Release forgets every reference of a container.
func (s *Store) Release(containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, users := range s.refs {
		delete(users, containerID)
		if len(users) == 0 {
			delete(s.refs, name)
		}
	}
}

// CopyUp copies src (a directory of the container's image) into the
// volume when the volume is empty, keeping ownership, modes and xattrs,
// as docker does on a volume's first mount. A missing or empty src, or a
// volume with content, is left alone.
func (s *Store) CopyUp(ctx context.Context, name, src string) error {
	v, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(v.Mountpoint)
	if err != nil || len(ents) > 0 {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil || !fi.IsDir() {
		return nil
	}
	if srcEnts, err := os.ReadDir(src); err != nil || len(srcEnts) == 0 {
		return nil
	}
	if err := fs.CopyDir(v.Mountpoint, src); err != nil {
		return fmt.Errorf("copying image content into volume %s: %w", name, err)
	}
	// The volume's root takes the image directory's owner and mode.
	if st, ok := statOwner(fi); ok {
		_ = os.Lchown(v.Mountpoint, st.uid, st.gid)
	}
	return os.Chmod(v.Mountpoint, fi.Mode().Perm()|fi.Mode()&(os.ModeSticky|os.ModeSetgid|os.ModeSetuid))
}

// Mount readies volume name for a run of container id and returns it: a
// volume with options has its filesystem mounted on its Mountpoint at
// the first container's start. Mounting again for the same container is
// no error (a daemon restart re-claims the mounts of running containers).
func (s *Store) Mount(ctx context.Context, name, containerID string) (*Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return nil, fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
	}
	if len(v.Options) == 0 {
		return s.cloneLocked(v), nil
	}
	users, ok := s.mounted[name]
	if !ok {
		mo, err := ParseOptions(v.Options)
		if err != nil {
			return nil, err
		}
		if err := mo.checkHost(); err != nil {
			return nil, err
		}
		if err := mo.mount(v.Mountpoint); err != nil {
			return nil, err
		}
		users = map[string]bool{}
		s.mounted[name] = users
		s.log.Info("volume mounted", "volume", name, "type", mo.Type, "container", containerID)
	}
	users[containerID] = true
	return s.cloneLocked(v), nil
}

// Unmount ends container id's use of the volumes it mounted: each one it
// was the last running user of is unmounted. Unmounting again is no
// error.
func (s *Store) Unmount(ctx context.Context, containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, users := range s.mounted {
		if !users[containerID] {
			continue
		}
		delete(users, containerID)
		if len(users) == 0 {
			s.unmountLocked(name, containerID)
		}
	}
}

// UnmountIdle unmounts the volumes no running container has claimed: the
// engine calls it once it re-adopted the running containers at start.
func (s *Store) UnmountIdle(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, users := range s.mounted {
		if len(users) == 0 {
			s.unmountLocked(name, "")
		}
	}
}

func (s *Store) unmountLocked(name, containerID string) {
	if err := unmount(s.vols[name].Mountpoint); err != nil {
		// Kept as mounted: the next start uses it, Remove tries again.
		s.log.Error("unmounting a volume", "volume", name, "container", containerID, "err", err)
		return
	}
	delete(s.mounted, name)
	s.log.Info("volume unmounted", "volume", name, "container", containerID)
}
