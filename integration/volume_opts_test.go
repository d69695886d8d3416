package integration

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestVolumeDriverOptions drives the local driver's options with the
// docker CLI: a tmpfs volume of 1 MiB owned by uid 1000 is what a
// container sees on its mount point, nosuid and nodev; its filesystem is
// mounted on the host while a container uses it, shared by the next one,
// kept through a daemon restart with its user running, and gone once the
// last user exits or is removed and after `docker volume rm`. Unknown
// options are refused with dockerd's words.
func TestVolumeDriverOptions(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	cli := newDockerCLI(t, d)
	data := filepath.Join(d.Root, "volumes", "tv", "_data")
	mountedOnHost := func() bool { return slices.Contains(d.Mounts(), data) }

	cli.must(t, "volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m,uid=1000", "tv")
	if got := strings.TrimSpace(cli.must(t, "volume", "inspect", "--format", "{{json .Options}}", "tv")); got != `{"device":"tmpfs","o":"size=1m,uid=1000","type":"tmpfs"}` {
		t.Errorf("volume inspect Options: %s", got)
	}
	if mountedOnHost() {
		t.Fatal("the volume is mounted before any container uses it")
	}
	id := strings.TrimSpace(cli.must(t, "run", "-d", "--network", "none", "-v", "tv:/data", busybox, "sleep", "300"))
	mnt := cli.must(t, "exec", id, "grep", " /data ", "/proc/mounts")
	if !strings.HasPrefix(mnt, "tmpfs /data tmpfs ") {
		t.Fatalf("the container's /data: %q", mnt)
	}
	opts := strings.Split(strings.Fields(mnt)[3], ",")
	for _, want := range []string{"nosuid", "nodev", "size=1024k", "uid=1000"} {
		if !slices.Contains(opts, want) {
			t.Errorf("mount options %v lack %s", opts, want)
		}
	}
	if owner := strings.TrimSpace(cli.must(t, "exec", id, "stat", "-c", "%u", "/data")); owner != "1000" {
		t.Errorf("/data owned by %s, want 1000", owner)
	}
	if size := strings.Fields(cli.must(t, "exec", id, "df", "-k", "/data"))[8]; size != "1024" {
		t.Errorf("/data has %s KiB, want 1024", size)
	}
	if !mountedOnHost() {
		t.Error("the volume is not mounted on the host while a container uses it")
	}
	cli.must(t, "exec", id, "sh", "-c", "echo shared > /data/f")

	// The next user shares the mount, also after a daemon restart that
	// keeps the first one running.
	d.Restart(t)
	if !mountedOnHost() {
		t.Fatal("the daemon restart dropped the mount of a running container's volume")
	}
	if out := cli.must(t, "run", "--rm", "--network", "none", "-v", "tv:/data", busybox, "cat", "/data/f"); out != "shared\n" {
		t.Errorf("a second container reads %q, want the first one's file", out)
	}
	if !mountedOnHost() {
		t.Error("the end of the second container unmounted the volume the first still uses")
	}

	cli.must(t, "rm", "-f", id)
	if !waitFor(30*time.Second, func() bool { return !mountedOnHost() }) {
		t.Error("the volume stays mounted after its last container was removed")
	}
	// A run that exits unmounts it too; its content was the tmpfs's.
	if out := cli.must(t, "run", "--rm", "--network", "none", "-v", "tv:/data", busybox, "ls", "/data"); out != "" {
		t.Errorf("a fresh tmpfs holds %q", out)
	}
	if !waitFor(30*time.Second, func() bool { return !mountedOnHost() }) {
		t.Error("the volume stays mounted after its container exited")
	}
	// Stopped, not removed: no mount either.
	stopped := strings.TrimSpace(cli.must(t, "run", "-d", "--network", "none", "-v", "tv:/data", busybox, "true"))
	cli.must(t, "wait", stopped)
	if !waitFor(30*time.Second, func() bool { return !mountedOnHost() }) {
		t.Error("the volume stays mounted after its container exited (not removed)")
	}
	cli.must(t, "rm", stopped)

	// volume rm while mounted by nothing leaves nothing behind.
	id = strings.TrimSpace(cli.must(t, "run", "-d", "--network", "none", "-v", "tv:/data", busybox, "sleep", "300"))
	cli.must(t, "rm", "-f", id)
	cli.must(t, "volume", "rm", "tv")
	if mountedOnHost() {
		t.Error("a mount is left after volume rm")
	}

	// Refusals, as dockerd words them.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--opt", "foo=bar"}, `invalid option: "foo"`},
		{[]string{"--opt", "type=tmpfs"}, `missing required option: "device"`},
		{[]string{"--opt", "size=1G"}, "quota size requested but no quota support"},
		{[]string{"--opt", "type=nosuchfs", "--opt", "device=x"}, "the kernel offers no filesystem"},
	} {
		_, errOut, code := cli.run(t, nil, append(append([]string{"volume", "create"}, tc.args...), "bad")...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("volume create %v: exit %d, %q; want an error with %q", tc.args, code, errOut, tc.want)
		}
	}
}
