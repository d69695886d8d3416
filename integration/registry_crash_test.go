package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// killingTransport forwards requests to the registry and, when trigger
// says so for a request, kills the daemon: before the request is sent, or
// once afterBytes of its body went out (the daemon dies mid-upload).
type killingTransport struct {
	kill    func()
	trigger func(r *http.Request) (now bool, afterBytes int64)
	fired   atomic.Bool
}

func (k *killingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !k.fired.Load() {
		now, after := k.trigger(r)
		switch {
		case now:
			k.fired.Store(true)
			k.kill()
		case after > 0 && r.Body != nil:
			r.Body = &killAfter{rc: r.Body, left: after, fire: func() {
				if k.fired.CompareAndSwap(false, true) {
					k.kill()
				}
			}}
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

type killAfter struct {
	rc   io.ReadCloser
	left int64
	fire func()
}

func (b *killAfter) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.fire()
		return 0, errors.New("the daemon was killed")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *killAfter) Close() error { return b.rc.Close() }

// checkRepoConsistent asserts that what the registry shows of repo is
// whole: every tag resolves to a manifest whose blobs all read back with
// their digests. It returns the tags.
func checkRepoConsistent(t *testing.T, c *regClient, tok, repo string) []string {
	t.Helper()
	resp := c.do(t, tok, "GET", "/v2/"+repo+"/tags/list", nil)
	defer resp.Body.Close()
	var tl struct{ Tags []string }
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(&tl); err != nil || resp.StatusCode != 200 {
		t.Fatalf("tags of %s: %d %v", repo, resp.StatusCode, err)
	}
	for _, tag := range tl.Tags {
		mresp := c.do(t, tok, "GET", "/v2/"+repo+"/manifests/"+tag, nil, "Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
		body, _ := io.ReadAll(mresp.Body)
		mresp.Body.Close()
		if mresp.StatusCode != 200 {
			t.Fatalf("%s:%s is listed but its manifest answers %d: %s", repo, tag, mresp.StatusCode, body)
		}
		m, err := v1.ParseManifest(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s:%s: %v", repo, tag, err)
		}
		for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			checkBlob(t, c, tok, repo, d.Digest.String(), true)
		}
	}
	return tl.Tags
}

// checkBlob asserts that a blob either reads back whole with its digest,
// or is not there (must: it has to be there).
func checkBlob(t *testing.T, c *regClient, tok, repo, dgst string, must bool) bool {
	t.Helper()
	resp := c.do(t, tok, "GET", "/v2/"+repo+"/blobs/"+dgst, nil)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && !must {
		return false
	}
	if resp.StatusCode != 200 {
		t.Fatalf("blob %s of %s: %d", dgst, repo, resp.StatusCode)
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != dgst {
		t.Fatalf("blob %s of %s reads back as %s: a partial blob is visible", dgst, repo, got)
	}
	return true
}

// TestRegistryKill9DuringPush kills the daemon with SIGKILL in the
// middle of pushes — in a layer's bytes, between the last layer and the
// manifest, and in the manifest's bytes — and checks after each restart that nothing partial is
// visible (no blob short of its digest, no tag without its manifest and
// blobs), that what was pushed before still pulls, and that the push
// then goes through.
func TestRegistryKill9DuringPush(t *testing.T) {
	d, addr := registryDaemon(t)
	key := createKey(t, d, "--policy", "ecr:pull,push,delete:team/*")
	c := &regClient{addr: addr, pw: loginPassword(t, d, key)}
	base, err := random.Image(256<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(c.ref(t, "team/app:1"), base, c.opts()...); err != nil {
		t.Fatal(err)
	}
	baseDigest, _ := base.Digest()

	big, err := random.Image(8<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := big.Layers()
	var layerDigests []string
	for _, l := range layers {
		dg, _ := l.Digest()
		layerDigests = append(layerDigests, dg.String())
	}
	stages := []struct {
		name    string
		trigger func(r *http.Request) (bool, int64)
	}{
		{"in a layer's bytes", func(r *http.Request) (bool, int64) {
			if (r.Method == "PATCH" || r.Method == "PUT") && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.ContentLength != 0 {
				return false, 3 << 20
			}
			return false, 0
		}},
		{"before the manifest", func(r *http.Request) (bool, int64) {
			return r.Method == "PUT" && strings.Contains(r.URL.Path, "/manifests/"), 0
		}},
		{"in the manifest's bytes", func(r *http.Request) (bool, int64) {
			if r.Method == "PUT" && strings.Contains(r.URL.Path, "/manifests/") {
				return false, 64
			}
			return false, 0
		}},
	}
	for _, st := range stages {
		tr := &killingTransport{kill: d.Kill9, trigger: st.trigger}
		err := remote.Write(c.ref(t, "team/big:2"), big, remote.WithAuth(&authn.Basic{Username: "AWS", Password: c.pw}), remote.WithTransport(tr))
		if err == nil || !tr.fired.Load() {
			t.Fatalf("%s: the push was not interrupted (err %v, killed %v)", st.name, err, tr.fired.Load())
		}
		d.Restart(t)
		tok := c.token(t, "repository:team/big:pull", "repository:team/app:pull")
		if tags := checkRepoConsistent(t, c, tok, "team/big"); len(tags) != 0 {
			t.Fatalf("%s: tags %v of a push that never stored its manifest", st.name, tags)
		}
		for _, dg := range layerDigests {
			checkBlob(t, c, tok, "team/big", dg, false)
		}
		checkRepoConsistent(t, c, tok, "team/app")
		got, err := remote.Image(c.ref(t, "team/app:1"), c.opts()...)
		if err != nil {
			t.Fatalf("%s: the earlier image: %v", st.name, err)
		}
		if gd, _ := got.Digest(); gd != baseDigest {
			t.Fatalf("%s: team/app:1 is %s, was %s", st.name, gd, baseDigest)
		}
		// No manifest was ever stored: the repository does not exist.
		out, errOut, code := d.Wharf(t, "registry", "images", "team/big", "--json")
		if code == 0 || !strings.Contains(errOut, "does not exist") {
			t.Fatalf("%s: registry images of the interrupted push's repository: %d %s %s", st.name, code, out, errOut)
		}
	}
	// The push goes through after the restarts.
	if err := remote.Write(c.ref(t, "team/big:2"), big, c.opts()...); err != nil {
		t.Fatalf("push after the restarts: %v", err)
	}
	tok := c.token(t, "repository:team/big:pull")
	if tags := checkRepoConsistent(t, c, tok, "team/big"); fmt.Sprint(tags) != "[2]" {
		t.Fatalf("tags after the push: %v", tags)
	}
}

// TestRegistryFullDisk runs the registry on a small tmpfs: a push that
// does not fit fails with an error the client sees, and everything stored
// before still serves; once the failed push's leftovers are gone, a push
// that fits goes through.
func TestRegistryFullDisk(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "registry")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=12m,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	var once sync.Once
	unmount := func() { once.Do(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) }) }
	t.Cleanup(unmount)
	d, addr := registryDaemon(t, "--registry-root", mnt)
	t.Cleanup(func() { d.Stop(); unmount() })
	key := createKey(t, d, "--policy", "ecr:pull,push,delete:team/*")
	c := &regClient{addr: addr, pw: loginPassword(t, d, key)}

	small, _ := random.Image(1<<20, 2)
	if err := remote.Write(c.ref(t, "team/app:1"), small, c.opts()...); err != nil {
		t.Fatal(err)
	}
	big, _ := random.Image(16<<20, 1)
	err := remote.Write(c.ref(t, "team/app:big"), big, c.opts()...)
	if err == nil {
		t.Fatal("a 16 MiB push into a 12 MiB registry succeeded")
	}
	t.Logf("the client saw: %v", err)
	tok := c.token(t, "repository:team/app:pull")
	tags := checkRepoConsistent(t, c, tok, "team/app")
	if fmt.Sprint(tags) != "[1]" {
		t.Fatalf("tags after the failed push: %v", tags)
	}
	got, err := remote.Image(c.ref(t, "team/app:1"), c.opts()...)
	if err != nil {
		t.Fatalf("pull of what was stored before: %v", err)
	}
	if _, err := got.Layers(); err != nil {
		t.Fatal(err)
	}
	want, _ := small.Digest()
	if gd, _ := got.Digest(); gd != want {
		t.Fatalf("team/app:1 is %s, was %s", gd, want)
	}
	// The failed upload does not keep the disk full.
	again, _ := random.Image(1<<20, 1)
	if err := remote.Write(c.ref(t, "team/app:2"), again, c.opts()...); err != nil {
		t.Fatalf("a push that fits, after the failed one: %v", err)
	}
}
