package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
)

// The burst and first-invoke measures: issue 13's function targets.
//
//   - burst: -burst-clients clients (16) invoke a function nothing has run
//     yet, -burst-n times each (25), all starting at once: scale-out cold
//     starts are in the rate. Each invocation asks for its log tail (as
//     `aws lambda invoke --log-type Tail` does), whose REPORT line has an
//     Init Duration exactly when the invocation was a cold start; the cold
//     start figures are the latencies of those invocations, from request
//     to response. Run -bursts times, each on a new function.
//   - first invoke after daemon start: the daemon is stopped and started
//     again on the same root; from the moment its API answers, one
//     invocation of the function the warm measures used. Run -restarts
//     times.

var (
	burstClients = flag.Int("burst-clients", 16, "clients of the burst")
	burstN       = flag.Int("burst-n", 25, "invocations per client in the burst")
	bursts       = flag.Int("bursts", 3, "bursts, each on a function nothing has run yet")
	restarts     = flag.Int("restarts", 3, "daemon restarts for the first-invoke-after-start measure")
)

// invokeTail invokes once with the log tail and tells whether the
// invocation was a cold start.
type invokeTail func(ctx context.Context, payload []byte) (cold bool, err error)

type burstResult struct {
	name          string
	rate          float64 // invocations per second, over all bursts
	p50, p99      time.Duration
	colds         []time.Duration
	coldCounts    []int
	failed        error
	firstInvokes  []time.Duration
	firstFailed   error
	restartsTried bool
}

// burst runs the burst measure on a target that can make new functions.
func burst(t *target) burstResult {
	r := burstResult{name: t.name}
	ctx := context.Background()
	var all []time.Duration
	var total time.Duration
	for b := 0; b < *bursts; b++ {
		inv, err := t.fresh(ctx)
		if err != nil {
			r.failed = err
			return r
		}
		var mu sync.Mutex
		var firstErr error
		colds := 0
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for c := 0; c < *burstClients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				for i := 0; i < *burstN; i++ {
					t0 := time.Now()
					cold, err := inv(ctx, []byte(`{"key1":"v1"}`))
					d := time.Since(t0)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					all = append(all, d)
					if cold {
						colds++
						r.colds = append(r.colds, d)
					}
					mu.Unlock()
				}
			}()
		}
		start := time.Now()
		close(gate)
		wg.Wait()
		total += time.Since(start)
		if firstErr != nil {
			r.failed = firstErr
			return r
		}
		r.coldCounts = append(r.coldCounts, colds)
	}
	r.rate = float64(len(all)) / total.Seconds()
	r.p50, r.p99 = benchutil.Quantile(all, .5), benchutil.Quantile(all, .99)
	if t.restart != nil {
		r.restartsTried = true
		for i := 0; i < *restarts; i++ {
			d, err := t.restart(ctx)
			if err != nil {
				r.firstFailed = err
				break
			}
			r.firstInvokes = append(r.firstInvokes, d)
		}
	}
	return r
}

// coldInTail tells whether a base64 log tail holds a cold start's REPORT.
func coldInTail(b64 string) bool {
	b, err := base64.StdEncoding.DecodeString(b64)
	return err == nil && strings.Contains(string(b), "Init Duration")
}

func printBursts(rs []burstResult) {
	if len(rs) == 0 {
		return
	}
	fmt.Println()
	fmt.Printf("burst: %d clients x %d invokes at once on a function nothing has run yet (%d bursts); cold = an invocation whose REPORT has an Init Duration\n",
		*burstClients, *burstN, *bursts)
	fmt.Printf("%-34s %10s %9s %9s %11s %9s %9s\n", "target", "invokes/s", "p50", "p99", "colds/burst", "cold p50", "cold p99")
	for _, r := range rs {
		if r.failed != nil {
			fmt.Printf("%-34s burst failed: %v\n", r.name, r.failed)
			continue
		}
		counts := make([]string, len(r.coldCounts))
		for i, c := range r.coldCounts {
			counts[i] = fmt.Sprint(c)
		}
		fmt.Printf("%-34s %10.0f %9s %9s %11s %9s %9s\n", r.name, r.rate, ms(r.p50), ms(r.p99), strings.Join(counts, ","),
			ms(benchutil.Quantile(r.colds, .5)), ms(benchutil.Quantile(r.colds, .99)))
	}
	for _, r := range rs {
		if !r.restartsTried {
			continue
		}
		if r.firstFailed != nil {
			fmt.Printf("%s: first invoke after daemon start failed: %v\n", r.name, r.firstFailed)
			continue
		}
		fmt.Printf("%s: first invoke after daemon start (API answering to response): p50 %s, max %s over %d restarts\n",
			r.name, ms(benchutil.Quantile(r.firstInvokes, .5)), ms(benchutil.Quantile(r.firstInvokes, 1)), len(r.firstInvokes))
	}
	for _, r := range rs {
		if r.failed != nil || !strings.HasPrefix(r.name, "wharf") {
			continue
		}
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "MISSED"
		}
		cp50 := benchutil.Quantile(r.colds, .5)
		fmt.Printf("target (%s): burst >= 2000 invokes/s: %.0f %s; cold start p50 <= 15ms: %s %s\n", r.name, r.rate, verdict(r.rate >= 2000),
			ms(cp50), verdict(cp50 > 0 && cp50 <= 15*time.Millisecond))
	}
}

// tailInvoke decodes what an invocation with X-Amz-Log-Type: Tail
// returned: whether it was a cold start.
func tailInvoke(do func(payload []byte) (body []byte, logResult string, err error)) invokeTail {
	return func(ctx context.Context, payload []byte) (bool, error) {
		b, lr, err := do(payload)
		if err != nil {
			return false, err
		}
		var e struct {
			ErrorType string `json:"errorType"`
		}
		if json.Unmarshal(b, &e) == nil && e.ErrorType != "" {
			return false, fmt.Errorf("function error: %s", b)
		}
		return coldInTail(lr), nil
	}
}
