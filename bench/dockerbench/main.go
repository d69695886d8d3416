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
	"archive/tar"
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

var (
	wharfBin  = flag.String("wharf", "bin/wharf", "wharf binary")
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
		fatal("dockerbench needs root")
	}
	bin, err := filepath.Abs(*wharfBin)
	check(err)
	docker, err := exec.LookPath(*dockerBin)
	if err != nil {
		fatal("the docker CLI is needed: " + err.Error())
	}
	dir, err := os.MkdirTemp("/tmp", "wdb-")
	check(err)
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		unmountUnder(dir)
		_ = os.RemoveAll(dir)
	}()
	tarPath := filepath.Join(dir, "busybox.tar")
	buildRootfs(filepath.Join(dir, "rootfs"), tarPath)

	// wharf, on its own bridge and subnet so a live daemon is never touched.
	wd := filepath.Join(dir, "w")
	sock := filepath.Join(wd, "run", "wharf.sock")
	bridge := fmt.Sprintf("wdb%x", os.Getpid()&0xffffff)
	daemon := exec.Command(bin, "daemon", "--root", filepath.Join(wd, "root"), "--exec-root", filepath.Join(wd, "run"), "--log-level", "warn",
		"--bridge-name", bridge, "--bridge-subnet", "10.252.78.0/24")
	logf, _ := os.Create(filepath.Join(dir, "daemon.log"))
	daemon.Stdout, daemon.Stderr = logf, logf
	check(daemon.Start())
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
	cleanups = append(cleanups, func() {
		_ = daemon.Process.Signal(os.Interrupt)
		_, _ = daemon.Process.Wait()
		unmountUnder(dir)
		_ = exec.Command("ip", "link", "del", bridge).Run()
	})
	if !waitFor(func() bool { return wharf("version").Run() == nil }) {
		fatal("wharf daemon did not answer; see " + logf.Name())
	}
	if out, err := wharf("import", tarPath, "bench/busybox:1").CombinedOutput(); err != nil {
		fatal("import: " + string(out))
	}
	ms := []*measure{
		{name: "docker run --rm (wharf socket)", cmd: func() *exec.Cmd { return dockerW("run", "--rm", "--network", "none", "bench/busybox:1", "true") }},
		{name: "wharf run --rm", cmd: func() *exec.Cmd { return wharf("run", "--rm", "--network", "none", "bench/busybox:1", "true") }},
	}

	// A private dockerd, when installed.
	if dockerd, err := exec.LookPath("dockerd"); err == nil {
		e := filepath.Join(dir, "de")
		check(os.MkdirAll(e, 0o755))
		dsock := filepath.Join(e, "docker.sock")
		d := exec.Command(dockerd, "--data-root", filepath.Join(dir, "dd"), "--exec-root", e, "-H", "unix://"+dsock,
			"--pidfile", filepath.Join(e, "docker.pid"), "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--bridge=none")
		dlog, _ := os.Create(filepath.Join(dir, "dockerd.log"))
		d.Stdout, d.Stderr = dlog, dlog
		if d.Start() == nil {
			cleanups = append(cleanups, func() {
				_ = d.Process.Signal(unix.SIGTERM)
				done := make(chan struct{})
				go func() { _, _ = d.Process.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					_ = d.Process.Kill()
				}
				unmountUnder(dir)
			})
			dk := func(args ...string) *exec.Cmd {
				c := exec.Command(docker, args...)
				c.Env = append(os.Environ(), "DOCKER_HOST=unix://"+dsock, "DOCKER_CONFIG="+filepath.Join(dir, "dcfg"))
				return c
			}
			if waitFor(func() bool { return dk("version").Run() == nil }) && dk("import", tarPath, "bench/busybox:1").Run() == nil {
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
		fmt.Printf("%-34s %10s %10s\n", m.name, ms3(quantile(m.times, 0.5)), ms3(quantile(m.times, 0.95)))
	}
	viaAPI := quantile(ms[0].times, 0.5)
	fmt.Printf("\ndocker CLI via wharf / wharf CLI: %.2fx (target <= 1.2x)\n", ratio(viaAPI, quantile(ms[1].times, 0.5)))
	if len(ms) > 2 {
		fmt.Printf("docker CLI via wharf / via dockerd: %.2fx (target <= 0.5x)\n", ratio(viaAPI, quantile(ms[2].times, 0.5)))
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

func quantile(ts []time.Duration, q float64) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}

func ms3(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func waitFor(f func() bool) bool {
	for i := 0; i < 300; i++ {
		if f() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// buildRootfs makes the test image from the host's static busybox.
func buildRootfs(dir, tarPath string) {
	data, err := os.ReadFile("/bin/busybox")
	check(err)
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root"} {
		check(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	check(os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755))
	out, err := exec.Command("/bin/busybox", "--list").Output()
	check(err)
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			_ = os.Symlink("busybox", filepath.Join(dir, "bin", a))
		}
	}
	check(os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	f, err := os.Create(tarPath)
	check(err)
	defer f.Close()
	tw := tar.NewWriter(f)
	check(filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	}))
	check(tw.Close())
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			mps = append(mps, fields[4])
		}
	}
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	for _, m := range mps {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
}

func check(err error) {
	if err != nil {
		fatal(err.Error())
	}
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "dockerbench:", msg)
	os.Exit(1)
}
