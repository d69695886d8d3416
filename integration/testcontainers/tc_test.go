// Package testcontainers runs Testcontainers for Go against a wharf test
// daemon's Docker Engine API. It lives in its own Go module so that the main
// wharf module does not carry testcontainers' dependencies; run it with
//
//	cd integration/testcontainers && go test -count=1 ./...
//
// Like the rest of integration/, it needs root (testutil.StartDaemon skips
// otherwise). No registry is used: the busybox image is imported locally, and
// the reaper (Ryuk, an image on Docker Hub) is disabled; what the reaper relies
// on — the session label and finding containers by it — is checked directly.
package testcontainers

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	tc "github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// busybox is the image imported from the local busybox-static.
const busybox = "local/busybox:1"

// sessionLabel is the label Testcontainers puts on every container of a test
// session (core.LabelSessionID); the reaper removes containers by it.
const sessionLabel = "org.testcontainers.sessionId"

func TestMain(m *testing.M) {
	// testutil.BuildWharf builds ./cmd/wharf of the module holding the
	// working directory; this directory is a module of its own, so build
	// from the wharf module two levels up.
	if err := os.Chdir(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	testutil.RemoveBuiltWharf()
	testutil.RemoveEmptyCgroupParents()
	os.Exit(code)
}

// TestTestcontainers drives one wharf daemon with Testcontainers for Go.
// Testcontainers reads DOCKER_HOST and its properties once per process, so
// everything runs as subtests of this one test against one daemon.
func TestTestcontainers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: the Testcontainers suite starts a wharf daemon and needs root (run as root: cd integration/testcontainers && go test -count=1 ./...)")
	}
	d := testutil.StartDaemon(t)
	d.ImportBusybox(t, busybox)

	t.Setenv("DOCKER_HOST", d.Host())
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	t.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	// Keep a user's ~/.testcontainers.properties out of the way.
	t.Setenv("HOME", t.TempDir())

	api := newAPIClient(d.Socket)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	req := tc.GenericContainerRequest{
		ContainerRequest: tc.ContainerRequest{
			Image: busybox,
			Cmd: []string{"sh", "-c",
				"mkdir -p /www && echo hello-from-wharf > /www/index.html && cd /www && echo ready && exec httpd -f -p 8080"},
			ExposedPorts: []string{"8080/tcp"},
			Labels:       map[string]string{"wharf.test": "testcontainers"},
			WaitingFor: wait.ForAll(
				wait.ForLog("ready"),
				wait.ForListeningPort("8080/tcp"),
			).WithDeadline(90 * time.Second),
		},
		Started: true,
	}
	ctr, err := tc.GenericContainer(ctx, req)
	if err != nil {
		if ctr != nil {
			_ = ctr.Terminate(context.Background())
		}
		t.Fatalf("GenericContainer: %v", err)
	}
	id := ctr.GetContainerID()
	terminated := false
	t.Cleanup(func() {
		if !terminated {
			_ = ctr.Terminate(context.Background())
		}
	})

	t.Run("MappedPortHTTP", func(t *testing.T) {
		host, err := ctr.Host(ctx)
		if err != nil {
			t.Fatalf("Host: %v", err)
		}
		if host != "127.0.0.1" && host != "localhost" {
			t.Fatalf("Host = %q, want 127.0.0.1 or localhost", host)
		}
		port, err := ctr.MappedPort(ctx, "8080/tcp")
		if err != nil {
			t.Fatalf("MappedPort: %v", err)
		}
		if port.Num() == 0 {
			t.Fatalf("MappedPort = %v, want a host port", port)
		}
		u := fmt.Sprintf("http://127.0.0.1:%d/index.html", port.Num())
		body := httpGet(t, u)
		if strings.TrimSpace(body) != "hello-from-wharf" {
			t.Fatalf("GET %s = %q, want hello-from-wharf", u, body)
		}
	})

	t.Run("Exec", func(t *testing.T) {
		code, r, err := ctr.Exec(ctx, []string{"sh", "-c", "echo out-line; echo err-line >&2; exit 3"}, tcexec.Multiplexed())
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		out, _ := io.ReadAll(r)
		if code != 3 {
			t.Errorf("exit code = %d, want 3 (output %q)", code, out)
		}
		if !strings.Contains(string(out), "out-line") || !strings.Contains(string(out), "err-line") {
			t.Errorf("output = %q, want out-line and err-line", out)
		}
		code, r, err = ctr.Exec(ctx, []string{"cat", "/www/index.html"}, tcexec.Multiplexed())
		if err != nil {
			t.Fatalf("Exec cat: %v", err)
		}
		out, _ = io.ReadAll(r)
		if code != 0 || strings.TrimSpace(string(out)) != "hello-from-wharf" {
			t.Errorf("cat index.html: exit %d, output %q", code, out)
		}
	})

	t.Run("CopyToContainer", func(t *testing.T) {
		content := []byte("copied by testcontainers\nline two\n")
		// Testcontainers sends a gzip-compressed tar to PUT
		// /containers/{id}/archive (so do CopyFileToContainer,
		// CopyDirToContainer and ContainerRequest.Files).
		if err := ctr.CopyToContainer(ctx, content, "/tmp/tc/copied.txt", 0o640); err != nil {
			t.Fatalf("CopyToContainer: %v", err)
		}
		code, r, err := ctr.Exec(ctx, []string{"cat", "/tmp/tc/copied.txt"}, tcexec.Multiplexed())
		if err != nil {
			t.Fatalf("Exec cat: %v", err)
		}
		out, _ := io.ReadAll(r)
		if code != 0 || !bytes.Equal(out, content) {
			t.Errorf("cat copied.txt: exit %d, output %q, want %q", code, out, content)
		}
		code, r, err = ctr.Exec(ctx, []string{"stat", "-c", "%a", "/tmp/tc/copied.txt"}, tcexec.Multiplexed())
		if err != nil {
			t.Fatalf("Exec stat: %v", err)
		}
		out, _ = io.ReadAll(r)
		if code != 0 || strings.TrimSpace(string(out)) != "640" {
			t.Errorf("stat mode: exit %d, output %q, want 640", code, out)
		}
		// And back out again.
		rc, err := ctr.CopyFileFromContainer(ctx, "/tmp/tc/copied.txt")
		if err != nil {
			t.Fatalf("CopyFileFromContainer: %v", err)
		}
		back, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(back, content) {
			t.Errorf("CopyFileFromContainer = %q, want %q", back, content)
		}
	})

	t.Run("Logs", func(t *testing.T) {
		rc, err := ctr.Logs(ctx)
		if err != nil {
			t.Fatalf("Logs: %v", err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("read logs: %v", err)
		}
		if strings.TrimSpace(string(b)) != "ready" {
			t.Errorf("Logs = %q, want %q", b, "ready\n")
		}
	})

	t.Run("SessionLabel", func(t *testing.T) {
		// What the reaper does: find the session's containers by label.
		sid := tc.SessionID()
		if sid == "" {
			t.Fatal("empty session ID")
		}
		ids := api.containerIDsByLabel(t, sessionLabel+"="+sid)
		if !contains(ids, id) {
			t.Errorf("containers with label %s=%s: %v, want %s among them", sessionLabel, sid, ids, id)
		}
		if ids := api.containerIDsByLabel(t, sessionLabel+"=not-this-session"); len(ids) != 0 {
			t.Errorf("containers with another session label: %v, want none", ids)
		}
		if ids := api.containerIDsByLabel(t, "wharf.test=testcontainers"); !contains(ids, id) {
			t.Errorf("containers with label wharf.test=testcontainers: %v, want %s", ids, id)
		}
	})

	t.Run("CustomSessionLabel", func(t *testing.T) {
		// A container created with its own session label is found by that
		// label, as the reaper would find it, and Terminate leaves nothing
		// with the label behind.
		sid := fmt.Sprintf("wharf-session-%d", time.Now().UnixNano())
		c2, err := tc.GenericContainer(ctx, tc.GenericContainerRequest{
			ContainerRequest: tc.ContainerRequest{
				Image: busybox,
				Cmd:   []string{"sleep", "300"},
				// Testcontainers overwrites Labels[sessionId] with the
				// process's session ID, so set it on the final config.
				ConfigModifier: func(c *container.Config) {
					c.Labels[sessionLabel] = sid
				},
			},
			Started: true,
		})
		if err != nil {
			if c2 != nil {
				_ = c2.Terminate(context.Background())
			}
			t.Fatalf("GenericContainer: %v", err)
		}
		ids := api.containerIDsByLabel(t, sessionLabel+"="+sid)
		if len(ids) != 1 || ids[0] != c2.GetContainerID() {
			t.Errorf("containers with %s=%s: %v, want [%s]", sessionLabel, sid, ids, c2.GetContainerID())
		}
		if err := c2.Terminate(ctx, tc.StopTimeout(time.Second)); err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		if ids := api.containerIDsByLabel(t, sessionLabel+"="+sid); len(ids) != 0 {
			t.Errorf("containers with %s=%s after Terminate: %v, want none", sessionLabel, sid, ids)
		}
	})

	t.Run("Terminate", func(t *testing.T) {
		if !contains(api.allContainerIDs(t), id) {
			t.Fatalf("container %s not listed before Terminate", id)
		}
		if err := ctr.Terminate(ctx, tc.StopTimeout(time.Second)); err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		terminated = true
		if ids := api.allContainerIDs(t); contains(ids, id) {
			t.Errorf("container %s still listed by GET /containers/json?all=1 after Terminate: %v", id, ids)
		}
		out := d.MustWharf(t, "ps", "-a", "--no-trunc", "-q")
		if strings.Contains(out, id) {
			t.Errorf("container %s still listed by wharf ps -a after Terminate:\n%s", id, out)
		}
		if code := api.status(t, "/containers/"+id+"/json"); code != http.StatusNotFound {
			t.Errorf("GET /containers/%s/json after Terminate: status %d, want 404", id, code)
		}
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	var lastErr error
	for i := 0; i < 20; i++ {
		resp, err := c.Get(u)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(b)
			}
			lastErr = fmt.Errorf("status %d, body %q, read error %v", resp.StatusCode, b, rerr)
		} else {
			lastErr = err
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", u, lastErr)
	return ""
}

// apiClient is a minimal Docker Engine API client over the daemon's socket.
type apiClient struct{ c *http.Client }

func newAPIClient(socket string) *apiClient {
	return &apiClient{c: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", socket)
		}},
	}}
}

func (a *apiClient) request(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://docker"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (a *apiClient) do(t *testing.T, method, path string, body any) int {
	t.Helper()
	code, _ := a.request(t, method, path, body)
	return code
}

func (a *apiClient) status(t *testing.T, path string) int {
	t.Helper()
	return a.do(t, http.MethodGet, path, nil)
}

func (a *apiClient) listIDs(t *testing.T, path string) []string {
	t.Helper()
	code, b := a.request(t, http.MethodGet, path, nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, code, b)
	}
	var list []struct{ Id string }
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	ids := make([]string, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.Id)
	}
	return ids
}

func (a *apiClient) allContainerIDs(t *testing.T) []string {
	t.Helper()
	return a.listIDs(t, "/containers/json?all=1")
}

func (a *apiClient) containerIDsByLabel(t *testing.T, label string) []string {
	t.Helper()
	f, _ := json.Marshal(map[string][]string{"label": {label}})
	return a.listIDs(t, "/containers/json?all=1&filters="+url.QueryEscape(string(f)))
}

// putArchive extracts an uncompressed tar into a container at dir.
func (a *apiClient) putArchive(t *testing.T, id, dir string, data []byte) {
	t.Helper()
	p := "/containers/" + id + "/archive?path=" + url.QueryEscape(dir)
	req, err := http.NewRequest(http.MethodPut, "http://docker"+p, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := a.c.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", p, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: status %d: %s", p, resp.StatusCode, b)
	}
}

// tarOne returns an uncompressed tar holding one regular file, laid out as
// Testcontainers lays out its (gzip-compressed) archives: no parent entries.
func tarOne(t *testing.T, name string, content []byte, mode int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
