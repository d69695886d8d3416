// Command dockerbench measures the Docker API's overhead: `docker run --rm
// IMG true` through wharf's socket against `wharf run --rm IMG true` on the
// same daemon (target <= 1.2x), and against a private dockerd when one is
// installed (target <= 0.5x). Every container runs with --network none so
// that no measure pays for networking the others skip. It needs root and
// prints medians, p95 and the ratios.
//
//	go run ./bench/dockerbench -wharf bin/wharf -n 30
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"

	"golang.org/x/sys/unix"
)

var (
	wharfBin  = flag.String("wharf", "", "wharf binary (default: built from this checkout as make build does)")
	dockerBin = flag.String("docker", "docker", "docker CLI")
	n         = flag.Int("n", 30, "runs per measure")
)

type measure struct {
	name  string
	cmd   func() *exec.Cmd
	times []time.Duration
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		benchutil.Fatal("dockerbench needs root")
	}
	bin := benchutil.WharfBinary(*wharfBin)
	docker, err := exec.LookPath(*dockerBin)
	if err != nil {
		benchutil.Fatal("the docker CLI is needed: " + err.Error())
	}
	dir, err := os.MkdirTemp("/tmp", "wdb-")
	benchutil.Check(err)
	benchutil.OnExit(func() {
		benchutil.UnmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	defer benchutil.Cleanup()
	tarPath := filepath.Join(dir, "busybox.tar")
	benchutil.BuildRootfs(filepath.Join(dir, "rootfs"), tarPath)

	// wharf, on its own bridge and subnet so a live daemon is never touched.
	sock := benchutil.StartDaemon(bin, filepath.Join(dir, "w"), fmt.Sprintf("wdb%x", os.Getpid()&0xffffff), "10.252.78.0/24").Sock
	wharf := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "WHARF_HOST=unix://"+sock)
		return c
	}
	dockerW := func(args ...string) *exec.Cmd {
		c := exec.Command(docker, args...)
		c.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+filepath.Join(dir, "dcfg"))
		return c
	}
	if out, err := wharf("import", tarPath, "bench/busybox:1").CombinedOutput(); err != nil {
		benchutil.Fatal("import: " + string(out))
	}
	ms := []*measure{
		{name: "docker run --rm (wharf socket)", cmd: func() *exec.Cmd { return dockerW("run", "--rm", "--network", "none", "bench/busybox:1", "true") }},
		{name: "wharf run --rm", cmd: func() *exec.Cmd { return wharf("run", "--rm", "--network", "none", "bench/busybox:1", "true") }},
	}

	// A private dockerd, when installed.
	if dockerd, err := exec.LookPath("dockerd"); err == nil {
		e := filepath.Join(dir, "de")
		benchutil.Check(os.MkdirAll(e, 0o755))
		dsock := filepath.Join(e, "docker.sock")
		d := exec.Command(dockerd, "--data-root", filepath.Join(dir, "dd"), "--exec-root", e, "-H", "unix://"+dsock,
			"--pidfile", filepath.Join(e, "docker.pid"), "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--bridge=none")
		dlog, _ := os.Create(filepath.Join(dir, "dockerd.log"))
		d.Stdout, d.Stderr = dlog, dlog
		if d.Start() == nil {
			benchutil.OnExit(func() {
				_ = d.Process.Signal(unix.SIGTERM)
				done := make(chan struct{})
				go func() { _, _ = d.Process.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					_ = d.Process.Kill()
				}
				benchutil.UnmountUnder(dir)
			})
			dk := func(args ...string) *exec.Cmd {
				c := exec.Command(docker, args...)
				c.Env = append(os.Environ(), "DOCKER_HOST=unix://"+dsock, "DOCKER_CONFIG="+filepath.Join(dir, "dcfg"))
				return c
			}
			if benchutil.WaitFor(func() bool { return dk("version").Run() == nil }, 30*time.Second) && dk("import", tarPath, "bench/busybox:1").Run() == nil {
				ms = append(ms, &measure{name: "docker run --rm (dockerd)", cmd: func() *exec.Cmd {
					return dk("run", "--rm", "--network", "none", "bench/busybox:1", "true")
				}})
			}
		}
	}

	for i := -3; i < *n; i++ { // three warm-up rounds
		for _, m := range ms {
			cmd := m.cmd()
			var errb bytes.Buffer
			cmd.Stderr = &errb
			t0 := time.Now()
			err := cmd.Run()
			d := time.Since(t0)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v: %s\n", m.name, err, strings.TrimSpace(errb.String()))
				continue
			}
			if i >= 0 {
				m.times = append(m.times, d)
			}
		}
	}
	fmt.Printf("%-34s %10s %10s\n", "measure", "median", "p95")
	for _, m := range ms {
		fmt.Printf("%-34s %10s %10s\n", m.name, benchutil.Ms(benchutil.Quantile(m.times, 0.5)), benchutil.Ms(benchutil.Quantile(m.times, 0.95)))
	}
	viaAPI := benchutil.Quantile(ms[0].times, 0.5)
	fmt.Printf("\ndocker CLI via wharf / wharf CLI: %.2fx (target <= 1.2x)\n", ratio(viaAPI, benchutil.Quantile(ms[1].times, 0.5)))
	if len(ms) > 2 {
		fmt.Printf("docker CLI via wharf / via dockerd: %.2fx (target <= 0.5x)\n", ratio(viaAPI, benchutil.Quantile(ms[2].times, 0.5)))
	} else {
		fmt.Println("dockerd not installed or did not start: no comparison with Docker")
	}
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
