package integration

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestRegistryImageFunction: an image function deployed from the
// daemon's own registry (`wharf fn deploy --image 127.0.0.1:PORT/...`), the
// daemon pulling it with the credentials of the docker login on its host,
// as the README's scenario has it.
func TestRegistryImageFunction(t *testing.T) {
	cfg := t.TempDir()
	// The daemon's own pulls read the Docker config of its user, which the
	// docker CLI's login writes.
	t.Setenv("DOCKER_CONFIG", cfg)
	httpAddr := freeAddr(t)
	d, addr := registryDaemon(t, "--http", httpAddr)
	dk := newDockerCLI(t, d)
	dk.config = cfg
	var k struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(d.MustWharf(t, "keys", "create", "--json", "--admin")), &k); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WHARF_FN_ENDPOINT", httpAddr)
	t.Setenv("AWS_ACCESS_KEY_ID", k.AccessKeyId)
	t.Setenv("AWS_SECRET_ACCESS_KEY", k.SecretAccessKey)
	if _, errOut, code := dk.run(t, []byte(loginPassword(t, d, k.AccessKeyId)), "login", "-u", "AWS", "--password-stdin", addr); code != 0 {
		t.Fatalf("docker login: %s", errOut)
	}
	bootstrap, err := os.ReadFile(testutil.HelloFunction(t))
	if err != nil {
		t.Fatal(err)
	}
	importImage(t, d, rootfsTar(t, nil, tarFile{"var/task/bootstrap", 0o755, bootstrap}), "local/fnimg:1",
		`ENTRYPOINT ["/var/task/bootstrap"]`, "WORKDIR /var/task", "ENV HELLOFN_GREETING=from-registry")
	ref := addr + "/team/api:1"
	dk.must(t, "tag", "local/fnimg:1", ref)
	dk.must(t, "push", ref)
	// Nothing of it left in the image store: the function's image comes
	// from the registry.
	dk.must(t, "rmi", ref, "local/fnimg:1")

	d.MustWharf(t, "fn", "deploy", "api", "--image", ref, "--memory", "128", "--timeout", "5")
	out := d.MustWharf(t, "fn", "invoke", "api", `{"key1":"v1"}`)
	var r imgReply
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Echo != "v1" || r.Greeting != "from-registry" {
		t.Fatalf("invoke: %q (%v)", out, err)
	}
	if got := strings.TrimSpace(d.MustWharf(t, "registry", "images", "team/api")); strings.Contains(got, "never") {
		t.Fatalf("the function's pull is not recorded:\n%s", got)
	}
}
