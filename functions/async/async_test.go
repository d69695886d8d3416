package async

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

type invokerFunc func(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error)

func (f invokerFunc) Invoke(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error) {
	return f(ctx, in)
}

func startNATS(t *testing.T, dir string) *natsbox.Box {
	t.Helper()
	b, err := natsbox.Start(natsbox.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return b
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

// Events wait on disk while no worker runs, as when the daemon dies right
// after accepting them, and are run once a queue with workers starts.
func TestQueueSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	nb := startNATS(t, dir)
	q, err := Open(context.Background(), nb.Conn())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := q.Enqueue(context.Background(), functions.InvokeInput{FunctionName: "hello", RequestID: fmt.Sprintf("r%d", i), Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.Pending(context.Background()); err != nil || n != 5 {
		t.Fatalf("pending %d, %v", n, err)
	}
	q.Close()
	nb.Close()

	nb = startNATS(t, dir)
	defer nb.Close()
	var mu sync.Mutex
	seen := map[string]bool{}
	q, err = Open(context.Background(), nb.Conn())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Start(invokerFunc(func(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error) {
		mu.Lock()
		seen[in.RequestID] = in.FunctionName == "hello" && in.Type == functions.InvocationSync
		mu.Unlock()
		return &functions.InvokeOutput{StatusCode: 200}, nil
	})); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(invokerFunc(nil)); !errdefs.IsConflict(err) {
		t.Fatalf("a second start: %v", err)
	}
	waitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, ok := range seen {
			if !ok {
				t.Fatalf("an event arrived changed: %v", seen)
			}
		}
		return len(seen) == 5
	})
	waitFor(t, 5*time.Second, func() bool {
		n, err := q.Pending(context.Background())
		return err == nil && n == 0
	})
}

// A failing event is retried after each back-off, then recorded with its
// last error; one whose function is gone is recorded at once.
func TestRetriesThenFailure(t *testing.T) {
	nb := startNATS(t, t.TempDir())
	defer nb.Close()
	q, err := Open(context.Background(), nb.Conn(), WithBackoff(50*time.Millisecond, 100*time.Millisecond), WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var mu sync.Mutex
	attempts := map[string][]time.Time{}
	q.Start(invokerFunc(func(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error) {
		mu.Lock()
		attempts[in.RequestID] = append(attempts[in.RequestID], time.Now())
		mu.Unlock()
		switch in.FunctionName {
		case "gone":
			return nil, fmt.Errorf("Function not found: %w", errdefs.ErrNotFound)
		case "flaky":
			if len(attempts[in.RequestID]) < 2 {
				return &functions.InvokeOutput{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"once"}`)}, nil
			}
			return &functions.InvokeOutput{StatusCode: 200}, nil
		}
		return &functions.InvokeOutput{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"always"}`)}, nil
	}))
	ctx := context.Background()
	for _, in := range []functions.InvokeInput{
		{FunctionName: "bad", RequestID: "r-bad", Qualifier: "3", Payload: []byte(`not json`)},
		{FunctionName: "flaky", RequestID: "r-flaky", Payload: []byte(`{}`)},
		{FunctionName: "gone", RequestID: "r-gone", Payload: []byte(`{"a":1}`)},
	} {
		if err := q.Enqueue(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	var bad, gone []functions.Failure
	waitFor(t, 15*time.Second, func() bool {
		bad, _ = q.Failures(ctx, "bad")
		gone, _ = q.Failures(ctx, "gone")
		return len(bad) == 1 && len(gone) == 1
	})
	f := bad[0]
	if f.RequestID != "r-bad" || f.Qualifier != "3" || f.Attempts != 3 || !strings.Contains(f.Error, "always") || string(f.Payload) != `"not json"` {
		t.Fatalf("failure record %+v", f)
	}
	if g := gone[0]; g.Attempts != 1 || string(g.Payload) != `{"a":1}` || !strings.Contains(g.Error, "not found") {
		t.Fatalf("failure of a function that is gone %+v", g)
	}
	mu.Lock()
	defer mu.Unlock()
	if a := attempts["r-bad"]; len(a) != 3 || a[1].Sub(a[0]) < 50*time.Millisecond || a[2].Sub(a[1]) < 100*time.Millisecond {
		t.Fatalf("attempts of a failing event: %v", a)
	}
	if len(attempts["r-gone"]) != 1 || len(attempts["r-flaky"]) != 2 {
		t.Fatalf("attempts %v", attempts)
	}
	if fl, _ := q.Failures(ctx, "flaky"); len(fl) != 0 {
		t.Fatalf("an event that succeeded on a retry was recorded: %+v", fl)
	}
}
