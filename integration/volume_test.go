package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestVolumes: a named volume keeps its data across container removal and
// a daemon restart, can't be removed while in use, copy-up fills an empty
// volume from the image, anonymous volumes follow the image's VOLUME and
// go with `run --rm`, and ls/inspect/prune work.
func TestVolumes(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	d.MustWharf(t, "volume", "create", "--label", "app=db", "pgdata")
	d.MustWharf(t, "run", "--rm", "-v", "pgdata:/data", busybox, "sh", "-c", "echo persisted > /data/f")
	if out := d.MustWharf(t, "run", "--rm", "-v", "pgdata:/data", busybox, "cat", "/data/f"); out != "persisted\n" {
		t.Fatalf("after container removal: %q", out)
	}
	id := runD(t, d, "-v", "pgdata:/data", busybox, "sleep", "300")
	if _, errOut, code := d.Wharf(t, "volume", "rm", "pgdata"); code == 0 || !strings.Contains(errOut, "in use") {
		t.Errorf("volume rm in use: exit %d %q", code, errOut)
	}
	d.Restart(t)
	if out := d.MustWharf(t, "exec", id, "cat", "/data/f"); out != "persisted\n" {
		t.Errorf("after a daemon restart (running container): %q", out)
	}
	if _, _, code := d.Wharf(t, "volume", "rm", "pgdata"); code == 0 {
		t.Error("volume rm in use succeeded after a daemon restart")
	}
	d.MustWharf(t, "rm", "-f", id)
	if out := d.MustWharf(t, "run", "--rm", "-v", "pgdata:/data", busybox, "cat", "/data/f"); out != "persisted\n" {
		t.Errorf("after restart and removal: %q", out)
	}
	if got := strings.TrimSpace(d.MustWharf(t, "volume", "inspect", "--format", "{{.Name}} {{.Driver}} {{.Labels.app}} {{.Mountpoint}}", "pgdata")); got != "pgdata local db "+filepath.Join(d.Root, "volumes", "pgdata", "_data") {
		t.Errorf("volume inspect: %q", got)
	}
	if out := d.MustWharf(t, "volume", "ls", "-q", "--filter", "label=app=db"); strings.TrimSpace(out) != "pgdata" {
		t.Errorf("volume ls: %q", out)
	}

	// Copy-up: an empty named volume mounted on /etc gets the image's /etc
	// (and the daemon's /etc/hosts still shows on top of it).
	d.MustWharf(t, "run", "--rm", "-v", "etcvol:/etc", busybox, "cat", "/etc/hosts")
	if _, err := os.Stat(filepath.Join(d.Root, "volumes", "etcvol", "_data", "passwd")); err != nil {
		t.Errorf("copy-up did not fill the volume: %v", err)
	}
	// Not again once it has content: a file removed from the volume stays
	// removed.
	d.MustWharf(t, "run", "--rm", "-v", "etcvol:/x", busybox, "rm", "/x/group")
	if _, _, code := d.Wharf(t, "run", "--rm", "-v", "etcvol:/etc", busybox, "test", "-e", "/etc/group"); code == 0 {
		t.Error("copy-up ran into a volume that has content")
	}
	// nocopy leaves a new volume empty.
	if out := d.MustWharf(t, "run", "--rm", "--mount", "type=volume,source=nocp,target=/etc,volume-nocopy", busybox, "ls", "/etc"); strings.Contains(out, "passwd") {
		t.Errorf("volume-nocopy copied: %q", out)
	}

	// Anonymous volumes from the image's VOLUME.
	tarPath := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(tarPath, testutil.BusyboxRootfsTar(t), 0o644); err != nil {
		t.Fatal(err)
	}
	d.MustWharf(t, "import", "-c", "VOLUME /cache", tarPath, "local/withvol:1")
	anon := runD(t, d, "local/withvol:1", "sh", "-c", "echo x > /cache/y; sleep 300")
	name := inspect(t, d, "{{(index .Mounts 0).Name}}", anon)
	if len(name) != 64 {
		t.Fatalf("anonymous volume name %q", name)
	}
	d.MustWharf(t, "rm", "-f", anon)
	if _, _, code := d.Wharf(t, "volume", "inspect", name); code != 0 {
		t.Error("rm without -v removed the anonymous volume")
	}
	out := d.MustWharf(t, "volume", "prune", "-f")
	if !strings.Contains(out, name) {
		t.Errorf("volume prune did not remove the anonymous volume:\n%s", out)
	}
	if _, _, code := d.Wharf(t, "volume", "inspect", "pgdata"); code != 0 {
		t.Error("volume prune removed a named volume")
	}
	// run --rm takes its anonymous volumes with it.
	before := strings.Fields(d.MustWharf(t, "volume", "ls", "-q"))
	d.MustWharf(t, "run", "--rm", "-v", "/scratch", busybox, "touch", "/scratch/x")
	// The removal after the exit is asynchronous, as in docker.
	var after []string
	if !waitFor(5*time.Second, func() bool {
		after = strings.Fields(d.MustWharf(t, "volume", "ls", "-q"))
		return len(after) == len(before)
	}) {
		t.Errorf("run --rm left an anonymous volume: %v -> %v", before, after)
	}
	assertNoLeaks(t, d)
}

// TestMounts: bind mounts (rw and ro), --mount, tmpfs with a size limit,
// and the backup/restore recipe with --volumes-from.
func TestMounts(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.MustWharf(t, "run", "--rm", "-v", host+":/h", busybox, "sh", "-c", "cat /h/in > /h/out")
	if data, _ := os.ReadFile(filepath.Join(host, "out")); string(data) != "from host\n" {
		t.Errorf("rw bind: %q", data)
	}
	if _, _, code := d.Wharf(t, "run", "--rm", "-v", host+":/h:ro", busybox, "touch", "/h/nope"); code == 0 {
		t.Error("a read-only bind mount accepted a write")
	}
	if _, _, code := d.Wharf(t, "run", "--rm", "--mount", "type=bind,source="+host+",target=/h,readonly", busybox, "touch", "/h/nope"); code == 0 {
		t.Error("--mount readonly accepted a write")
	}
	if _, err := os.Stat(filepath.Join(host, "nope")); err == nil {
		t.Error("a write through a read-only bind reached the host")
	}
	if _, errOut, code := d.Wharf(t, "run", "--rm", "--mount", "type=bind,source=/nonexistent-wharf,target=/x", busybox, "true"); code != 125 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("--mount of a missing source: exit %d %q", code, errOut)
	}

	// tmpfs: a size limit that holds.
	out, _, code := d.Wharf(t, "run", "--rm", "--tmpfs", "/t:size=1m", busybox, "sh", "-c",
		"dd if=/dev/zero of=/t/big bs=1k count=2048 2>/dev/null; echo rc=$?; grep ' /t ' /proc/mounts")
	if code != 0 || !strings.Contains(out, "rc=1") || !strings.Contains(out, "tmpfs") || !strings.Contains(out, "size=1024k") {
		t.Errorf("tmpfs size limit: exit %d\n%s", code, out)
	}
	if out := d.MustWharf(t, "run", "--rm", "--mount", "type=tmpfs,target=/m,tmpfs-size=2m", busybox, "grep", " /m ", "/proc/mounts"); !strings.Contains(out, "size=2048k") || !strings.Contains(out, "noexec") {
		t.Errorf("--mount tmpfs: %q", out)
	}

	// The backup/restore recipe.
	db := runD(t, d, "--name", "db", "-v", "pgdata:/data", busybox, "sh", "-c", "echo row1 > /data/table; sleep 300")
	waitFor(5e9, func() bool {
		o, _, _ := d.Wharf(t, "exec", db, "cat", "/data/table")
		return o == "row1\n"
	})
	backup := t.TempDir()
	d.MustWharf(t, "run", "--rm", "--volumes-from", "db", "-v", backup+":/backup", busybox, "tar", "cf", "/backup/b.tar", "/data")
	if fi, err := os.Stat(filepath.Join(backup, "b.tar")); err != nil || fi.Size() == 0 {
		t.Fatalf("backup: %v", err)
	}
	d.MustWharf(t, "run", "--rm", "-v", "restored:/data", "-v", backup+":/backup", busybox, "tar", "xf", "/backup/b.tar", "-C", "/")
	if out := d.MustWharf(t, "run", "--rm", "-v", "restored:/data", busybox, "cat", "/data/table"); out != "row1\n" {
		t.Errorf("restored: %q", out)
	}
	// --volumes-from ro.
	if _, _, code := d.Wharf(t, "run", "--rm", "--volumes-from", "db:ro", busybox, "touch", "/data/x"); code == 0 {
		t.Error("--volumes-from db:ro accepted a write")
	}
	assertNoLeaks(t, d)
}
