// Command buildbench measures builds: a 10-step Dockerfile of two stages
// (RUN steps, a COPY of 1,000 small files, COPY --from) built cold, rebuilt
// with no change and rebuilt after one copied file changed, with `wharf
// build`, and in the same run with a private dockerd's BuildKit
// (DOCKER_BUILDKIT=1) and classic builder (DOCKER_BUILDKIT=0) when dockerd
// is installed. Every RUN has no network (dockerd runs with --bridge=none
// and builds with --network none). It needs root and prints medians and
// the ratios against the targets: no-change rebuild <= 0.5x BuildKit's and
// <= 100 ms, one-file change <= 0.7x, cold <= 1.0x.
//
//	go run ./bench/buildbench -wharf bin/wharf -n 5
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

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
)

var (
	wharfBin  = flag.String("wharf", "", "wharf binary (default: built from this checkout as make build does)")
	dockerBin = flag.String("docker", "/usr/bin/docker", "docker CLI with the builtin BuildKit client (Debian's 20.10)")
	n         = flag.Int("n", 5, "runs per measure")
	files     = flag.Int("files", 1000, "small files in the copied directory")
)

const dockerfile = `FROM bench/busybox:1 AS build
WORKDIR /src
COPY files/ /src/files/
RUN cat /src/files/* | wc -c > /size
RUN echo built > /built
FROM bench/busybox:1
ENV APP=bench
COPY --from=build /size /built /out/
COPY files/ /app/files/
RUN ls /app/files | wc -l > /count
CMD ["cat", "/out/size"]
`

// builder is one way of building the context.
type builder struct {
	name  string
	build func(noCache bool) *exec.Cmd
	prune func() *exec.Cmd
	// cold, nochange and onefile are the measured durations.
	cold, nochange, onefile []time.Duration
}

func run(cmd *exec.Cmd) (time.Duration, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return d, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return d, nil
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		benchutil.Fatal("buildbench needs root")
	}
	bin := benchutil.WharfBinary(*wharfBin)
	dir, err := os.MkdirTemp("/tmp", "wbb-")
	benchutil.Check(err)
	benchutil.OnExit(func() {
		benchutil.UnmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	defer benchutil.Cleanup()
	tarPath := filepath.Join(dir, "busybox.tar")
	benchutil.BuildRootfs(filepath.Join(dir, "rootfs"), tarPath)

	ctxDir := filepath.Join(dir, "ctx")
	benchutil.Check(os.MkdirAll(filepath.Join(ctxDir, "files"), 0o755))
	benchutil.Check(os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644))
	for i := 0; i < *files; i++ {
		benchutil.Check(os.WriteFile(filepath.Join(ctxDir, "files", fmt.Sprintf("f%04d.txt", i)), []byte(fmt.Sprintf("file %d\n", i)), 0o644))
	}

	sock := benchutil.StartDaemon(bin, filepath.Join(dir, "w"), fmt.Sprintf("wbb%x", os.Getpid()&0xffffff), "10.252.79.0/24").Sock
	wharf := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "WHARF_HOST=unix://"+sock)
		return c
	}
	if _, err := run(wharf("import", tarPath, "bench/busybox:1")); err != nil {
		benchutil.Fatal(err.Error())
	}
	bs := []*builder{{
		name: "wharf build",
		build: func(noCache bool) *exec.Cmd {
			args := []string{"build", "-q", "-t", "bench/app:1", ctxDir}
			if noCache {
				args = append(args, "--no-cache")
			}
			return wharf(args...)
		},
		prune: func() *exec.Cmd { return wharf("builder", "prune", "-af") },
	}}
	if docker, err := exec.LookPath(*dockerBin); err == nil {
		bs = append(bs, dockerBuilders(dir, docker, tarPath, sock, ctxDir)...)
	}

	changed := filepath.Join(ctxDir, "files", "f0500.txt")
	for i := -1; i < *n; i++ { // one warm-up round
		for _, b := range bs {
			if _, err := run(b.prune()); err != nil {
				benchutil.Fatal(err.Error())
			}
			cold, err := run(b.build(false))
			if err != nil {
				benchutil.Fatal(err.Error())
			}
			same, err := run(b.build(false))
			if err != nil {
				benchutil.Fatal(err.Error())
			}
			benchutil.Check(os.WriteFile(changed, []byte(fmt.Sprintf("changed %d %s %d\n", i, b.name, time.Now().UnixNano())), 0o644))
			one, err := run(b.build(false))
			if err != nil {
				benchutil.Fatal(err.Error())
			}
			if i >= 0 {
				b.cold, b.nochange, b.onefile = append(b.cold, cold), append(b.nochange, same), append(b.onefile, one)
			}
		}
	}
	fmt.Printf("%-34s %12s %12s %12s\n", "builder (median of "+fmt.Sprint(*n)+")", "cold", "no change", "one file")
	med := func(ts []time.Duration) time.Duration { return benchutil.Quantile(ts, 0.5) }
	for _, b := range bs {
		fmt.Printf("%-34s %12s %12s %12s\n", b.name, benchutil.Ms(med(b.cold)), benchutil.Ms(med(b.nochange)), benchutil.Ms(med(b.onefile)))
	}
	w := bs[0]
	fmt.Printf("\nwharf no-change rebuild: %s (target <= 100ms)\n", benchutil.Ms(med(w.nochange)))
	for _, b := range bs[1:] {
		fmt.Printf("wharf / %s: cold %.2fx (target <= 1.0x vs BuildKit), no change %.2fx (<= 0.5x), one file %.2fx (<= 0.7x)\n",
			b.name, ratio(med(w.cold), med(b.cold)), ratio(med(w.nochange), med(b.nochange)), ratio(med(w.onefile), med(b.onefile)))
	}
	if len(bs) == 1 {
		fmt.Println("dockerd not installed or did not start: no comparison with BuildKit")
	}
}

// dockerBuilders starts a private dockerd and returns its BuildKit and
// classic builders, plus the classic docker build through wharf's socket.
func dockerBuilders(dir, docker, tarPath, wharfSock, ctxDir string) []*builder {
	dk := func(sock string, buildkit string, args ...string) *exec.Cmd {
		c := exec.Command(docker, args...)
		c.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+filepath.Join(dir, "dcfg"), "DOCKER_BUILDKIT="+buildkit)
		return c
	}
	out := []*builder{{
		name: "docker build via wharf (classic)",
		build: func(noCache bool) *exec.Cmd {
			return dk(wharfSock, "0", "build", "-q", "-t", "bench/app:2", ctxDir)
		},
		prune: func() *exec.Cmd { return dk(wharfSock, "0", "builder", "prune", "-af") },
	}}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		return out
	}
	e := filepath.Join(dir, "de")
	benchutil.Check(os.MkdirAll(e, 0o755))
	dsock := filepath.Join(e, "docker.sock")
	d := exec.Command(dockerd, "--data-root", filepath.Join(dir, "dd"), "--exec-root", e, "-H", "unix://"+dsock,
		"--pidfile", filepath.Join(e, "docker.pid"), "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--bridge=none")
	dlog, _ := os.Create(filepath.Join(dir, "dockerd.log"))
	d.Stdout, d.Stderr = dlog, dlog
	if d.Start() != nil {
		return out
	}
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
	if !benchutil.WaitFor(func() bool { return dk(dsock, "0", "version").Run() == nil }, 30*time.Second) {
		return out
	}
	if _, err := run(dk(dsock, "0", "import", tarPath, "bench/busybox:1")); err != nil {
		return out
	}
	for _, v := range []struct{ name, env string }{{"dockerd BuildKit", "1"}, {"dockerd classic builder", "0"}} {
		v := v
		out = append(out, &builder{
			name: v.name,
			build: func(noCache bool) *exec.Cmd {
				return dk(dsock, v.env, "build", "-q", "--network", "none", "-t", "bench/app:1", ctxDir)
			},
			prune: func() *exec.Cmd {
				// The classic builder's cache is its intermediate images.
				c := dk(dsock, v.env, "builder", "prune", "-af")
				if v.env == "0" {
					return exec.Command("sh", "-c", strings.Join(c.Args, " ")+" && "+docker+" -H unix://"+dsock+" image prune -af --filter label!=keep >/dev/null; "+docker+" -H unix://"+dsock+" image rm -f bench/app:1 >/dev/null 2>&1; true")
				}
				return c
			},
		})
	}
	return out
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
