package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// sandboxPidsLimit is functions.SandboxPidsLimit.
const sandboxPidsLimit = 1024

// cgroupFile reads a file of container id's cgroup in the hierarchy of
// controller (cgroup v1), or in the unified one.
func cgroupFile(id, controller, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, "wharf", id, name))
	if err != nil {
		b, err = os.ReadFile(filepath.Join("/sys/fs/cgroup", "wharf", id, name))
	}
	return strings.TrimSpace(string(b)), err
}

// A function that forks until it cannot gets EAGAIN at the sandbox's pids
// limit, long before the host's PIDs run out; every sandbox, spares
// included, has the limit.
func TestFunctionPidsLimit(t *testing.T) {
	e := startFnEnv(t)
	e.deploy(t, "forker", 2048, 60, nil)
	out, _ := e.invoke(t, "forker", `{"forkUpTo": 4096}`)
	var r struct {
		Forked  int
		ForkErr string
	}
	if err := json.Unmarshal(out.Payload, &r); err != nil || out.FunctionError != nil {
		t.Fatalf("fork bomb: %s (%v, error %v)", out.Payload, err, aws.ToString(out.FunctionError))
	}
	if r.ForkErr != "resource temporarily unavailable" || r.Forked >= sandboxPidsLimit || r.Forked < sandboxPidsLimit-100 {
		t.Fatalf("the fork bomb made %d processes and stopped on %q; want EAGAIN just under %d", r.Forked, r.ForkErr, sandboxPidsLimit)
	}
	t.Logf("the fork bomb made %d processes, then: %s", r.Forked, r.ForkErr)
	ids := strings.Fields(e.d.MustWharf(t, "ps", "-q", "--no-trunc", "--filter", "label=wharf.function=forker"))
	if len(ids) != 1 {
		t.Fatalf("sandboxes of forker: %v", ids)
	}
	if max, err := cgroupFile(ids[0], "pids", "pids.max"); err != nil || max != strconv.Itoa(sandboxPidsLimit) {
		t.Fatalf("pids.max of the sandbox: %q, %v", max, err)
	}
	// Every child was reaped: the sandbox holds its runtime's threads.
	if cur, err := cgroupFile(ids[0], "pids", "pids.current"); err != nil || len(cur) > 2 {
		t.Fatalf("pids.current of the sandbox after the fork bomb: %q, %v", cur, err)
	}
	// The spare started for the next cold start has the limit too.
	deadline := time.Now().Add(20 * time.Second)
	var spares []string
	for len(spares) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no spare sandbox started:\n%s", e.d.MustWharf(t, "ps", "-a"))
		}
		time.Sleep(100 * time.Millisecond)
		spares = spareIDs(t, e)
	}
	if max, err := cgroupFile(spares[0], "pids", "pids.max"); err != nil || max != strconv.Itoa(sandboxPidsLimit) {
		t.Fatalf("pids.max of the spare: %q, %v", max, err)
	}
}
