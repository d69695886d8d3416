package container

import (
	"errors"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/spec"
)

func TestIDPoolAllocate(t *testing.T) {
	p := IDPool{Start: 1 << 20, Slots: 3}
	r := func(start uint32) spec.IDMap { return spec.IDMap{HostUID: start, HostGID: start, Size: UsernsSize} }
	cases := []struct {
		name string
		used []spec.IDMap
		want uint32
		err  error
	}{
		{"empty pool takes the first slot", nil, 1 << 20, nil},
		{"next free slot", []spec.IDMap{r(1 << 20)}, 1<<20 + UsernsSize, nil},
		{"a hole is reused", []spec.IDMap{r(1 << 20), r(1<<20 + 2*UsernsSize)}, 1<<20 + UsernsSize, nil},
		{"a range from another pool layout blocks the slots it overlaps",
			[]spec.IDMap{{HostUID: 1<<20 + 100, HostGID: 1<<20 + 100, Size: UsernsSize}}, 1<<20 + 2*UsernsSize, nil},
		{"a gid range alone blocks too", []spec.IDMap{{HostUID: 5, HostGID: 1 << 20, Size: 10}}, 1<<20 + UsernsSize, nil},
		{"a range ending at the slot's start does not", []spec.IDMap{{HostUID: 1<<20 - 10, HostGID: 1<<20 - 10, Size: 10}}, 1 << 20, nil},
		{"full", []spec.IDMap{r(1 << 20), r(1<<20 + UsernsSize), r(1<<20 + 2*UsernsSize)}, 0, errdefs.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.allocate(c.used)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil || got != r(c.want) {
				t.Fatalf("got %+v %v, want %+v", got, err, r(c.want))
			}
		})
	}
}

func TestIDPoolValidate(t *testing.T) {
	for _, p := range []IDPool{{Start: 0, Slots: 1}, {Start: 1, Slots: 0}, {Start: 1<<32 - UsernsSize, Slots: 1}, {Start: 1 << 31, Slots: 1 << 15}} {
		if err := p.Validate(); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: %v, want invalid", p, err)
		}
	}
	for _, p := range []IDPool{DefaultIDPool, {Start: 1<<32 - 1 - UsernsSize, Slots: 1}} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

func TestCheckUsernsAndCgroupParent(t *testing.T) {
	for _, h := range []HostConfig{
		{PrivateUserns: true, Privileged: true},
		{PrivateUserns: true, NetworkMode: "host"},
		{PrivateUserns: true, HostOptions: HostOptions{PidMode: "host"}},
		{PrivateUserns: true, HostOptions: HostOptions{UsernsMode: "host"}},
	} {
		if err := checkUserns(&h); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: %v, want invalid", h, err)
		}
	}
	if err := checkUserns(&HostConfig{PrivateUserns: true, NetworkMode: "bridge"}); err != nil {
		t.Error(err)
	}
	for _, p := range []string{"rel", "/a/../b", "/a/", "/a//b", "/a b", "/.x"} {
		if err := checkCgroupParent(p); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%q: %v, want invalid", p, err)
		}
	}
	for _, p := range []string{"", "/wharf-tasks/abc-123", "/x"} {
		if err := checkCgroupParent(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	c := &Container{ID: "abc", HostConfig: HostConfig{CgroupParent: "/t/1"}}
	if got := cgroupsPathOf(c); got != "/t/1/abc" {
		t.Errorf("cgroups path %s", got)
	}
}

// A container of a shared user namespace joins a network namespace by
// path, another container's, or has its own: never a bridge network's,
// which the engine would make outside the shared user namespace.
func TestCheckShared(t *testing.T) {
	e := &Engine{}
	for _, mode := range []string{"ns:/run/wharf/netns/x", "none", "container:0123"} {
		if err := e.checkShared(&HostConfig{UsernsShare: "task-1", NetworkMode: mode}); err != nil {
			t.Errorf("%s: %v", mode, err)
		}
	}
	for _, h := range []HostConfig{
		{UsernsShare: "task-1", NetworkMode: "bridge"},
		{UsernsShare: "task-1", NetworkMode: "mynet"},
		{UsernsShare: "a/b", NetworkMode: "none"},
	} {
		if err := e.checkShared(&h); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: %v, want invalid", h, err)
		}
	}
}
