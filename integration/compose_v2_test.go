package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

const composeV2Dir = "testdata/compose-v2"

// TestComposeV2 drives the compose v2 CLI plugin (built from its Go module,
// internal/testutil.ComposePlugin) through the docker CLI on the project in
// testdata/compose-v2: a healthcheck-gated depends_on, a named volume, a
// user network and a port published on 127.0.0.1. It runs against wharf
// and, when dockerd is installed, against a private dockerd, where every
// check must pass; on wharf the checks listed in
// testdata/compose-v2/known_failures.txt must fail and the others pass.
func TestComposeV2(t *testing.T) {
	testutil.RequiresRoot(t)
	docker := composeDockerCLI(t)
	// Parallel first: a cold build of the plugin takes minutes, which
	// the package's sequential tests need not wait for.
	t.Parallel()
	plugin := testutil.ComposePlugin(t)
	listPath := filepath.Join(composeV2Dir, "known_failures.txt")
	known := readKnownFailures(t, listPath)

	t.Run("wharf", func(t *testing.T) {
		t.Parallel()
		d := newDaemon(t)
		outcomes := runComposeV2(t, docker, plugin, d.Host())
		judgeOutcomes(t, "wharf", outcomes, known, listPath, true)
	})
	t.Run("dockerd", func(t *testing.T) {
		t.Parallel()
		dd := testutil.StartDockerd(t)
		dd.ImportTar(t, testutil.BusyboxRootfsTar(t), busybox)
		outcomes := runComposeV2(t, docker, plugin, dd.Host())
		judgeOutcomes(t, "dockerd", outcomes, nil, "", true)
	})
}

// composeDockerCLI returns the docker CLI that runs the plugin: the 28.x
// CLI these machines ship at /usr/local/bin (Debian's docker.io brings an
// older one to /usr/bin).
func composeDockerCLI(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/local/bin/docker"); err == nil {
		return "/usr/local/bin/docker"
	}
	return dockerBin(t)
}

// composeRun is one compose project run against one daemon.
type composeRun struct {
	t                    *testing.T
	docker, config, host string
	project, dir         string
	port, subnet         string
	outcomes             map[string]outcome
}

// cli runs the docker CLI (compose included) and returns its combined
// output and exit code.
func (r *composeRun) cli(args ...string) (string, int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.docker, args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+r.host, "DOCKER_CONFIG="+r.config, "DOCKER_CLI_HINTS=false",
		"COMPOSE_ANSI=never", "COMPOSE_STATUS_STDOUT=1",
		"IMAGE="+busybox, "PORT="+r.port, "SUBNET="+r.subnet)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return out.String() + "\n(timed out after 3m)", -1
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	r.t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// compose runs `docker compose -p PROJECT args...`.
func (r *composeRun) compose(args ...string) (string, int) {
	r.t.Helper()
	return r.cli(append([]string{"compose", "-p", r.project}, args...)...)
}

// must is compose that turns a non-zero exit into an error.
func (r *composeRun) must(args ...string) (string, error) {
	r.t.Helper()
	out, code := r.compose(args...)
	if code != 0 {
		return out, fmt.Errorf("docker compose %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out, nil
}

// check records one named check's outcome; a failing check is logged, and
// judged against the known-failures list later.
func (r *composeRun) check(name string, fn func() error) {
	r.t.Helper()
	if err := fn(); err != nil {
		r.outcomes[name] = "fail"
		r.t.Logf("check %s failed: %v", name, err)
		return
	}
	r.outcomes[name] = "pass"
}

// get fetches / through the published port, waiting up to timeout for an
// answer that satisfies ok.
func (r *composeRun) get(timeout time.Duration, ok func(int, string) bool) (int, string, error) {
	var code int
	var body string
	var err error
	deadline := time.Now().Add(timeout)
	for {
		var resp *http.Response
		resp, err = (&http.Client{Timeout: 2 * time.Second}).Get("http://127.0.0.1:" + r.port + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, body = resp.StatusCode, string(b)
			if ok(code, body) {
				return code, body, nil
			}
		}
		if time.Now().After(deadline) {
			return code, body, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// psEntry is the part of `compose ps --format json` the checks read.
type psEntry struct {
	Service, State, Health, Name string
	Publishers                   []struct {
		URL           string
		TargetPort    int
		PublishedPort int
		Protocol      string
	}
}

func runComposeV2(t *testing.T, docker, plugin, host string) map[string]outcome {
	config := t.TempDir()
	if err := os.MkdirAll(filepath.Join(config, "cli-plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(plugin, filepath.Join(config, "cli-plugins", "docker-compose")); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	dir, err := filepath.Abs(composeV2Dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &composeRun{t: t, docker: docker, config: config, host: host, dir: dir,
		project: fmt.Sprintf("cv%d", time.Now().UnixNano()%1e9), port: port, subnet: testutil.FreeSubnet(t),
		outcomes: map[string]outcome{}}
	if out, code := r.compose("version"); code != 0 || !strings.Contains(out, testutil.ComposeVersion) {
		t.Fatalf("docker compose version: exit %d\n%s", code, out)
	}
	downed := false
	t.Cleanup(func() {
		if !downed {
			r.compose("down", "-v", "-t", "1")
		}
	})

	r.check("up-wait", func() error {
		_, err := r.must("up", "-d", "--wait", "--wait-timeout", "60")
		return err
	})
	r.check("ps-json", func() error {
		out, err := r.must("ps", "--format", "json")
		if err != nil {
			return err
		}
		got := map[string]psEntry{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var e psEntry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				return fmt.Errorf("ps line %q: %w", line, err)
			}
			got[e.Service] = e
		}
		db, web := got["db"], got["web"]
		if len(got) != 2 || db.State != "running" || web.State != "running" {
			return fmt.Errorf("want db and web running:\n%s", out)
		}
		if db.Health != "healthy" {
			return fmt.Errorf("db health %q, want healthy:\n%s", db.Health, out)
		}
		if db.Name != r.project+"-db-1" || web.Name != r.project+"-web-1" {
			return fmt.Errorf("container names %q %q:\n%s", db.Name, web.Name, out)
		}
		p := web.Publishers
		if len(p) != 1 || p[0].URL != "127.0.0.1" || p[0].TargetPort != 8080 || strconv.Itoa(p[0].PublishedPort) != r.port || p[0].Protocol != "tcp" {
			return fmt.Errorf("web publishers %+v, want 127.0.0.1:%s->8080/tcp", p, r.port)
		}
		return nil
	})
	r.check("port-answers", func() error {
		// web fetched db's log of starts over the user network once db was
		// healthy, so the page holds exactly the first start.
		code, body, err := r.get(20*time.Second, func(c int, b string) bool { return c == 200 && b == "start\n" })
		if err != nil || code != 200 || body != "start\n" {
			return fmt.Errorf("GET 127.0.0.1:%s: %d %q %v, want 200 \"start\\n\"", r.port, code, body, err)
		}
		return nil
	})
	r.check("logs", func() error {
		out, err := r.must("logs", "--no-color", "db", "web")
		if err != nil {
			return err
		}
		// Lines are prefixed with the service's container, padded to the
		// widest prefix.
		for _, want := range []string{`(?m)^db-1 +\| db starting$`, `(?m)^web-1 +\| web fetched 1 starts$`} {
			if !regexp.MustCompile(want).MatchString(out) {
				return fmt.Errorf("logs lack %s:\n%s", want, out)
			}
		}
		return nil
	})
	r.check("exec", func() error {
		out, err := r.must("exec", "-T", "db", "cat", "/data/starts")
		if err != nil {
			return err
		}
		if out != "start\n" {
			return fmt.Errorf("exec cat /data/starts: %q", out)
		}
		if out, code := r.compose("exec", "-T", "web", "sh", "-c", "exit 3"); code != 3 {
			return fmt.Errorf("exec exit 3: exit %d\n%s", code, out)
		}
		return nil
	})
	r.check("restart", func() error {
		if _, err := r.must("restart", "-t", "1"); err != nil {
			return err
		}
		// db appended a second start to the same volume.
		var out string
		if !waitFor(20*time.Second, func() bool {
			out, _ = r.compose("exec", "-T", "db", "cat", "/data/starts")
			return out == "start\nstart\n"
		}) {
			return fmt.Errorf("after restart, /data/starts holds %q, want two starts", out)
		}
		if code, body, err := r.get(20*time.Second, func(c int, _ string) bool { return c == 200 }); code != 200 {
			return fmt.Errorf("GET after restart: %d %q %v", code, body, err)
		}
		return nil
	})
	r.check("down-v", func() error {
		if _, err := r.must("down", "-v", "-t", "1"); err != nil {
			return err
		}
		downed = true
		for _, c := range [][]string{
			{"ps", "-aq", "--filter", "label=com.docker.compose.project=" + r.project},
			{"volume", "ls", "-q", "--filter", "name=" + r.project + "_data"},
			{"network", "ls", "-q", "--filter", "name=" + r.project + "_back"},
		} {
			out, code := r.cli(c...)
			if code != 0 || strings.TrimSpace(out) != "" {
				return fmt.Errorf("after down -v, docker %s: exit %d %q", strings.Join(c, " "), code, out)
			}
		}
		return nil
	})
	return r.outcomes
}
