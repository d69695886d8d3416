package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// An overlay upper directory becomes an OCI layer: files as they are,
// a whiteout device as a ".wh." file, an opaque directory with its
// ".wh..wh..opq" entry, the runtime's mount points left out; a redirected
// directory is refused, not committed short of its content.
func TestWriteLayer(t *testing.T) {
	testutil.RequiresRoot(t)
	up := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(up, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(up, "etc", "hosts"), nil, 0o644))
	must(os.WriteFile(filepath.Join(up, "etc", "motd"), []byte("hi\n"), 0o644))
	must(unix.Mknod(filepath.Join(up, "etc", "passwd"), unix.S_IFCHR, 0))
	must(os.MkdirAll(filepath.Join(up, "dev", "pts"), 0o755))
	must(os.MkdirAll(filepath.Join(up, "proc"), 0o755))
	must(os.MkdirAll(filepath.Join(up, "var", "cache"), 0o755))
	must(unix.Setxattr(filepath.Join(up, "var", "cache"), "trusted.overlay.opaque", []byte("y"), 0))
	must(os.WriteFile(filepath.Join(up, "var", "cache", "new"), []byte("x"), 0o600))

	layer := func() ([]string, map[string]string, error) {
		f, err := os.OpenFile(up, unix.O_PATH|unix.O_DIRECTORY, 0)
		must(err)
		defer f.Close()
		var buf bytes.Buffer
		if err := writeLayer(context.Background(), &buf, f); err != nil {
			return nil, nil, err
		}
		tr := tar.NewReader(&buf)
		var names []string
		content := map[string]string{}
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			must(err)
			b, _ := io.ReadAll(tr)
			names = append(names, h.Name)
			content[h.Name] = string(b)
		}
		sort.Strings(names)
		return names, content, nil
	}
	names, content, err := layer()
	must(err)
	want := "etc/ etc/.wh.passwd etc/motd var/ var/cache/ var/cache/.wh..wh..opq var/cache/new"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("layer entries\n got %s\nwant %s", got, want)
	}
	if content["etc/motd"] != "hi\n" || content["etc/.wh.passwd"] != "" {
		t.Errorf("content %q", content)
	}

	must(unix.Setxattr(filepath.Join(up, "var"), "trusted.overlay.redirect", []byte("/old"), 0))
	if _, _, err := layer(); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("a redirected directory: %v, want ErrNotImplemented", err)
	}
	must(unix.Removexattr(filepath.Join(up, "var"), "trusted.overlay.redirect"))
	must(unix.Setxattr(filepath.Join(up, "etc", "motd"), "trusted.overlay.metacopy", nil, 0))
	if _, _, err := layer(); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("a metacopy file: %v, want ErrNotImplemented", err)
	}
}

// The committed config is the client's filled from the container's as
// dockerd's merge fills it.
func TestMergeCommitConfig(t *testing.T) {
	ctr := v1.Config{
		User: "app", Env: []string{"PATH=/bin", "A=1"}, Cmd: []string{"sleep", "9"}, Entrypoint: []string{"/init"},
		Labels: map[string]string{"a": "1", "b": "1"}, WorkingDir: "/w", StopSignal: "SIGINT",
		ExposedPorts: map[string]struct{}{"80/tcp": {}}, Volumes: map[string]struct{}{"/data": {}},
		Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "true"}, Retries: 3},
	}
	u := v1.Config{Env: []string{"A=2"}, Labels: map[string]string{"b": "2"}, Cmd: []string{"run"},
		ExposedPorts: map[string]struct{}{"53/udp": {}}, Healthcheck: &v1.HealthConfig{Interval: 5}}
	mergeCommitConfig(&u, ctr)
	if strings.Join(u.Env, " ") != "A=2 PATH=/bin" || u.Labels["a"] != "1" || u.Labels["b"] != "2" || u.User != "app" || u.WorkingDir != "/w" || u.StopSignal != "SIGINT" {
		t.Errorf("merged %+v", u)
	}
	// The client's command is kept, and the container's entrypoint
	// comes with it as dockerd keeps it.
	if strings.Join(u.Cmd, " ") != "run" || strings.Join(u.Entrypoint, " ") != "/init" {
		t.Errorf("cmd %v entrypoint %v", u.Cmd, u.Entrypoint)
	}
	if len(u.ExposedPorts) != 2 || len(u.Volumes) != 1 || u.Healthcheck.Retries != 3 || u.Healthcheck.Interval != 5 || u.Healthcheck.Test[1] != "true" {
		t.Errorf("ports %v volumes %v health %+v", u.ExposedPorts, u.Volumes, u.Healthcheck)
	}
	// An entrypoint of the client's keeps its empty command.
	u = v1.Config{Entrypoint: []string{"/other"}}
	mergeCommitConfig(&u, ctr)
	if u.Cmd != nil {
		t.Errorf("cmd %v with the client's entrypoint", u.Cmd)
	}
}
