package container_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
)

// A daemon that dies inside a start, after the runtime started the
// process and before the record says so, leaves a "created" record whose
// process runs. The next daemon kills that process and records the start
// as failed, instead of keeping a container that a second start would run
// twice.
func TestRestoreStopsACutStart(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Start(t)
	id := mustRun(t, e, cmd("sleep", "100"))
	pid := state(t, e, id).Pid
	e.Close()

	// The record as the start left it before its last write.
	path := filepath.Join(f.Root, "containers", id, "container.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	st := rec["State"].(map[string]any)
	st["Status"], st["Running"], st["Pid"] = container.StatusCreated, false, 0
	if data, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	e = f.Engine(t)
	s := state(t, e, id)
	if s.Status != container.StatusExited || !strings.Contains(s.Error, "during the container's start") {
		t.Fatalf("a cut start after the restart: %+v", s)
	}
	if f.Host.Runtime().Alive(context.Background(), id) {
		t.Fatalf("the process of the cut start (pid %d) still runs", pid)
	}
	// A new start runs one process, the new one.
	if err := e.Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if s := state(t, e, id); s.Status != container.StatusRunning || s.Pid == pid {
		t.Fatalf("start after a cut start: %+v (old pid %d)", s, pid)
	}
}
