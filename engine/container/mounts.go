package container

import (
	"context"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
)

// Volumes is what the engine needs of the volume store (package volume).
// The engine Acquires every volume a container refers to when it is
// created (and again when the daemon starts) and Releases them when it is
// removed, so that the store refuses to remove a volume in use. Each start
// Mounts the container's volumes (a volume with driver options has its
// filesystem mounted by the first) and the end of the run, a failed start
// or a removal Unmounts them; at daemon start, the running containers
// re-adopted Mount again and UnmountIdle drops the mounts left unclaimed.
type Volumes interface {
	Create(ctx context.Context, o volume.CreateOptions) (*volume.Volume, error)
	Get(ctx context.Context, name string) (*volume.Volume, error)
	Remove(ctx context.Context, name string, force bool) error
	Acquire(name, containerID string) error
	Release(containerID string)
	CopyUp(ctx context.Context, name, src string) error
	Mount(ctx context.Context, name, containerID string) (*volume.Volume, error)
	Unmount(ctx context.Context, containerID string)
	UnmountIdle(ctx context.Context)
}

// unmountVolumes ends the use a run of c made of its volumes.
func (e *Engine) unmountVolumes(ctx context.Context, id string) {
	if e.vols != nil {
		e.vols.Unmount(ctx, id)
	}
}

// remountVolumes claims again, at daemon start, the volumes of a running
// container that was re-adopted.
func (e *Engine) remountVolumes(ctx context.Context, c *Container) {
	if e.vols == nil {
		return
	}
	for _, mp := range c.MountPoints {
		if mp.Type == volume.TypeVolume {
			if _, err := e.vols.Mount(ctx, mp.Name, c.ID); err != nil {
				e.log.Warn("claiming the volume of a running container", "container", c.ID, "volume", mp.Name, "err", err)
			}
		}
	}
}

// WithVolumes gives the engine a volume store.
func WithVolumes(v Volumes) Option { return func(e *Engine) { e.vols = v } }

// MountPoint is one resolved mount of a container: Name is the volume's
// name for volume mounts (Source is then resolved at start), Anonymous
// marks a volume made for this container.
type MountPoint struct {
	volume.Mount
	Name      string `json:",omitempty"`
	Anonymous bool   `json:",omitempty"`
}

// resolveMounts turns the requested mounts, --volumes-from and the image's
// VOLUMEs into the container's mount points, creating the volumes they
// name (anonymous ones get a random name). It returns the volumes it
// created, to delete if the create fails later.
func (e *Engine) resolveMounts(ctx context.Context, o *CreateOptions, img *store.Image) ([]MountPoint, []string, error) {
	var out []MountPoint
	var created []string
	fail := func(err error) ([]MountPoint, []string, error) {
		for _, n := range created {
			_ = e.vols.Remove(ctx, n, true)
		}
		return nil, nil, err
	}
	targets := map[string]bool{}
	add := func(mp MountPoint) error {
		if targets[mp.Target] {
			return fmt.Errorf("Duplicate mount point: %s: %w", mp.Target, errdefs.ErrInvalidArgument)
		}
		targets[mp.Target] = true
		out = append(out, mp)
		return nil
	}
	needVols := len(o.HostConfig.Mounts) > 0 || len(o.HostConfig.VolumesFrom) > 0 || len(o.Config.Volumes) > 0 ||
		(img.Config != nil && len(img.Config.Config.Volumes) > 0)
	if needVols && e.vols == nil {
		return nil, nil, fmt.Errorf("this daemon has no volume store: %w", errdefs.ErrNotImplemented)
	}
	for _, m := range o.HostConfig.Mounts {
		mp := MountPoint{Mount: m}
		switch m.Type {
		case volume.TypeBind:
			if _, err := os.Stat(m.Source); err != nil {
				if !os.IsNotExist(err) || !m.CreateSource {
					return fail(fmt.Errorf("invalid mount config for type \"bind\": bind source path does not exist: %s: %w", m.Source, errdefs.ErrInvalidArgument))
				}
				if err := os.MkdirAll(m.Source, 0o755); err != nil {
					return fail(err)
				}
			}
		case volume.TypeVolume:
			v, err := e.vols.Create(ctx, volume.CreateOptions{Name: m.Source, Anonymous: m.Source == ""})
			if err != nil {
				return fail(err)
			}
			if m.Source == "" {
				created = append(created, v.Name)
				mp.Anonymous = true
			}
			mp.Name, mp.Source = v.Name, v.Name
			if mp.Mode == "" {
				// dockerd marks a local-driver volume from -v or --mount
				// for SELinux relabelling: its Mode reads "z".
				mp.Mode = "z"
			}
		case volume.TypeTmpfs:
		default:
			return fail(fmt.Errorf("invalid mount type %q: %w", m.Type, errdefs.ErrInvalidArgument))
		}
		if err := add(mp); err != nil {
			return fail(err)
		}
	}
	for _, vf := range o.HostConfig.VolumesFrom {
		ref, mode, _ := strings.Cut(vf, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return fail(fmt.Errorf("invalid mode for --volumes-from %q: %w", vf, errdefs.ErrInvalidArgument))
		}
		other, err := e.Get(ctx, ref)
		if err != nil {
			return fail(err)
		}
		for _, mp := range other.MountPoints {
			if mp.Type == volume.TypeTmpfs || targets[mp.Target] {
				continue
			}
			mp.Anonymous = false // it belongs to the other container
			mp.Mode = ""         // dockerd keeps no mode on a --volumes-from copy
			switch mode {
			case "ro":
				mp.ReadOnly = true
			case "rw":
				mp.ReadOnly = false
			}
			if err := add(mp); err != nil {
				return fail(err)
			}
		}
	}
	var anon []string
	for t := range o.Config.Volumes {
		anon = append(anon, t)
	}
	if img.Config != nil {
		for t := range img.Config.Config.Volumes {
			anon = append(anon, t)
		}
	}
	sort.Strings(anon)
	for _, t := range anon {
		if !path.IsAbs(t) {
			return fail(fmt.Errorf("invalid volume path %q: must be absolute: %w", t, errdefs.ErrInvalidArgument))
		}
		t = path.Clean(t)
		if targets[t] {
			continue
		}
		v, err := e.vols.Create(ctx, volume.CreateOptions{Anonymous: true})
		if err != nil {
			return fail(err)
		}
		created = append(created, v.Name)
		if err := add(MountPoint{Mount: volume.Mount{Type: volume.TypeVolume, Source: v.Name, Target: t}, Name: v.Name, Anonymous: true}); err != nil {
			return fail(err)
		}
	}
	return out, created, nil
}

// acquireVolumes records the container's use of its volumes.
func (e *Engine) acquireVolumes(c *Container) error {
	if e.vols == nil {
		return nil
	}
	for _, mp := range c.MountPoints {
		if mp.Type == volume.TypeVolume {
			if err := e.vols.Acquire(mp.Name, c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseVolumes forgets the container's use of its volumes and, when
// removeAnonymous, deletes the anonymous volumes made for it.
func (e *Engine) releaseVolumes(ctx context.Context, c *Container, removeAnonymous bool) {
	if e.vols == nil {
		return
	}
	e.vols.Release(c.ID)
	if !removeAnonymous {
		return
	}
	for _, mp := range c.MountPoints {
		if mp.Type == volume.TypeVolume && mp.Anonymous {
			if err := e.vols.Remove(ctx, mp.Name, true); err != nil && !errdefs.IsConflict(err) {
				e.log.Warn("removing an anonymous volume", "container", c.ID, "volume", mp.Name, "err", err)
			}
		}
	}
}

// specMounts returns the runtime mounts of the container's mount points,
// copying image content into empty volumes first (rootfs is the mounted
// root filesystem).
func (e *Engine) specMounts(ctx context.Context, c *Container, rootfs string) ([]specs.Mount, error) {
	var out []specs.Mount
	for _, mp := range c.MountPoints {
		switch mp.Type {
		case volume.TypeBind, volume.TypeVolume:
			src := mp.Source
			if mp.Type == volume.TypeVolume {
				v, err := e.vols.Mount(ctx, mp.Name, c.ID)
				if err != nil {
					return nil, err
				}
				src = v.Mountpoint
				if !mp.NoCopy {
					if img, err := securejoin.SecureJoin(rootfs, mp.Target); err == nil {
						if err := e.vols.CopyUp(ctx, mp.Name, img); err != nil {
							return nil, err
						}
					}
				}
			} else if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("bind source path does not exist: %s: %w", src, errdefs.ErrInvalidArgument)
			}
			prop := mp.Propagation
			if prop == "" {
				prop = "rprivate"
			}
			opts := []string{"rbind", prop}
			if mp.ReadOnly {
				opts = append(opts, "ro")
			}
			out = append(out, specs.Mount{Destination: mp.Target, Type: "bind", Source: src, Options: opts})
		case volume.TypeTmpfs:
			opts := []string{"nosuid", "nodev"}
			exec := false
			for _, o := range mp.TmpfsOptions {
				if o == "exec" {
					exec = true
				}
				opts = append(opts, o)
			}
			if !exec {
				opts = append(opts, "noexec")
			}
			if mp.ReadOnly {
				opts = append(opts, "ro")
			}
			if mp.TmpfsSize > 0 {
				opts = append(opts, "size="+strconv.FormatInt(mp.TmpfsSize, 10))
			}
			mode := mp.TmpfsMode
			if mode == 0 {
				mode = 0o1777
			}
			opts = append(opts, "mode="+strconv.FormatUint(uint64(mode), 8))
			out = append(out, specs.Mount{Destination: mp.Target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		}
	}
	return out, nil
}
