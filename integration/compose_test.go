package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCompose drives docker-compose (1.29, docker-py) through wharf's
// Docker API: a two-service project with a named volume, a user-defined
// network and a published port, up, ps, logs and down -v.
func TestCompose(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("skipping: docker-compose is not installed (apt-get install docker-compose)")
	}
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	dir := t.TempDir()
	project := fmt.Sprintf("wc%d", time.Now().UnixNano()%1e9)
	yml := `version: "3"
services:
  web:
    image: ` + busybox + `
    command: ["httpd", "-f", "-p", "8080", "-h", "/data"]
    volumes:
      - data:/data
    ports:
      - "127.0.0.1:` + port + `:8080"
    networks:
      - appnet
  init:
    image: ` + busybox + `
    command: ["sh", "-c", "echo from-init > /data/index.html; echo init done; timeout 5 wget -qO- http://web:8080/ || true"]
    volumes:
      - data:/data
    networks:
      - appnet
    depends_on:
      - web
volumes:
  data: {}
networks:
  appnet: {}
`
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	compose := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"-p", project, "--ansi", "never"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.Socket, "DOCKER_CONFIG="+dk.config, "COMPOSE_INTERACTIVE_NO_CLI=1")
		cmd.WaitDelay = 5 * time.Second
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("docker-compose %s: timed out\n%s", strings.Join(args, " "), out.String())
		}
		var ee *exec.ExitError
		switch {
		case err == nil:
			return out.String(), 0
		case errors.As(err, &ee):
			return out.String(), ee.ExitCode()
		}
		t.Fatalf("docker-compose %s: %v", strings.Join(args, " "), err)
		return "", -1
	}
	must := func(args ...string) string {
		t.Helper()
		out, code := compose(args...)
		if code != 0 {
			t.Fatalf("docker-compose %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	if out, _ := compose("version"); !strings.Contains(out, "docker-compose version") {
		t.Logf("docker-compose version: %s", out)
	}
	downed := false
	defer func() {
		if !downed {
			compose("down", "-v", "--timeout", "1")
		}
	}()

	must("up", "-d")
	out := must("ps")
	if !strings.Contains(out, project+"_web_1") || !strings.Contains(out, project+"_init_1") {
		t.Errorf("ps lacks the services:\n%s", out)
	}
	if !strings.Contains(out, "127.0.0.1:"+port+"->8080/tcp") {
		t.Errorf("ps lacks the published port:\n%s", out)
	}

	var body string
	waitFor(20*time.Second, func() bool {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return resp.StatusCode == 200 && body == "from-init\n"
	})
	if body != "from-init\n" {
		t.Errorf("GET through the published port: %q, want the file init wrote into the shared volume", body)
	}

	var logs string
	waitFor(10*time.Second, func() bool {
		logs = must("logs", "--no-color", "init")
		return strings.Contains(logs, "init done")
	})
	if !strings.Contains(logs, "init done") {
		t.Errorf("logs init:\n%s", logs)
	}
	if out := dk.must(t, "network", "ls", "-q", "--filter", "name="+project+"_appnet"); strings.TrimSpace(out) == "" {
		t.Errorf("network %s_appnet missing while up", project)
	}
	if out := dk.must(t, "volume", "ls", "-q", "--filter", "name="+project+"_data"); strings.TrimSpace(out) != project+"_data" {
		t.Errorf("volume %s_data while up: %q", project, out)
	}

	must("down", "-v", "--timeout", "1")
	downed = true
	if out := dk.must(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+project); strings.TrimSpace(out) != "" {
		t.Errorf("containers left after down: %q", out)
	}
	if out := dk.must(t, "network", "ls", "-q", "--filter", "name="+project+"_appnet"); strings.TrimSpace(out) != "" {
		t.Errorf("network left after down -v: %q", out)
	}
	if out := dk.must(t, "volume", "ls", "-q", "--filter", "name="+project+"_data"); strings.TrimSpace(out) != "" {
		t.Errorf("volume left after down -v: %q", out)
	}
}
