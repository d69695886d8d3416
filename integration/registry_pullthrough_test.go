package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// startDistribution runs Debian's docker-registry (Distribution 2.8) on
// a loopback port with filesystem storage in a temporary directory, and
// returns its host:port and a function that stops it (also called at the
// test's end). It skips the test when it is not installed.
func startDistribution(t *testing.T) (string, func()) {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("Debian's docker-registry is not installed")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	// It logs every 404 a client's existence check gets as an error:
	// its log is shown only when the test fails.
	logPath := filepath.Join(dir, "log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(func() {
		stop()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("docker-registry's log:\n%s", b)
		}
	})
	if !waitFor(10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatal("docker-registry did not answer")
	}
	return addr, stop
}

// TestRegistryPullThroughCache: a pull-through cache rule (ECR's API)
// maps hub/ to a second registry on loopback (Debian's docker-registry);
// docker pull of hub/<repo>:<tag> through the daemon fetches it from
// there, stores it in the daemon's registry, and runs; it keeps serving
// with the upstream gone.
func TestRegistryPullThroughCache(t *testing.T) {
	upstream, stopUpstream := startDistribution(t)
	e := startECREnv(t)
	dk := newDockerCLI(t, e.d)
	upRef := upstream + "/library/bb:1"
	dk.must(t, "tag", busybox, upRef)
	dk.must(t, "push", upRef)

	ctx := context.Background()
	c := e.sdk(e.keyID, e.keySecret)
	if _, err := c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(upstream)}); err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(e.d.MustWharf(t, "registry", "login-password", "--key", e.keyID))
	if _, errOut, code := dk.run(t, []byte(pw), "login", "-u", "AWS", "--password-stdin", e.reg); code != 0 {
		t.Fatalf("docker login: %s", errOut)
	}
	ref := e.reg + "/hub/library/bb:1"
	dk.must(t, "pull", ref)
	if out := strings.TrimSpace(dk.must(t, "run", "--rm", ref, "echo", "through")); out != "through" {
		t.Fatalf("run: %q", out)
	}
	imgs, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("hub/library/bb")})
	if err != nil || len(imgs.ImageDetails) != 1 || strings.Join(imgs.ImageDetails[0].ImageTags, ",") != "1" {
		t.Fatalf("the cached repository: %+v %v", imgs, err)
	}
	// Served from the cache once the upstream is gone (a fresh pull
	// through the registry's HTTP API with go-containerregistry).
	dk.must(t, "rmi", ref)
	rc := &regClient{addr: e.reg, pw: pw}
	tok := rc.token(t, "repository:hub/library/bb:pull")
	stopUpstream()
	checkRepoConsistent(t, rc, tok, "hub/library/bb")
	dk.must(t, "pull", ref)
}
