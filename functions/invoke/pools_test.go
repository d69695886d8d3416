package invoke

import (
	"context"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// Each update of a function makes a new revision, and with it a new pool:
// the pools of old revisions and of deleted functions are forgotten, so
// that updates do not grow the engine without bound.
func TestPoolsDoNotPileUp(t *testing.T) {
	l := inproc.Handle(inproc.Echo)
	e, err := New(t.TempDir(), l, WithIdleTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	zip := testutil.ZipOf(t, map[string][]byte{"bootstrap": []byte("#!/bin/sh\n")}, map[string]bool{"bootstrap": true})
	if _, err := e.Create(ctx, functions.CreateInput{Config: functions.Config{FunctionName: "fn", Runtime: "provided"}, Code: functions.Code{ZipFile: zip}}); err != nil {
		t.Fatal(err)
	}
	pools := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.pools)
	}
	for i := 0; i < 10; i++ {
		if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "fn", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		desc := "rev"
		if _, err := e.UpdateConfig(ctx, "fn", functions.ConfigUpdate{Description: &desc}); err != nil {
			t.Fatal(err)
		}
		if n := pools(); n > 2 {
			t.Fatalf("after %d updates: %d pools", i+1, n)
		}
	}
	// Idle ones go with the reaper, and a deleted function's at once.
	deadline := time.Now().Add(5 * time.Second)
	for pools() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := pools(); n != 0 {
		t.Fatalf("%d pools after every sandbox was reaped", n)
	}
	e.Invoke(ctx, functions.InvokeInput{FunctionName: "fn", Payload: []byte(`{}`)})
	if err := e.Delete(ctx, "fn", ""); err != nil {
		t.Fatal(err)
	}
	if n := pools(); n != 0 {
		t.Fatalf("%d pools after the function was deleted", n)
	}
	deadline = time.Now().Add(5 * time.Second)
	for l.Live() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if l.Live() != 0 {
		t.Fatalf("%d sandboxes left", l.Live())
	}
}
