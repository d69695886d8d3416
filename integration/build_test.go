package integration

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	assertNoLeaks(t, d)
	if left := strings.TrimSpace(c.must(t, "ps", "-aq")); left != "" {
		t.Errorf("step containers left: %s", left)
	}
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
