package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestFnCLIAndMetrics drives `wharf fn` through the daemon's Lambda API
// (the CLI's own client and signer against the real verifier), then reads
// the Prometheus exposition the daemon serves on /metrics.
func TestFnCLIAndMetrics(t *testing.T) {
	testutil.RequiresRoot(t)
	addr := freeAddr(t)
	d := testutil.StartDaemon(t, testutil.WithDaemonArgs("--http", addr, "--fn-idle-timeout", "3s"))
	t.Setenv("WHARF_FN_ENDPOINT", addr)
	t.Setenv("WHARF_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	d.MustWharf(t, "keys", "create", "--save")
	zip := filepath.Join(t.TempDir(), "hello.zip")
	if err := os.WriteFile(zip, testutil.HelloZip(t), 0o644); err != nil {
		t.Fatal(err)
	}

	out := d.MustWharf(t, "fn", "deploy", "hello", "--zip", zip, "--memory", "128", "--publish")
	if !strings.Contains(out, "hello: Active, version 1") {
		t.Fatalf("deploy: %q", out)
	}
	out, errOut, code := d.Wharf(t, "fn", "invoke", "hello", `{"key1":"v1"}`)
	if code != 0 || !strings.Contains(out, `"echo":"v1"`) || !strings.Contains(errOut, "REPORT RequestId:") {
		t.Fatalf("invoke: exit %d\n%s\n%s", code, out, errOut)
	}
	d.MustWharf(t, "fn", "alias", "set", "hello", "live", "1")
	if _, errOut, code = d.Wharf(t, "fn", "invoke", "-q", "live", "hello", `{}`); code != 0 || !strings.Contains(errOut, "Version: 1") {
		t.Fatalf("invoke alias: exit %d %s", code, errOut)
	}
	if out = d.MustWharf(t, "fn", "ls"); !strings.Contains(out, "hello") || !strings.Contains(out, "128 MB") {
		t.Fatalf("ls: %q", out)
	}
	_, errOut, code = d.Wharf(t, "fn", "get", "nosuch")
	if code == 0 || !strings.Contains(errOut, "ResourceNotFoundException: ") {
		t.Fatalf("get of a missing function: exit %d %q", code, errOut)
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{
		`wharf_function_invocations_total{function="hello"} 2`,
		`wharf_function_cold_starts_total{function="hello"} `,
		`wharf_function_duration_seconds_bucket{function="hello",le="+Inf"} 2`,
		"# TYPE go_goroutines gauge", "go_memstats_alloc_bytes ", "process_resident_memory_bytes ",
		"process_cpu_seconds_total ", "process_open_fds ", "process_start_time_seconds ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, text)
		}
	}
	d.MustWharf(t, "fn", "rm", "hello")
}
