package container_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/spec"
)

// The ranges of shared user namespaces and of containers in user
// namespaces of their own come from one pool and never overlap; the
// containers of a share get its range; a share is refused while a
// container names it; a daemon restart reads the ranges back; a release
// gives the range back to the pool.
func TestSharedUsernsRanges(t *testing.T) {
	pool := container.IDPool{Start: 1 << 20, Slots: 4}
	f := newFakeEngine(t, container.WithIDPool(pool))
	e := f.Start(t)
	ctx := context.Background()
	slot := func(i uint32) spec.IDMap {
		s := pool.Start + i*container.UsernsSize
		return spec.IDMap{HostUID: s, HostGID: s, Size: container.UsernsSize}
	}
	idmap := func(e *container.Engine, id string) spec.IDMap {
		t.Helper()
		c, err := e.Get(ctx, id)
		if err != nil || c.IDMap == nil {
			t.Fatalf("container %s: %+v %v", id, c, err)
		}
		return *c.IDMap
	}
	own := func(e *container.Engine) (string, error) {
		c, err := e.Create(ctx, container.CreateOptions{Config: container.Config{Image: fakeImage, Cmd: []string{"true"}},
			HostConfig: container.HostConfig{NetworkMode: "none", PrivateUserns: true}})
		if err != nil {
			return "", err
		}
		return c.ID, nil
	}
	shared := func(e *container.Engine, name string) (string, error) {
		c, err := e.Create(ctx, container.CreateOptions{Config: container.Config{Image: fakeImage, Cmd: []string{"true"}},
			HostConfig: container.HostConfig{NetworkMode: "none", UsernsShare: name}})
		if err != nil {
			return "", err
		}
		if !c.HostConfig.PrivateUserns {
			t.Fatalf("a container of a share is not in a user namespace: %+v", c.HostConfig)
		}
		return c.ID, nil
	}

	a, err := own(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shared(e, "task-1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("a container of a share nobody made: %v, want not found", err)
	}
	m, err := e.SharedUserns("task-1")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.SharedUserns("task-1"); err != nil || again != m {
		t.Fatalf("the share's range again: %+v %v, want %+v", again, err, m)
	}
	if _, err := e.SharedUserns("../x"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("a share named ../x: %v", err)
	}
	s1, err := shared(e, "task-1")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := shared(e, "task-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := own(e)
	if err != nil {
		t.Fatal(err)
	}
	if idmap(e, a) != slot(0) || m != slot(1) || idmap(e, s1) != m || idmap(e, s2) != m || idmap(e, b) != slot(2) {
		t.Fatalf("ranges: own %+v, share %+v (containers %+v %+v), own %+v", idmap(e, a), m, idmap(e, s1), idmap(e, s2), idmap(e, b))
	}
	if err := e.ReleaseSharedUserns(ctx, "task-1"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("release of a share two containers use: %v, want conflict", err)
	}
	data, err := os.ReadFile(filepath.Join(f.Root, "userns", "task-1", "range.json"))
	if err != nil {
		t.Fatalf("the share's range is not recorded: %v", err)
	}
	t.Logf("range record: %s", data)

	// A daemon restart reads the share back: its range stays its own.
	e.Close()
	e = f.Start(t)
	defer e.Close()
	if got := e.SharedUsernses(); !slices.Equal(got, []string{"task-1"}) {
		t.Fatalf("shares after a restart: %v", got)
	}
	if got, err := e.SharedUserns("task-1"); err != nil || got != m {
		t.Fatalf("the share's range after a restart: %+v %v, want %+v", got, err, m)
	}
	c, err := own(e)
	if err != nil {
		t.Fatal(err)
	}
	if idmap(e, c) != slot(3) {
		t.Fatalf("a container after the restart got %+v, want the last free slot %+v", idmap(e, c), slot(3))
	}
	// The pool is full: shares count.
	if _, err := own(e); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("a container with the pool full: %v, want unavailable", err)
	}
	if _, err := e.SharedUserns("task-2"); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("a share with the pool full: %v, want unavailable", err)
	}

	// Released once its containers are gone: its range is free again.
	for _, id := range []string{s1, s2} {
		if err := e.Remove(ctx, id, container.RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.ReleaseSharedUserns(ctx, "task-1"); err != nil {
		t.Fatal(err)
	}
	if err := e.ReleaseSharedUserns(ctx, "task-1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("a second release: %v, want not found", err)
	}
	if got := e.SharedUsernses(); len(got) != 0 {
		t.Fatalf("shares after the release: %v", got)
	}
	if _, err := os.Stat(filepath.Join(f.Root, "userns", "task-1")); !os.IsNotExist(err) {
		t.Fatalf("the released share's record is still on disk: %v", err)
	}
	d, err := own(e)
	if err != nil {
		t.Fatal(err)
	}
	if idmap(e, d) != m {
		t.Fatalf("after the release a container got %+v, want the share's old range %+v", idmap(e, d), m)
	}
	if _, err := shared(e, "task-1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("a container of a released share: %v, want not found", err)
	}
	for _, id := range []string{a, b, c, d} {
		if err := e.Remove(ctx, id, container.RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
}
