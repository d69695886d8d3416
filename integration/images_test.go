package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImages covers save/load, rmi of an image a container uses, and a
// push/pull round trip through a local registry.
func TestImages(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)

	t.Run("SaveLoad", func(t *testing.T) {
		d.MustWharf(t, "tag", busybox, "local/saveme:1")
		file := filepath.Join(t.TempDir(), "saveme.tar")
		d.MustWharf(t, "save", "-o", file, "local/saveme:1")
		if fi, err := os.Stat(file); err != nil || fi.Size() < 1<<20 {
			t.Fatalf("save -o wrote %v (%v), want a tar holding busybox", fi, err)
		}
		d.MustWharf(t, "rmi", "local/saveme:1")
		if out := d.MustWharf(t, "images"); strings.Contains(out, "local/saveme") {
			t.Fatalf("rmi local/saveme:1 left it listed:\n%s", out)
		}
		out := d.MustWharf(t, "load", "-i", file)
		if !strings.Contains(out, "local/saveme:1") {
			t.Errorf("load output does not name the loaded image: %q", out)
		}
		if out := d.MustWharf(t, "images"); !strings.Contains(out, "local/saveme") {
			t.Fatalf("after load, images does not list local/saveme:\n%s", out)
		}
		if out := d.MustWharf(t, "run", "--rm", "local/saveme:1", "echo", "loaded"); out != "loaded\n" {
			t.Errorf("run of the loaded image printed %q", out)
		}
		d.MustWharf(t, "rmi", "local/saveme:1")
	})
	t.Run("RmiInUse", func(t *testing.T) {
		d.ImportBusybox(t, "local/inuse:1")
		id := runD(t, d, "local/inuse:1", "true")
		d.MustWharf(t, "wait", id)
		_, errOut, code := d.Wharf(t, "rmi", "local/inuse:1")
		if code == 0 {
			t.Fatalf("rmi of an image a container uses succeeded")
		}
		if !strings.Contains(errOut, "container") {
			t.Errorf("rmi of an image in use: stderr %q does not say a container uses it", errOut)
		}
		if out := d.MustWharf(t, "images"); !strings.Contains(out, "local/inuse") {
			t.Errorf("a failed rmi removed the tag:\n%s", out)
		}
		d.MustWharf(t, "rmi", "-f", "local/inuse:1")
		if out := d.MustWharf(t, "images"); strings.Contains(out, "local/inuse") {
			t.Errorf("rmi -f left the tag:\n%s", out)
		}
		// The container keeps its image and still runs.
		d.MustWharf(t, "start", id)
		if c := strings.TrimSpace(d.MustWharf(t, "wait", id)); c != "0" {
			t.Errorf("restarting a container whose image was force-untagged: exit %s", c)
		}
		d.MustWharf(t, "rm", id)
	})
	t.Run("RegistryRoundTrip", func(t *testing.T) {
		addr := startRegistry(t)
		ref := addr + "/test/bb:1"
		d.MustWharf(t, "tag", busybox, ref)
		if _, errOut, code := d.Wharf(t, "push", ref); code != 0 {
			t.Fatalf("push %s: exit %d, stderr %q", ref, code, errOut)
		}
		d.MustWharf(t, "tag", busybox, "local/keep:1") // keep the layers' image apart from the tags under test
		d.MustWharf(t, "rmi", ref)
		if out := d.MustWharf(t, "images"); strings.Contains(out, addr) {
			t.Fatalf("rmi %s left it listed:\n%s", ref, out)
		}
		if _, errOut, code := d.Wharf(t, "pull", ref); code != 0 {
			t.Fatalf("pull %s: exit %d, stderr %q", ref, code, errOut)
		}
		if out := d.MustWharf(t, "run", "--rm", ref, "echo", "pulled"); out != "pulled\n" {
			t.Errorf("run of the pulled image printed %q", out)
		}

		// Now with no local copy at all: every tag of the image goes.
		imgID := inspect(t, d, "{{.Id}}", ref)
		d.MustWharf(t, "rmi", ref, "local/keep:1", busybox)
		if out := d.MustWharf(t, "images", "-q", "--no-trunc"); strings.Contains(out, imgID) {
			t.Fatalf("image %s still listed after removing every tag:\n%s", imgID, out)
		}
		if _, errOut, code := d.Wharf(t, "pull", ref); code != 0 {
			t.Fatalf("pull %s into an empty store: exit %d, stderr %q", ref, code, errOut)
		}
		if out := d.MustWharf(t, "run", "--rm", ref, "echo", "pulled"); out != "pulled\n" {
			t.Errorf("run of the image pulled into an empty store printed %q", out)
		}
		d.MustWharf(t, "tag", ref, busybox)
	})
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaks(t, d) })
}

// startRegistry runs Debian's docker-registry on a free loopback port for
// the test and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	const bin = "/usr/bin/docker-registry"
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("skipping: %s not installed (apt-get install docker-registry)", bin)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logf.Name())
			t.Logf("registry log:\n%s", data)
		}
	})
	client := &http.Client{Timeout: time.Second}
	if !waitFor(15*time.Second, func() bool {
		resp, err := client.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("registry on %s did not answer /v2/ within 15s", addr)
	}
	return addr
}
