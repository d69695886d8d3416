// Package conformance runs the OCI distribution-spec conformance suite
// (github.com/opencontainers/distribution-spec/conformance) against the
// registry of a wharf test daemon. It lives in its own Go module so that
// the main module does not carry the suite's dependencies; the suite's
// version is pinned by this module's go.mod (a tool dependency) and built
// from the module cache. Run it with
//
//	cd integration/conformance && go test -count=1 ./...
//
// Like the rest of integration/, it needs root (testutil.StartDaemon skips
// otherwise).
package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// suiteBin is the conformance suite's binary, built once by TestMain.
var suiteBin string

const suitePkg = "github.com/opencontainers/distribution-spec/conformance"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oci-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	suiteBin = filepath.Join(dir, "conformance")
	build := exec.Command("go", "build", "-o", suiteBin, suitePkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the conformance suite:", err)
		os.Exit(2)
	}
	// testutil.BuildWharf builds the wharf module of the working
	// directory: the one two levels up.
	if err := os.Chdir(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	testutil.RemoveBuiltWharf()
	testutil.RemoveEmptyCgroupParents()
	os.RemoveAll(dir)
	os.Exit(code)
}

// optionalSkips are the suite's skips of what the distribution spec
// leaves optional and Distribution does not do; the suite falls back to
// the required way and checks that. Any other skip fails the test.
var optionalSkips = map[string]bool{
	// A monolithic upload in the POST itself (spec: MAY); the client
	// falls back to POST then PUT.
	"registry does not support content in the POST, fallback to PUT": true,
	// A mount without a source repository (spec: MAY); the client falls
	// back to an upload.
	"registry returned status 202, fell back to blob POST+PUT": true,
}

// TestOCIConformance runs every test of the suite but the sha512 data
// (Distribution 3.1 stores blobs by sha256 only) and the features the
// suite itself leaves disabled by default.
func TestOCIConformance(t *testing.T) {
	testutil.RequiresRoot(t)
	addr := freeAddr(t)
	d := testutil.StartDaemon(t, testutil.WithDaemonArgs("--registry", addr))
	var key struct{ AccessKeyId string }
	if err := json.Unmarshal([]byte(d.MustWharf(t, "keys", "create", "--json", "--policy", "ecr:*:conformance/*")), &key); err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(d.MustWharf(t, "registry", "login-password", "--key", key.AccessKeyId))

	results := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suiteBin)
	cmd.Dir = results
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+addr, "OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
		"OCI_USERNAME=AWS", "OCI_PASSWORD="+pw,
		"OCI_RESULTS_DIR="+results, "OCI_VERSION=1.1",
		"OCI_DATA_SHA512=false",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	report := out.String()
	if err != nil {
		t.Fatalf("conformance suite: %v\n%s", err, report)
	}
	counts := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(Pass|FAIL|Error)\.+:\s+(\d+)$`).FindAllStringSubmatch(report, -1) {
		var n int
		fmt.Sscan(m[2], &n)
		counts[m[1]] = n
	}
	if counts["Pass"] < 500 || counts["FAIL"] != 0 || counts["Error"] != 0 {
		t.Fatalf("conformance counts %v\n%s", counts, report)
	}
	// Every skip must be an optional feature's fallback: the report
	// prints a skipped test's reason on the line after it.
	sc := bufio.NewScanner(strings.NewReader(report))
	prev := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if reason, ok := strings.CutPrefix(line, "- "); ok && strings.HasSuffix(prev, ": Skip") && !optionalSkips[reason] {
			t.Errorf("%s: skipped for a reason that is not an optional feature: %q", prev, reason)
		}
		prev = line
	}
	t.Logf("OCI conformance: %d passed, %d failed, %d errors", counts["Pass"], counts["FAIL"], counts["Error"])
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
