package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/snapshot"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/internal/atomicfile"
	"github.com/wharf-dev/wharf/runtime/task"
)

// Images is what the engine needs of the image store.
type Images interface {
	// Get resolves a reference or ID to an image record.
	Get(ctx context.Context, refOrID string) (*store.Image, error)
	// LayerDirs returns the unpacked layer directories of img, bottom first.
	LayerDirs(ctx context.Context, img *store.Image) ([]string, error)
}

// Engine manages the containers of one daemon.
type Engine struct {
	root     string // <root>/containers
	images   Images
	runtimes map[string]task.Runtime
	defRT    string
	self     string
	rootfs   snapshot.Mounter
	log      *slog.Logger
	net      Networks
	vols     Volumes

	// logDefault is the log configuration of containers created without
	// a driver (logconfig.go).
	logDefault LogConfig
	// events receives what happens to containers (events.go).
	events events.Publisher

	mu    sync.Mutex
	byID  map[string]*entry
	names map[string]string
	execs map[string]*execEntry
	// imageUsers are other holders of images (function versions pinned
	// to an image) that ImageInUse consults besides the containers.
	imageUsers []func(imageID string) bool
	// closed is set by Close: no healthcheck is armed any more.
	closed bool
	// startObs learns each start's phases (startobs.go).
	startObs func(StartTiming)
	// idPool gives containers in user namespaces their host ids;
	// idReserved are the ranges (by start) of creates in progress
	// (userns.go).
	idPool     IDPool
	idReserved map[uint32]bool
	// usernsRoot holds the shared user namespaces, shared their ranges
	// by name (usernsshare.go).
	usernsRoot string
	shared     map[string]*sharedUserns
}

// entry is the in-memory side of one container.
type entry struct {
	// op serialises lifecycle operations (start, stop, remove, restart).
	op sync.Mutex
	// rec orders the writes of the record: taken before the engine lock
	// and held until the file is written, so writes of one container land
	// in order while the engine lock is free during the fsync.
	rec sync.Mutex
	c   *Container
	// changed is closed and replaced on every state change; waiters
	// select on it.
	changed chan struct{}
	// pending are attach streams waiting for the next start.
	pending []*attachReq
	// gen counts starts, so a monitor of an old run ignores itself.
	gen int
	// restartTimer is the back-off timer of a pending policy restart.
	restartTimer *time.Timer
	// lastDelay is the back-off delay used before the last policy restart.
	lastDelay time.Duration
	// exits counts recorded exits, for wait next-exit; exitsTold those
	// whose die event is out, so that a kill or stop that waited for the
	// exit tells its own event after the die, as dockerd.
	exits     int
	exitsTold int
	removed   bool
	// destroyed is set once a removal is whole, for Wait.
	destroyed bool
	// healthTimer fires the next healthcheck probe; healthGen counts
	// arming and disarming, so that a probe of an older arming drops its
	// result (health.go).
	healthTimer *time.Timer
	healthGen   int
	// proc is the process of the current run's spec, the base of execs
	// (nil after a daemon restart: execs read the bundle's config.json).
	proc *specs.Process
}

// Option configures an Engine.
type Option func(*Engine)

// WithLogger sets the engine's logger.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithRootFS sets what mounts the containers' root filesystems; the
// default is the kernel's overlayfs (snapshot.Overlay).
func WithRootFS(m snapshot.Mounter) Option { return func(e *Engine) { e.rootfs = m } }

// WithIDPool sets where containers in user namespaces of their own take
// their host ids (DefaultIDPool unless set).
func WithIDPool(p IDPool) Option { return func(e *Engine) { e.idPool = p } }

// New returns an engine keeping containers under root/containers.
// runtimes maps names to the runtimes that run containers (--runtime);
// def names the default. self is the path of the lean wharf
// binary, the containers' init (--init).
func New(root string, images Images, runtimes map[string]task.Runtime, def, self string, opts ...Option) (*Engine, error) {
	if _, ok := runtimes[def]; !ok {
		return nil, fmt.Errorf("default runtime %q is not configured: %w", def, errdefs.ErrInvalidArgument)
	}
	e := &Engine{
		root:     filepath.Join(root, "containers"),
		images:   images,
		runtimes: runtimes,
		defRT:    def,
		self:     self,
		rootfs:   snapshot.Overlay{},
		log:      slog.Default(),
		byID:     map[string]*entry{},
		names:    map[string]string{},
		execs:    map[string]*execEntry{},

		logDefault: DefaultLogConfig(),
		events:     events.Discard,
		idPool:     DefaultIDPool,
		idReserved: map[uint32]bool{},
		usernsRoot: filepath.Join(root, "userns"),
		shared:     map[string]*sharedUserns{},
	}
	for _, o := range opts {
		o(e)
	}
	if err := e.idPool.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(e.root, 0o700); err != nil {
		return nil, err
	}
	if err := e.loadSharedUserns(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) dir(id string) string { return filepath.Join(e.root, id) }

// runtime returns the runtime that runs c.
func (e *Engine) runtime(c *Container) (task.Runtime, error) {
	rt := e.runtimes[c.Runtime]
	if rt == nil {
		return nil, fmt.Errorf("runtime %q is not available on this daemon: %w", c.Runtime, errdefs.ErrUnavailable)
	}
	return rt, nil
}

// layers are the directories of c's root filesystem.
func (e *Engine) layers(ctx context.Context, c *Container) (snapshot.Layers, error) {
	img, err := e.images.Get(ctx, c.ImageID)
	if err != nil {
		return snapshot.Layers{}, fmt.Errorf("image of container %s: %w", c.ID, err)
	}
	lowers, err := e.images.LayerDirs(ctx, img)
	if err != nil {
		return snapshot.Layers{}, err
	}
	return snapshot.Layers{Lowers: lowers, Upper: filepath.Join(e.dir(c.ID), "upper"), Work: filepath.Join(e.dir(c.ID), "work")}, nil
}

// unmountRootfs takes down the root filesystem of the container id.
func (e *Engine) unmountRootfs(ctx context.Context, id string) error {
	e.unpinUserns(id)
	return e.rootfs.Unmount(context.WithoutCancel(ctx), e.RootfsPath(id))
}

// jsonLogPath is where a json-file log lives.
func (e *Engine) jsonLogPath(id string) string { return filepath.Join(e.dir(id), id+"-json.log") }

// LogPath is where the json-file log of the container with this full ID
// lives; empty for a container with another log driver (whose files,
// like dockerd's, are not part of the API) or none.
func (e *Engine) LogPath(id string) string {
	e.mu.Lock()
	en, ok := e.byID[id]
	typ := ""
	if ok {
		typ = en.c.HostConfig.LogConfig.Type
	}
	e.mu.Unlock()
	if !ok || typ != "" && typ != LogDriverJSONFile {
		return ""
	}
	return e.jsonLogPath(id)
}

// RootfsPath is the container's merged root filesystem mount point.
func (e *Engine) RootfsPath(id string) string { return filepath.Join(e.dir(id), "rootfs") }

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Create records a new container. It starts nothing.
func (e *Engine) Create(ctx context.Context, o CreateOptions) (*Container, error) {
	name := strings.TrimPrefix(o.Name, "/")
	if o.Name != "" && !validName.MatchString(o.Name) {
		return nil, fmt.Errorf("invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", o.Name, errdefs.ErrInvalidArgument)
	}
	warnings, err := validateHostConfig(&o.HostConfig)
	if err != nil {
		return nil, err
	}
	if o.HostConfig.UsernsShare != "" {
		o.HostConfig.PrivateUserns = true
	}
	if err := checkUserns(&o.HostConfig); err != nil {
		return nil, err
	}
	if err := checkCgroupParent(o.HostConfig.CgroupParent); err != nil {
		return nil, err
	}
	mergeLogDefault(&o.HostConfig.LogConfig, e.logDefault)
	if err := ValidateLogConfig(o.HostConfig.LogConfig); err != nil {
		return nil, err
	}
	rtName := o.HostConfig.Runtime
	if rtName == "" {
		rtName = e.defRT
	}
	if _, ok := e.runtimes[rtName]; !ok {
		return nil, fmt.Errorf("unknown or unusable runtime %q (see `wharf info`): %w", rtName, errdefs.ErrInvalidArgument)
	}
	if o.Config.Image == "" {
		return nil, fmt.Errorf("no image specified: %w", errdefs.ErrInvalidArgument)
	}
	img, err := e.images.Get(ctx, o.Config.Image)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("No such image: %s: %w", o.Config.Image, errdefs.ErrNotFound)
		}
		return nil, err
	}
	if err := o.HostConfig.HostOptions.check(o.Config.Hostname); err != nil {
		return nil, err
	}
	if err := o.HostConfig.HostOptions.checkDNS(o.HostConfig.NetworkMode); err != nil {
		return nil, err
	}
	if err := validateHealthcheck(o.Config.Healthcheck); err != nil {
		return nil, err
	}
	mergeImageHealthcheck(&o.Config, img)
	path, args := resolveCommand(&o.Config, img)
	mergeImageEnv(&o.Config, img)
	if path == "" {
		return nil, fmt.Errorf("no command specified: %w", errdefs.ErrInvalidArgument)
	}
	netSettings, err := e.resolveNetworking(ctx, &o, img)
	if err != nil {
		return nil, err
	}
	if err := e.checkShared(&o.HostConfig); err != nil {
		return nil, err
	}
	if err := e.resolveLinks(ctx, &o, &netSettings); err != nil {
		return nil, err
	}
	id := newID()
	mounts, createdVols, err := e.resolveMounts(ctx, &o, img)
	if err != nil {
		return nil, err
	}
	dropVols := func() {
		for _, n := range createdVols {
			_ = e.vols.Remove(ctx, n, true)
		}
	}
	c := &Container{
		ID:         id,
		Name:       name,
		Created:    time.Now().UTC(),
		ImageID:    img.ID,
		Config:     o.Config,
		HostConfig: o.HostConfig,
		Path:       path,
		Args:       args,
		State:      State{Status: StatusCreated},
		Runtime:    rtName,

		NetworkSettings: netSettings,
		MountPoints:     mounts,
	}
	if c.Config.Hostname == "" && c.HostConfig.NetworkMode != "host" && c.HostConfig.UTSMode != "host" {
		c.Config.Hostname = id[:12]
	}

	e.mu.Lock()
	if share := c.HostConfig.UsernsShare; share != "" {
		m, joined, err := e.joinSharedLocked(share)
		if err != nil {
			e.mu.Unlock()
			dropVols()
			return nil, err
		}
		c.IDMap = &m
		defer joined()
	} else if c.HostConfig.PrivateUserns {
		m, err := e.idPool.allocate(e.idMapsLocked())
		if err != nil {
			e.mu.Unlock()
			dropVols()
			return nil, err
		}
		c.IDMap = &m
		e.idReserved[m.HostUID] = true
		defer func() {
			e.mu.Lock()
			delete(e.idReserved, m.HostUID)
			e.mu.Unlock()
		}()
	}
	if name == "" {
		name = e.freeNameLocked()
		c.Name = name
	}
	if other, taken := e.names[name]; taken {
		e.mu.Unlock()
		dropVols()
		return nil, fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name: %w", name, other, errdefs.ErrConflict)
	}
	e.names[name] = id
	e.mu.Unlock()

	if err := os.MkdirAll(e.dir(id), 0o700); err != nil {
		e.releaseName(name)
		dropVols()
		return nil, err
	}
	if err := e.acquireVolumes(c); err != nil {
		e.vols.Release(id)
		_ = os.RemoveAll(e.dir(id))
		e.releaseName(name)
		dropVols()
		return nil, err
	}
	if err := e.save(c); err != nil {
		_ = os.RemoveAll(e.dir(id))
		e.releaseName(name)
		if e.vols != nil {
			e.vols.Release(id)
		}
		dropVols()
		return nil, err
	}
	e.mu.Lock()
	e.byID[id] = &entry{c: c, changed: make(chan struct{})}
	e.mu.Unlock()
	e.log.Info("container created", "container", id, "name", name, "image", img.ID)
	out := c.clone()
	out.Warnings = warnings
	e.publish(out, "create", nil)
	return out, nil
}

func (e *Engine) releaseName(name string) {
	e.mu.Lock()
	delete(e.names, name)
	e.mu.Unlock()
}

// resolveCommand merges the user's entrypoint and command with the image's
// as docker does: a user entrypoint also discards the image's command.
func resolveCommand(c *Config, img *store.Image) (string, []string) {
	var ep, cmd []string
	if img.Config != nil {
		ep, cmd = img.Config.Config.Entrypoint, img.Config.Config.Cmd
	}
	if c.EntrypointSet {
		ep = c.Entrypoint
		cmd = nil
	}
	if len(c.Cmd) > 0 {
		cmd = c.Cmd
	}
	all := append(append([]string{}, ep...), cmd...)
	if len(all) == 0 {
		return "", nil
	}
	return all[0], all[1:]
}

// validateRestartPolicy checks a restart policy as dockerd does.
func validateRestartPolicy(p RestartPolicy) error {
	switch p.Name {
	case "", "no", "always", "unless-stopped":
		if p.MaximumRetryCount != 0 {
			return fmt.Errorf("maximum retry count cannot be used with restart policy '%s': %w", p.Name, errdefs.ErrInvalidArgument)
		}
	case "on-failure":
		if p.MaximumRetryCount < 0 {
			return fmt.Errorf("maximum retry count cannot be negative: %w", errdefs.ErrInvalidArgument)
		}
	default:
		return fmt.Errorf("invalid restart policy '%s': %w", p.Name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// validateHostConfig checks a new container's host configuration as
// dockerd does; it returns dockerd's warnings, and drops what the host
// cannot do as dockerd drops it.
func validateHostConfig(h *HostConfig) ([]string, error) {
	if err := validateRestartPolicy(h.RestartPolicy); err != nil {
		return nil, err
	}
	if h.AutoRemove && h.RestartPolicy.Name != "" && h.RestartPolicy.Name != "no" {
		return nil, fmt.Errorf("conflicting options: cannot specify both --restart and --rm: %w", errdefs.ErrInvalidArgument)
	}
	if h.NetworkMode == "container:" {
		return nil, fmt.Errorf("invalid network mode: container: needs a container name or ID: %w", errdefs.ErrInvalidArgument)
	}
	if h.PidsLimit < 0 && h.PidsLimit != -1 {
		return nil, fmt.Errorf("invalid resource limits: %w", errdefs.ErrInvalidArgument)
	}
	r := h.resources()
	warnings, err := validateResources(&r, hostSysInfo(), false)
	if err != nil {
		return warnings, err
	}
	h.MemorySwap, h.BlkioWeight = r.MemorySwap, r.BlkioWeight
	if h.Memory > 0 && h.MemorySwap == 0 {
		// dockerd's default, which inspect shows: as much swap as
		// memory.
		h.MemorySwap = 2 * h.Memory
	}
	return warnings, nil
}

func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// save writes the container record atomically and durably.
func (e *Engine) save(c *Container) error { return e.persist(c, true) }

// persist writes the container record atomically; durable adds the
// fsyncs (internal/atomicfile) so that the record survives a host crash,
// not only a daemon crash. The record of a container removed on exit
// (--rm) is never synced: a host crash ends it, and the daemon then
// removes what is left of it.
func (e *Engine) persist(c *Container, durable bool) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeRecordFile(filepath.Join(e.dir(c.ID), "container.json"), data, durable && !c.HostConfig.AutoRemove)
}

// writeRecordFile replaces path with data so that readers see the old or
// the new content, never a part; with durable the data and the rename
// reach the disk before it returns.
func writeRecordFile(path string, data []byte, durable bool) error {
	if durable {
		return atomicfile.WriteFile(path, data, 0o600)
	}
	return atomicfile.WriteFile(path, data, 0o600, atomicfile.NoSync())
}

func (c *Container) clone() *Container {
	cp := *c
	cp.Args = append([]string(nil), c.Args...)
	cp.ExecIDs = append([]string(nil), c.ExecIDs...)
	cp.NetworkSettings = c.NetworkSettings.clone()
	cp.MountPoints = append([]MountPoint(nil), c.MountPoints...)
	cp.HostConfig.PortBindings = append([]network.PortBinding(nil), c.HostConfig.PortBindings...)
	cp.HostConfig.Links = append([]Link(nil), c.HostConfig.Links...)
	cp.HostConfig.LogConfig.Config = maps.Clone(c.HostConfig.LogConfig.Config)
	if c.Config.Healthcheck != nil {
		h := *c.Config.Healthcheck
		h.Test = append([]string(nil), h.Test...)
		cp.Config.Healthcheck = &h
	}
	cp.State.Health = c.State.Health.clone()
	if c.IDMap != nil {
		m := *c.IDMap
		cp.IDMap = &m
	}
	return &cp
}

// lookup finds a container by full ID, name, or unique ID prefix.
func (e *Engine) lookup(ref string) (*entry, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lookupLocked(ref)
}

func (e *Engine) lookupLocked(ref string) (*entry, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	if en, ok := e.byID[ref]; ok {
		return en, nil
	}
	if id, ok := e.names[ref]; ok {
		if en, ok := e.byID[id]; ok {
			return en, nil
		}
	}
	var found *entry
	for id, en := range e.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, fmt.Errorf("multiple IDs found with provided prefix: %s: %w", ref, errdefs.ErrInvalidArgument)
			}
			found = en
		}
	}
	if found == nil {
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

// Get returns a snapshot of a container's record.
func (e *Engine) Get(ctx context.Context, ref string) (*Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, err := e.lookupLocked(ref)
	if err != nil {
		return nil, err
	}
	return en.c.clone(), nil
}

// List returns every container, newest first.
func (e *Engine) List(ctx context.Context) []*Container {
	e.mu.Lock()
	out := make([]*Container, 0, len(e.byID))
	for _, en := range e.byID {
		out = append(out, en.c.clone())
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// ImageInUse reports whether any container, or any user added with
// AddImageUser, uses the image with this ID.
func (e *Engine) ImageInUse(imageID string) bool {
	e.mu.Lock()
	users := e.imageUsers
	for _, en := range e.byID {
		if en.c.ImageID == imageID {
			e.mu.Unlock()
			return true
		}
	}
	e.mu.Unlock()
	for _, inUse := range users {
		if inUse(imageID) {
			return true
		}
	}
	return false
}

// AddImageUser makes ImageInUse also report the images inUse reports, so
// that image removal and pruning keep them as they keep a container's
// image. inUse is called without the engine's lock held.
func (e *Engine) AddImageUser(inUse func(imageID string) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.imageUsers = append(e.imageUsers[:len(e.imageUsers):len(e.imageUsers)], inUse)
}

// Rename gives a container a new name.
func (e *Engine) Rename(ctx context.Context, ref, newName string) error {
	if !validName.MatchString(newName) {
		return fmt.Errorf("invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", newName, errdefs.ErrInvalidArgument)
	}
	newName = strings.TrimPrefix(newName, "/")
	en, err := e.lookup(ref)
	if err != nil {
		return err
	}
	var renameErr error
	var oldName string
	err = e.writeRecord(en, true, func(c *Container) bool {
		if en.removed {
			renameErr = fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
			return false
		}
		if c.Name == newName {
			renameErr = fmt.Errorf("Renaming a container with the same name as its current name: %w", errdefs.ErrInvalidArgument)
			return false
		}
		if other, taken := e.names[newName]; taken {
			renameErr = fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container %q: %w", newName, other, errdefs.ErrConflict)
			return false
		}
		oldName = c.Name
		delete(e.names, c.Name)
		e.names[newName] = c.ID
		c.Name = newName
		return true
	})
	if renameErr != nil {
		return renameErr
	}
	if err == nil {
		e.publishOf(en, "rename", map[string]string{"oldName": "/" + oldName})
	}
	return err
}

// update applies fn to the container's record under the engine lock,
// persists it and wakes waiters.
func (e *Engine) update(en *entry, fn func(c *Container)) { e.updateRecord(en, fn, true) }

// updateVolatile is update without the fsync, for states whose loss in a
// host crash costs nothing: a record about to be deleted, or the exit of
// a container that is removed on exit (after a reboot the daemon finds it
// dead and removes it anyway).
func (e *Engine) updateVolatile(en *entry, fn func(c *Container)) { e.updateRecord(en, fn, false) }

// updateVolatileIf is updateVolatile for a change fn may decline (by
// answering false), for states whose loss in a host crash costs little:
// a probe's result.
func (e *Engine) updateVolatileIf(en *entry, fn func(c *Container) bool) {
	if err := e.writeRecord(en, false, fn); err != nil {
		e.log.Error("saving container state", "container", en.c.ID, "err", err)
	}
}

func (e *Engine) updateRecord(en *entry, fn func(c *Container), durable bool) {
	err := e.writeRecord(en, durable, func(c *Container) bool { fn(c); return true })
	if err != nil {
		e.log.Error("saving container state", "container", en.c.ID, "err", err)
	}
}

// writeRecord applies fn to the record under the engine lock and, if fn
// reports a change, writes the record with the engine lock released (the
// entry's rec lock keeps the writes in order) and then wakes the waiters.
// A removed container's record is not written.
func (e *Engine) writeRecord(en *entry, durable bool, fn func(c *Container) bool) error {
	return e.writeRecordThen(en, durable, fn, nil)
}

// writeRecordThen is writeRecord that calls then, if fn made a change,
// once the record is written and before the waiters wake: the events of
// a change are told before anyone who waited for it acts on it.
func (e *Engine) writeRecordThen(en *entry, durable bool, fn func(c *Container) bool, then func()) error {
	en.rec.Lock()
	defer en.rec.Unlock()
	e.mu.Lock()
	if !fn(en.c) {
		e.mu.Unlock()
		return nil
	}
	data, err := json.MarshalIndent(en.c, "", "  ")
	id, removed := en.c.ID, en.removed
	durable = durable && !en.c.HostConfig.AutoRemove
	e.mu.Unlock()
	if err == nil && !removed {
		err = writeRecordFile(filepath.Join(e.dir(id), "container.json"), data, durable)
	}
	if then != nil {
		then()
	}
	e.mu.Lock()
	close(en.changed)
	en.changed = make(chan struct{})
	removed = en.removed
	e.mu.Unlock()
	if removed {
		return nil
	}
	return err
}

// snapshot returns a copy of the state and the channel closed at the next
// change.
func (e *Engine) snapshot(en *entry) (State, chan struct{}, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return en.c.State, en.changed, en.removed
}

var errRemoved = errors.New("container removed")

// freeNameLocked returns a generated name that is not in use.
func (e *Engine) freeNameLocked() string {
	for {
		n := randomName()
		if _, taken := e.names[n]; !taken {
			return n
		}
	}
}

// Close releases what the engine holds that is not a container: its
// runtimes' processes started ahead of need, and its healthcheck timers
// (the next daemon resumes them). Containers keep running.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	ens := make([]*entry, 0, len(e.byID))
	for _, en := range e.byID {
		en.disarmHealthLocked()
		ens = append(ens, en)
	}
	e.mu.Unlock()
	// A record write in flight (a probe's result applied in memory, its
	// file not yet written) ends before Close returns: a daemon started
	// next on the same root reads what this one last showed.
	for _, en := range ens {
		en.rec.Lock()
		en.rec.Unlock()
	}
	for _, rt := range e.runtimes {
		rt.Close()
	}
}
