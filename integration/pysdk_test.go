package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// debianPython is the interpreter the suite runs on: Debian's, whose
// python3-docker (5.0.x on Debian 12) scripts/install-deps.sh installs.
const debianPython = "/usr/bin/python3"

// pysdkDir holds the Docker SDK for Python suite (unittest, standard
// library only besides the SDK).
const pysdkDir = "pysdk"

// TestPythonSDK runs the Docker SDK for Python suite (integration/pysdk)
// against a wharf daemon and, when dockerd is installed, against a private
// dockerd with the same image: every assertion is one dockerd makes true.
// On wharf, the tests listed in pysdk/known_failures.txt must fail and
// every other test must pass. PYSDK_RUN (space-separated test id
// prefixes, e.g. "test_images test_exec_attach.ExecTests") runs a part.
func TestPythonSDK(t *testing.T) {
	if err := exec.Command(debianPython, "-c", "import docker").Run(); err != nil {
		t.Skipf("skipping: %s cannot import docker (make test-deps installs python3-docker): %v", debianPython, err)
	}
	testutil.RequiresRoot(t)
	t.Parallel()
	only := strings.Fields(os.Getenv("PYSDK_RUN"))
	known := readKnownFailures(t, filepath.Join(pysdkDir, "known_failures.txt"))

	t.Run("wharf", func(t *testing.T) {
		t.Parallel()
		d := newDaemon(t)
		outcomes := runPySDK(t, d.Host(), only)
		judgeOutcomes(t, "wharf", outcomes, known, filepath.Join(pysdkDir, "known_failures.txt"), len(only) == 0)
	})
	t.Run("dockerd", func(t *testing.T) {
		t.Parallel()
		dd := testutil.StartDockerd(t)
		dd.ImportTar(t, testutil.BusyboxRootfsTar(t), busybox)
		outcomes := runPySDK(t, dd.Host(), only)
		judgeOutcomes(t, "dockerd", outcomes, nil, "", len(only) == 0)
	})
}

// runPySDK runs the suite against the daemon at host and returns each
// test's outcome. The suite's report goes to the test log when a test
// failed, in full with -v.
func runPySDK(t *testing.T, host string, only []string) map[string]outcome {
	t.Helper()
	tmp := t.TempDir()
	results := filepath.Join(tmp, "results.json")
	// Enough subnets that no network of the suite reuses one before the
	// test that had it removed its network.
	var subnets []string
	for i := 0; i < 40; i++ {
		subnets = append(subnets, testutil.FreeSubnet(t))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, append([]string{"-u", "run.py", results}, only...)...)
	cmd.Dir = pysdkDir
	cmd.Env = append(os.Environ(),
		"DOCKER_HOST="+host,
		// The SDK reads detach keys and credentials from the docker
		// config: an empty one of the test's own.
		"DOCKER_CONFIG="+tmp,
		"PYSDK_IMAGE="+busybox,
		"PYSDK_PREFIX="+fmt.Sprintf("py%x", time.Now().UnixNano()%0xfffff),
		"PYSDK_SUBNETS="+strings.Join(subnets, " "),
		"PYTHONDONTWRITEBYTECODE=1")
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("python SDK suite against %s: %v", host, time.Since(start).Round(time.Second))
	if ctx.Err() != nil || err != nil {
		t.Fatalf("python3 run.py: %v\n%s", err, out.String())
	}
	raw, err := os.ReadFile(results)
	if err != nil {
		t.Fatalf("results: %v\n%s", err, out.String())
	}
	var outcomes map[string]outcome
	if err := json.Unmarshal(raw, &outcomes); err != nil {
		t.Fatalf("results: %v", err)
	}
	if len(outcomes) == 0 {
		t.Fatalf("the suite ran no test\n%s", out.String())
	}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("python SDK suite report:\n%s", out.String())
		}
	})
	return outcomes
}
