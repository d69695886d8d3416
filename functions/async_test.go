package functions

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAsyncEffectAndFailureDestination(t *testing.T) {
	e := newEngine(t)
	if err := e.StartAsync(context.Background(), AsyncOptions{Dir: t.TempDir(), Backoff: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	create(t, e, "hello", nil)
	out, err := e.Invoke(context.Background(), InvokeInput{FunctionName: "hello", Type: InvocationEvent, Payload: []byte(`{"print":"async-effect-1234"}`)})
	if err != nil || out.StatusCode != 202 || out.RequestID == "" {
		t.Fatalf("event: %+v %v", out, err)
	}
	waitFor(t, 10*time.Second, func() bool {
		data, _ := os.ReadFile(e.LogPath("hello"))
		return strings.Contains(string(data), "async-effect-1234") && strings.Contains(string(data), "START RequestId: "+out.RequestID)
	})

	out, err = e.Invoke(context.Background(), InvokeInput{FunctionName: "hello", Type: InvocationEvent, Payload: []byte(`{"fail":"always"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var fails []Failure
	waitFor(t, 15*time.Second, func() bool {
		fails, _ = e.Failures(context.Background(), "hello")
		return len(fails) == 1
	})
	f := fails[0]
	if f.RequestID != out.RequestID || f.Attempts != 3 || !strings.Contains(f.Error, "always") || !strings.Contains(string(f.Payload), "always") {
		t.Fatalf("failure record %+v", f)
	}
	if _, err := e.Invoke(context.Background(), InvokeInput{FunctionName: "hello", Type: InvocationEvent, Payload: make([]byte, MaxAsyncPayload+1)}); err == nil {
		t.Fatal("300 KB async payload accepted")
	}
}

func TestAsyncQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	never := func(ctx context.Context, in InvokeInput) (*InvokeOutput, error) {
		t.Error("the stopped queue ran an event")
		return &InvokeOutput{}, nil
	}
	// No worker takes events: they wait on disk, as when the daemon dies
	// right after accepting them.
	a, err := StartAsync(context.Background(), AsyncOptions{Dir: dir, Paused: true}, never)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := a.Enqueue(context.Background(), InvokeInput{FunctionName: "hello", RequestID: fmt.Sprintf("r%d", i), Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()

	var mu sync.Mutex
	seen := map[string]bool{}
	ok := func(ctx context.Context, in InvokeInput) (*InvokeOutput, error) {
		mu.Lock()
		seen[in.RequestID] = true
		mu.Unlock()
		return &InvokeOutput{StatusCode: 200}, nil
	}
	b, err := StartAsync(context.Background(), AsyncOptions{Dir: dir}, ok)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 5
	})
	waitFor(t, 5*time.Second, func() bool {
		n, err := b.Pending(context.Background())
		return err == nil && n == 0
	})
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met in time")
}
