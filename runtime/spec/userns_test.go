package spec

import (
	"context"
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestUserNamespace(t *testing.T) {
	m := &IDMap{HostUID: 1 << 30, HostGID: 1<<30 + 7, Size: 65536}
	gen := func(t *testing.T, o Options) (*specs.Spec, error) {
		t.Helper()
		o.ID, o.Rootfs, o.Cmd = testID, fakeRootfs(t), []string{"sh"}
		return Generate(context.Background(), &o)
	}
	userns := func(s *specs.Spec) *specs.LinuxNamespace {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.UserNamespace {
				return &s.Linux.Namespaces[i]
			}
		}
		return nil
	}
	sysMount := func(s *specs.Spec) specs.Mount {
		for _, mt := range s.Mounts {
			if mt.Destination == "/sys" {
				return mt
			}
		}
		return specs.Mount{}
	}

	s, err := gen(t, Options{})
	if err != nil || userns(s) != nil || len(s.Linux.UIDMappings) != 0 {
		t.Fatalf("no user namespace asked: %v %+v", err, s.Linux.Namespaces)
	}

	// A new user namespace with the mapping; its own network namespace:
	// sysfs as usual.
	s, err = gen(t, Options{UserNS: m})
	if err != nil {
		t.Fatal(err)
	}
	if ns := userns(s); ns == nil || ns.Path != "" {
		t.Fatalf("user namespace %+v", ns)
	}
	want := specs.LinuxIDMapping{ContainerID: 0, HostID: 1 << 30, Size: 65536}
	if len(s.Linux.UIDMappings) != 1 || s.Linux.UIDMappings[0] != want ||
		len(s.Linux.GIDMappings) != 1 || s.Linux.GIDMappings[0].HostID != 1<<30+7 {
		t.Fatalf("mappings %+v %+v", s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	if sysMount(s).Type != "sysfs" {
		t.Fatalf("/sys %+v", sysMount(s))
	}

	// Joining a host-owned network namespace: /sys is bound read-only.
	s, err = gen(t, Options{UserNS: m, NetNSPath: "/proc/1/ns/net"})
	if err != nil {
		t.Fatal(err)
	}
	if mt := sysMount(s); mt.Type != "bind" || mt.Source != "/sys" {
		t.Fatalf("/sys with a joined network namespace: %+v", mt)
	}

	// Joining the user namespace that owns the network namespace.
	s, err = gen(t, Options{UserNS: m, UserNSPath: "/run/x/userns", NetNSPath: "/run/x/netns"})
	if err != nil {
		t.Fatal(err)
	}
	if ns := userns(s); ns == nil || ns.Path != "/run/x/userns" || len(s.Linux.UIDMappings) != 1 || sysMount(s).Type != "sysfs" {
		t.Fatalf("joined user namespace: %+v, /sys %+v", ns, sysMount(s))
	}

	for name, o := range map[string]Options{
		"privileged":   {UserNS: m, Privileged: true},
		"host pid":     {UserNS: m, Host: HostOptions{PidHost: true}},
		"host network": {UserNS: m, NetworkMode: NetworkHost},
		"empty map":    {UserNS: &IDMap{}},
	} {
		if _, err := gen(t, o); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}
