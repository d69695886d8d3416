package container_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/internal/testutil"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/ocishim"
)

// nsIno is the inode of a namespace file (its identity).
func nsIno(t *testing.T, p string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// Two containers of one shared user namespace on runc, joining a network
// namespace made inside it (as a FARGATE task's containers join their
// task's): both run in the pinned user namespace, as host ids of the
// share's range, in the one network namespace (they talk over
// 127.0.0.1), exec works in them (runc joins the user namespace first,
// then the network namespace it owns), and a daemon restart and a
// restart of a container keep all of it; the release unpins the
// namespace.
func TestSharedUsernsOnRunc(t *testing.T) {
	testutil.RequiresRoot(t)
	busybox := testutil.BusyboxRootfsTar(t)
	self := testutil.BuildWharf(t)
	probe := oci.Probe(context.Background(), "runc", t.TempDir())
	if !probe.Usable {
		t.Skipf("runc is not usable here: %s", probe.Reason)
	}
	ctx := context.Background()
	root, execRoot := t.TempDir(), t.TempDir()
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
	pool := container.IDPool{Start: 3<<28 + 8*container.UsernsSize, Slots: 4}
	start := func() *container.Engine {
		rts, err := ocishim.NewSet(self, execRoot, map[string]*oci.Runtime{"runc": rt})
		if err != nil {
			t.Fatal(err)
		}
		e, err := container.New(root, st, rts, "runc", self, container.WithLogger(slog.New(slog.DiscardHandler)), container.WithIDPool(pool))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start()
	// The network namespace the share's containers join, pinned here as
	// the network driver pins a sandbox's.
	netPin := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() {
		for _, c := range e.List(ctx) {
			_ = e.Remove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		_ = e.ReleaseSharedUserns(ctx, "task-x")
		e.Close()
		_ = unix.Unmount(netPin, unix.MNT_DETACH)
		testutil.AwaitProcessesUnder(t, execRoot)
	})

	from, done, err := e.SharedUsernsNetNS(ctx, "task-x")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(netPin, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	err = unix.Mount(from, netPin, "", unix.MS_BIND, "")
	done()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nsenter", "--net="+netPin, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in the share's network namespace: %v %s", err, out)
	}
	m, err := e.SharedUserns("task-x")
	if err != nil {
		t.Fatal(err)
	}
	usernsPin := filepath.Join(root, "userns", "task-x", "userns")

	create := func(script string) *container.Container {
		t.Helper()
		c, err := e.Create(ctx, container.CreateOptions{Config: container.Config{Image: "test/busybox:1", Cmd: []string{"sh", "-c", script}},
			HostConfig: container.HostConfig{NetworkMode: "ns:" + netPin, UsernsShare: "task-x"}})
		if err != nil {
			t.Fatal(err)
		}
		if c.IDMap == nil || *c.IDMap != m {
			t.Fatalf("container of the share: map %+v, want %+v", c.IDMap, m)
		}
		if err := e.Start(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		c, _ = e.Get(ctx, c.ID)
		return c
	}
	server := create(`exec nc -ll -p 8080 -e echo pong`)
	side := create(`exec sleep 1000`)
	check := func(when string) {
		t.Helper()
		for _, id := range []string{server.ID, side.ID} {
			c, err := e.Get(ctx, id)
			if err != nil || !c.State.Running() {
				t.Fatalf("%s: container %.12s: %+v %v", when, id, c, err)
			}
			pid := c.State.Pid
			if u := hostUID(t, pid); u != int(m.HostUID) {
				t.Fatalf("%s: host uid of %.12s's process %d, want the share's %d", when, id, u, m.HostUID)
			}
			if got, want := nsIno(t, fmt.Sprintf("/proc/%d/ns/user", pid)), nsIno(t, usernsPin); got != want {
				t.Fatalf("%s: %.12s is in user namespace %d, want the share's %d", when, id, got, want)
			}
			if got, want := nsIno(t, fmt.Sprintf("/proc/%d/ns/net", pid)), nsIno(t, netPin); got != want {
				t.Fatalf("%s: %.12s is in network namespace %d, want the share's %d", when, id, got, want)
			}
		}
		// Exec: runc joins the user namespace, then the network
		// namespace it owns; over 127.0.0.1 to the other container.
		var out string
		deadline := time.Now().Add(30 * time.Second)
		for {
			id, err := e.ExecCreate(ctx, side.ID, container.ExecConfig{Cmd: []string{"sh", "-c", "id -u; echo hi | nc -w 3 127.0.0.1 8080"}, Tty: true, AttachStdout: true})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			err = e.ExecStart(ctx, id, container.ExecStartOptions{Stream: rw{strings.NewReader(""), &buf}})
			out = strings.Join(strings.Fields(buf.String()), " ")
			if err == nil && out == "0 pong" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: exec in the side container: %q %v, want uid 0 and the server's pong over 127.0.0.1", when, out, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	check("started")

	// A daemon restart re-adopts both; a restart of a container joins
	// the same pinned namespaces.
	e.Close()
	e = start()
	check("after the daemon's restart")
	zero := 0
	if err := e.Restart(ctx, server.ID, &zero); err != nil {
		t.Fatal(err)
	}
	check("after a restart of the server")

	for _, c := range e.List(ctx) {
		if err := e.Remove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.ReleaseSharedUserns(ctx, "task-x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(usernsPin); !os.IsNotExist(err) {
		t.Fatalf("the released share is still pinned: %v", err)
	}
}
