package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
	"github.com/wharf-dev/wharf/runtime/spec"
)

// Shared user namespaces: containers that must share their namespaces
// (the containers of a cluster's FARGATE task, which ECS runs in one
// network namespace) run in one user namespace, so that the network
// namespace they join is owned by the user namespace they are in: runc
// joins a container's user namespace before its other namespaces, and
// from there cannot join a network namespace owned by the host's.
//
// A shared user namespace has a name, chosen by its user (the cluster
// agent names one per task), and one id range of UsernsSize ids taken
// from the engine's IDPool: never one that a container of its own
// (HostConfig.PrivateUserns) or another shared namespace holds, and
// never given to one of them while the name holds it. On disk:
//
//	<root>/userns/<name>/range.json  the range (spec.IDMap), written
//	                                 atomically when it is taken, read
//	                                 back by New after a daemon restart
//	<root>/userns/<name>/userns      the namespace, pinned (a bind mount
//	                                 of its nsfs file) once it is made
//
// The namespace itself is made by SharedUsernsNetNS together with a
// network namespace owned by it (the caller hands that one to the
// network driver as SandboxConfig.NetNSFrom, which pins it), or, for a
// container of the share that has no such network namespace to join
// (network mode none or container:), by that container's start. The pin
// is a mount of the host, which outlives the daemon (not the host: after
// a reboot the namespace is made again, with the same range, so that
// the files its containers wrote keep their owners).
//
// A container runs in the namespace when created with
// HostConfig.UsernsShare set to the name (which implies
// PrivateUserns): its record's IDMap is the share's range, and each start
// joins the pinned namespace. Its network mode must be ns:<path> (a
// namespace owned by the share's user namespace), none, or container:
// another container of the share; a bridge network is refused, because
// the engine cannot make a network namespace inside an existing user
// namespace.
//
// ReleaseSharedUserns forgets a range and unpins its namespace once no
// container names it any more.

// sharedUserns is the in-memory side of one shared user namespace.
type sharedUserns struct {
	m spec.IDMap
	// creating counts the creates in progress of containers that join
	// it, which a release must wait for.
	creating int
}

var validShareName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)

// sharedDir is where the shared user namespace name lives.
func (e *Engine) sharedDir(name string) string { return filepath.Join(e.usernsRoot, name) }

// sharedPin is where the shared user namespace name is pinned.
func (e *Engine) sharedPin(name string) string { return filepath.Join(e.sharedDir(name), "userns") }

// loadSharedUserns reads the recorded ranges of the shared user
// namespaces; the caller holds nothing and no create has begun.
func (e *Engine) loadSharedUserns() error {
	if err := os.MkdirAll(e.usernsRoot, 0o711); err != nil {
		return err
	}
	ents, err := os.ReadDir(e.usernsRoot)
	if err != nil {
		return err
	}
	for _, d := range ents {
		if !d.IsDir() || !validShareName.MatchString(d.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(e.usernsRoot, d.Name(), "range.json"))
		if os.IsNotExist(err) {
			// A share whose range was never recorded (a crash in
			// SharedUserns) or whose release was cut short: nothing
			// holds it.
			e.unpinShared(d.Name())
			_ = os.RemoveAll(filepath.Join(e.usernsRoot, d.Name()))
			continue
		}
		var m spec.IDMap
		if err == nil {
			err = json.Unmarshal(data, &m)
		}
		if err == nil && m.Size == 0 {
			err = fmt.Errorf("empty range")
		}
		if err != nil {
			// Its range is unknown: the pool could hand it out again, so
			// the daemon does not start on a guess.
			return fmt.Errorf("shared user namespace %s: unreadable range record: %v: %w", d.Name(), err, errdefs.ErrUnavailable)
		}
		e.shared[d.Name()] = &sharedUserns{m: m}
	}
	return nil
}

// SharedUserns returns the id range of the shared user namespace name,
// taking one from the engine's IDPool and recording it when name has
// none yet. It does not make the namespace (SharedUsernsNetNS does, or
// the start of a container that joins it).
func (e *Engine) SharedUserns(name string) (spec.IDMap, error) {
	if !validShareName.MatchString(name) {
		return spec.IDMap{}, fmt.Errorf("invalid shared user namespace name %q: %w", name, errdefs.ErrInvalidArgument)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if sh, ok := e.shared[name]; ok {
		return sh.m, nil
	}
	m, err := e.idPool.allocate(e.idMapsLocked())
	if err != nil {
		return spec.IDMap{}, err
	}
	// The record is written under the engine's lock so that no other
	// allocation sees the range free in between; it is one small file.
	data, _ := json.Marshal(m)
	dir := e.sharedDir(name)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return spec.IDMap{}, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "range.json"), data, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return spec.IDMap{}, fmt.Errorf("recording the range of shared user namespace %s: %w", name, err)
	}
	e.shared[name] = &sharedUserns{m: m}
	e.log.Info("shared user namespace range taken", "userns", name, "host_uid", m.HostUID, "size", m.Size)
	return m, nil
}

// SharedUsernses lists the names of the shared user namespaces that hold
// a range, sorted.
func (e *Engine) SharedUsernses() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.shared))
	for name := range e.shared {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// SharedUsernsNetNS makes the shared user namespace name (taking its
// range as SharedUserns does), pins it where the containers of the share
// join it, and returns a network namespace owned by it, as a /proc ns
// file that stays valid until done is called: network.Setup pins it as a
// sandbox's (SandboxConfig.NetNSFrom) in between. A namespace pinned
// earlier under name is replaced: containers still running in it keep
// it, those started from now on join the new one, whose network
// namespace this is.
func (e *Engine) SharedUsernsNetNS(ctx context.Context, name string) (netns string, done func(), err error) {
	m, err := e.SharedUserns(name)
	if err != nil {
		return "", nil, err
	}
	return e.holderNS(m, e.sharedPin(name), true)
}

// ReleaseSharedUserns unpins the shared user namespace name and gives
// its range back to the pool. It is refused (ErrConflict) while a
// container names it or one that does is being created; a name without
// a range is not found.
func (e *Engine) ReleaseSharedUserns(ctx context.Context, name string) error {
	e.mu.Lock()
	sh, ok := e.shared[name]
	if !ok {
		e.mu.Unlock()
		return fmt.Errorf("no shared user namespace %q: %w", name, errdefs.ErrNotFound)
	}
	users := sh.creating
	for _, en := range e.byID {
		if en.c.HostConfig.UsernsShare == name {
			users++
		}
	}
	if users > 0 {
		e.mu.Unlock()
		return fmt.Errorf("shared user namespace %s is used by %d containers: %w", name, users, errdefs.ErrConflict)
	}
	// Forgotten first, so that no create joins it from here on; the
	// range is free once the record is gone.
	delete(e.shared, name)
	e.mu.Unlock()
	e.unpinShared(name)
	if err := os.RemoveAll(e.sharedDir(name)); err != nil {
		e.log.Warn("removing a shared user namespace's record", "userns", name, "err", err)
	}
	e.log.Info("shared user namespace released", "userns", name, "host_uid", sh.m.HostUID)
	return nil
}

// joinSharedLocked marks a create of a container joining the share name as in
// progress and returns its range; the caller holds e.mu and calls the
// returned func (without e.mu) once the container is recorded or the
// create failed.
func (e *Engine) joinSharedLocked(name string) (spec.IDMap, func(), error) {
	sh, ok := e.shared[name]
	if !ok {
		return spec.IDMap{}, nil, fmt.Errorf("no shared user namespace %q (the engine's SharedUserns makes it): %w", name, errdefs.ErrNotFound)
	}
	sh.creating++
	return sh.m, func() {
		e.mu.Lock()
		sh.creating--
		e.mu.Unlock()
	}, nil
}

// checkShared refuses the network modes a container of a shared user
// namespace cannot have (after resolveNetworking normalised the mode).
func (e *Engine) checkShared(h *HostConfig) error {
	if h.UsernsShare == "" {
		return nil
	}
	if !validShareName.MatchString(h.UsernsShare) {
		return fmt.Errorf("invalid shared user namespace name %q: %w", h.UsernsShare, errdefs.ErrInvalidArgument)
	}
	switch e.kindOf(h.NetworkMode) {
	case netPath, netEmpty, netContainer:
		return nil
	}
	return fmt.Errorf("a container in a shared user namespace joins a network namespace by path (ns:), another container's, or has none; network mode %q: %w", h.NetworkMode, errdefs.ErrInvalidArgument)
}
