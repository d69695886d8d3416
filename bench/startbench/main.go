// Command startbench measures wharf's container start, exec and idle
// memory cost side by side with the bare OCI runtime running an equivalent
// bundle, and with docker and podman when they are installed. The bare
// runtime's bundle is the spec wharf's generator (runtime/spec) wrote for
// the benchmark's container: Docker's default confinement (moby's default
// seccomp profile, Docker's default capability set, its masked and
// read-only paths), with a new empty network namespace. wharf runs as
// users type it, on the default bridge network, and with --network none;
// the start table ends with issue 13's targets: run on the bridge at most
// 1.5x the bare runtime, and the bridge (attach and detach included) at
// most 5 ms over --network none. Every
// measure runs round-robin in the same loop, in a new random order each
// round, so machine noise hits all of them alike; the table prints medians,
// p95 and ratios. The exec table has wharf's exec twice: on a daemon that
// keeps a runtime started ahead for a container's next exec (the default),
// and on one that does not (a container's first exec).
//
// It needs root, starts its own daemons on temporary directories, sends no
// network traffic and removes everything it created.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
)

var (
	wharfBin = flag.String("wharf", "", "wharf binary (default: built from this checkout as make build does)")
	n        = flag.Int("n", 30, "runs per measure")
	idle     = flag.Int("idle", 10, "containers for the idle memory measure")
	peers    = flag.Bool("peers", true, "also measure docker and podman when installed")
	compare  = flag.String("compare", "", "another wharf binary (an older build) whose run is measured in the same rounds, on a daemon of its own")
	settle   = flag.Duration("settle", 150*time.Millisecond, "pause after each command, so that no measure pays for work another command left behind")
)

type measure struct {
	name string
	cmd  func(i int) *exec.Cmd
	// after runs untimed after each run (cleanup).
	after func(i int)
	times []time.Duration
	// rounds holds the round of each time, to pair measures round by
	// round.
	rounds []int
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		benchutil.Fatal("startbench needs root")
	}
	bin := benchutil.WharfBinary(*wharfBin)
	dir, err := os.MkdirTemp("/tmp", "wb-")
	benchutil.Check(err)
	benchutil.OnExit(func() { _ = os.RemoveAll(dir) })
	defer benchutil.Cleanup()
	cleanup := benchutil.OnExit

	rootfs := filepath.Join(dir, "rootfs")
	tarPath := filepath.Join(dir, "busybox.tar")
	benchutil.BuildRootfs(rootfs, tarPath)

	// wharf daemon, on its own bridge and subnet so that a live daemon's
	// default bridge is never touched; containers run with --network none
	// like the peers'.
	wd := filepath.Join(dir, "w")
	daemon := benchutil.StartDaemon(bin, wd, fmt.Sprintf("wsb%x", os.Getpid()&0xffffff), "10.252.77.0/24")
	sock := daemon.Sock
	benchutil.MustWharf(bin, sock, "import", tarPath, "bench/busybox:1")
	info := benchutil.MustWharf(bin, sock, "info", "--format", "{{.DefaultRuntime}}")
	rtName := strings.TrimSpace(info)
	rtPath, err := exec.LookPath(rtName)
	benchutil.Check(err)
	rtRoot := filepath.Join(wd, "run", "runtime", rtName)

	// An equivalent bundle for the bare runtime: the very spec wharf
	// generated, pointed at a plain copy of the rootfs.
	id := strings.TrimSpace(benchutil.MustWharf(bin, sock, "create", "bench/busybox:1", "true"))
	benchutil.MustWharf(bin, sock, "start", id)
	benchutil.MustWharf(bin, sock, "wait", id)
	bundle := filepath.Join(dir, "bundle")
	benchutil.Check(os.MkdirAll(bundle, 0o755))
	var spec map[string]any
	data, err := os.ReadFile(filepath.Join(wd, "root", "containers", id, "config.json"))
	benchutil.Check(err)
	benchutil.Check(json.Unmarshal(data, &spec))
	spec["root"] = map[string]any{"path": rootfs, "readonly": false}
	// The /etc files wharf bind-mounts go with the container; copy them.
	for _, m := range spec["mounts"].([]any) {
		mm := m.(map[string]any)
		src, _ := mm["source"].(string)
		if strings.HasPrefix(src, filepath.Join(wd, "root")) {
			data, err := os.ReadFile(src)
			benchutil.Check(err)
			dst := filepath.Join(dir, "etc-"+filepath.Base(src))
			benchutil.Check(os.WriteFile(dst, data, 0o644))
			mm["source"] = dst
		}
	}
	linux := spec["linux"].(map[string]any)
	// wharf joins a namespace it created for the container (gone with it);
	// the bare runtime makes its own empty one, as --network none means.
	if nss, ok := linux["namespaces"].([]any); ok {
		for _, n := range nss {
			if m, ok := n.(map[string]any); ok && m["type"] == "network" {
				delete(m, "path")
			}
		}
	}
	bareRoot := filepath.Join(dir, "bare-state")
	benchutil.MustWharf(bin, sock, "rm", id)

	bareSpec := func(name string, cg string) string {
		b := filepath.Join(dir, "bundle-"+name)
		benchutil.Check(os.MkdirAll(b, 0o755))
		linux["cgroupsPath"] = cg
		out, err := json.Marshal(spec)
		benchutil.Check(err)
		benchutil.Check(os.WriteFile(filepath.Join(b, "config.json"), out, 0o644))
		return b
	}
	eqBundle := bareSpec("eq", "/wharf-bench/eq")
	cleanup(func() { benchutil.RemoveCgroups("wharf-bench") })

	ms := []*measure{
		{name: "wharf run --rm IMG true (bridge)", cmd: func(int) *exec.Cmd {
			return exec.Command(bin, "--host", "unix://"+sock, "run", "--rm", "bench/busybox:1", "true")
		}},
		{name: rtName + " run (same spec)", cmd: func(i int) *exec.Cmd {
			return exec.Command(rtPath, "--root", bareRoot, "run", "--bundle", eqBundle, "bare-"+strconv.Itoa(i))
		}},
		{name: "wharf run --rm --network none", cmd: func(int) *exec.Cmd {
			return exec.Command(bin, "--host", "unix://"+sock, "run", "--rm", "--network", "none", "bench/busybox:1", "true")
		}},
	}
	if *compare != "" {
		old := benchutil.WharfBinary(*compare)
		od := benchutil.StartDaemon(old, filepath.Join(dir, "o"), fmt.Sprintf("wso%x", os.Getpid()&0xffffff), "10.252.76.0/24")
		benchutil.MustWharf(old, od.Sock, "import", tarPath, "bench/busybox:1")
		ms = append(ms, &measure{name: "compare: run --rm IMG true (bridge)", cmd: func(int) *exec.Cmd {
			return exec.Command(old, "--host", "unix://"+od.Sock, "run", "--rm", "bench/busybox:1", "true")
		}}, &measure{name: "compare: run --rm --network none", cmd: func(int) *exec.Cmd {
			return exec.Command(old, "--host", "unix://"+od.Sock, "run", "--rm", "--network", "none", "bench/busybox:1", "true")
		}})
	}
	if *peers {
		ms = append(ms, peerMeasures(dir, tarPath, cleanup)...)
	}
	fmt.Printf("start latency: %d runs each, round-robin in a shuffled order, runtime %s\n", *n, rtName)
	fmt.Printf("  %s run (same spec): wharf's generated spec (%s) on a copy of the rootfs, in a new network namespace\n", rtName, confinement(spec))
	runAll(ms, *n)
	report(ms, 1)
	targets(ms[0], ms[1], ms[2])
	if *compare != "" {
		fmt.Println("compare (" + *compare + "):")
		targets(ms[3], ms[1], ms[4])
	}

	// exec: wharf exec vs the bare runtime's exec into the same container.
	benchutil.MustWharf(bin, sock, "run", "-d", "--network", "none", "--name", "ex", "bench/busybox:1", "sleep", "100000")
	exID := strings.TrimSpace(benchutil.MustWharf(bin, sock, "inspect", "--format", "{{.Id}}", "ex"))
	// A second daemon keeps no runtime started ahead for the next exec
	// (--exec-warm-for 0): its exec is what a container's first exec costs.
	cold := benchutil.StartDaemon(bin, filepath.Join(dir, "c"), fmt.Sprintf("wsc%x", os.Getpid()&0xffffff), "10.252.78.0/24", "--exec-warm-for", "0")
	benchutil.MustWharf(bin, cold.Sock, "import", tarPath, "bench/busybox:1")
	benchutil.MustWharf(bin, cold.Sock, "run", "-d", "--network", "none", "--name", "ex", "bench/busybox:1", "sleep", "100000")
	xs := []*measure{
		{name: "wharf exec C true", cmd: func(int) *exec.Cmd {
			return exec.Command(bin, "--host", "unix://"+sock, "exec", "ex", "true")
		}},
		{name: rtName + " exec C true", cmd: func(int) *exec.Cmd {
			return exec.Command(rtPath, "--root", rtRoot, "exec", exID, "true")
		}},
	}
	xs = append(xs, peerExecMeasures()...)
	xs = append(xs, &measure{name: "wharf exec C true, no warm runtime", cmd: func(int) *exec.Cmd {
		return exec.Command(bin, "--host", "unix://"+cold.Sock, "exec", "ex", "true")
	}})
	fmt.Printf("\nexec latency: %d runs each\n", *n)
	runAll(xs, *n)
	report(xs, 1)
	_, _ = benchutil.Wharf(bin, sock, "rm", "-f", "ex")
	_, _ = benchutil.Wharf(bin, cold.Sock, "rm", "-f", "ex")

	// idle cost: PSS of the shims plus the daemon's growth per container.
	before := benchutil.PSS(daemon.Pid())
	var shims []int
	for i := 0; i < *idle; i++ {
		benchutil.MustWharf(bin, sock, "run", "-d", "--network", "none", "--name", fmt.Sprintf("idle%d", i), "bench/busybox:1", "sleep", "100000")
	}
	time.Sleep(2 * time.Second)
	after := benchutil.PSS(daemon.Pid())
	var shimPSS, shimRSS float64
	for i := 0; i < *idle; i++ {
		out := benchutil.MustWharf(bin, sock, "inspect", "--format", "{{.Id}}", fmt.Sprintf("idle%d", i))
		p, err := os.ReadFile(filepath.Join(wd, "run", "shims", strings.TrimSpace(out)[:24], "shim.pid"))
		benchutil.Check(err)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(p)))
		shims = append(shims, pid)
		shimPSS += benchutil.PSS(pid)
		shimRSS += benchutil.RSS(pid)
	}
	k := float64(*idle)
	fmt.Printf("\nidle container cost (%d containers): shim PSS %.2f MiB + daemon growth %.2f MiB = %.2f MiB per container (shim RSS %.2f MiB)\n",
		*idle, shimPSS/k/1024, (after-before)/k/1024, (shimPSS+after-before)/k/1024, shimRSS/k/1024)
	fmt.Println("peers on these machines (PEERS.md): docker 2.9 MiB PSS, podman conmon 0.37 MiB PSS")
}

// runAll runs every measure n times, after three warm-up rounds. Each
// round takes the measures in a new random order, and each command is
// followed by a pause (-settle): a command that leaves work behind (a
// peer's daemon finishing its bookkeeping, wharf starting the runtime for
// the next exec) must not weigh on the next measure.
func runAll(ms []*measure, n int) {
	order := append([]*measure(nil), ms...)
	for i := -3; i < n; i++ {
		rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, m := range order {
			cmd := m.cmd(i + 1000)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			t0 := time.Now()
			err := cmd.Run()
			d := time.Since(t0)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v: %s\n", m.name, err, strings.TrimSpace(errb.String()))
				continue
			}
			if m.after != nil {
				m.after(i)
			}
			if i >= 0 {
				m.times = append(m.times, d)
				m.rounds = append(m.rounds, i)
			}
			time.Sleep(*settle)
		}
	}
}

func report(ms []*measure, base int) {
	ref := benchutil.Quantile(ms[base].times, 0.5)
	first := benchutil.Quantile(ms[0].times, 0.5)
	fmt.Printf("%-42s %10s %10s %12s %12s\n", "measure", "median", "p95", "vs "+shortName(ms[base].name), "wharf/this")
	for _, m := range ms {
		med := benchutil.Quantile(m.times, 0.5)
		if med == 0 {
			fmt.Printf("%-42s %10s\n", m.name, "failed")
			continue
		}
		fmt.Printf("%-42s %10s %10s %11.2fx %11.2fx\n", m.name, benchutil.Ms(med), benchutil.Ms(benchutil.Quantile(m.times, 0.95)),
			float64(med)/float64(ref), float64(first)/float64(med))
	}
}

// targets prints issue 13's start targets: wharf run on the default
// bridge at most 1.5x the bare runtime under the same confinement, and the
// bridge at most 5 ms over --network none. The bridge's cost is the median
// of the per-round differences (both ran in the same round), which machine
// noise between rounds does not move, beside the difference of medians.
func targets(bridge, bare, none *measure) {
	mb, mr, mn := benchutil.Quantile(bridge.times, 0.5), benchutil.Quantile(bare.times, 0.5), benchutil.Quantile(none.times, 0.5)
	if mb == 0 || mr == 0 || mn == 0 {
		return
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	r := float64(mb) / float64(mr)
	fmt.Printf("target: wharf run (bridge) <= 1.50x %s: %.2fx (%s vs %s) %s\n", shortName(bare.name), r, benchutil.Ms(mb), benchutil.Ms(mr), verdict(r <= 1.5))
	rn := float64(mn) / float64(mr)
	fmt.Printf("        (wharf run --network none: %.2fx)\n", rn)
	at := map[int]time.Duration{}
	for k, round := range none.rounds {
		at[round] = none.times[k]
	}
	var diffs []time.Duration
	for k, round := range bridge.rounds {
		if t, ok := at[round]; ok {
			diffs = append(diffs, bridge.times[k]-t)
		}
	}
	paired := benchutil.Quantile(diffs, 0.5)
	fmt.Printf("target: bridge over --network none <= 5ms: %+.1fms paired median (%+.1fms between medians) %s\n",
		float64(paired.Microseconds())/1000, float64((mb-mn).Microseconds())/1000, verdict(paired <= 5*time.Millisecond))
}

// confinement says what the bare runtime's spec confines: the seccomp
// profile's size, the capabilities, the masked and read-only paths.
func confinement(spec map[string]any) string {
	linux, _ := spec["linux"].(map[string]any)
	var parts []string
	if sc, ok := linux["seccomp"].(map[string]any); ok {
		sys, _ := sc["syscalls"].([]any)
		parts = append(parts, fmt.Sprintf("seccomp %v with %d rules", sc["defaultAction"], len(sys)))
	} else {
		parts = append(parts, "NO seccomp")
	}
	if p, ok := spec["process"].(map[string]any); ok {
		if c, ok := p["capabilities"].(map[string]any); ok {
			b, _ := c["bounding"].([]any)
			parts = append(parts, fmt.Sprintf("%d capabilities", len(b)))
		}
	}
	m, _ := linux["maskedPaths"].([]any)
	ro, _ := linux["readonlyPaths"].([]any)
	parts = append(parts, fmt.Sprintf("%d masked and %d read-only paths", len(m), len(ro)))
	return strings.Join(parts, ", ")
}

func shortName(s string) string { f := strings.Fields(s); return f[0] }
