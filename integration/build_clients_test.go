package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestDockerBuildOldCLI: the docker 20.10 CLI (Debian's, at /usr/bin),
// whose `docker build` is the classic builder by default, builds through
// the socket with build args, labels, a target and several tags.
func TestDockerBuildOldCLI(t *testing.T) {
	const old = "/usr/bin/docker"
	out, err := exec.Command(old, "--version").Output()
	if err != nil || !strings.Contains(string(out), "version 20.10") {
		t.Skip("skipping: no docker 20.10 CLI at /usr/bin/docker")
	}
	d := newDaemon(t)
	c := &dockerCLI{bin: old, host: "unix://" + d.Socket, config: t.TempDir()}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"ci/Dockerfile": `FROM ` + busybox + ` AS base
ARG V=1
RUN echo "v=$V" > /v
FROM base AS test
RUN cat /v > /tested
FROM base AS unused
RUN exit 1
`,
	})
	t.Setenv("DOCKER_BUILDKIT", "")
	stdout, stderr, code := c.run(t, nil, "build", "-f", filepath.Join(dir, "ci/Dockerfile"), "--target", "test",
		"--build-arg", "V=2", "--label", "team=x", "-t", "old:1", "-t", "old:2", dir)
	if code != 0 {
		t.Fatalf("docker 20.10 build: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"Step 1/", "Successfully built ", "Successfully tagged old:1", "Successfully tagged old:2"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if got := inspect(t, d, "{{.ID}}", "old:1"); got != inspect(t, d, "{{.ID}}", "old:2") {
		t.Error("the two tags name different images")
	}
	if got := inspect(t, d, "{{index .Config.Labels \"team\"}}", "old:1"); got != "x" {
		t.Errorf("label team = %q", got)
	}
	if out := d.MustWharf(t, "run", "--rm", "old:1", "cat", "/tested"); out != "v=2\n" {
		t.Errorf("the test stage holds %q", out)
	}
	assertNoLeaks(t, d)
}

// TestComposeV2Build: `docker compose build` (the compose v2 plugin,
// classic builder) builds a service's build: section with its args and
// target, and `docker compose up` runs the image it made.
func TestComposeV2Build(t *testing.T) {
	plugin := testutil.ComposePlugin(t)
	docker := composeDockerCLI(t)
	d := newDaemon(t)
	config := t.TempDir()
	if err := os.MkdirAll(filepath.Join(config, "cli-plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(plugin, filepath.Join(config, "cli-plugins", "docker-compose")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"app/Dockerfile": "FROM " + busybox + " AS base\nARG WHO=nobody\nRUN echo hello $WHO > /greeting\nFROM base AS final\nCMD [\"cat\", \"/greeting\"]\n",
		"compose.yaml": `services:
  app:
    build:
      context: ./app
      target: final
      args:
        WHO: compose-v2
    image: composed:2
`,
	})
	project := fmt.Sprintf("cb%d", time.Now().UnixNano()%1e9)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(docker, append([]string{"compose", "-p", project}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host(), "DOCKER_CONFIG="+config, "DOCKER_BUILDKIT=0", "COMPOSE_ANSI=never")
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		cmd := exec.Command(docker, "compose", "-p", project, "down", "-t", "1")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host(), "DOCKER_CONFIG="+config)
		_ = cmd.Run()
	})
	run("build")
	if out := d.MustWharf(t, "run", "--rm", "composed:2"); out != "hello compose-v2\n" {
		t.Errorf("the composed image says %q", out)
	}
	run("up", "-d")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := run("logs", "--no-color", "--no-log-prefix", "app")
		if strings.Contains(out, "hello compose-v2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service's logs never showed its greeting:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDockerBuilderPrune: `docker builder prune` empties the build cache
// through POST /build/prune: a rebuild after it runs its RUN step again
// (counted in a cache mount, which the prune empties too, so the count
// starts over), and one before it does not. A prune with a filter is
// refused whole.
func TestDockerBuilderPrune(t *testing.T) {
	d := newDaemon(t)
	c := newDockerCLI(t, d)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + busybox + "\nRUN --mount=type=cache,target=/c,id=prune echo x >> /c/runs && cat /proc/sys/kernel/random/uuid > /stamp\n"})
	build := func() string {
		t.Helper()
		iid := filepath.Join(t.TempDir(), "iid")
		d.MustWharf(t, "build", "-q", "--iidfile", iid, dir)
		b, err := os.ReadFile(iid)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	id1 := build()
	build()
	if n := countLines(t, d, "prune", "runs"); n != 1 {
		t.Fatalf("the RUN step ran %d times before the prune, want 1", n)
	}
	// A prune that means to keep part of the cache is refused, and keeps
	// all of it, rather than removing what was meant to stay.
	if out, errOut, code := c.run(t, nil, "builder", "prune", "-f", "--filter", "until=24h"); code == 0 {
		t.Errorf("a filtered prune succeeded: %s%s", out, errOut)
	}
	if build(); countLines(t, d, "prune", "runs") != 1 {
		t.Error("a refused prune removed the cache")
	}
	out, errOut, code := c.run(t, nil, "builder", "prune", "-f")
	if code != 0 {
		t.Fatalf("docker builder prune: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "Total reclaimed space") {
		t.Errorf("prune output: %s", out)
	}
	if n := countLines(t, d, "prune", "runs"); n != 0 {
		t.Errorf("the cache mount survived the prune (%d lines)", n)
	}
	id2 := build()
	if n := countLines(t, d, "prune", "runs"); n != 1 {
		t.Errorf("after the prune the RUN step ran %d times, want once", n)
	}
	if id1 == id2 {
		t.Error("the rebuild after the prune gave the cached image")
	}
	assertNoLeaks(t, d)
}

// TestBuildCacheFrom: after the build cache is pruned, `docker build
// --cache-from IMAGE` (classic, through the socket) reuses the image's
// RUN layers instead of running the steps, and gives the same image.
func TestBuildCacheFrom(t *testing.T) {
	d := newDaemon(t)
	c := newDockerCLI(t, d)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": "FROM " + busybox + "\nRUN cat /proc/sys/kernel/random/uuid > /stamp\nCOPY f /f\nRUN cat /proc/sys/kernel/random/uuid > /stamp2\n",
		"f":          "f\n",
	})
	d.MustWharf(t, "build", "-q", "--build-arg", "SOURCE_DATE_EPOCH=1700000000", "-t", "cf:1", dir)
	want := inspect(t, d, "{{.ID}}", "cf:1")
	d.MustWharf(t, "builder", "prune", "-af")
	out, errOut, code := classicBuild(t, c, "-q", "--build-arg", "SOURCE_DATE_EPOCH=1700000000", "--cache-from", "cf:1", "-t", "cf:2", dir)
	if code != 0 {
		t.Fatalf("docker build --cache-from: exit %d\n%s%s", code, out, errOut)
	}
	if got := inspect(t, d, "{{.ID}}", "cf:2"); got != want {
		t.Errorf("with --cache-from the build gave %s, the source is %s", got, want)
	}
	// Without it, the steps run again: another stamp, another image.
	d.MustWharf(t, "builder", "prune", "-af")
	d.MustWharf(t, "build", "-q", "--build-arg", "SOURCE_DATE_EPOCH=1700000000", "-t", "cf:3", dir)
	if got := inspect(t, d, "{{.ID}}", "cf:3"); got == want {
		t.Error("without --cache-from the pruned build gave the cached image: the test proves nothing")
	}
}

// TestBuildPushPullCacheFrom: a built image pushes to a registry and
// pulls back whole on another daemon, which builds the same Dockerfile
// with --cache-from the pulled image without running its steps.
func TestBuildPushPullCacheFrom(t *testing.T) {
	addr := startRegistry(t)
	a, b := newDaemon(t), newDaemon(t)
	// The same base image on both, through the registry: each daemon's
	// own import of busybox has an ID of its own.
	base := addr + "/base/busybox:1"
	a.MustWharf(t, "tag", busybox, base)
	if _, errOut, code := a.Wharf(t, "push", base); code != 0 {
		t.Fatalf("push: exit %d: %s", code, errOut)
	}
	if _, errOut, code := b.Wharf(t, "pull", base); code != 0 {
		t.Fatalf("pull: exit %d: %s", code, errOut)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": "FROM " + base + "\nRUN cat /proc/sys/kernel/random/uuid > /stamp\nCOPY f /f\nCMD [\"cat\", \"/stamp\", \"/f\"]\n",
		"f":          "f\n",
	})
	ref := addr + "/built/app:1"
	a.MustWharf(t, "build", "-q", "--build-arg", "SOURCE_DATE_EPOCH=1700000000", "-t", ref, dir)
	want := inspect(t, a, "{{.ID}}", ref)
	wantOut := a.MustWharf(t, "run", "--rm", ref)
	if _, errOut, code := a.Wharf(t, "push", ref); code != 0 {
		t.Fatalf("push: exit %d: %s", code, errOut)
	}
	if _, errOut, code := b.Wharf(t, "pull", ref); code != 0 {
		t.Fatalf("pull: exit %d: %s", code, errOut)
	}
	if got := inspect(t, b, "{{.ID}}", ref); got != want {
		t.Errorf("pulled %s, pushed %s", got, want)
	}
	if out := b.MustWharf(t, "run", "--rm", ref); out != wantOut {
		t.Errorf("the pulled image says %q, the built one %q", out, wantOut)
	}
	b.MustWharf(t, "build", "-q", "--build-arg", "SOURCE_DATE_EPOCH=1700000000", "--cache-from", ref, "-t", "again:1", dir)
	if got := inspect(t, b, "{{.ID}}", "again:1"); got != want {
		t.Errorf("--cache-from the pulled image gave %s, want %s (its RUN ran again)", got, want)
	}
}
