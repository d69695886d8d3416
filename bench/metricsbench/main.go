// Command metricsbench measures what the daemon's Prometheus metrics cost:
//
//   - a scrape of /metrics with -n running containers (issue 18's target:
//     at most 100 ms with 500), and that scrapes leave dormant shims
//     dormant (each shim's state is read from /proc before and after);
//     the containers have no network by default, so a scrape reads their
//     cgroups alone: -network bridge gives each an interface whose
//     counters each scrape reads too;
//   - the cost of metrics on container start: `wharf run --rm` timed in
//     rounds with a scraper hitting /metrics every -every (15 times what
//     Prometheus does by default) and in rounds without, in a new random
//     order each round, so machine noise hits both alike; the container
//     collector reads nothing between scrapes, so what a start can pay is
//     the scrape's work competing with it (target: at most 1 %).
//
// It prints figures and never fails on them. It needs root, starts its own
// daemon on temporary directories and its own bridge, sends traffic only
// to the daemon's loopback address, and removes everything it created.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
)

var (
	wharfBin = flag.String("wharf", "", "wharf binary (default: built from this checkout as make build does)")
	n        = flag.Int("n", 500, "running containers during the scrapes")
	scrapes  = flag.Int("scrapes", 30, "scrapes timed")
	starts   = flag.Int("starts", 30, "container starts timed with and without the scraper (each)")
	every    = flag.Duration("every", time.Second, "the scraper's interval during the start rounds")
	network  = flag.String("network", "none", "network of the -n containers: none, or bridge to have each scrape read their interfaces' counters too (at most 250 containers: the bench's bridge is a /24)")
)

func main() {
	flag.Parse()
	if *network != "none" && *network != "bridge" {
		benchutil.Fatal("-network: none or bridge")
	}
	if *network == "bridge" && *n > 250 {
		benchutil.Fatal("-network bridge: at most 250 containers")
	}
	if os.Geteuid() != 0 {
		benchutil.Fatal("metricsbench needs root")
	}
	bin := benchutil.WharfBinary(*wharfBin)
	dir, err := os.MkdirTemp("/tmp", "wmb-")
	benchutil.Check(err)
	benchutil.OnExit(func() { _ = os.RemoveAll(dir) })
	defer benchutil.Cleanup()

	rootfs := filepath.Join(dir, "rootfs")
	tarPath := filepath.Join(dir, "busybox.tar")
	benchutil.BuildRootfs(rootfs, tarPath)
	addr := freeAddr()
	wd := filepath.Join(dir, "w")
	d := benchutil.StartDaemon(bin, wd, fmt.Sprintf("wmb%x", os.Getpid()&0xffffff), "10.252.79.0/24",
		"--http", addr, "--shim-dormant-after", "200ms")
	sock := d.Sock
	benchutil.MustWharf(bin, sock, "import", tarPath, "bench/busybox:1")
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("metricsbench: %d CPUs, load average %s", runtime.NumCPU(), load)

	// Start rounds first, on a daemon with a few containers.
	startCost(bin, sock, addr)

	// Then -n running containers, their shims dormant.
	t0 := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int32
	sem := make(chan struct{}, 4)
	for i := 0; i < *n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := benchutil.Wharf(bin, sock, "run", "-d", "--network", *network, "bench/busybox:1", "sleep", "100000"); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		benchutil.Fatal(fmt.Sprintf("%d of %d containers did not start", failed.Load(), *n))
	}
	fmt.Printf("started %d containers in %v\n", *n, time.Since(t0).Round(time.Millisecond))
	shims := filepath.Join(wd, "run", "shims")
	if !benchutil.WaitFor(func() bool { a, _ := shimStates(shims); return a == 0 }, 2*time.Minute) {
		a, dd := shimStates(shims)
		fmt.Printf("warning: %d shims still active, %d dormant\n", a, dd)
	}
	a0, d0 := shimStates(shims)

	var times []time.Duration
	var series int
	cpu0 := procCPU(d.Pid())
	for i := 0; i < *scrapes; i++ {
		t := time.Now()
		body := scrape(addr)
		times = append(times, time.Since(t))
		if i == 0 {
			series = countSeries(body, "container_")
		}
	}
	cpuPer := (procCPU(d.Pid()) - cpu0) / time.Duration(*scrapes)
	a1, d1 := shimStates(shims)
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Printf("\nscrape of /metrics with %d running containers (network %s, %d container_* series), %d scrapes:\n", *n, *network, series, *scrapes)
	fmt.Printf("  median %s  p95 %s  max %s   target <= 100ms: %s\n", benchutil.Ms(benchutil.Quantile(times, .5)),
		benchutil.Ms(benchutil.Quantile(times, .95)), benchutil.Ms(times[len(times)-1]), verdict(benchutil.Quantile(times, .5) <= 100*time.Millisecond))
	fmt.Printf("  shims before: %d active, %d dormant; after: %d active, %d dormant   dormant shims stayed dormant: %s\n",
		a0, d0, a1, d1, verdict(d1 >= d0 && a1 <= a0))
	fmt.Printf("  daemon CPU per scrape (user+system, its idle work included): %s\n", benchutil.Ms(cpuPer))
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("load average at the end: %s", load)
}

// procCPU is the user and system CPU time pid has used.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	benchutil.Check(err)
	// The fields after the command's closing parenthesis: utime and
	// stime are the 12th and 13th, in clock ticks (100 a second).
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// startCost times `wharf run --rm` with and without a scraper, paired
// round by round.
func startCost(bin, sock, addr string) {
	run := func() time.Duration {
		t := time.Now()
		if _, err := benchutil.Wharf(bin, sock, "run", "--rm", "--network", "none", "bench/busybox:1", "true"); err != nil {
			benchutil.Fatal("run: " + err.Error())
		}
		return time.Since(t)
	}
	run() // warm up
	var with, without []time.Duration
	var ratios []float64 // with / without, round by round
	for i := 0; i < *starts; i++ {
		order := []bool{true, false}
		rand.Shuffle(2, func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, scraping := range order {
			if !scraping {
				time.Sleep(150 * time.Millisecond)
				without = append(without, run())
				continue
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				tk := time.NewTicker(*every)
				defer tk.Stop()
				for {
					scrape(addr)
					select {
					case <-stop:
						return
					case <-tk.C:
					}
				}
			}()
			time.Sleep(150 * time.Millisecond)
			with = append(with, run())
			close(stop)
			<-done
		}
		ratios = append(ratios, float64(with[len(with)-1])/float64(without[len(without)-1]))
	}
	sort.Float64s(ratios)
	paired := 100 * (ratios[len(ratios)/2] - 1)
	sort.Slice(with, func(i, j int) bool { return with[i] < with[j] })
	sort.Slice(without, func(i, j int) bool { return without[i] < without[j] })
	mw, mo := benchutil.Quantile(with, .5), benchutil.Quantile(without, .5)
	pct := 100 * (float64(mw) - float64(mo)) / float64(mo)
	fmt.Printf("\ncontainer start (wharf run --rm --network none IMG true), %d paired rounds:\n", *starts)
	fmt.Printf("  scraped every %v: median %s p95 %s\n", *every, benchutil.Ms(mw), benchutil.Ms(benchutil.Quantile(with, .95)))
	fmt.Printf("  not scraped:       median %s p95 %s\n", benchutil.Ms(mo), benchutil.Ms(benchutil.Quantile(without, .95)))
	fmt.Printf("  cost of metrics on start: %+.1f%% (medians), %+.1f%% (median of the rounds' paired ratios)   target <= 1%%: %s\n", pct, paired, verdict(paired <= 1))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func scrape(addr string) []byte {
	resp, err := http.Get("http://" + addr + "/metrics")
	benchutil.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	benchutil.Check(err)
	if resp.StatusCode != 200 {
		benchutil.Fatal("GET /metrics: " + resp.Status)
	}
	return b
}

// countSeries parses a scrape whole and counts the series of the families
// named with prefix.
func countSeries(body []byte, prefix string) int {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	benchutil.Check(err)
	n := 0
	for name, f := range fams {
		if strings.HasPrefix(name, prefix) {
			n += len(f.Metric)
		}
	}
	return n
}

// shimStates counts the shims under dir by state, from /proc.
func shimStates(dir string) (active, dormant int) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name(), "shim.pid"))
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || pid <= 0 {
			continue
		}
		if strings.HasPrefix(string(cmd), "wharf-shim-dormant") {
			dormant++
		} else {
			active++
		}
	}
	return active, dormant
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	benchutil.Check(err)
	defer l.Close()
	return l.Addr().String()
}
