package integration

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// spareIDs lists the daemon's sandbox containers started as spares
// (claimed or not).
func spareIDs(t *testing.T, e *fnEnv) []string {
	return strings.Fields(e.d.MustWharf(t, "ps", "-q", "--no-trunc", "--filter", "label=wharf.function.spare"))
}

// A cold start of a zip function takes the spare sandbox the daemon keeps
// started while functions are in use: the function's bootstrap replaces
// the waiting process there, with the function's code read-only at
// /var/task, its /tmp and its memory limit; a new spare is started after,
// and all go once functions are idle (scale to zero).
func TestFunctionSpareSandbox(t *testing.T) {
	e := startFnEnv(t)
	// No function has run yet: no spare either.
	time.Sleep(300 * time.Millisecond)
	if ids := spareIDs(t, e); len(ids) != 0 {
		t.Fatalf("spares before any function ran: %v", ids)
	}
	e.deploy(t, "first", 128, 3, nil)
	if out, r := e.invoke(t, "first", `{"key1":"x"}`); out.FunctionError != nil || r.Echo != "x" {
		t.Fatalf("first invoke: %s", out.Payload)
	}
	var spare string
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ids := spareIDs(t, e); len(ids) == 1 {
			spare = ids[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no spare sandbox started:\n%s", e.d.MustWharf(t, "ps", "-a"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.deploy(t, "sparefn", 256, 3, map[string]string{"GREETING": "hi"})
	out, r := e.invoke(t, "sparefn", `{"key1":"cold"}`)
	if out.FunctionError != nil || r.Echo != "cold" || r.Function != "sparefn" || r.Memory != "256" || r.Pid != 1 {
		t.Fatalf("cold invoke in the spare: %s (error %v)", out.Payload, aws.ToString(out.FunctionError))
	}
	if tail := logTail(t, out); !strings.Contains(tail, "Init Duration") {
		t.Fatalf("a cold start in a spare reports no Init Duration:\n%s", tail)
	}
	// The spare is what runs the function now.
	pid := strings.TrimSpace(e.d.MustWharf(t, "inspect", "--format", "{{.State.Pid}}", spare))
	cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil || !strings.HasPrefix(string(cmdline), "/var/task/bootstrap") {
		t.Fatalf("the spare runs %q (%v), not the function's bootstrap", cmdline, err)
	}
	mounts, err := os.ReadFile("/proc/" + pid + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var taskRO, tmpfs bool
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if f[4] == "/var/task" && strings.Contains(line, "/functions/code/") {
			taskRO = strings.HasPrefix(f[5], "ro")
		}
		if f[4] == "/tmp" && strings.Contains(line, " - tmpfs ") {
			tmpfs = true
		}
	}
	if !taskRO || !tmpfs {
		t.Fatalf("in the claimed spare: code read-only at /var/task %v, tmpfs /tmp %v\n%s", taskRO, tmpfs, mounts)
	}
	limit, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory/wharf", spare, "memory.limit_in_bytes"))
	if err != nil {
		limit, err = os.ReadFile(filepath.Join("/sys/fs/cgroup/wharf", spare, "memory.max"))
	}
	if err != nil || strings.TrimSpace(string(limit)) != strconv.Itoa(256<<20) {
		t.Fatalf("memory limit of the claimed spare: %q, %v", limit, err)
	}
	// Warm: the same sandbox again.
	if out, r2 := e.invoke(t, "sparefn", `{"key1":"warm"}`); out.FunctionError != nil || r2.Echo != "warm" || strings.Contains(logTail(t, out), "Init Duration") {
		t.Fatalf("warm invoke: %s", out.Payload)
	}
	// A new spare replaces the one taken.
	deadline = time.Now().Add(20 * time.Second)
	for len(spareIDs(t, e)) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no new spare after the claim:\n%s", e.d.MustWharf(t, "ps", "-a"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Idle past --fn-idle-timeout (3s): sandboxes and spares are gone.
	deadline = time.Now().Add(20 * time.Second)
	for len(spareIDs(t, e)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("spares kept while functions are idle:\n%s", e.d.MustWharf(t, "ps", "-a"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// --fn-spare-sandboxes 0 keeps none: cold starts create their container.
func TestFunctionNoSpares(t *testing.T) {
	e := startFnEnv(t, "--fn-spare-sandboxes", "0")
	e.deploy(t, "plain", 128, 3, nil)
	if out, r := e.invoke(t, "plain", `{"key1":"x"}`); out.FunctionError != nil || r.Echo != "x" {
		t.Fatalf("invoke: %s", out.Payload)
	}
	if ids := spareIDs(t, e); len(ids) != 0 {
		t.Fatalf("spares with --fn-spare-sandboxes 0: %v", ids)
	}
}

// logTail is the decoded X-Amz-Log-Result of an invocation.
func logTail(t *testing.T, out *lambda.InvokeOutput) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		t.Fatalf("log result: %v", err)
	}
	return string(b)
}
