package integration

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// apiDo sends one request over the daemon's socket and returns the status
// and the body.
func apiDo(t *testing.T, socket, method, path, body string) (int, []byte) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}, Timeout: 60 * time.Second}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://docker"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestDockerImageAndConfigFidelity checks, through the docker CLI, the
// answers of dockerd 20.10 (recorded against it with the same commands)
// for imports, prunes, a container's environment and its diff.
func TestDockerImageAndConfigFidelity(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(rootfs, testutil.BusyboxRootfsTar(t), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("ImportMessage", func(t *testing.T) {
		dk.must(t, "import", "-m", "my message", rootfs, "local/msg:1")
		dk.must(t, "import", rootfs, "local/nomsg:1")
		for ref, want := range map[string]string{"local/msg:1": "my message", "local/nomsg:1": "Imported from -"} {
			if got := strings.TrimSpace(dk.must(t, "image", "inspect", "-f", "{{.Comment}}", ref)); got != want {
				t.Errorf("Comment of %s: %q, want %q", ref, got, want)
			}
			if got := strings.TrimSpace(dk.must(t, "history", "--format", "{{.Comment}}", ref)); got != want {
				t.Errorf("history comment of %s: %q, want %q", ref, got, want)
			}
		}
	})

	t.Run("ConfigEnv", func(t *testing.T) {
		dk.must(t, "import", "-c", "ENV A=1", "-c", "ENV B=2", rootfs, "local/env:1")
		// Created through the API: the docker 28 CLI does not keep the
		// order of repeated -e flags in its request (seen here: FOO,A and
		// A,FOO from the same command line), and the order is the point.
		for _, tc := range []struct {
			env  string
			want string
		}{
			{`null`, `["A=1","B=2"]`},
			{`["FOO=bar","A=3"]`, `["FOO=bar","A=3","B=2"]`},
			{`["B"]`, `["B","A=1"]`},
		} {
			code, body := apiDo(t, d.Socket, "POST", "/v1.44/containers/create", `{"Image":"local/env:1","Cmd":["true"],"Env":`+tc.env+`}`)
			if code != http.StatusCreated {
				t.Fatalf("create with Env %s: %d %s", tc.env, code, body)
			}
			var created struct{ Id string }
			if err := json.Unmarshal(body, &created); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{json .Config.Env}}", created.Id)); got != tc.want {
				t.Errorf("Config.Env with Env %s: %s, want %s", tc.env, got, tc.want)
			}
			dk.must(t, "rm", created.Id)
		}
		// The process gets the daemon's PATH (the image sets none), the
		// image's variables and the user's over them.
		out := dk.must(t, "run", "--rm", "-e", "A=3", "local/env:1", "env")
		for _, want := range []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", "A=3\n", "B=2\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("env of the container lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("Diff", func(t *testing.T) {
		dk.must(t, "run", "--name", "quiet", busybox, "true")
		if out := dk.must(t, "diff", "quiet"); out != "" {
			t.Errorf("diff of a container that changed nothing:\n%s", out)
		}
		dk.must(t, "run", "--name", "busy", busybox, "sh", "-c", "mkdir /etc/foo && touch /etc/foo/bar && rm /bin/ls && echo h >> /etc/hosts")
		want := "C /bin\nD /bin/ls\nC /etc\nA /etc/foo\nA /etc/foo/bar\n"
		if out := dk.must(t, "diff", "busy"); out != want {
			t.Errorf("diff:\n%s\nwant:\n%s", out, want)
		}
		dk.must(t, "rm", "quiet", "busy")
	})

	t.Run("ContainerPruneReclaims", func(t *testing.T) {
		dk.must(t, "run", "--name", "writer", busybox, "dd", "if=/dev/zero", "of=/big", "bs=1024", "count=100")
		code, body := apiDo(t, d.Socket, "POST", "/v1.44/containers/prune", "")
		var rep struct {
			ContainersDeleted []string
			SpaceReclaimed    uint64
		}
		if err := json.Unmarshal(body, &rep); code != 200 || err != nil || len(rep.ContainersDeleted) != 1 || rep.SpaceReclaimed != 100*1024 {
			t.Errorf("container prune: %d %s (want the writer's 102400 bytes reclaimed, as dockerd reports)", code, body)
		}
	})

	t.Run("DaemonImageHidden", func(t *testing.T) {
		const base = "wharf/lambda-base:1"
		if out := dk.must(t, "image", "inspect", "-f", "{{.Id}}", base); !strings.HasPrefix(out, "sha256:") {
			t.Fatalf("the daemon's function base image is not there: %q", out)
		}
		for _, out := range []string{dk.must(t, "images", "--format", "{{.Repository}}:{{.Tag}}"), dk.must(t, "images", "-a", "--format", "{{.Repository}}:{{.Tag}}"), d.MustWharf(t, "images")} {
			if strings.Contains(out, "lambda-base") || !strings.Contains(out, "local/busybox") {
				t.Errorf("image list:\n%s", out)
			}
		}
		if _, errOut, code := dk.run(t, nil, "rmi", base); code == 0 || !strings.Contains(errOut, "used by the daemon itself") {
			t.Errorf("rmi of the daemon's image: exit %d: %s", code, errOut)
		}
		// prune -a removes every unused image of the user's, and keeps
		// the daemon's.
		out := dk.must(t, "image", "prune", "-af")
		if !strings.Contains(out, "local/busybox:1") || strings.Contains(out, "lambda-base") {
			t.Errorf("image prune -a:\n%s", out)
		}
		dk.must(t, "image", "inspect", base)
	})
}
