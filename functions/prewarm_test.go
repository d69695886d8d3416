package functions

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// An update that retires a warm sandbox starts one of the new revision at
// once; its first invocation is still reported as a cold start.
func TestPrewarmAfterUpdate(t *testing.T) {
	e := newEngine(t)
	create(t, e, "hello", nil)
	_, r1 := invokeJSON(t, e, "hello", "", `{"key1":"a"}`)
	desc := "changed"
	if _, err := e.UpdateConfig(context.Background(), "hello", ConfigUpdate{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := e.Metrics(context.Background(), "hello")
		if err != nil {
			t.Fatal(err)
		}
		if m.SandboxesWarm == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no prewarmed sandbox: %+v", m)
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, r2 := invokeJSON(t, e, "hello", "", `{"key1":"b"}`)
	if r2.Pid == r1.Pid || r2.Echo != "b" {
		t.Fatalf("invocation after update ran in the old sandbox: %+v", r2)
	}
	tail, _ := base64.StdEncoding.DecodeString(out.LogResult)
	if !strings.Contains(string(tail), "Init Duration:") {
		t.Fatalf("first use of a prewarmed sandbox lacks Init Duration:\n%s", tail)
	}
	m, _ := e.Metrics(context.Background(), "hello")
	if m.ColdStarts != 2 || m.SandboxesTotal != 1 {
		t.Fatalf("metrics: cold starts %d, sandboxes %d", m.ColdStarts, m.SandboxesTotal)
	}
	out3, r3 := invokeJSON(t, e, "hello", "", `{"key1":"c"}`)
	tail3, _ := base64.StdEncoding.DecodeString(out3.LogResult)
	if r3.Pid != r2.Pid || strings.Contains(string(tail3), "Init Duration") {
		t.Fatalf("second use should be warm: pid %d vs %d\n%s", r3.Pid, r2.Pid, tail3)
	}
}
