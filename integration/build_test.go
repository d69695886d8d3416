package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// writeFiles makes a build context: name -> content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// classicBuild runs `docker build` with the classic builder (the docker
// CLI without buildx) against the daemon.
func classicBuild(t *testing.T, c *dockerCLI, args ...string) (string, string, int) {
	t.Helper()
	t.Setenv("DOCKER_BUILDKIT", "0")
	return c.run(t, nil, append([]string{"build"}, args...)...)
}

// TestDockerBuildMultiStage: a classic `docker build` through the socket
// of a two-stage Dockerfile; the final image holds only what COPY --from
// brought, its config and history are the Dockerfile's, and the step
// containers are gone.
func TestDockerBuildMultiStage(t *testing.T) {
	d := newDaemon(t)
	c := newDockerCLI(t, d)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": `FROM ` + busybox + ` AS builder
RUN mkdir /out && echo built > /out/artifact && echo junk > /junk
COPY src.txt /out/src.txt

FROM scratch
COPY --from=builder /out/ /app/
ENV GREETING=hi
WORKDIR /app
CMD ["/app/artifact"]
`,
		"src.txt": "from the context\n",
	})
	out, errOut, code := classicBuild(t, c, "-t", "ms:1", dir)
	if code != 0 {
		t.Fatalf("docker build: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Successfully tagged ms:1") {
		t.Errorf("build output lacks the tag line:\n%s", out)
	}
	tarOut := c.must(t, "create", "--name", "msx", "ms:1")
	_ = tarOut
	files := exportNames(t, c, "msx")
	for _, want := range []string{"app/artifact", "app/src.txt"} {
		if !files[want] {
			t.Errorf("final image lacks %s: %v", want, files)
		}
	}
	for name := range files {
		if strings.Contains(name, "junk") || strings.HasPrefix(name, "bin/") {
			t.Errorf("final image holds %s, which only the builder stage had", name)
		}
	}
	if got := strings.TrimSpace(c.must(t, "image", "inspect", "--format", "{{.Config.WorkingDir}} {{.Config.Env}} {{.Config.Cmd}}", "ms:1")); got != "/app [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GREETING=hi] [/app/artifact]" {
		t.Errorf("config = %q", got)
	}
	c.must(t, "rm", "msx")
	// Before assertNoLeaks, which removes every container itself.
	if left := strings.TrimSpace(c.must(t, "ps", "-aq")); left != "" {
		t.Errorf("step containers left: %s", left)
	}
	assertNoLeaks(t, d)
}

// exportNames lists the files of a container's filesystem (docker export).
func exportNames(t *testing.T, c *dockerCLI, id string) map[string]bool {
	t.Helper()
	out := c.must(t, "export", id)
	return tarNames(t, []byte(out))
}

var _ = testutil.RequiresRoot

// tarNames lists the names in a tar stream, without "./" or a trailing
// slash.
func tarNames(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		out[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = true
	}
}

// countLines counts the lines of a file in the cache mount id of the
// daemon's builder: RUN steps append to it, so it counts their runs.
func countLines(t *testing.T, d *testutil.Daemon, id, name string) int {
	t.Helper()
	sum := sha256.Sum256([]byte(id))
	data, err := os.ReadFile(filepath.Join(d.Root, "build", "cache", hex.EncodeToString(sum[:]), name))
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// TestBuildCacheRerunsOnlyWhatChanged: a rebuild with no change runs no
// RUN step and gives the same image; a change to one copied file reruns
// the steps from its COPY on, and no other. RUN steps count their runs
// in a cache mount the test reads on the host.
func TestBuildCacheRerunsOnlyWhatChanged(t *testing.T) {
	d := newDaemon(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": `FROM ` + busybox + `
RUN --mount=type=cache,target=/c,id=counter echo a >> /c/a
COPY one.txt /one.txt
RUN --mount=type=cache,target=/c,id=counter echo b >> /c/b && cat /one.txt > /b.out
COPY two.txt /two.txt
RUN --mount=type=cache,target=/c,id=counter echo c >> /c/c
`,
		"one.txt": "1\n",
		"two.txt": "2\n",
	})
	build := func() string {
		t.Helper()
		iid := filepath.Join(t.TempDir(), "iid")
		d.MustWharf(t, "build", "-t", "cache:1", "--iidfile", iid, dir)
		b, err := os.ReadFile(iid)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	runs := func() [3]int {
		return [3]int{countLines(t, d, "counter", "a"), countLines(t, d, "counter", "b"), countLines(t, d, "counter", "c")}
	}
	id1 := build()
	if got := runs(); got != [3]int{1, 1, 1} {
		t.Fatalf("first build ran the steps %v times, want once each", got)
	}
	id2 := build()
	if got := runs(); got != [3]int{1, 1, 1} {
		t.Errorf("a rebuild with no change ran RUN steps again: %v", got)
	}
	if id1 != id2 {
		t.Errorf("a rebuild with no change gave image %s, then %s", id1, id2)
	}
	writeFiles(t, dir, map[string]string{"two.txt": "2, changed\n"})
	build()
	if got := runs(); got != [3]int{1, 1, 2} {
		t.Errorf("after changing two.txt the steps ran %v times, want [1 1 2]", got)
	}
	writeFiles(t, dir, map[string]string{"one.txt": "1, changed\n"})
	build()
	if got := runs(); got != [3]int{1, 2, 3} {
		t.Errorf("after changing one.txt the steps ran %v times, want [1 2 3]", got)
	}
	if out := d.MustWharf(t, "run", "--rm", "cache:1", "cat", "/b.out"); out != "1, changed\n" {
		t.Errorf("the image's /b.out = %q", out)
	}
	assertNoLeaks(t, d)
}

// TestBuildParallelStages: two independent stages with a one-second RUN
// each build at the same time.
func TestBuildParallelStages(t *testing.T) {
	d := newDaemon(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM ` + busybox + ` AS one
RUN sleep 1 && echo 1 > /one
FROM ` + busybox + ` AS two
RUN sleep 1 && echo 2 > /two
FROM ` + busybox + `
COPY --from=one /one /one
COPY --from=two /two /two
`})
	// The first build warms the image's snapshots; the measured one
	// reruns only the RUN steps.
	d.MustWharf(t, "build", "-q", dir)
	t0 := time.Now()
	d.MustWharf(t, "build", "--no-cache", "-t", "par:1", dir)
	took := time.Since(t0)
	// Run one after the other the RUN steps alone take 2 s.
	if took >= 1900*time.Millisecond {
		t.Errorf("two 1-second stages took %v: they did not run in parallel", took)
	}
	if out := d.MustWharf(t, "run", "--rm", "par:1", "cat", "/one", "/two"); out != "1\n2\n" {
		t.Errorf("image holds %q", out)
	}
}

// TestBuildFailingRun: a failing RUN shows its output and exit code,
// tags nothing and leaves no container or mount behind.
func TestBuildFailingRun(t *testing.T) {
	d := newDaemon(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + busybox + "\nRUN echo about-to-fail && exit 3\n"})
	out, errOut, code := d.Wharf(t, "build", "--progress", "plain", "-t", "fail:1", dir)
	if code == 0 {
		t.Fatalf("a failing build succeeded:\n%s%s", out, errOut)
	}
	all := out + errOut
	if !strings.Contains(all, "about-to-fail") || !strings.Contains(all, "exit code: 3") {
		t.Errorf("the output and exit code are not shown:\n%s", all)
	}
	if _, _, code := d.Wharf(t, "image", "inspect", "fail:1"); code == 0 {
		t.Error("a failed build tagged its image")
	}
	c := newDockerCLI(t, d)
	t.Setenv("DOCKER_BUILDKIT", "0")
	out, errOut, code = c.run(t, nil, "build", "-t", "fail:2", dir)
	if code == 0 || !strings.Contains(out+errOut, "about-to-fail") || !strings.Contains(out+errOut, "exit code: 3") {
		t.Errorf("docker build of a failing RUN: exit %d\n%s%s", code, out, errOut)
	}
	// Before assertNoLeaks, which removes every container itself.
	if left := strings.TrimSpace(d.MustWharf(t, "ps", "-aq")); left != "" {
		t.Errorf("step containers left: %s", left)
	}
	assertNoLeaks(t, d)
}

// TestBuildSecretsAndStdin: a secret reaches the RUN that mounts it and
// no layer or history; a Dockerfile and a tar context come on stdin.
func TestBuildSecretsAndStdin(t *testing.T) {
	d := newDaemon(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte("s3cr3t-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + busybox + "\nRUN --mount=type=secret,id=token,required cat /run/secrets/token | wc -c > /len\n"})
	d.MustWharf(t, "build", "--secret", "id=token,src="+secret, "-t", "sec:1", dir)
	if out := d.MustWharf(t, "run", "--rm", "sec:1", "cat", "/len"); strings.TrimSpace(out) != "12" {
		t.Errorf("the secret was not readable in RUN: %q", out)
	}
	saved := d.MustWharf(t, "save", "sec:1")
	if strings.Contains(saved, "s3cr3t-value") {
		t.Error("the secret's value is in the saved image")
	}
	if hist := d.MustWharf(t, "image", "history", "--no-trunc", "sec:1"); strings.Contains(hist, "s3cr3t") {
		t.Errorf("the secret is in the history:\n%s", hist)
	}
	if _, errOut, code := d.Wharf(t, "build", "--no-cache", dir); code == 0 || !strings.Contains(errOut, "token") {
		t.Errorf("a required secret that is missing: exit %d: %s", code, errOut)
	}

	// A Dockerfile alone on stdin.
	d.WharfStdin(t, []byte("FROM "+busybox+"\nENV FROM_STDIN=1\n"), "build", "-t", "stdin:1", "-")
	if env := inspect(t, d, "{{.Config.Env}}", "stdin:1"); !strings.Contains(env, "FROM_STDIN=1") {
		t.Errorf("Dockerfile from stdin: env %s", env)
	}
	// A tar context on stdin.
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for name, body := range map[string]string{"Dockerfile": "FROM " + busybox + "\nCOPY f /f\n", "f": "from-tar\n"} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	if _, errOut, code := d.WharfStdin(t, tb.Bytes(), "build", "-t", "stdin:2", "-"); code != 0 {
		t.Fatalf("tar context on stdin: %s", errOut)
	}
	if out := d.MustWharf(t, "run", "--rm", "stdin:2", "cat", "/f"); out != "from-tar\n" {
		t.Errorf("tar context on stdin: %q", out)
	}
}

// TestBuildDockerignoreNotSent: a large directory the .dockerignore
// excludes is neither read nor sent. The CLI runs without the
// capabilities that let root read anything, and the directory is mode
// 0: a client that listed or read it would fail, as the control build
// without the pattern shows.
func TestBuildDockerignoreNotSent(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("skipping: setpriv (util-linux) is not installed")
	}
	d := newDaemon(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile":    "FROM " + busybox + "\nCOPY . /ctx/\n",
		".dockerignore": "big\n**/*.log\n",
		"keep.txt":      "k",
		"sub/x.log":     "log",
		"big/a":         "never read",
	})
	f, err := os.Create(filepath.Join(dir, "big", "huge"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // 1 GiB, sparse
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chmod(filepath.Join(dir, "big"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "big"), 0o755) })
	build := func(tag string) (string, int) {
		cmd := exec.Command(setpriv, "--bounding-set", "-dac_override,-dac_read_search", d.Bin, "--host", d.Host(), "build", "-t", tag, dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), 1
		}
		return string(out), 0
	}
	if out, code := build("ign:1"); code != 0 {
		t.Fatalf("build with the directory excluded: %s", out)
	}
	out := d.MustWharf(t, "run", "--rm", "ign:1", "find", "/ctx")
	for _, bad := range []string{"big", "x.log"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s reached the image:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "/ctx/keep.txt") || !strings.Contains(out, "/ctx/sub") {
		t.Errorf("context files missing:\n%s", out)
	}
	// The control: without the pattern the same client must fail.
	writeFiles(t, dir, map[string]string{".dockerignore": "**/*.log\n"})
	if out, code := build("ign:2"); code == 0 || !strings.Contains(out, "permission denied") {
		t.Errorf("without the pattern the unreadable directory went unnoticed (exit %d): %s", code, out)
	}
	writeFiles(t, dir, map[string]string{".dockerignore": "big\n**/*.log\n"})
	// The classic docker build applies .dockerignore too.
	c := newDockerCLI(t, d)
	if _, errOut, code := classicBuild(t, c, "-t", "ign:3", dir); code != 0 {
		t.Fatalf("docker build: %s", errOut)
	}
}

// TestBuildPythonSDKAndCompose: the Docker SDK for Python's images.build
// and docker-compose's build: sections build through the Docker API.
func TestBuildPythonSDKAndCompose(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil || exec.Command(py, "-c", "import docker").Run() != nil {
		t.Skip("skipping: python3 with the docker SDK is not installed (apt-get install python3-docker)")
	}
	d := newDaemon(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"app/Dockerfile": "FROM " + busybox + "\nARG WHO=nobody\nRUN echo hello $WHO > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
	})
	script := `import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
img, logs = c.images.build(path=sys.argv[2], tag="py:1", buildargs={"WHO": "python"}, rm=True)
print(img.id)
print(c.containers.run("py:1", remove=True).decode().strip())
`
	out, err := exec.Command(py, "-c", script, d.Host(), filepath.Join(dir, "app")).CombinedOutput()
	if err != nil {
		t.Fatalf("python images.build: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "sha256:") || lines[1] != "hello python" {
		t.Errorf("python: %q", out)
	}
	if id := inspect(t, d, "{{.ID}}", "py:1"); id != lines[0] {
		t.Errorf("images.build returned %s, py:1 is %s", lines[0], id)
	}

	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("skipping the compose half: docker-compose is not installed")
	}
	writeFiles(t, dir, map[string]string{"docker-compose.yml": `version: "3"
services:
  app:
    build:
      context: ./app
      args:
        WHO: compose
    image: composed:1
`})
	cmd := exec.Command(compose, "-p", fmt.Sprintf("wb%d", time.Now().UnixNano()%1e9), "build")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host(), "COMPOSE_DOCKER_CLI_BUILD=0", "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose build: %v\n%s", err, out)
	}
	if out := d.MustWharf(t, "run", "--rm", "composed:1"); out != "hello compose\n" {
		t.Errorf("composed image says %q", out)
	}
}

// TestBuildArgEnvUserWorkdir: RUN steps see the build's ARG and ENV
// values, run as USER in WORKDIR (created when missing); ARG values stay
// out of the image's config while ENV stays in it; an ARG declared
// before FROM reaches a stage only once declared again there, and an
// ARG does not outlive its stage.
func TestBuildArgEnvUserWorkdir(t *testing.T) {
	d := newDaemon(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `ARG GLOBAL=g-default
ARG BASE=` + busybox + `
FROM ${BASE} AS first
ARG STAGE=s-default
RUN echo "global=[$GLOBAL] stage=[$STAGE]" > /first.txt
FROM ${BASE}
ARG GLOBAL
ENV KEPT=env-value
WORKDIR /w
WORKDIR sub
USER nobody
RUN echo "global=[$GLOBAL] stage=[$STAGE] kept=[$KEPT] uid=$(id -u) pwd=$(pwd)" > /tmp/final.txt
USER 1234:5678
RUN id -u > /tmp/numeric-$(id -g).txt
COPY --from=first /first.txt /first.txt
`})
	d.MustWharf(t, "build", "-q", "--build-arg", "STAGE=s-cli", "-t", "sem:1", dir)
	out := d.MustWharf(t, "run", "--rm", "--user", "0", "sem:1", "cat", "/first.txt", "/tmp/final.txt", "/tmp/numeric-5678.txt")
	want := "global=[] stage=[s-cli]\nglobal=[g-default] stage=[] kept=[env-value] uid=65534 pwd=/w/sub\n1234\n"
	if out != want {
		t.Errorf("what the RUN steps saw:\n%s\nwant:\n%s", out, want)
	}
	if got := inspect(t, d, "{{.Config.User}} {{.Config.WorkingDir}} {{.Config.Env}}", "sem:1"); got != "1234:5678 /w/sub [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin KEPT=env-value]" {
		t.Errorf("config: %s", got)
	}
	// USER came after WORKDIR: root owns the directory the build made.
	if out := d.MustWharf(t, "run", "--rm", "sem:1", "stat", "-c", "%u %a", "/w/sub"); out != "0 755\n" {
		t.Errorf("WORKDIR created as %q", out)
	}
}

// TestBuildReproducibleWithRun: the same Dockerfile built twice without
// cache, with SOURCE_DATE_EPOCH, gives the same image ID, RUN layers
// (their overlay upper directories, deletions of base files included)
// as much as COPY ones.
func TestBuildReproducibleWithRun(t *testing.T) {
	d := newDaemon(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": `FROM ` + busybox + `
RUN mkdir -p /data/a /data/b && echo one > /data/a/1 && echo two > /data/b/2 && rm -f /bin/vi && ln -s /data/a/1 /data/link
COPY ctx.txt /data/ctx.txt
RUN sleep 1 && touch /data/later && rm -r /data/b
`,
		"ctx.txt": "context file\n",
	})
	build := func() string {
		t.Helper()
		iid := filepath.Join(t.TempDir(), "iid")
		d.MustWharf(t, "build", "-q", "--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1700000000", "--iidfile", iid, dir)
		b, err := os.ReadFile(iid)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	id1, id2 := build(), build()
	if id1 != id2 {
		t.Errorf("the same inputs gave %s, then %s", id1, id2)
	}
	if got := inspect(t, d, "{{.Created}}", id1); !strings.HasPrefix(got, "2023-11-14T22:13:20") {
		t.Errorf("created %s, want SOURCE_DATE_EPOCH", got)
	}
	out := d.MustWharf(t, "run", "--rm", id1, "sh", "-c", "ls /data; test -e /bin/vi && echo vi-still-there; true")
	if out != "a\nctx.txt\nlater\nlink\n" {
		t.Errorf("/data holds %q", out)
	}
}

// TestBuildCancelCleansUp: a client that goes away in the middle of a RUN
// step (killed, so it cannot say goodbye) stops the build: the step's
// container and its mounts go, nothing is tagged; for wharf build and for
// the classic docker build. The server only notices a client going away
// once it has read the request body to its end, which the end of the
// context's tar is not.
func TestBuildCancelCleansUp(t *testing.T) {
	d := newDaemon(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + busybox + "\nRUN --mount=type=cache,target=/c,id=cancel echo started >> /c/started && sleep 120\n"})
	cmd := exec.Command(d.Bin, "--host", d.Host(), "build", "--progress", "plain", "-t", "cancel:1", dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if !waitFor(30*time.Second, func() bool { return countLines(t, d, "cancel", "started") == 1 }) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the RUN step never started:\n%s", out.String())
	}
	if left := strings.TrimSpace(d.MustWharf(t, "ps", "-aq")); left == "" {
		t.Fatal("no step container while the step runs")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	var left string
	if !waitFor(15*time.Second, func() bool {
		left = strings.TrimSpace(d.MustWharf(t, "ps", "-aq"))
		return left == "" && len(d.Mounts()) == 0
	}) {
		t.Errorf("after the client went away: containers %q, mounts %v", left, d.Mounts())
	}
	if _, _, code := d.Wharf(t, "image", "inspect", "cancel:1"); code == 0 {
		t.Error("a cancelled build tagged its image")
	}

	// The same with the classic builder: docker build killed.
	c := newDockerCLI(t, d)
	dcmd := exec.Command(c.bin, "build", "--no-cache", "-t", "cancel:2", dir)
	dcmd.Env = append(os.Environ(), "DOCKER_HOST="+c.host, "DOCKER_CONFIG="+c.config, "DOCKER_BUILDKIT=0")
	out.Reset()
	dcmd.Stdout, dcmd.Stderr = &out, &out
	if err := dcmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dcmd.Process.Kill(); _ = dcmd.Wait() }()
	if !waitFor(30*time.Second, func() bool { return countLines(t, d, "cancel", "started") == 2 }) {
		_ = dcmd.Process.Kill()
		_ = dcmd.Wait()
		t.Fatalf("the classic build's RUN step never started:\n%s", out.String())
	}
	_ = dcmd.Process.Kill()
	_ = dcmd.Wait()
	if !waitFor(15*time.Second, func() bool {
		left = strings.TrimSpace(d.MustWharf(t, "ps", "-aq"))
		return left == "" && len(d.Mounts()) == 0
	}) {
		t.Errorf("after docker build went away: containers %q, mounts %v", left, d.Mounts())
	}
	assertNoLeaks(t, d)
}

// TestBuildRunBindMount: RUN --mount=type=bind gives the step the files
// of the context (after .dockerignore), of a file alone and of another
// stage, read-only unless rw, whose writes go nowhere; nothing of the
// mounts stays in the image; the step reruns when a mounted file changes
// and only then.
func TestBuildRunBindMount(t *testing.T) {
	d := newDaemon(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": `FROM ` + busybox + ` AS tools
RUN echo from-stage > /tool.txt
FROM ` + busybox + `
WORKDIR /work
RUN --mount=type=bind,source=src,target=/src --mount=type=bind,source=one.txt,target=one.txt --mount=type=bind,from=tools,source=/tool.txt,target=/t/tool.txt --mount=type=cache,target=/c,id=bindruns echo x >> /c/runs && cat /src/a.txt one.txt /t/tool.txt > /out.txt && ls /src > /ls.txt
RUN --mount=type=bind,target=/ctx,rw echo scribble > /ctx/src/a.txt && cat /ctx/src/a.txt > /rw.txt
RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /after.txt && (touch /src/new 2>/dev/null && echo writable || echo readonly) > /ro.txt
`,
		".dockerignore":   "src/ignored.txt\n",
		"src/a.txt":       "A\n",
		"src/ignored.txt": "ignored\n",
		"one.txt":         "ONE\n",
	})
	build := func() {
		t.Helper()
		d.MustWharf(t, "build", "-q", "-t", "bind:1", dir)
	}
	build()
	out := d.MustWharf(t, "run", "--rm", "bind:1", "cat", "/out.txt", "/ls.txt", "/rw.txt", "/after.txt", "/ro.txt")
	if want := "A\nONE\nfrom-stage\na.txt\nscribble\nA\nreadonly\n"; out != want {
		t.Errorf("what the steps saw:\n%s\nwant:\n%s", out, want)
	}
	if out := d.MustWharf(t, "run", "--rm", "bind:1", "sh", "-c", "ls -a /work /t /src /ctx 2>&1; true"); strings.Contains(out, "one.txt") || strings.Contains(out, "tool.txt") || strings.Contains(out, "a.txt") {
		t.Errorf("mount targets stayed in the image:\n%s", out)
	}
	if n := countLines(t, d, "bindruns", "runs"); n != 1 {
		t.Fatalf("the step ran %d times, want 1", n)
	}
	build()
	writeFiles(t, dir, map[string]string{"src/ignored.txt": "still ignored\n"})
	build()
	if n := countLines(t, d, "bindruns", "runs"); n != 1 {
		t.Errorf("a rebuild without a change to the mounted files ran the step again (%d runs)", n)
	}
	writeFiles(t, dir, map[string]string{"src/a.txt": "A2\n"})
	build()
	if n := countLines(t, d, "bindruns", "runs"); n != 2 {
		t.Errorf("a change to a mounted file did not rerun the step (%d runs)", n)
	}
	// The classic builder through the socket mounts the same way.
	c := newDockerCLI(t, d)
	if out, errOut, code := classicBuild(t, c, "-q", "-t", "bind:2", dir); code != 0 {
		t.Fatalf("docker build: exit %d\n%s%s", code, out, errOut)
	}
	if out := d.MustWharf(t, "run", "--rm", "bind:2", "cat", "/out.txt"); out != "A2\nONE\nfrom-stage\n" {
		t.Errorf("docker build: %q", out)
	}
	assertNoLeaks(t, d)
}

// TestBuildNoticesClientAfterLateBodyEnd: with wharf build's synced
// context, the request body's end can come after the context's tar has
// been read (the CLI closes the body in a write of its own). The server
// watches for the client going away only from the end of the body on, so
// it reads the body to its end: a client that ends its body late and then
// dies leaves no step running.
func TestBuildNoticesClientAfterLateBodyEnd(t *testing.T) {
	d := newDaemon(t)
	df := "FROM " + busybox + "\nRUN --mount=type=cache,target=/c,id=late echo started >> /c/started && sleep 120\n"
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	_ = tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
	_, _ = tw.Write([]byte(df))
	_ = tw.Close()
	head := fmt.Sprintf(`{"tags":["late:1"],"contextKey":"late-%d"}`+"\n"+`[{"p":"Dockerfile","m":%d,"s":%d,"t":%d}]`+"\n",
		time.Now().UnixNano(), 0o100644, len(df), int64(1700000000)*1e9)
	conn, err := net.Dial("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	chunk := func(b []byte) {
		if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", len(b), b); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(conn, "POST /wharf/v1/build HTTP/1.1\r\nHost: wharf\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk([]byte(head))
	// The answer says which files the daemon needs; then the tar.
	resp := bufio.NewReader(conn)
	for {
		line, err := resp.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		if strings.Contains(line, `"need"`) {
			break
		}
	}
	chunk(tb.Bytes())
	if !waitFor(30*time.Second, func() bool { return countLines(t, d, "late", "started") == 1 }) {
		t.Fatal("the RUN step never started")
	}
	// The body ends now, and the client goes.
	fmt.Fprintf(conn, "0\r\n\r\n")
	time.Sleep(500 * time.Millisecond)
	conn.Close()
	var left string
	if !waitFor(15*time.Second, func() bool {
		left = strings.TrimSpace(d.MustWharf(t, "ps", "-aq"))
		return left == "" && len(d.Mounts()) == 0
	}) {
		t.Errorf("after the client went away: containers %q, mounts %v", left, d.Mounts())
	}
	assertNoLeaks(t, d)
}
