// Command fnbench measures function invocations side by side. Every
// column runs the same aws-lambda-go bootstrap (functions/testdata/hellofn)
// and, except the last line, is measured end to end from a client in this
// process over HTTP on loopback with keep-alive connections:
//
//   - floor service: the least any client-server Lambda does. A separate
//     process (fnbench -floor-serve) takes the invoke as one plain HTTP
//     POST (no authentication), hands it to the bootstrap running as a
//     plain host process (no container) through a minimal Runtime API on
//     loopback, and answers with its response. Ratios are to this column.
//   - wharf: a daemon of its own, its Lambda API (Invoke signed with SigV4
//     as a user's SDK signs it, verified by the daemon), the bootstrap in a
//     container sandbox (own namespaces, cgroup, read-only root) polling
//     the Runtime API inside the sandbox's network namespace, START/END/
//     REPORT log lines written, metrics counted.
//   - aws-lambda-rie: the AWS Lambda Runtime Interface Emulator when
//     RIE_BIN points at a build of it (serves one invocation at a time, so
//     no concurrency column).
//   - floor in-process (extra line, not a service): the bootstrap behind
//     the Runtime API invoked by a direct Go call in this process, with no
//     HTTP hop on the client side: the cost of the Runtime API round trip
//     alone.
//
// Warm: p50/p99 of -n serial invocations after 20 to warm up. c16: 16
// clients invoking at once (-n/16*4 each) after 16x5 invocations that
// bring the target to 16 warm sandboxes or processes; invokes/s is their
// total rate. Cold: one invocation of a function nothing has run yet
// (wharf: a newly created function; floor service: a new name; RIE: a
// restarted emulator; in-process: a new process), from request to
// response, including the sandbox or process start and the runtime's
// init. srvCPU: the CPU time of the server process (the wharf daemon, the
// floor service) per warm invocation, serial and at c16, from the
// schedstat of its threads; bootstraps and sandboxes are not counted.
//
// -targets picks the columns (the floor service always runs: ratios are
// to it); -daemon-log-level and -daemon-log keep the daemon's log (and
// the hello function's log beside it) for a look at its debug lines.
//
// Needs root (the daemon); traffic stays on loopback.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
	"github.com/wharf-dev/wharf/functions/runtimeapi"
	"github.com/wharf-dev/wharf/functions/sandbox"
)

var (
	wharfBin = flag.String("wharf", "", "wharf binary (default: built from this checkout as make build does)")
	warmN    = flag.Int("n", 500, "warm invocations per concurrency level")
	coldN    = flag.Int("cold", 10, "cold starts")
	dlevel   = flag.String("daemon-log-level", "warn", "the wharf daemon's --log-level")
	dlog     = flag.String("daemon-log", "", "copy the wharf daemon's log here when done")
	only     = flag.String("targets", "floor,wharf,wharf-nospare,rie,inprocess", "columns to measure (the floor service is always measured: ratios are to it); wharf keeps one spare sandbox (its default), wharf-nospare none")
	fnRTs    = flag.String("fn-runtimes", "", "OCI runtimes of the wharf columns' function sandboxes, comma-separated (runc,crun: each wharf column once per runtime, named wharf-runc, wharf-crun...; empty: the daemon's default --fn-runtime)")
)

// target is one system under test.
type target struct {
	name   string
	invoke func(ctx context.Context, payload []byte) error
	// cold prepares the next invoke to be a cold start and returns how to
	// measure it (setup excluded from the time).
	cold  func(ctx context.Context) (func() error, error)
	close func()
	// fresh, when set, makes a function nothing has run yet and returns
	// how to invoke it with its log tail (the burst measure).
	fresh func(ctx context.Context) (invokeTail, error)
	// restart, when set, restarts the server and returns how long the
	// first invocation took once it answered.
	restart func(ctx context.Context) (time.Duration, error)
	// pid is the server's process (0: none apart from this one), whose
	// CPU time per invocation is reported.
	pid int
	// tail, when set, invokes the warm function with LogType Tail and
	// checks that the log it returns holds the line the function printed
	// (the tail measure).
	tail func(ctx context.Context, payload []byte, line string) error
}

type result struct {
	name                   string
	p50c1, p99c1           time.Duration
	p50c16, p99c16         time.Duration
	rate                   float64
	coldP50, coldP99       time.Duration
	coldFailed, warmFailed error
	c16Failed              error
	cpuC1, cpuC16          time.Duration // server CPU per invocation
	// Warm serial invocations with LogType Tail, each printing a line
	// the tail must hold (targets with tail only).
	tailP50, tailP99 time.Duration
	tailFailed       error
	// tailMissed counts the tails that lacked the function's line.
	tailMissed, tailN int
}

// errTailMissed is a tail without the line the function printed.
var errTailMissed = errors.New("the tail lacks the function's line")

// cpuTime is the CPU time of pid's live threads, from schedstat (ns,
// where /proc/pid/stat counts in ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		var ns int64
		if _, err := fmt.Sscan(string(b), &ns); err == nil {
			sum += time.Duration(ns)
		}
	}
	return sum
}

func main() {
	flag.Parse()
	if *floorServe != "" {
		addr, boot, _ := strings.Cut(*floorServe, ",")
		serveFloor(addr, boot)
		return
	}
	dir, err := os.MkdirTemp("/tmp", "fb-")
	check(err)
	defer os.RemoveAll(dir)
	boot := buildBootstrap(dir)

	var targets []*target
	fs, err := floorServiceTarget(boot)
	check(err)
	targets = append(targets, fs)
	want := map[string]bool{}
	for _, t := range strings.Split(*only, ",") {
		want[strings.TrimSpace(t)] = true
	}
	rts := []string{""}
	if *fnRTs != "" {
		rts = strings.Split(*fnRTs, ",")
	}
	n := 0
	for _, spares := range []int{1, 0} {
		for _, rt := range rts {
			rt = strings.TrimSpace(rt)
			base := map[int]string{1: "wharf", 0: "wharf-nospare"}[spares]
			name := base
			if rt != "" {
				name += "-" + rt
			}
			switch {
			case !want[base]:
			case os.Geteuid() == 0:
				if t, err := wharfTarget(filepath.Join(dir, name), boot, spares, rt, n); err != nil {
					fmt.Fprintln(os.Stderr, "fnbench: "+name+":", err)
				} else {
					targets = append(targets, t)
				}
				n++
			default:
				fmt.Fprintln(os.Stderr, "fnbench: not root: skipping the wharf daemon column")
			}
		}
	}
	switch rie := os.Getenv("RIE_BIN"); {
	case !want["rie"]:
	case rie != "":
		targets = append(targets, rieTarget(rie, boot))
	default:
		fmt.Fprintln(os.Stderr, "fnbench: RIE_BIN not set: skipping the Runtime Interface Emulator column")
	}
	if want["inprocess"] {
		targets = append(targets, floorTarget(boot))
	}
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()

	var results []result
	for _, t := range targets {
		results = append(results, measure(t))
	}
	var bursts []burstResult
	for _, t := range targets {
		if t.fresh != nil {
			bursts = append(bursts, burst(t))
		}
	}
	floor := results[0]

	fmt.Println("Columns: end to end from a client over HTTP on loopback (keep-alive), except the in-process line.")
	fmt.Println("  floor service: plain HTTP invoke, no auth, bootstrap as a plain process behind a minimal Runtime API.")
	fmt.Println("  wharf: SigV4-signed Invoke to the daemon's Lambda API, bootstrap in a container sandbox, logs and metrics.")
	fmt.Println("    Its cold start takes the daemon's spare sandbox (started empty ahead; the function's bootstrap and init")
	fmt.Println("    still run in full); 'no spare sandbox' is a daemon with --fn-spare-sandboxes 0, creating the container.")
	fmt.Println("  floor in-process: a direct Go call to the Runtime API server, no HTTP hop to a service.")
	fmt.Println("  warm: serial; c16: 16 concurrent clients; cold: first invoke of a function nothing has run yet.")
	fmt.Println("  srvCPU: CPU time of the server process (daemon, service) per warm invocation; bootstraps not counted.")
	fmt.Println()
	fmt.Printf("%-34s %9s %9s %9s %9s %10s %9s %9s %9s %9s\n", "target", "warm p50", "warm p99", "c16 p50", "c16 p99", "invokes/s", "cold p50", "cold p99", "srvCPU c1", "srvCPU c16")
	for _, r := range results {
		if r.warmFailed != nil {
			fmt.Printf("%-34s failed: %v\n", r.name, r.warmFailed)
			continue
		}
		cold := fmt.Sprintf("%9s %9s", ms(r.coldP50), ms(r.coldP99))
		if r.coldFailed != nil {
			cold = "cold failed: " + r.coldFailed.Error()
		}
		c16 := fmt.Sprintf("%9s %9s %10.0f", ms(r.p50c16), ms(r.p99c16), r.rate)
		if r.c16Failed != nil {
			c16 = fmt.Sprintf("%9s %9s %10s", "n/a", "n/a", "n/a")
		}
		cpu := fmt.Sprintf(" %8.1fus %8.1fus", float64(r.cpuC1.Nanoseconds())/1000, float64(r.cpuC16.Nanoseconds())/1000)
		if r.cpuC1 == 0 {
			cpu = ""
		} else if r.c16Failed != nil {
			cpu = fmt.Sprintf(" %8.1fus %10s", float64(r.cpuC1.Nanoseconds())/1000, "n/a")
		}
		fmt.Printf("%-34s %9s %9s %s %s%s\n", r.name, ms(r.p50c1), ms(r.p99c1), c16, cold, cpu)
	}
	for _, r := range results {
		switch {
		case r.tailFailed != nil:
			fmt.Printf("%-34s warm Tail invoke failed: %v\n", r.name, r.tailFailed)
		case r.tailP50 > 0:
			fmt.Printf("%-34s warm Tail invoke (prints a line, LogType Tail): p50 %s p99 %s; %d of %d tails lacked the line\n", r.name, ms(r.tailP50), ms(r.tailP99), r.tailMissed, r.tailN)
		}
	}
	fmt.Println()
	for _, r := range results[1:] {
		if r.warmFailed != nil {
			continue
		}
		fmt.Printf("%s / floor: warm p50 %.2fx, c16 p50 %.2fx, invokes/s %.2fx, cold p50 %.2fx\n", r.name,
			ratio(r.p50c1, floor.p50c1), ratio(r.p50c16, floor.p50c16), r.rate/floor.rate, ratio(r.coldP50, floor.coldP50))
		if r.c16Failed != nil {
			fmt.Printf("  (%s refused concurrent invocations: %v)\n", r.name, r.c16Failed)
		}
	}
	printBursts(bursts)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000) }

func measure(t *target) result {
	r := result{name: t.name}
	ctx := context.Background()
	payload := []byte(`{"key1":"v1"}`)
	// Warm up: the first call is cold; a few more settle the pool.
	for i := 0; i < 20; i++ {
		if err := t.invoke(ctx, payload); err != nil {
			r.warmFailed = err
			return r
		}
	}
	var c1 []time.Duration
	cpu0 := cpuTime(t.pid)
	for i := 0; i < *warmN; i++ {
		t0 := time.Now()
		if err := t.invoke(ctx, payload); err != nil {
			r.warmFailed = err
			return r
		}
		c1 = append(c1, time.Since(t0))
	}
	r.p50c1, r.p99c1 = benchutil.Quantile(c1, .5), benchutil.Quantile(c1, .99)
	r.cpuC1 = (cpuTime(t.pid) - cpu0) / time.Duration(*warmN)
	if t.tail != nil {
		var tails []time.Duration
		for i := 0; i < *warmN; i++ {
			line := fmt.Sprintf("tail-line-%d", i)
			p := []byte(fmt.Sprintf(`{"key1":"v1","print":%q}`, line))
			t0 := time.Now()
			err := t.tail(ctx, p, line)
			d := time.Since(t0)
			if errors.Is(err, errTailMissed) {
				r.tailMissed++
			} else if err != nil {
				r.tailFailed = err
				break
			}
			tails = append(tails, d)
		}
		r.tailN = len(tails)
		r.tailP50, r.tailP99 = benchutil.Quantile(tails, .5), benchutil.Quantile(tails, .99)
	}

	var mu sync.Mutex
	var c16 []time.Duration
	var firstErr error
	run16 := func(per int, record bool) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					t0 := time.Now()
					err := t.invoke(ctx, payload)
					d := time.Since(t0)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if record {
						c16 = append(c16, d)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	// Warm up at concurrency 16 first: scaling from one sandbox to 16 is
	// cold starts, measured apart.
	run16(5, false)
	var elapsed time.Duration
	if firstErr == nil {
		cpu0 := cpuTime(t.pid)
		elapsed = run16(*warmN/16*4, true)
		r.cpuC16 = (cpuTime(t.pid) - cpu0) / time.Duration(16*(*warmN/16*4))
	}
	if firstErr != nil {
		// The emulator serves one invocation at a time and refuses more.
		r.c16Failed = firstErr
	} else {
		r.p50c16, r.p99c16 = benchutil.Quantile(c16, .5), benchutil.Quantile(c16, .99)
		r.rate = float64(len(c16)) / elapsed.Seconds()
	}

	var colds []time.Duration
	for i := 0; i < *coldN; i++ {
		run, err := t.cold(ctx)
		if err != nil {
			r.coldFailed = err
			break
		}
		t0 := time.Now()
		if err := run(); err != nil {
			r.coldFailed = err
			break
		}
		colds = append(colds, time.Since(t0))
	}
	r.coldP50, r.coldP99 = benchutil.Quantile(colds, .5), benchutil.Quantile(colds, .99)
	return r
}

// buildBootstrap builds the aws-lambda-go test function.
func buildBootstrap(dir string) string {
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = filepath.Join("functions", "testdata", "hellofn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		fatal("building the bootstrap (run from the repository root): " + string(b))
	}
	return out
}

// floorTarget: the bootstrap as a plain process against a Runtime API on
// loopback, invoked by a direct call in this process: no HTTP hop to a
// service, no container, no API front end. Printed as an extra line.
func floorTarget(boot string) *target {
	var mu sync.Mutex
	type proc struct {
		api *runtimeapi.Server
		srv *http.Server
		cmd *exec.Cmd
	}
	start := func() (*proc, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		api := runtimeapi.New()
		srv := &http.Server{Handler: api}
		go func() { _ = srv.Serve(l) }()
		cmd := exec.Command(boot)
		cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + l.Addr().String(), "AWS_LAMBDA_FUNCTION_NAME=hello", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return &proc{api, srv, cmd}, nil
	}
	stop := func(p *proc) {
		p.api.Close()
		_ = p.cmd.Process.Kill()
		_, _ = p.cmd.Process.Wait()
		_ = p.srv.Close()
	}
	// A pool of 16 processes for the concurrent runs, each serving one
	// invocation at a time, like sandboxes.
	var idle []*proc
	var all []*proc
	get := func() (*proc, error) {
		mu.Lock()
		if n := len(idle); n > 0 {
			p := idle[n-1]
			idle = idle[:n-1]
			mu.Unlock()
			return p, nil
		}
		mu.Unlock()
		p, err := start()
		if err != nil {
			return nil, err
		}
		mu.Lock()
		all = append(all, p)
		mu.Unlock()
		return p, nil
	}
	n := 0
	var last *proc
	invokeOn := func(ctx context.Context, p *proc, payload []byte) error {
		mu.Lock()
		n++
		id := fmt.Sprintf("req-%d", n)
		mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := p.api.Invoke(ctx, runtimeapi.Invocation{RequestID: id, Payload: payload, Deadline: time.Now().Add(10 * time.Second), FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:hello"})
		return err
	}
	return &target{
		name: "floor in-process (no HTTP hop)",
		invoke: func(ctx context.Context, payload []byte) error {
			p, err := get()
			if err != nil {
				return err
			}
			err = invokeOn(ctx, p, payload)
			mu.Lock()
			idle = append(idle, p)
			mu.Unlock()
			return err
		},
		cold: func(ctx context.Context) (func() error, error) {
			// The previous sample's process is stopped here, outside
			// the time measured.
			if last != nil {
				stop(last)
				last = nil
			}
			return func() error {
				p, err := start()
				if err != nil {
					return err
				}
				last = p
				return invokeOn(ctx, p, []byte(`{}`))
			}, nil
		},
		close: func() {
			for _, p := range all {
				stop(p)
			}
			if last != nil {
				stop(last)
			}
		},
	}
}

// rieTarget: the Runtime Interface Emulator running the same bootstrap.
func rieTarget(rie, boot string) *target {
	var port int
	var cmd *exec.Cmd
	start := func() error {
		port = freePort()
		cmd = exec.Command(rie, "--log-level", "error", "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port), boot)
		cmd.Env = append(os.Environ(), "AWS_LAMBDA_FUNCTION_NAME=hello")
		if err := cmd.Start(); err != nil {
			return err
		}
		for i := 0; i < 100; i++ {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Errorf("RIE did not listen")
	}
	stop := func() {
		if cmd != nil {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		}
	}
	inv := func(ctx context.Context, payload []byte) error {
		url := fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port)
		resp, err := http.Post(url, "application/json", bytes.NewReader(payload))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("RIE answered %d", resp.StatusCode)
		}
		return nil
	}
	if err := start(); err != nil {
		fatal("RIE: " + err.Error())
	}
	return &target{
		// The emulator measured warm is the first one started (cold
		// starts, measured last, restart it).
		pid:    cmd.Process.Pid,
		name:   "aws-lambda-rie",
		invoke: inv,
		cold: func(ctx context.Context) (func() error, error) {
			stop()
			if err := start(); err != nil {
				return nil, err
			}
			return func() error { return inv(ctx, []byte(`{}`)) }, nil
		},
		close: stop,
	}
}

// wharfTarget: a daemon of its own (the i-th of this run) keeping spares
// spare sandboxes, with fnRT as --fn-runtime ("": the daemon's default),
// its Lambda API, SigV4-signed calls.
func wharfTarget(dir, boot string, spares int, fnRT string, i int) (*target, error) {
	bin := benchutil.WharfBinary(*wharfBin)
	if static, err := sandbox.StaticBinary(bin); err == nil && !static && spares > 0 {
		fmt.Fprintln(os.Stderr, "fnbench: "+bin+" is dynamically linked: its daemon keeps no spare sandboxes (make build)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, run := filepath.Join(dir, "root"), filepath.Join(dir, "run")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	// A bridge and subnet of its own, so a live daemon is never touched.
	bridge := fmt.Sprintf("wfb%x%d", os.Getpid()&0xfffff, i)
	var d *exec.Cmd
	startDaemon := func() error {
		args := []string{"daemon", "--root", root, "--exec-root", run, "--http", addr, "--log-level", *dlevel,
			"--bridge-name", bridge, "--bridge-subnet", fmt.Sprintf("10.252.%d.0/24", 79+i), "--fn-spare-sandboxes", strconv.Itoa(spares)}
		if fnRT != "" {
			args = append(args, "--fn-runtime", fnRT)
		}
		d = exec.Command(bin, args...)
		logf, err := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer logf.Close()
		d.Stdout, d.Stderr = logf, logf
		return d.Start()
	}
	stopDaemon := func() {
		_ = d.Process.Signal(os.Interrupt)
		_, _ = d.Process.Wait()
	}
	if err := startDaemon(); err != nil {
		return nil, err
	}
	sock := "unix://" + filepath.Join(run, "wharf.sock")
	closeDaemon := func() {
		if *dlog != "" {
			_ = exec.Command("cp", filepath.Join(root, "functions", "logs", "hello.log"), *dlog+".hello").Run()
		}
		stopDaemon()
		if *dlog != "" {
			if b, err := os.ReadFile(filepath.Join(dir, "daemon.log")); err == nil {
				_ = os.WriteFile(*dlog, b, 0o644)
			}
		}
		_ = exec.Command("ip", "link", "del", bridge).Run()
	}
	var keyOut []byte
	var err error
	for i := 0; i < 100; i++ {
		keyOut, err = exec.Command(bin, "--host", sock, "keys", "create", "--json").Output()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		closeDaemon()
		return nil, fmt.Errorf("keys create: %v", err)
	}
	var key struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal(keyOut, &key); err != nil {
		closeDaemon()
		return nil, err
	}
	c := &signer{base: "http://" + addr, creds: aws.Credentials{AccessKeyID: key.AccessKeyId, SecretAccessKey: key.SecretAccessKey}, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	zipData := zipOf(boot)
	create := map[string]any{"FunctionName": "hello", "Runtime": "provided.al2023", "Role": "arn:aws:iam::000000000000:role/x", "Handler": "bootstrap",
		"MemorySize": 128, "Timeout": 10, "Code": map[string]any{"ZipFile": zipData}}
	if _, err := c.do("POST", "/2015-03-31/functions", create, 201); err != nil {
		closeDaemon()
		return nil, err
	}
	for i := 0; i < 100; i++ {
		b, err := c.do("GET", "/2015-03-31/functions/hello", nil, 200)
		if err == nil && strings.Contains(string(b), `"State":"Active"`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	gen := 0
	inv := func(ctx context.Context, payload []byte) error {
		b, err := c.do("POST", "/2015-03-31/functions/hello/invocations", json.RawMessage(payload), 200)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(`"errorType"`)) {
			return fmt.Errorf("function error: %s", b)
		}
		return nil
	}
	label := "wharf (API + container sandbox)"
	if spares == 0 {
		label = "wharf, no spare sandbox"
	}
	if fnRT != "" {
		label = strings.Replace(label, "wharf", "wharf "+fnRT, 1)
	}
	return &target{
		name:   label,
		invoke: inv,
		cold: func(ctx context.Context) (func() error, error) {
			// A function of its own per sample: nothing can be warm or
			// started ahead for it (an update would start one ahead).
			// With spares, the daemon restocks its spare after a claim;
			// the pause (untimed) lets it, as between two cold starts
			// of a real workload.
			if spares > 0 {
				time.Sleep(400 * time.Millisecond)
			}
			gen++
			name := fmt.Sprintf("cold%d", gen)
			in := map[string]any{"FunctionName": name, "Runtime": "provided.al2023", "Role": "arn:aws:iam::000000000000:role/x",
				"Handler": "bootstrap", "MemorySize": 128, "Timeout": 10, "Code": map[string]any{"ZipFile": zipData}}
			if _, err := c.do("POST", "/2015-03-31/functions", in, 201); err != nil {
				return nil, err
			}
			return func() error {
				b, err := c.do("POST", "/2015-03-31/functions/"+name+"/invocations", json.RawMessage(`{}`), 200)
				if err == nil && bytes.Contains(b, []byte(`"errorType"`)) {
					err = fmt.Errorf("function error: %s", b)
				}
				return err
			}, nil
		},
		fresh: func(ctx context.Context) (invokeTail, error) {
			gen++
			name := fmt.Sprintf("burst%d", gen)
			in := map[string]any{"FunctionName": name, "Runtime": "provided.al2023", "Role": "arn:aws:iam::000000000000:role/x",
				"Handler": "bootstrap", "MemorySize": 128, "Timeout": 10, "Code": map[string]any{"ZipFile": zipData}}
			if _, err := c.do("POST", "/2015-03-31/functions", in, 201); err != nil {
				return nil, err
			}
			if spares > 0 {
				// As between cold starts: the spare taken by an earlier
				// burst is restocked.
				time.Sleep(400 * time.Millisecond)
			}
			return tailInvoke(func(payload []byte) ([]byte, string, error) {
				return c.invokeTail("/2015-03-31/functions/"+name+"/invocations", payload)
			}), nil
		},
		restart: func(ctx context.Context) (time.Duration, error) {
			stopDaemon()
			if err := startDaemon(); err != nil {
				return 0, err
			}
			// From the moment the API answers (polled every 2 ms).
			deadline := time.Now().Add(30 * time.Second)
			for {
				if _, err := c.do("GET", "/2015-03-31/functions/hello", nil, 200); err == nil {
					break
				} else if time.Now().After(deadline) {
					return 0, fmt.Errorf("the restarted daemon did not answer: %v", err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			t0 := time.Now()
			if err := inv(ctx, []byte(`{"key1":"v1"}`)); err != nil {
				return 0, err
			}
			return time.Since(t0), nil
		},
		close: closeDaemon,
		pid:   d.Process.Pid,
		tail: func(ctx context.Context, payload []byte, line string) error {
			b, logResult, err := c.invokeTail("/2015-03-31/functions/hello/invocations", payload)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(`"errorType"`)) {
				return fmt.Errorf("function error: %s", b)
			}
			tail, err := base64.StdEncoding.DecodeString(logResult)
			if err != nil {
				return err
			}
			if !bytes.Contains(tail, []byte(line+"\n")) {
				return fmt.Errorf("%w %q:\n%s", errTailMissed, line, tail)
			}
			return nil
		},
	}, nil
}

// invokeTail invokes with X-Amz-Log-Type: Tail and returns the payload
// and the X-Amz-Log-Result header.
func (s *signer) invokeTail(path string, payload []byte) ([]byte, string, error) {
	req, err := http.NewRequest("POST", s.base+path, bytes.NewReader(payload))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Log-Type", "Tail")
	sum := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), s.creds, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()); err != nil {
		return nil, "", err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return b, "", fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return b, resp.Header.Get("X-Amz-Log-Result"), nil
}

type signer struct {
	base  string
	creds aws.Credentials
	http  *http.Client
}

func (s *signer) do(method, path string, body any, want int) ([]byte, error) {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(data)
	if err := v4.NewSigner().SignHTTP(context.Background(), s.creds, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()); err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return b, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b, nil
}

func zipOf(boot string) string {
	var buf bytes.Buffer
	zw := newZip(&buf)
	data, err := os.ReadFile(boot)
	check(err)
	zw(data)
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func check(err error) {
	if err != nil {
		fatal(err.Error())
	}
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "fnbench: "+msg)
	os.Exit(1)
}
