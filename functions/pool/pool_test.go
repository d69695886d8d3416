package pool

import (
	"reflect"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		idle, live, limit int
		want              Action
	}{
		{0, 0, 1, LaunchNew},
		{0, 0, 0, Throttle}, // reserved concurrency 0 stops the function
		{1, 1, 0, Throttle}, // even with a warm sandbox
		{1, 1, 1, UseIdle},
		{3, 3, 1, UseIdle},  // more warm sandboxes than a lowered limit: one runs
		{1, 5, 1, Throttle}, // 4 running, over a lowered limit
		{2, 3, 2, UseIdle},
		{0, 1, 1, Throttle},
		{0, 3, 4, LaunchNew},
		{0, 4, 4, Throttle},
	} {
		if got := Decide(tc.idle, tc.live, tc.limit); got != tc.want {
			t.Errorf("Decide(%d, %d, %d) = %v, want %v", tc.idle, tc.live, tc.limit, got, tc.want)
		}
	}
}

func TestExpired(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	used := []time.Time{t0, t0.Add(4 * time.Minute), t0.Add(time.Minute), t0.Add(5 * time.Minute)}
	if got := Expired(used, t0.Add(5*time.Minute), 4*time.Minute); !reflect.DeepEqual(got, []int{0, 2}) {
		t.Fatalf("Expired = %v", got)
	}
	if got := Expired(used, t0.Add(5*time.Minute), time.Hour); got != nil {
		t.Fatalf("nothing expires within the hour: %v", got)
	}
	if got := Expired(nil, t0, 0); got != nil {
		t.Fatalf("empty: %v", got)
	}
}

// The pool's bookkeeping through a function's life, on a clock of the
// test's: limit, reuse of the most recent, reaping, draining.
func TestPoolLifecycle(t *testing.T) {
	var p Pool[string]
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	counts := func(idle, live int) {
		t.Helper()
		if i, l := p.Counts(); i != idle || l != live {
			t.Fatalf("counts %d idle, %d live; want %d, %d", i, l, idle, live)
		}
	}
	if _, a := p.Acquire(2); a != LaunchNew {
		t.Fatalf("first acquire: %v", a)
	}
	if _, a := p.Acquire(2); a != LaunchNew {
		t.Fatalf("second acquire: %v", a)
	}
	if _, a := p.Acquire(2); a != Throttle {
		t.Fatalf("third acquire at limit 2: %v", a)
	}
	counts(0, 2)
	p.Release("a", t0)
	p.Release("b", t0.Add(time.Minute))
	counts(2, 2)
	if v, a := p.Acquire(2); a != UseIdle || v != "b" {
		t.Fatalf("warm acquire = %q %v, want the most recent", v, a)
	}
	p.Drop() // b crashed
	counts(1, 1)
	if p.Reserve(5) {
		t.Fatal("reserved with a sandbox idle")
	}
	if gone := p.Reap(t0.Add(4*time.Minute), 5*time.Minute); gone != nil {
		t.Fatalf("reaped early: %v", gone)
	}
	if gone := p.Reap(t0.Add(5*time.Minute), 5*time.Minute); !reflect.DeepEqual(gone, []string{"a"}) {
		t.Fatalf("reaped %v", gone)
	}
	counts(0, 0)
	if !p.Reserve(1) {
		t.Fatal("no reservation in an empty pool")
	}
	if p.Reserve(1) {
		t.Fatal("reserved over the limit")
	}
	p.Release("c", t0)
	if _, a := p.Acquire(1); a != UseIdle {
		t.Fatalf("the prewarmed sandbox is not used: %v", a)
	}
	if !p.Reserve(3) {
		t.Fatal("no reservation beside a busy sandbox")
	}
	p.Release("c", t0)
	p.Release("d", t0)
	if gone := p.Drain(); !reflect.DeepEqual(gone, []string{"c", "d"}) {
		t.Fatalf("drained %v", gone)
	}
	counts(0, 0)
}

// Reaping keeps the order of the sandboxes it leaves, so that the most
// recently used is still taken first.
func TestReapKeepsOrder(t *testing.T) {
	var p Pool[int]
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		p.Reserve(10)
		p.Release(i, t0.Add(time.Duration(i%2)*time.Hour))
	}
	if gone := p.Reap(t0.Add(30*time.Minute), 30*time.Minute); !reflect.DeepEqual(gone, []int{0, 2, 4}) {
		t.Fatalf("reaped %v", gone)
	}
	if v, _ := p.Acquire(10); v != 3 {
		t.Fatalf("most recent after reaping: %d", v)
	}
	if v, _ := p.Acquire(10); v != 1 {
		t.Fatalf("next: %d", v)
	}
}
