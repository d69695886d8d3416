package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// sandboxPidsLimit is functions/sandbox.PidsLimit.
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
	// The spare started for the next cold start has the limit too (a
	// loaded host may take a while to start it).
	deadline := time.Now().Add(60 * time.Second)
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

// asNobody runs a command as uid/gid 65534 with no groups, and reports
// its combined output and whether it succeeded.
func asNobody(t *testing.T, name string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// A claimed spare's staging directories (its function's code and /tmp)
// are out of reach of the host's other users, and the wharf binary that
// started the spare is gone from it before the function runs.
func TestFunctionSpareHostSide(t *testing.T) {
	e := startFnEnv(t)
	// The test daemon's directories are private; open the way down to
	// the exec-root, so that only the daemon's own modes stand between
	// another user and the spares.
	for _, d := range []string{filepath.Dir(e.d.ExecRoot), e.d.ExecRoot} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	e.deploy(t, "first", 128, 3, nil)
	e.invoke(t, "first", `{}`)
	deadline := time.Now().Add(20 * time.Second)
	for len(spareIDs(t, e)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no spare sandbox started:\n%s", e.d.MustWharf(t, "ps", "-a"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.deploy(t, "claimer", 128, 3, nil)
	out, _ := e.invoke(t, "claimer", `{"stat": ["/var/runtime/wharf-spare", "/var/task/bootstrap", "/tmp"]}`)
	var r struct{ Stat map[string]string }
	if err := json.Unmarshal(out.Payload, &r); err != nil || out.FunctionError != nil {
		t.Fatalf("claimer: %s", out.Payload)
	}
	if r.Stat["/var/task/bootstrap"] != "" || r.Stat["/tmp"] != "" {
		t.Fatalf("the claimed spare lacks the function's code or /tmp: %v", r.Stat)
	}
	if r.Stat["/var/runtime/wharf-spare"] == "" {
		t.Error("the wharf binary is visible inside the function's sandbox at /var/runtime/wharf-spare")
	}
	spareDir := filepath.Join(e.d.ExecRoot, "fnspare")
	if out, ok := asNobody(t, "stat", spareDir); !ok {
		t.Fatalf("the way to the spare directory is not open to the test's user: %s", out)
	}
	stages, _ := filepath.Glob(filepath.Join(spareDir, "fn-spare-*"))
	if len(stages) == 0 {
		t.Fatalf("no staging directories under %s", spareDir)
	}
	claimed := false
	for _, st := range stages {
		task := filepath.Join(st, "task")
		if _, err := os.Stat(filepath.Join(task, "bootstrap")); err == nil {
			claimed = true
		}
		for _, p := range []string{spareDir, st, task, filepath.Join(st, "tmp")} {
			if out, ok := asNobody(t, "ls", "-a", p); ok {
				t.Errorf("another user lists %s:\n%s", p, out)
			}
		}
		if out, ok := asNobody(t, "head", "-c", "4", filepath.Join(task, "bootstrap")); ok {
			t.Errorf("another user reads the function's code in %s: %q", task, out)
		}
		if out, ok := asNobody(t, "touch", filepath.Join(st, "tmp", "planted")); ok {
			t.Errorf("another user plants a file in the function's /tmp through %s: %s", st, out)
		}
	}
	if !claimed {
		t.Fatalf("no claimed spare among %v", stages)
	}
	// The claimed sandbox still works.
	if out, r := e.invoke(t, "claimer", `{"key1":"again"}`); out.FunctionError != nil || r.Echo != "again" {
		t.Fatalf("warm invoke: %s", out.Payload)
	}
}

// A daemon whose function records are damaged (what a crash or a disk can
// leave) starts anyway: each damaged record is set aside and the rest are
// served.
func TestFunctionsDamagedRecordsOnStart(t *testing.T) {
	e := startFnEnv(t)
	e.deploy(t, "good", 128, 3, nil)
	e.deploy(t, "bad", 128, 3, nil)
	e.d.MustWharf(t, "fn", "route", "add", "GET", "/good", "good")
	e.d.Stop()
	fnRoot := filepath.Join(e.d.Root, "functions")
	for name, content := range map[string]string{"triggers.json": "", "keys.json": `[{"AccessKeyId": "AKIA`, "fn/bad.json": "\x00\x00\x00"} {
		if err := os.WriteFile(filepath.Join(fnRoot, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.d.Restart(t)
	for _, name := range []string{"triggers.json", "keys.json", "fn/bad.json"} {
		if aside, _ := filepath.Glob(filepath.Join(fnRoot, name+".corrupt-*")); len(aside) != 1 {
			t.Errorf("%s was not set aside: %v", name, aside)
		}
	}
	if out := e.d.MustWharf(t, "keys", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("keys after a damaged key file: %q", out)
	}
	e.client = e.newClient(t)
	if out, r := e.invoke(t, "good", `{"key1":"after"}`); out.FunctionError != nil || r.Echo != "after" {
		t.Fatalf("the intact function after the restart: %s", out.Payload)
	}
	if _, err := e.client.GetFunction(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String("bad")}); !strings.Contains(fmt.Sprint(err), "ResourceNotFoundException") {
		t.Fatalf("the damaged function: %v", err)
	}
}
