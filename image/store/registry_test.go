package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// roundTrip pushes an imported image to the registry at host, removes it
// locally, pulls it back and checks it is the same image with the same files.
func roundTrip(t *testing.T, host string) {
	ctx := context.Background()
	s := newStore(t, WithInsecureRegistries(host), WithKeychain(authn.NewMultiKeychain()))
	img := importBusybox(t, s, "busybox:latest")
	ref := host + "/test/busybox:1"
	if err := s.Tag(ctx, "busybox", ref); err != nil {
		t.Fatal(err)
	}
	var pushed []Progress
	res, err := s.Push(ctx, ref, func(p Progress) { pushed = append(pushed, p) })
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if len(pushed) == 0 || pushed[len(pushed)-1].Action != "Pushed" {
		t.Errorf("push progress = %+v", pushed)
	}
	got, _ := s.Get(ctx, ref)
	if len(got.RepoDigests) != 1 || !strings.HasPrefix(got.RepoDigests[0], host+"/test/busybox@sha256:") {
		t.Fatalf("RepoDigests after push = %v", got.RepoDigests)
	}
	repoDigest := got.RepoDigests[0]
	// The push names the manifest: its digest, and its size in bytes as
	// the registry serves it (docker push prints both).
	if size, err := s.content.Size(res.Digest); err != nil || host+"/test/busybox@"+res.Digest != repoDigest || res.Size != size {
		t.Errorf("push result %+v (manifest %d bytes, %v), RepoDigests %v", res, size, err, got.RepoDigests)
	}
	// A second push finds the layer already there.
	pushed = nil
	if _, err := s.Push(ctx, ref, func(p Progress) { pushed = append(pushed, p) }); err != nil {
		t.Fatal(err)
	}
	if pushed[len(pushed)-1].Action != "Layer already exists" {
		t.Errorf("second push progress = %+v", pushed)
	}

	if _, err := s.Remove(ctx, img.ID, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, img.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("image still there: %v", err)
	}
	var actions []string
	pulled, err := s.Pull(ctx, ref, func(p Progress) { actions = append(actions, p.Action) })
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if pulled.ID != img.ID || pulled.Layers[0].DiffID != img.Layers[0].DiffID {
		t.Fatalf("pulled %s, pushed %s", pulled.ID, img.ID)
	}
	if strings.Join(actions, ",") != "Pulling fs layer,Downloading,Download complete,Extracting,Pull complete" &&
		!strings.HasPrefix(strings.Join(actions, ","), "Pulling fs layer,Downloading") {
		t.Errorf("pull progress = %v", actions)
	}
	if len(pulled.RepoTags) != 1 || pulled.RepoTags[0] != ref || len(pulled.RepoDigests) != 1 || pulled.RepoDigests[0] != repoDigest {
		t.Errorf("pulled names = %v %v, want %s %s", pulled.RepoTags, pulled.RepoDigests, ref, repoDigest)
	}
	if _, err := s.Get(ctx, repoDigest); err != nil {
		t.Errorf("Get by digest: %v", err)
	}
	dirs, _ := s.LayerDirs(ctx, pulled)
	if _, err := os.Stat(filepath.Join(dirs[0], "bin/busybox")); err != nil {
		t.Error(err)
	}
	// Pulling again: everything already exists.
	actions = nil
	if _, err := s.Pull(ctx, repoDigest, func(p Progress) { actions = append(actions, p.Action) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(actions, ",") != "Already exists" {
		t.Errorf("re-pull progress = %v", actions)
	}

	if _, err := s.Pull(ctx, host+"/no/such:repo", nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("pull missing repo = %v, want ErrNotFound", err)
	}
	if _, err := s.Pull(ctx, host+"/test/busybox:nosuchtag", nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("pull missing tag = %v, want ErrNotFound", err)
	}
	if _, err := s.Pull(ctx, "Bad//Ref", nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("pull malformed = %v", err)
	}
}

func TestRegistryRoundTripInProcess(t *testing.T) {
	testutil.RequiresRoot(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	roundTrip(t, strings.TrimPrefix(srv.URL, "http://"))
}

func TestPullUnreachableRegistry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := newStore(t, WithKeychain(authn.NewMultiKeychain()))
	if _, err := s.Pull(context.Background(), addr+"/x:1", nil); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("pull from closed port = %v, want ErrUnavailable", err)
	}
}

// TestRegistryRoundTripDistribution runs the same round trip against
// Debian's docker-registry (CNCF Distribution) on a loopback port.
func TestRegistryRoundTripDistribution(t *testing.T) {
	testutil.RequiresRoot(t)
	bin := "/usr/bin/docker-registry"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("skipping: /usr/bin/docker-registry not installed (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	roundTrip(t, addr)
}
