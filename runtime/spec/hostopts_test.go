package spec

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The host options shape the spec: the host's pid and UTS namespaces,
// /dev/shm's size, sysctls, the OOM score, device rules and more groups
// by name and number.
func TestHostOptionsSpec(t *testing.T) {
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Generate(context.Background(), &Options{ID: "0123456789abcdef", Rootfs: rootfs, Cmd: []string{"true"},
		Host: HostOptions{PidHost: true, UTSHost: true, ShmSize: 32 << 20, Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
			OomScoreAdj: 500, GroupAdd: []string{"staff", "1000"}, DeviceCgroupRules: []string{"c 1:3 rwm", "b *:* m"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace || ns.Type == specs.UTSNamespace {
			t.Errorf("namespace %s kept", ns.Type)
		}
	}
	if s.Hostname != "" {
		t.Errorf("hostname %q set without a UTS namespace", s.Hostname)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/dev/shm" && !slices.Contains(m.Options, "size=33554432") {
			t.Errorf("/dev/shm options %v", m.Options)
		}
	}
	if s.Linux.Sysctl["net.ipv4.ip_forward"] != "1" || *s.Process.OOMScoreAdj != 500 {
		t.Errorf("sysctl %v oom %d", s.Linux.Sysctl, *s.Process.OOMScoreAdj)
	}
	if g := s.Process.User.AdditionalGids; !slices.Contains(g, 50) || !slices.Contains(g, 1000) {
		t.Errorf("additional gids %v", g)
	}
	devs := s.Linux.Resources.Devices
	if last := devs[len(devs)-2]; !last.Allow || last.Type != "c" || *last.Major != 1 || *last.Minor != 3 || last.Access != "rwm" {
		t.Errorf("device rule %+v", last)
	}
	if last := devs[len(devs)-1]; last.Major != nil || last.Minor != nil || last.Type != "b" {
		t.Errorf("wildcard device rule %+v", last)
	}
	if _, err := Generate(context.Background(), &Options{ID: "0123456789abcdef", Rootfs: rootfs, Cmd: []string{"true"},
		Host: HostOptions{GroupAdd: []string{"nosuchgroup"}}}); err == nil {
		t.Error("an unknown group was accepted")
	}
}
