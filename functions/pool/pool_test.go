package pool

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		c     Counts
		limit int
		want  Action
	}{
		{Counts{}, 1, Wait},
		{Counts{}, 0, Throttle},                 // reserved concurrency 0 stops the function
		{Counts{Idle: 1}, 0, Throttle},          // even with a warm sandbox
		{Counts{Idle: 1}, 1, UseIdle},           //
		{Counts{Idle: 3}, 1, UseIdle},           // more warm sandboxes than a lowered limit: one runs
		{Counts{Idle: 1, Busy: 4}, 1, Throttle}, // 4 running, over a lowered limit
		{Counts{Idle: 2, Busy: 1}, 2, UseIdle},
		{Counts{Busy: 1}, 1, Throttle},
		{Counts{Waiting: 1, Launching: 1}, 1, Throttle}, // a waiting invocation counts
		{Counts{Busy: 1, Waiting: 2, Launching: 2}, 4, Wait},
		{Counts{Busy: 2, Waiting: 2}, 4, Throttle},
		{Counts{Launching: 3}, 1, Wait}, // sandboxes starting ahead of demand are not invocations
	} {
		if got := Decide(tc.c, tc.limit); got != tc.want {
			t.Errorf("Decide(%+v, %d) = %v, want %v", tc.c, tc.limit, got, tc.want)
		}
	}
}

func TestWanted(t *testing.T) {
	for _, tc := range []struct {
		c         Counts
		maxLaunch int
		want      int
	}{
		{Counts{Waiting: 1}, 2, 1},
		{Counts{Waiting: 16}, 2, 2},                  // at most maxLaunch at once
		{Counts{Waiting: 16, Launching: 1}, 2, 1},    // one finished: the next starts
		{Counts{Waiting: 16, Launching: 2}, 2, 0},    //
		{Counts{Waiting: 1, Launching: 1}, 4, 0},     // the start under way serves it
		{Counts{Waiting: 0, Launching: 3}, 4, 0},     // nobody waits
		{Counts{Waiting: 5, Launching: 0}, 0, 1},     // maxLaunch <= 0 means one
		{Counts{Waiting: 2, Launching: 3}, 4, 0},     // never negative
		{Counts{Waiting: 3, Busy: 2, Idle: 0}, 8, 3}, // busy ones may free first; the starts go on
	} {
		if got := Wanted(tc.c, tc.maxLaunch, Estimates{}); got != tc.want {
			t.Errorf("Wanted(%+v, %d) = %d, want %d", tc.c, tc.maxLaunch, got, tc.want)
		}
	}
}

// With times seen, the line gets no start while the sandboxes busy or
// starting serve it sooner than a start would; it does when they would
// not, and whatever the times when nothing can serve it.
func TestWantedWithEstimates(t *testing.T) {
	fast := Estimates{Invoke: time.Millisecond, Launch: 80 * time.Millisecond}
	slow := Estimates{Invoke: 300 * time.Millisecond, Launch: 80 * time.Millisecond}
	for _, tc := range []struct {
		name string
		c    Counts
		est  Estimates
		want int
	}{
		{"short invocations, a line of 14 behind 2", Counts{Busy: 2, Waiting: 14}, fast, 0},
		{"long invocations, a line of 14 behind 2", Counts{Busy: 2, Waiting: 14}, slow, 2},
		{"long invocations, a line of 1 behind 8: one frees sooner", Counts{Busy: 8, Waiting: 1}, slow, 0},
		{"long invocations, a line of 4 behind 8", Counts{Busy: 8, Waiting: 4}, slow, 2},
		{"short invocations, a line of 200 behind 2", Counts{Busy: 2, Waiting: 200}, fast, 2},
		{"nothing busy or starting", Counts{Waiting: 3}, fast, 2},
		{"no start seen yet", Counts{Busy: 2, Waiting: 14}, Estimates{Invoke: time.Millisecond}, 2},
		{"no invocation seen yet", Counts{Busy: 2, Waiting: 14}, Estimates{Launch: time.Millisecond}, 2},
	} {
		if got := Wanted(tc.c, 2, tc.est); got != tc.want {
			t.Errorf("%s: Wanted = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// The means weigh the newest time by a quarter.
func TestEstimates(t *testing.T) {
	p := Pool[string]{MaxLaunch: 2}
	p.Reserve(10)
	p.Launched("a", time.Now(), 80*time.Millisecond)
	tk := p.Acquire(10)
	p.Release(tk.V, time.Now(), 4*time.Millisecond)
	tk = p.Acquire(10)
	p.Release(tk.V, time.Now(), 8*time.Millisecond)
	if e := p.Estimates(); e.Launch != 80*time.Millisecond || e.Invoke != 5*time.Millisecond {
		t.Fatalf("estimates %+v", e)
	}
}

// A waiter behind a sandbox busy for longer than the estimates said gets
// starts after twice a start's mean time.
func TestWaitStalls(t *testing.T) {
	p := Pool[string]{MaxLaunch: 2}
	p.Reserve(10)
	p.Launched("a", time.Now(), 20*time.Millisecond)
	busy := p.Acquire(10)
	p.Release(busy.V, time.Now(), time.Millisecond)
	busy = p.Acquire(10) // now runs long
	w := p.Acquire(10)
	if w.Action != Wait || w.Launches != 0 {
		t.Fatalf("a line of one behind a short invocation got starts: %+v", w)
	}
	stalls := make(chan int, 4)
	got := make(chan string, 1)
	go func() {
		v, _ := p.Wait(context.Background(), w.W, func(n int) { stalls <- n })
		got <- v
	}()
	select {
	case n := <-stalls:
		if n != 1 {
			t.Fatalf("stalled line got %d starts, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled waiter got no start")
	}
	p.Launched("b", time.Now(), 20*time.Millisecond)
	if v := <-got; v != "b" {
		t.Fatalf("the stalled waiter got %q", v)
	}
	p.Release(busy.V, time.Now(), time.Second)
	if c := p.Counts(); c != (Counts{Idle: 1, Busy: 1}) {
		t.Fatalf("counts %+v", c)
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

func wantCounts(t *testing.T, p *Pool[string], want Counts) {
	t.Helper()
	if got := p.Counts(); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}

// received returns what w was given, failing if it has nothing yet.
func received(t *testing.T, p *Pool[string], w *Waiter[string]) (string, error) {
	t.Helper()
	select {
	case r := <-w.ch:
		return r.v, r.err
	default:
		t.Fatal("the waiter was given nothing")
		return "", nil
	}
}

// The pool's bookkeeping through a function's life, on a clock of the
// test's: waiting, starts, hand-offs, limit, reuse of the most recent,
// reaping, draining.
func TestPoolLifecycle(t *testing.T) {
	p := Pool[string]{MaxLaunch: 1}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := p.Acquire(2)
	if t1.Action != Wait || t1.Launches != 1 {
		t.Fatalf("first acquire: %+v", t1)
	}
	t2 := p.Acquire(2)
	if t2.Action != Wait || t2.Launches != 0 {
		t.Fatalf("second acquire, one start at a time: %+v", t2)
	}
	if t3 := p.Acquire(2); t3.Action != Throttle {
		t.Fatalf("third acquire at limit 2: %+v", t3)
	}
	wantCounts(t, &p, Counts{Waiting: 2, Launching: 1})
	// The start ends: the first waiter gets it; the second still waits,
	// so the next start begins.
	if more := p.Launched("a", t0, 0); more != 1 {
		t.Fatalf("starts wanted after the first: %d", more)
	}
	if v, err := received(t, &p, t1.W); v != "a" || err != nil {
		t.Fatalf("first waiter got %q %v", v, err)
	}
	wantCounts(t, &p, Counts{Busy: 1, Waiting: 1, Launching: 1})
	// The first invocation ends before the second start: its sandbox goes
	// to the second waiter, and the start that ends later goes idle.
	p.Release("a", t0, 0)
	if v, err := received(t, &p, t2.W); v != "a" || err != nil {
		t.Fatalf("second waiter got %q %v", v, err)
	}
	if more := p.Launched("b", t0.Add(time.Minute), 0); more != 0 {
		t.Fatalf("starts wanted with nobody waiting: %d", more)
	}
	wantCounts(t, &p, Counts{Idle: 1, Busy: 1})
	p.Release("a", t0.Add(2*time.Minute), 0)
	wantCounts(t, &p, Counts{Idle: 2})
	if tk := p.Acquire(2); tk.Action != UseIdle || tk.V != "a" {
		t.Fatalf("warm acquire = %+v, want the most recent", tk)
	}
	p.Drop() // a crashed
	wantCounts(t, &p, Counts{Idle: 1})
	if p.Reserve(5) {
		t.Fatal("reserved with a sandbox idle")
	}
	if gone := p.Reap(t0.Add(5*time.Minute), 5*time.Minute); gone != nil {
		t.Fatalf("reaped early: %v", gone)
	}
	if gone := p.Reap(t0.Add(6*time.Minute), 5*time.Minute); !reflect.DeepEqual(gone, []string{"b"}) {
		t.Fatalf("reaped %v", gone)
	}
	wantCounts(t, &p, Counts{})
	if !p.Unused() {
		t.Fatal("an empty pool is in use")
	}
	if !p.Reserve(1) {
		t.Fatal("no reservation in an empty pool")
	}
	if p.Reserve(1) {
		t.Fatal("reserved over the limit")
	}
	if p.Unused() {
		t.Fatal("a pool with a start under way is unused")
	}
	p.Launched("c", t0, 0)
	if tk := p.Acquire(1); tk.Action != UseIdle || tk.V != "c" {
		t.Fatalf("the prewarmed sandbox is not used: %+v", tk)
	}
	if !p.Reserve(3) {
		t.Fatal("no reservation beside a busy sandbox")
	}
	p.Release("c", t0, 0)
	p.Launched("d", t0, 0)
	if gone := p.Drain(); !reflect.DeepEqual(gone, []string{"c", "d"}) {
		t.Fatalf("drained %v", gone)
	}
	wantCounts(t, &p, Counts{})
}

// A start that fails fails the first invocation waiting (its cold start's
// init error), and the next start begins for the others; so a function
// whose init always fails fails every invocation, none waits for ever.
func TestLaunchFailedFailsTheFirstWaiter(t *testing.T) {
	p := Pool[string]{MaxLaunch: 1}
	a, b := p.Acquire(10), p.Acquire(10)
	boom := errors.New("init failed")
	if more := p.LaunchFailed(boom); more != 1 {
		t.Fatalf("starts wanted for the second: %d", more)
	}
	if _, err := received(t, &p, a.W); err != boom {
		t.Fatalf("first waiter: %v", err)
	}
	if more := p.LaunchFailed(boom); more != 0 {
		t.Fatalf("starts wanted with nobody waiting: %d", more)
	}
	if _, err := received(t, &p, b.W); err != boom {
		t.Fatalf("second waiter: %v", err)
	}
	wantCounts(t, &p, Counts{})
	// An abandoned start fails nobody but starts the next.
	c := p.Acquire(10)
	if more := p.Abandon(); more != 1 {
		t.Fatalf("starts wanted after an abandoned one: %d", more)
	}
	select {
	case r := <-c.W.ch:
		t.Fatalf("an abandoned start gave the waiter %+v", r)
	default:
	}
	p.Launched("x", time.Now(), 0)
	if v, _ := received(t, &p, c.W); v != "x" {
		t.Fatalf("waiter got %q", v)
	}
	// An invocation behind a busy sandbox still starts one.
	if d := p.Acquire(10); d.Launches != 1 {
		t.Fatalf("launches for the waiter behind a busy sandbox: %d", d.Launches)
	}
}

// A waiter whose context ends leaves the line; a sandbox given to it as
// its context ended is returned to the caller to release.
func TestWaitContext(t *testing.T) {
	p := Pool[string]{MaxLaunch: 2}
	tk := p.Acquire(10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Wait(ctx, tk.W, func(int) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	wantCounts(t, &p, Counts{Launching: 1})
	// The start ends with nobody waiting: idle.
	p.Launched("a", time.Now(), 0)
	wantCounts(t, &p, Counts{Idle: 1})

	// Served as the context ends: the sandbox comes back.
	tk = p.Acquire(10)
	if tk.Action != UseIdle {
		t.Fatalf("%+v", tk)
	}
	w := p.Acquire(10)
	p.Release("a", time.Now(), 0)
	if v, err := p.Wait(ctx, w.W, func(int) {}); v != "a" || err != nil {
		t.Fatalf("a waiter served before its context ended: %q %v", v, err)
	}
}

// Many invocations at once on a cold pool, each running a while: every
// one is served, no more than MaxLaunch start at once, the pool never has
// more sandboxes than the limit, and it ends with every sandbox idle.
func TestBurst(t *testing.T) {
	const limit, maxLaunch, n = 8, 2, 200
	p := Pool[int]{MaxLaunch: maxLaunch}
	var mu sync.Mutex
	started, maxStarting, starting := 0, 0, 0
	var wg sync.WaitGroup
	var launch func(k int)
	launch = func(k int) {
		for ; k > 0; k-- {
			mu.Lock()
			started++
			id := started
			starting++
			maxStarting = max(maxStarting, starting)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				starting--
				mu.Unlock()
				launch(p.Launched(id, time.Now(), 0))
			}()
		}
	}
	var served sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		served.Add(1)
		go func() {
			defer served.Done()
			for {
				tk := p.Acquire(limit)
				switch tk.Action {
				case Throttle:
					time.Sleep(time.Millisecond)
					continue
				case Wait:
					launch(tk.Launches)
					v, err := p.Wait(context.Background(), tk.W, func(int) {})
					if err != nil {
						errs <- err
						return
					}
					tk.V = v
				}
				if c := p.Counts(); c.Live() > limit {
					errs <- errors.New("more sandboxes than the limit")
				}
				time.Sleep(200 * time.Microsecond)
				p.Release(tk.V, time.Now(), 0)
				return
			}
		}()
	}
	served.Wait()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if maxStarting > maxLaunch {
		t.Fatalf("%d starts at once, max %d", maxStarting, maxLaunch)
	}
	c := p.Counts()
	if c.Busy != 0 || c.Waiting != 0 || c.Launching != 0 || c.Idle != started || started > limit {
		t.Fatalf("after the burst: %+v, %d started", c, started)
	}
}

// Reaping keeps the order of the sandboxes it leaves, so that the most
// recently used is still taken first.
func TestReapKeepsOrder(t *testing.T) {
	var p Pool[int]
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		p.Reserve(10)
		p.Launched(i, t0.Add(time.Duration(i%2)*time.Hour), 0)
	}
	if gone := p.Reap(t0.Add(30*time.Minute), 30*time.Minute); !reflect.DeepEqual(gone, []int{0, 2, 4}) {
		t.Fatalf("reaped %v", gone)
	}
	if tk := p.Acquire(10); tk.V != 3 {
		t.Fatalf("most recent after reaping: %d", tk.V)
	}
	if tk := p.Acquire(10); tk.V != 1 {
		t.Fatalf("next: %d", tk.V)
	}
}
