package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// registryDaemon starts a daemon serving a registry and returns it with
// the registry's address.
func registryDaemon(t *testing.T, extra ...string) (*testutil.Daemon, string) {
	t.Helper()
	addr := freeAddr(t)
	d := newDaemon(t, testutil.WithDaemonArgs(append([]string{"--registry", addr}, extra...)...))
	return d, addr
}

// createKey creates an access key with the given policies and returns
// its id.
func createKey(t *testing.T, d *testutil.Daemon, args ...string) string {
	t.Helper()
	out := d.MustWharf(t, append([]string{"keys", "create", "--json"}, args...)...)
	var k struct{ AccessKeyId string }
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.AccessKeyId == "" {
		t.Fatalf("keys create: %q: %v", out, err)
	}
	return k.AccessKeyId
}

// loginPassword mints a registry password for a key.
func loginPassword(t *testing.T, d *testutil.Daemon, key string) string {
	t.Helper()
	pw := strings.TrimSpace(d.MustWharf(t, "registry", "login-password", "--key", key))
	if len(pw) < 100 {
		t.Fatalf("login-password printed %q", pw)
	}
	return pw
}

// The user's path: a key, a login token, docker login -u AWS, then docker
// push and pull through wharf's Docker API to wharf's registry, and a
// container from the pulled image.
func TestRegistryDockerLoginPushPull(t *testing.T) {
	d, addr := registryDaemon(t)
	dk := newDockerCLI(t, d)
	key := createKey(t, d, "--policy", "ecr:pull,push:team/*")
	pw := loginPassword(t, d, key)
	out, errOut, code := dk.run(t, []byte(pw), "login", "-u", "AWS", "--password-stdin", addr)
	if code != 0 || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login: %d %s %s", code, out, errOut)
	}
	ref := addr + "/team/app:1"
	dk.must(t, "tag", busybox, ref)
	dk.must(t, "push", ref)
	dk.must(t, "rmi", ref, busybox)
	dk.must(t, "pull", ref)
	if got := strings.TrimSpace(dk.must(t, "run", "--rm", ref, "echo", "from the registry")); got != "from the registry" {
		t.Fatalf("run: %q", got)
	}

	// A pull-only key cannot push: 403 DENIED, which docker prints.
	ro := createKey(t, d, "--policy", "ecr:pull:team/*")
	if out, errOut, code := dk.run(t, []byte(loginPassword(t, d, ro)), "login", "-u", "AWS", "--password-stdin", addr); code != 0 {
		t.Fatalf("docker login (pull-only): %d %s %s", code, out, errOut)
	}
	dk.must(t, "pull", ref)
	dk.must(t, "tag", ref, addr+"/team/app:2")
	out, errOut, code = dk.run(t, nil, "push", addr+"/team/app:2")
	if code == 0 || !strings.Contains(out+errOut, "DENIED: access key "+ro+" is not allowed to push team/app") {
		t.Fatalf("push with a pull-only key: exit %d\n%s\n%s", code, out, errOut)
	}

	// No credentials: 401 and the bearer challenge.
	resp, err := http.Get("http://" + addr + "/v2/team/app/manifests/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := `Bearer realm="http://` + addr + `/token",service="wharf",scope="repository:team/app:pull"`
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("anonymous GET: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
}
