package container_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/internal/testutil"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/ocishim"
)

// hostUID is the real uid, on the host, of process pid.
func hostUID(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "Uid:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no Uid line for pid %d", pid)
	return -1
}

func ownerOf(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

type rw struct {
	io.Reader
	io.Writer
}

// A container in a user namespace of its own on runc: its root is a host
// uid of the container's range, the image's files read as its own
// through idmapped layers (no chown of the layers), what it writes lands
// in the upper dir owned by its range, exec and bind mounts work, the
// root cannot write what the host did not give it, and the mapping
// survives a restart of the daemon and of the container.
func TestUsernsContainerOnRunc(t *testing.T) {
	testutil.RequiresRoot(t)
	busybox := testutil.BusyboxRootfsTar(t)
	self := testutil.BuildWharf(t)
	probe := oci.Probe(context.Background(), "runc", t.TempDir())
	if !probe.Usable {
		t.Skipf("runc is not usable here: %s", probe.Reason)
	}
	ctx := context.Background()
	root, execRoot := t.TempDir(), t.TempDir()
	// The container's root reaches its bundle from inside its namespace.
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.New(filepath.Join(root, "image"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import(ctx, bytes.NewReader(busybox), "test/busybox:1", &v1.Config{Cmd: []string{"sh"}}); err != nil {
		t.Fatal(err)
	}
	rt := &oci.Runtime{Name: "runc", Path: probe.Path, Root: filepath.Join(execRoot, "runtime", "runc")}
	pool := container.IDPool{Start: 3 << 28, Slots: 4}
	vols, err := volume.New(root)
	if err != nil {
		t.Fatal(err)
	}
	start := func() *container.Engine {
		rts, err := ocishim.NewSet(self, execRoot, map[string]*oci.Runtime{"runc": rt})
		if err != nil {
			t.Fatal(err)
		}
		e, err := container.New(root, st, rts, "runc", self, container.WithLogger(slog.New(slog.DiscardHandler)), container.WithIDPool(pool), container.WithVolumes(vols))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start()
	t.Cleanup(func() {
		for _, c := range e.List(ctx) {
			_ = e.Remove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		e.Close()
		testutil.AwaitProcessesUnder(t, execRoot)
	})

	shared := t.TempDir()
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	hostOnly := filepath.Join(t.TempDir(), "host-only")
	if err := os.WriteFile(hostOnly, []byte("root's\n"), 0o666&^0o022); err != nil {
		t.Fatal(err)
	}
	// /made/f comes last: the test waits for it. The script runs again
	// when the container restarts, over the same upper dir: every step
	// must succeed then too (mkdir -p), or it exits under the test.
	script := `id -u > /whoami && echo more >> /etc/passwd && touch /shared/from-container && mkdir -p /made && touch /made/f && exec sleep 1000`
	c, err := e.Create(ctx, container.CreateOptions{Config: container.Config{Image: "test/busybox:1", Cmd: []string{"sh", "-c", script}},
		HostConfig: container.HostConfig{NetworkMode: "none", PrivateUserns: true,
			Mounts: []volume.Mount{{Type: volume.TypeBind, Source: shared, Target: "/shared"}}}})
	if err != nil {
		t.Fatal(err)
	}
	m := c.IDMap
	if m == nil || m.HostUID != pool.Start || m.HostGID != pool.Start || m.Size != container.UsernsSize {
		t.Fatalf("id map %+v, want the pool's first range", m)
	}
	if err := e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	upper := filepath.Join(root, "containers", c.ID, "upper")
	waitFile(t, filepath.Join(upper, "made", "f"))
	c, _ = e.Get(ctx, c.ID)
	if u := hostUID(t, c.State.Pid); u != int(m.HostUID) {
		t.Fatalf("host uid of the container's process %d, want %d", u, m.HostUID)
	}
	if data, _ := os.ReadFile(filepath.Join(upper, "whoami")); strings.TrimSpace(string(data)) != "0" {
		t.Fatalf("id -u in the container: %q", data)
	}
	for _, p := range []string{"whoami", "made", "made/f", "etc/passwd"} {
		if u, g := ownerOf(t, filepath.Join(upper, p)); u != m.HostUID || g != m.HostGID {
			t.Errorf("upper/%s owned by %d:%d, want the mapped root %d:%d", p, u, g, m.HostUID, m.HostGID)
		}
	}
	// The bind mount is idmapped: the container's root wrote there as the
	// host's root owner of the directory.
	if u, _ := ownerOf(t, filepath.Join(shared, "from-container")); u != 0 {
		t.Errorf("file written through the idmapped bind mount owned by %d, want 0", u)
	}
	// The image's layers were not chowned.
	layers, _ := st.LayerDirs(ctx, mustImage(t, st))
	if u, _ := ownerOf(t, filepath.Join(layers[len(layers)-1], "bin")); u != 0 {
		t.Errorf("image layer chowned: bin owned by %d", u)
	}

	// The container's root, with all its capabilities, cannot write a
	// root-owned host path it was not given.
	out, err := exec.Command("nsenter", "--target", strconv.Itoa(c.State.Pid), "--user", "--", "sh", "-c", "echo pwned >> "+hostOnly).CombinedOutput()
	if err == nil {
		t.Fatalf("the container's user namespace wrote the host's %s: %s", hostOnly, out)
	}
	if data, _ := os.ReadFile(hostOnly); string(data) != "root's\n" {
		t.Fatalf("host file changed: %q", data)
	}

	execID := func(e *container.Engine) string {
		t.Helper()
		id, err := e.ExecCreate(ctx, c.ID, container.ExecConfig{Cmd: []string{"sh", "-c", "id -u; cat /proc/self/uid_map"}, Tty: true, AttachStdout: true})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := e.ExecStart(ctx, id, container.ExecStartOptions{Stream: rw{strings.NewReader(""), &buf}}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	want := fmt.Sprintf("0 %d %d", m.HostUID, m.Size)
	if got := strings.Join(strings.Fields(execID(e)), " "); !strings.HasPrefix(got, "0 "+want) {
		t.Fatalf("exec in the container: %q, want uid 0 and the map %q", got, want)
	}

	// A second container gets the next range.
	c2, err := e.Create(ctx, container.CreateOptions{Config: container.Config{Image: "test/busybox:1", Cmd: []string{"true"}},
		HostConfig: container.HostConfig{NetworkMode: "none", PrivateUserns: true}})
	if err != nil {
		t.Fatal(err)
	}
	if c2.IDMap == nil || c2.IDMap.HostUID != pool.Start+container.UsernsSize {
		t.Fatalf("second container's map %+v", c2.IDMap)
	}

	// A daemon restart re-adopts the container with its mapping; a
	// restart of the container keeps it.
	e.Close()
	e = start()
	got, err := e.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.IDMap == nil || *got.IDMap != *m || !got.State.Running() {
		t.Fatalf("after the daemon's restart: map %+v, state %s", got.IDMap, got.State.Status)
	}
	if got := strings.Join(strings.Fields(execID(e)), " "); !strings.HasPrefix(got, "0 "+want) {
		t.Fatalf("exec after the daemon's restart: %q", got)
	}
	zero := 0
	if err := e.Restart(ctx, c.ID, &zero); err != nil {
		t.Fatal(err)
	}
	got, _ = e.Get(ctx, c.ID)
	if got.IDMap == nil || *got.IDMap != *m || hostUID(t, got.State.Pid) != int(m.HostUID) {
		t.Fatalf("after a restart of the container: map %+v", got.IDMap)
	}
	// Nothing idmapped is left attached on the host.
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], filepath.Join(root, "containers", c.ID, "idmap")) {
			t.Fatalf("idmapped mount left on the host: %s", l)
		}
	}
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(p); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", p)
}

func mustImage(t *testing.T, st *store.Store) *store.Image {
	t.Helper()
	img, err := st.Get(context.Background(), "test/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	return img
}
