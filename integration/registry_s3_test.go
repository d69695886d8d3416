package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// TestRegistryS3Storage: with a Distribution configuration file naming
// S3-compatible storage, the registry keeps everything in the bucket and
// nothing under the daemon's root; a layer larger than one multipart
// chunk round-trips byte for byte; the content outlives a daemon restart;
// and the engine pulls from its own registry when the blobs are not
// files it could link. The S3 server is an in-memory one on loopback.
func TestRegistryS3Storage(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("wharf"); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3.Close)

	cfg := filepath.Join(t.TempDir(), "registry.yml")
	conf := fmt.Sprintf(`version: 0.1
storage:
  s3:
    accesskey: test
    secretkey: testsecret
    region: us-east-1
    regionendpoint: %s
    forcepathstyle: true
    secure: false
    bucket: wharf
    rootdirectory: /reg
    chunksize: 5242880
`, s3.URL)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d, addr := registryDaemon(t, "--registry-config", cfg)
	key := createKey(t, d, "--policy", "ecr:pull,push:team/*")
	c := &regClient{addr: addr, pw: loginPassword(t, d, key)}

	// Three layers, one of them over the 5 MiB chunk size: an S3
	// multipart upload.
	img, err := random.Image(6<<20+123, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(c.ref(t, "team/s3:1"), img, c.opts()...); err != nil {
		t.Fatal(err)
	}
	checkSame := func(when string) {
		t.Helper()
		dg, _ := img.Digest()
		got, err := remote.Image(c.ref(t, "team/s3@"+dg.String()), c.opts()...)
		if err != nil {
			t.Fatalf("%s: pull: %v", when, err)
		}
		ls, _ := img.Layers()
		for _, l := range ls {
			ld, _ := l.Digest()
			rl, err := got.LayerByDigest(ld)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			want := readAll(t, l.Compressed)
			if !bytes.Equal(readAll(t, rl.Compressed), want) {
				t.Fatalf("%s: layer %s differs after the round trip", when, ld)
			}
		}
	}
	checkSame("after the push")

	// Everything is in the bucket, nothing under the daemon's root.
	objs, err := backend.ListBucket("wharf", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	blobs := 0
	for _, o := range objs.Contents {
		if strings.HasPrefix(o.Key, "reg/docker/registry/v2/blobs/") {
			blobs++
		}
	}
	if blobs < 4 { // three layers and the config
		t.Errorf("the bucket holds %d blobs, want at least 4 (%d objects)", blobs, len(objs.Contents))
	}
	if ents, err := os.ReadDir(filepath.Join(d.Root, "registry")); err == nil && len(ents) > 0 {
		t.Errorf("the registry wrote under the daemon's root: %v", ents)
	}

	d.Restart(t)
	checkSame("after a daemon restart")

	// The engine pulls from its own registry through the S3 storage.
	dk := newDockerCLI(t, d)
	if out, errOut, code := dk.run(t, []byte(c.pw), "login", "-u", "AWS", "--password-stdin", addr); code != 0 {
		t.Fatalf("docker login: %d %s %s", code, out, errOut)
	}
	ref := addr + "/team/s3:bb"
	dk.must(t, "tag", busybox, ref)
	dk.must(t, "push", ref)
	dk.must(t, "rmi", ref, busybox)
	dk.must(t, "pull", ref)
	if out := dk.must(t, "run", "--rm", ref, "echo", "from-s3"); strings.TrimSpace(out) != "from-s3" {
		t.Errorf("run of the image pulled from S3 storage: %q", out)
	}
}

func readAll(t *testing.T, open func() (io.ReadCloser, error)) []byte {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
