package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// dockerBin finds the docker CLI or skips the test.
func dockerBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("docker")
	if err != nil {
		if _, serr := os.Stat("/usr/local/bin/docker"); serr == nil {
			return "/usr/local/bin/docker"
		}
		t.Skip("skipping: the docker CLI is not installed (these tests drive the real docker binary against wharf's Docker API)")
	}
	return p
}

// dockerCLI runs the docker CLI against a wharf daemon with a private
// config directory.
type dockerCLI struct {
	bin, host, config string
}

func newDockerCLI(t *testing.T, d *testutil.Daemon) *dockerCLI {
	return &dockerCLI{bin: dockerBin(t), host: "unix://" + d.Socket, config: t.TempDir()}
}

func (c *dockerCLI) run(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+c.host, "DOCKER_CONFIG="+c.config, "DOCKER_CLI_HINTS=false")
	cmd.WaitDelay = 5 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("docker %s: timed out\nstdout: %s\nstderr: %s", strings.Join(args, " "), o.String(), e.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return o.String(), e.String(), 0
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitCode()
	}
	t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	return "", "", -1
}

func (c *dockerCLI) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := c.run(t, nil, args...)
	if code != 0 {
		t.Fatalf("docker %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// TestDockerCLI drives the real docker CLI through wharf's Docker API.
func TestDockerCLI(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)

	t.Run("Version", func(t *testing.T) {
		out := dk.must(t, "version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}")
		if strings.TrimSpace(out) != "1.44 1.44" {
			t.Errorf("version: server and negotiated client API versions %q, want \"1.44 1.44\"", out)
		}
		if out := dk.must(t, "info", "--format", "{{.OSType}} {{.Driver}}"); strings.TrimSpace(out) != "linux overlay2" {
			t.Errorf("info: %q", out)
		}
	})
	t.Run("RunRm", func(t *testing.T) {
		if out := dk.must(t, "run", "--rm", busybox, "echo", "hi"); out != "hi\n" {
			t.Errorf("run --rm echo hi printed %q", out)
		}
		out, errOut, code := dk.run(t, nil, "run", "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 3")
		if code != 3 || out != "out\n" || errOut != "err\n" {
			t.Errorf("run exit 3: code %d stdout %q stderr %q", code, out, errOut)
		}
		if _, errOut, code := dk.run(t, nil, "run", "--rm", busybox, "nosuchcmd"); code != 127 || !strings.Contains(errOut, "nosuchcmd") {
			t.Errorf("run of a missing command: exit %d (want 127), stderr %q", code, errOut)
		}
		if out, _, code := dk.run(t, []byte("piped\n"), "run", "--rm", "-i", busybox, "cat"); code != 0 || out != "piped\n" {
			t.Errorf("run -i cat: exit %d, stdout %q", code, out)
		}
		if out := dk.must(t, "ps", "-aq"); strings.TrimSpace(out) != "" {
			t.Errorf("run --rm left containers: %q", out)
		}
	})
	t.Run("Detached", func(t *testing.T) {
		id := strings.TrimSpace(dk.must(t, "run", "-d", "--name", "web", "-l", "app=web", busybox, "sh", "-c", "echo started; echo warn >&2; exec httpd -f -p 8080 -h /"))
		if len(id) != 64 {
			t.Fatalf("run -d printed %q, want an ID", id)
		}
		if out := dk.must(t, "ps", "--filter", "label=app=web", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(out, "web Up") {
			t.Errorf("ps --filter label: %q", out)
		}
		if out := dk.must(t, "ps", "--filter", "name=nosuch", "-q"); out != "" {
			t.Errorf("ps --filter name=nosuch: %q", out)
		}
		if !waitFor(10*time.Second, func() bool { out, _, _ := dk.run(t, nil, "logs", "web"); return out == "started\n" }) {
			out, errOut, _ := dk.run(t, nil, "logs", "web")
			t.Errorf("logs: stdout %q stderr %q", out, errOut)
		}
		if out := dk.must(t, "exec", "web", "cat", "/proc/1/cmdline"); !strings.Contains(out, "httpd") {
			t.Errorf("exec cat /proc/1/cmdline: %q", out)
		}
		if _, _, code := dk.run(t, nil, "exec", "web", "sh", "-c", "exit 4"); code != 4 {
			t.Errorf("exec exit 4: got %d", code)
		}
		if out := dk.must(t, "exec", "-e", "X=y", "-w", "/tmp", "web", "sh", "-c", "echo $X $(pwd)"); out != "y /tmp\n" {
			t.Errorf("exec -e -w: %q", out)
		}
		f := "{{.Id}} {{.Name}} {{.State.Status}} {{.State.Running}} {{if .State.Pid}}true{{end}} {{.Config.Image}} {{index .Config.Labels \"app\"}} {{.HostConfig.LogConfig.Type}} {{.Driver}}"
		want := id + " /web running true true " + busybox + " web json-file overlay2"
		if out := strings.TrimSpace(dk.must(t, "inspect", "--format", f, "web")); out != want {
			t.Errorf("inspect:\n got %q\nwant %q", out, want)
		}
		if out := dk.must(t, "top", "web"); !strings.Contains(out, "httpd") {
			t.Errorf("top: %q", out)
		}
		dk.must(t, "pause", "web")
		if out := dk.must(t, "inspect", "--format", "{{.State.Status}}", "web"); strings.TrimSpace(out) != "paused" {
			t.Errorf("after pause: %q", out)
		}
		dk.must(t, "unpause", "web")
		dk.must(t, "rename", "web", "web2")
		if _, errOut, code := dk.run(t, nil, "rm", "web2"); code == 0 || !strings.Contains(errOut, "cannot remove a running container") {
			t.Errorf("rm of a running container: exit %d, stderr %q", code, errOut)
		}
		dk.must(t, "stop", "-t", "1", "web2")
		if out := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "web2")); out != "exited 137" && out != "exited 143" {
			t.Errorf("after stop: %q", out)
		}
		// Stopping a stopped container is a 304, which the CLI accepts.
		dk.must(t, "stop", "web2")
		if out := dk.must(t, "ps", "-a", "--filter", "exited=137", "--format", "{{.Names}}"); out != "web2\n" && !strings.Contains(out, "web2") {
			t.Logf("ps --filter exited=137: %q", out)
		}
		dk.must(t, "rm", "web2")
		if _, errOut, code := dk.run(t, nil, "inspect", "web2"); code != 1 || !strings.Contains(errOut, "No such object") {
			t.Errorf("inspect of a removed container: exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("Copy", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		if err := os.WriteFile(src, []byte("copied in\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		// Into a created container (its filesystem is not mounted yet),
		// then into the running one.
		dk.must(t, "create", "--name", "cp", busybox, "sleep", "600")
		dk.must(t, "cp", src, "cp:/tmp/")
		dk.must(t, "start", "cp")
		if out := dk.must(t, "exec", "cp", "cat", "/tmp/in.txt"); out != "copied in\n" {
			t.Errorf("file copied into a created container reads %q", out)
		}
		dk.must(t, "cp", src, "cp:/root/renamed.txt")
		if out := dk.must(t, "exec", "cp", "cat", "/root/renamed.txt"); out != "copied in\n" {
			t.Errorf("file copied into a running container reads %q", out)
		}
		dk.must(t, "exec", "cp", "sh", "-c", "mkdir -p /data/sub && echo deep > /data/sub/f")
		dk.must(t, "cp", "cp:/data", dir)
		if b, err := os.ReadFile(filepath.Join(dir, "data", "sub", "f")); err != nil || string(b) != "deep\n" {
			t.Errorf("copied-out directory: %q, %v", b, err)
		}
		dk.must(t, "cp", "cp:/etc/hostname", dir)
		host := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.Config.Hostname}}", "cp"))
		if b, err := os.ReadFile(filepath.Join(dir, "hostname")); err != nil || strings.TrimSpace(string(b)) != host {
			t.Errorf("copied-out /etc/hostname: %q (%v), want %q", b, err, host)
		}
		if _, errOut, code := dk.run(t, nil, "cp", "cp:/nonexistent", dir); code == 0 || !strings.Contains(errOut, "Could not find the file") {
			t.Errorf("cp of a missing path: exit %d, stderr %q", code, errOut)
		}
		if out := dk.must(t, "diff", "cp"); !strings.Contains(out, "A /data") {
			t.Errorf("diff does not list /data as added:\n%s", out)
		}
		var exported bytes.Buffer
		cmd := exec.Command(dk.bin, "export", "cp")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+dk.host, "DOCKER_CONFIG="+dk.config)
		cmd.Stdout = &exported
		if err := cmd.Run(); err != nil || exported.Len() < 1<<20 {
			t.Errorf("export: %v, %d bytes", err, exported.Len())
		}
		dk.must(t, "rm", "-f", "cp")
	})
	t.Run("Stats", func(t *testing.T) {
		dk.must(t, "run", "-d", "--name", "st", "-m", "64m", busybox, "sleep", "600")
		out := dk.must(t, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "st")
		if !strings.HasPrefix(out, "st ") || !strings.Contains(out, "/ 64MiB") || !strings.HasSuffix(strings.TrimSpace(out), " 1") {
			t.Errorf("stats --no-stream: %q", out)
		}
		dk.must(t, "rm", "-f", "st")
	})
	t.Run("Events", func(t *testing.T) {
		since := time.Now().Add(-time.Second).Unix()
		dk.must(t, "run", "--rm", "--name", "ev", busybox, "true")
		time.Sleep(600 * time.Millisecond) // the recorder looks a few times a second
		out := dk.must(t, "events", "--since", itoa(since), "--until", itoa(time.Now().Unix()+1), "--filter", "container=ev", "--format", "{{.Action}}")
		for _, want := range []string{"create", "start", "die", "destroy"} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("events for a run --rm lack %q:\n%s", want, out)
			}
		}
	})
	t.Run("Images", func(t *testing.T) {
		dk.must(t, "tag", busybox, "local/dk:1")
		if out := dk.must(t, "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "local/dk:1\n") {
			t.Errorf("images after tag:\n%s", out)
		}
		if out := dk.must(t, "image", "inspect", "--format", "{{.Os}} {{.RootFS.Type}} {{len .RootFS.Layers}}", "local/dk:1"); strings.TrimSpace(out) != "linux layers 1" {
			t.Errorf("image inspect: %q", out)
		}
		if out := dk.must(t, "history", "-q", "local/dk:1"); strings.TrimSpace(out) == "" {
			t.Errorf("history printed nothing")
		}
		file := filepath.Join(t.TempDir(), "dk.tar")
		dk.must(t, "save", "-o", file, "local/dk:1")
		dk.must(t, "rmi", "local/dk:1")
		if _, errOut, code := dk.run(t, nil, "image", "inspect", "local/dk:1"); code == 0 || !strings.Contains(errOut, "No such image") {
			t.Errorf("inspect of a removed image: exit %d stderr %q", code, errOut)
		}
		if out := dk.must(t, "load", "-i", file); !strings.Contains(out, "Loaded image: local/dk:1") {
			t.Errorf("load printed %q", out)
		}
		if out := dk.must(t, "run", "--rm", "local/dk:1", "echo", "loaded"); out != "loaded\n" {
			t.Errorf("run of the loaded image: %q", out)
		}
		rootfs := testutil.BusyboxRootfsTar(t)
		out, errOut, code := dk.run(t, rootfs, "import", "-c", "ENV FOO=bar", "-", "local/imported:2")
		if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "sha256:") {
			t.Fatalf("import: exit %d stdout %q stderr %q", code, out, errOut)
		}
		if out := dk.must(t, "run", "--rm", "local/imported:2", "sh", "-c", "echo $FOO"); out != "bar\n" {
			t.Errorf("run of an imported image with ENV: %q", out)
		}
		dk.must(t, "rmi", "local/dk:1", "local/imported:2")
	})
	t.Run("Registry", func(t *testing.T) {
		addr := startRegistry(t)
		ref := addr + "/dk/bb:1"
		dk.must(t, "tag", busybox, ref)
		if out := dk.must(t, "push", ref); !strings.Contains(out, "digest: sha256:") {
			t.Errorf("push output lacks the digest:\n%s", out)
		}
		dk.must(t, "rmi", ref)
		out := dk.must(t, "pull", ref)
		if !strings.Contains(out, "Digest: sha256:") || !strings.Contains(out, "Status: Downloaded") {
			t.Errorf("pull output:\n%s", out)
		}
		if out := dk.must(t, "run", "--rm", ref, "echo", "pulled"); out != "pulled\n" {
			t.Errorf("run of the pulled image: %q", out)
		}
		if _, errOut, code := dk.run(t, nil, "pull", addr+"/dk/nosuch:1"); code == 0 || errOut == "" {
			t.Errorf("pull of a missing image: exit %d stderr %q", code, errOut)
		}
		// A plain registry takes any credentials; login checks /v2/.
		if out, errOut, code := dk.run(t, []byte("pw\n"), "login", "-u", "user", "--password-stdin", addr); code != 0 || !strings.Contains(out, "Login Succeeded") {
			t.Errorf("login: exit %d stdout %q stderr %q", code, out, errOut)
		}
		// run pulls a missing image on "No such image".
		dk.must(t, "rmi", ref)
		if out := dk.must(t, "run", "--rm", ref, "echo", "autopulled"); !strings.HasSuffix(out, "autopulled\n") {
			t.Errorf("run of a missing image: %q", out)
		}
	})
	t.Run("PortsAndBinds", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte("fromhost\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		dk.must(t, "run", "-d", "--name", "pub", "-p", "127.0.0.1:"+port+":80", "-v", dir+":/data:ro", busybox, "httpd", "-f", "-p", "80", "-h", "/data")
		defer dk.run(t, nil, "rm", "-f", "pub")
		var body string
		waitFor(10*time.Second, func() bool {
			resp, err := (&http.Client{Timeout: time.Second}).Get("http://127.0.0.1:" + port + "/f")
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			return resp.StatusCode == 200
		})
		if body != "fromhost\n" {
			t.Errorf("GET through the published port: %q", body)
		}
		if out := dk.must(t, "ps", "--filter", "name=pub", "--format", "{{.Ports}}"); strings.TrimSpace(out) != "127.0.0.1:"+port+"->80/tcp" {
			t.Errorf("ps Ports: %q", out)
		}
		if out := dk.must(t, "inspect", "--format", "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}}{{end}}", "pub"); strings.TrimSpace(out) != "bind "+dir+" /data false" {
			t.Errorf("inspect Mounts: %q", out)
		}
	})
	t.Run("NetworksAndVolumes", func(t *testing.T) {
		if out := dk.must(t, "network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "bridge bridge") ||
			!strings.Contains(out, "host host") || !strings.Contains(out, "none null") {
			t.Errorf("network ls lacks the predefined networks:\n%s", out)
		}
		nid := strings.TrimSpace(dk.must(t, "network", "create", "--label", "k=v", "n1"))
		if len(nid) != 64 {
			t.Fatalf("network create printed %q, want an ID", nid)
		}
		defer dk.run(t, nil, "network", "rm", "n1")
		if _, errOut, code := dk.run(t, nil, "network", "create", "n1"); code == 0 || !strings.Contains(errOut, "already exists") {
			t.Errorf("second network create n1: exit %d, stderr %q", code, errOut)
		}
		if out := dk.must(t, "network", "ls", "--filter", "label=k=v", "--format", "{{.Name}}"); strings.TrimSpace(out) != "n1" {
			t.Errorf("network ls --filter label=k=v: %q", out)
		}
		dk.must(t, "run", "-d", "--network", "n1", "--name", "svc-a", busybox, "sh", "-c", "mkdir -p /var/www && echo hi > /var/www/index.html && exec httpd -f -p 8080 -h /var/www")
		defer dk.run(t, nil, "rm", "-f", "svc-a")
		var body string
		waitFor(15*time.Second, func() bool {
			out, _, code := dk.run(t, nil, "run", "--rm", "--network", "n1", busybox, "sh", "-c", "timeout 5 wget -qO- http://svc-a:8080/")
			body = out
			return code == 0
		})
		if body != "hi\n" {
			t.Errorf("wget http://svc-a:8080/ on n1: %q", body)
		}
		var ni []struct {
			ID     string `json:"Id"`
			Name   string
			Labels map[string]string
			IPAM   struct {
				Config []struct{ Subnet, Gateway string }
			}
			Containers map[string]struct{ Name, IPv4Address string }
		}
		if err := json.Unmarshal([]byte(dk.must(t, "network", "inspect", "n1")), &ni); err != nil || len(ni) != 1 {
			t.Fatalf("network inspect n1: %v %+v", err, ni)
		}
		found := false
		for _, ep := range ni[0].Containers {
			found = found || (ep.Name == "svc-a" && ep.IPv4Address != "")
		}
		if ni[0].ID != nid || ni[0].Labels["k"] != "v" || len(ni[0].IPAM.Config) != 1 || ni[0].IPAM.Config[0].Subnet == "" || !found {
			t.Errorf("network inspect n1: %+v", ni[0])
		}
		if _, errOut, code := dk.run(t, nil, "network", "rm", "n1"); code == 0 {
			t.Errorf("network rm of a network in use succeeded (stderr %q)", errOut)
		}

		// A second network with an explicit IPAM config; connect and
		// disconnect a running container with an alias and a fixed IP.
		// A free subnet, not a fixed one: a fixed one breaks when another
		// daemon on the host routes it.
		subnet := testutil.FreeSubnet(t)
		base := strings.TrimSuffix(subnet, "0/24")
		dk.must(t, "network", "create", "--subnet", subnet, "--gateway", base+"254", "--internal", "n2")
		defer dk.run(t, nil, "network", "rm", "n2")
		if out := dk.must(t, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Internal}}", "n2"); strings.TrimSpace(out) != subnet+" "+base+"254 true" {
			t.Errorf("network inspect n2 IPAM: %q", out)
		}
		dk.must(t, "network", "connect", "--alias", "alias-a", "--ip", base+"9", "n2", "svc-a")
		if out := dk.must(t, "inspect", "--format", `{{(index .NetworkSettings.Networks "n2").IPAddress}}`, "svc-a"); strings.TrimSpace(out) != base+"9" {
			t.Errorf("container address on n2 after connect: %q", out)
		}
		if out := dk.must(t, "network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", "n2"); strings.TrimSpace(out) != "svc-a "+base+"9/24" {
			t.Errorf("network inspect n2 Containers: %q", out)
		}
		if out, _, code := dk.run(t, nil, "run", "--rm", "--network", "n2", busybox, "sh", "-c", "timeout 5 wget -qO- http://alias-a:8080/"); code != 0 || out != "hi\n" {
			t.Errorf("wget http://alias-a:8080/ on n2: exit %d, %q", code, out)
		}
		if _, errOut, code := dk.run(t, nil, "network", "connect", "n2", "nosuchcontainer"); code == 0 || !strings.Contains(strings.ToLower(errOut), "no such container") {
			t.Errorf("network connect of a missing container: exit %d, stderr %q", code, errOut)
		}
		dk.must(t, "network", "disconnect", "n2", "svc-a")
		if out := dk.must(t, "network", "inspect", "--format", "{{len .Containers}}", "n2"); strings.TrimSpace(out) != "0" {
			t.Errorf("network n2 still has containers after disconnect: %q", out)
		}
		if out := dk.must(t, "network", "prune", "-f"); !strings.Contains(out, "n2") || strings.Contains(out, "n1") {
			t.Errorf("network prune removed the wrong networks:\n%s", out)
		}
		if _, _, code := dk.run(t, nil, "network", "inspect", "n2"); code == 0 {
			t.Errorf("network n2 still exists after prune")
		}
		if _, errOut, code := dk.run(t, nil, "network", "rm", "bridge"); code == 0 || !strings.Contains(errOut, "pre-defined") {
			t.Errorf("network rm bridge: exit %d, stderr %q", code, errOut)
		}
		if _, errOut, code := dk.run(t, nil, "network", "inspect", "nosuchnet"); code == 0 || !strings.Contains(strings.ToLower(errOut), "not found") {
			t.Errorf("network inspect nosuchnet: exit %d, stderr %q", code, errOut)
		}

		if out := dk.must(t, "volume", "create", "--label", "k=v", "v1"); strings.TrimSpace(out) != "v1" {
			t.Errorf("volume create printed %q", out)
		}
		defer dk.run(t, nil, "volume", "rm", "-f", "v1")
		dk.must(t, "run", "--rm", "-v", "v1:/data", busybox, "sh", "-c", "echo persisted > /data/f")
		if out := dk.must(t, "run", "--rm", "-v", "v1:/data:ro", busybox, "cat", "/data/f"); out != "persisted\n" {
			t.Errorf("reading the volume back: %q", out)
		}
		if out := dk.must(t, "volume", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "v1 local") {
			t.Errorf("volume ls: %q", out)
		}
		if out := dk.must(t, "volume", "ls", "-q", "--filter", "label=k=v"); strings.TrimSpace(out) != "v1" {
			t.Errorf("volume ls --filter label=k=v: %q", out)
		}
		var vi []struct{ Name, Driver, Mountpoint, Scope string }
		if err := json.Unmarshal([]byte(dk.must(t, "volume", "inspect", "v1")), &vi); err != nil || len(vi) != 1 ||
			vi[0].Name != "v1" || vi[0].Driver != "local" || vi[0].Mountpoint == "" || vi[0].Scope != "local" {
			t.Errorf("volume inspect v1: %v %+v", err, vi)
		}
		dk.must(t, "create", "--name", "holder", "-v", "v1:/data", busybox, "true")
		if _, errOut, code := dk.run(t, nil, "volume", "rm", "v1"); code == 0 || !strings.Contains(errOut, "in use") {
			t.Errorf("volume rm of a volume in use: exit %d, stderr %q", code, errOut)
		}
		dk.must(t, "rm", "holder")
		dk.must(t, "volume", "create", "v2")
		if out := dk.must(t, "volume", "prune", "-af", "--filter", "label=k=v"); !strings.Contains(out, "v1") || strings.Contains(out, "v2") {
			t.Errorf("volume prune -a --filter label=k=v:\n%s", out)
		}
		dk.must(t, "volume", "rm", "v2")
		dk.must(t, "volume", "create", "v1")
		dk.must(t, "volume", "rm", "v1")
		if _, errOut, code := dk.run(t, nil, "volume", "inspect", "v1"); code == 0 || !strings.Contains(strings.ToLower(errOut), "no such volume") {
			t.Errorf("volume inspect after rm: exit %d, stderr %q", code, errOut)
		}

		dk.must(t, "rm", "-f", "svc-a")
		dk.must(t, "network", "rm", "n1")
		if out := dk.must(t, "network", "ls", "-q", "--filter", "name=n1"); strings.TrimSpace(out) != "" {
			t.Errorf("network ls after rm: %q", out)
		}
	})
	t.Run("Contract", func(t *testing.T) { testDockerContract(t, d, dk) })
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaks(t, d) })
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// apiGet sends a GET over the daemon's socket and returns the body.
func apiGet(t *testing.T, socket, path string) []byte {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}, Timeout: 30 * time.Second}
	resp, err := c.Get("http://docker" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body
}

// strictDecode decodes data into v refusing fields the Moby type lacks.
func strictDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("wharf's JSON does not decode strictly into %T: %v\n%s", v, err, data)
	}
}

// testDockerContract compares wharf's inspect answers field by field with
// the Moby API types: every field must be one Moby knows, and the fields
// docker, compose and Testcontainers read must be present.
func testDockerContract(t *testing.T, d *testutil.Daemon, dk *dockerCLI) {
	id := strings.TrimSpace(dk.must(t, "run", "-d", "--name", "contract", "-e", "A=b", "-l", "k=v", busybox, "sleep", "600"))
	defer dk.run(t, nil, "rm", "-f", id)

	raw := apiGet(t, d.Socket, "/v1.44/containers/"+id+"/json")
	var c legacyInspectResponse
	strictDecode(t, raw, &c)
	var generic map[string]any
	_ = json.Unmarshal(raw, &generic)
	for _, k := range []string{"Id", "Created", "Path", "Args", "State", "Image", "Name", "RestartCount", "Driver", "Platform", "HostConfig", "Mounts", "Config", "NetworkSettings", "LogPath", "ResolvConfPath", "HostnamePath", "HostsPath"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("container inspect lacks %s", k)
		}
	}
	switch {
	case c.ID != id, c.Name != "/contract", c.State == nil, c.Config == nil, c.HostConfig == nil, c.NetworkSettings == nil:
		t.Fatalf("container inspect: identity or sections missing: %+v", c)
	}
	if c.State.Status != "running" || !c.State.Running || c.State.Pid <= 0 || c.State.StartedAt == "" || strings.HasPrefix(c.State.StartedAt, "0001") {
		t.Errorf("State: %+v", c.State)
	}
	if !strings.HasPrefix(c.Image, "sha256:") || c.Config.Image != busybox || c.Config.Labels["k"] != "v" || c.Path != "sleep" || len(c.Args) != 1 {
		t.Errorf("Image/Config/Path: image %q config %+v path %q args %q", c.Image, c.Config, c.Path, c.Args)
	}
	found := false
	for _, e := range c.Config.Env {
		found = found || e == "A=b"
	}
	if !found {
		t.Errorf("Config.Env lacks A=b: %q", c.Config.Env)
	}
	if c.HostConfig.LogConfig.Type == "" || c.HostConfig.RestartPolicy.Name == "" || c.HostConfig.NetworkMode == "" {
		t.Errorf("HostConfig: LogConfig %+v RestartPolicy %+v NetworkMode %q", c.HostConfig.LogConfig, c.HostConfig.RestartPolicy, c.HostConfig.NetworkMode)
	}
	if c.NetworkSettings.Networks == nil || c.Mounts == nil {
		t.Errorf("NetworkSettings.Networks %v, Mounts %v: docker and compose range over them", c.NetworkSettings.Networks, c.Mounts)
	}
	if _, err := time.Parse(time.RFC3339Nano, c.Created); err != nil {
		t.Errorf("Created %q: %v", c.Created, err)
	}

	raw = apiGet(t, d.Socket, "/v1.44/images/"+busybox+"/json")
	var img image.InspectResponse
	strictDecode(t, raw, &img)
	if !strings.HasPrefix(img.ID, "sha256:") || len(img.RepoTags) == 0 || img.Os != "linux" || img.Architecture == "" || img.Size <= 0 ||
		img.RootFS.Type != "layers" || len(img.RootFS.Layers) == 0 || img.Config == nil || img.RepoDigests == nil {
		t.Errorf("image inspect: %+v", img)
	}

	raw = apiGet(t, d.Socket, "/v1.44/containers/json?all=1")
	var list []mcontainer.Summary
	strictDecode(t, raw, &list)
	if len(list) == 0 || list[0].Ports == nil || list[0].Labels == nil || list[0].State == "" || list[0].Status == "" || len(list[0].Names) == 0 {
		t.Errorf("container list: %+v", list)
	}
}
