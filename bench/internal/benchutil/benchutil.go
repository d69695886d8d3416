// Package benchutil holds what the benchmark commands share: the busybox
// test image, the wharf binary (built as make build does) and its CLI
// runner, quantiles, process memory readings and the clean-up of mounts
// and cgroups a bare runtime leaves.
package benchutil

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/internal/wharfbuild"
)

// BuildRootfs makes the test image from Debian's static busybox: a
// directory (for a bare runtime) and a tar of it (for the engines).
func BuildRootfs(dir, tarPath string) {
	bb := "/bin/busybox"
	data, err := os.ReadFile(bb)
	Check(err)
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root"} {
		Check(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	Check(os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755))
	out, err := exec.Command(bb, "--list").Output()
	Check(err)
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			_ = os.Symlink("busybox", filepath.Join(dir, "bin", a))
		}
	}
	Check(os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	Check(os.WriteFile(filepath.Join(dir, "etc", "group"), []byte("root:x:0:\n"), 0o644))
	Check(WriteTar(dir, tarPath))
}

// WriteTar archives dir into tarPath, keeping symlinks as links.
func WriteTar(dir, tarPath string) error {
	f, err := os.Create(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
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
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// UnmountUnder detaches every mount below dir, deepest first.
func UnmountUnder(dir string) {
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

// RemoveCgroups removes /sys/fs/cgroup/*/<name> trees left by bare runs.
func RemoveCgroups(name string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	for _, r := range roots {
		subs, _ := filepath.Glob(r + "/*")
		for _, s := range subs {
			if fi, err := os.Stat(s); err == nil && fi.IsDir() {
				_ = os.Remove(s)
			}
		}
		_ = os.Remove(r)
	}
}

// SmapsField returns a field of a process's smaps_rollup in KiB (0 when
// unreadable).
func SmapsField(pid int, field string) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == field+":" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// PSS returns a process's proportional set size in KiB.
func PSS(pid int) float64 { return SmapsField(pid, "Pss") }

// RSS returns a process's resident set size in KiB.
func RSS(pid int) float64 { return SmapsField(pid, "Rss") }

// Quantile returns the q-quantile (0..1) of ts, 0 for none.
func Quantile(ts []time.Duration, q float64) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}

// Ms formats d as milliseconds with one decimal.
func Ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// built is the binary WharfBinary built, once per benchmark.
var built string

// WharfBinary returns the wharf binary a benchmark runs: path made
// absolute, or, when path is "", the artifact built from this checkout
// exactly as `make build` builds it (internal/wharfbuild), in a temporary
// directory that Cleanup removes.
func WharfBinary(path string) string {
	if path != "" {
		abs, err := filepath.Abs(path)
		Check(err)
		return abs
	}
	if built == "" {
		root, err := wharfbuild.ModuleRoot()
		Check(err)
		dir, err := os.MkdirTemp("", "wharf-bench-bin-")
		Check(err)
		OnExit(func() { _ = os.RemoveAll(dir) })
		bin := filepath.Join(dir, "wharf")
		Check(wharfbuild.Build(context.Background(), root, bin))
		built = bin
	}
	return built
}

// Wharf runs the wharf CLI against the daemon on sock and returns stdout.
func Wharf(bin, sock string, args ...string) (string, error) {
	cmd := exec.Command(bin, append([]string{"--host", "unix://" + sock}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("wharf %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// MustWharf is Wharf that ends the benchmark on failure.
func MustWharf(bin, sock string, args ...string) string {
	out, err := Wharf(bin, sock, args...)
	Check(err)
	return out
}

// WaitFor polls f until it is true or timeout passes.
func WaitFor(f func() bool, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Check ends the benchmark on err.
func Check(err error) {
	if err != nil {
		Fatal(err.Error())
	}
}

// Fatal prints msg prefixed with the command's name, runs the clean-ups
// and exits 1.
func Fatal(msg string) {
	fmt.Fprintln(os.Stderr, filepath.Base(os.Args[0])+": "+msg)
	Cleanup()
	os.Exit(1)
}

var (
	exitMu     sync.Mutex
	atExit     []func()
	signalOnce sync.Once
)

// OnExit registers f to run at Cleanup, the last registered first, so that
// a benchmark that fails half-way still stops its daemons and containers.
// An interrupt or termination (Ctrl-C, kill) runs the clean-ups too, then
// exits: a benchmark stopped by hand leaves no daemon, bridge or
// namespace behind.
func OnExit(f func()) {
	signalOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		go func() {
			sig := <-ch
			fmt.Fprintf(os.Stderr, "%s: %v: cleaning up\n", filepath.Base(os.Args[0]), sig)
			Cleanup()
			os.Exit(130)
		}()
	})
	exitMu.Lock()
	atExit = append(atExit, f)
	exitMu.Unlock()
}

// Cleanup runs the functions OnExit registered, each once.
func Cleanup() {
	for {
		exitMu.Lock()
		if len(atExit) == 0 {
			exitMu.Unlock()
			return
		}
		f := atExit[len(atExit)-1]
		atExit = atExit[:len(atExit)-1]
		exitMu.Unlock()
		f()
	}
}

// Daemon is a wharf daemon a benchmark started under its own directory,
// with its own bridge and subnet and no Lambda API listener, so that it runs
// beside a live daemon and never touches it.
type Daemon struct {
	Sock string
	cmd  *exec.Cmd
}

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// StartDaemon starts bin's daemon under dir with extra daemon flags, waits
// until it answers and registers its stop with OnExit. If it does not
// answer, the benchmark ends with the daemon's log.
func StartDaemon(bin, dir, bridge, subnet string, extra ...string) *Daemon {
	d := &Daemon{Sock: filepath.Join(dir, "run", "wharf.sock")}
	args := append([]string{"daemon", "--root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "run"),
		"--log-level", "warn", "--bridge-name", bridge, "--bridge-subnet", subnet, "--http", ""}, extra...)
	d.cmd = exec.Command(bin, args...)
	logPath := filepath.Join(dir, "daemon.log")
	Check(os.MkdirAll(dir, 0o755))
	logf, err := os.Create(logPath)
	Check(err)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	Check(d.cmd.Start())
	exited := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(exited) }()
	OnExit(func() {
		out, _ := Wharf(bin, d.Sock, "ps", "-aq")
		for _, id := range strings.Fields(out) {
			_, _ = Wharf(bin, d.Sock, "rm", "-f", id)
		}
		_ = d.cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = d.cmd.Process.Kill()
			<-exited
		}
		UnmountUnder(dir)
		_ = exec.Command("ip", "link", "del", bridge).Run()
	})
	ok := WaitFor(func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		_, err := Wharf(bin, d.Sock, "version")
		return err == nil
	}, 30*time.Second)
	select {
	case <-exited:
		ok = false
	default:
	}
	if !ok {
		log, _ := os.ReadFile(logPath)
		Fatal("the wharf daemon did not answer; its log:\n" + string(log))
	}
	return d
}

// MustWaitFor is WaitFor with a 10 s limit that ends the benchmark on
// timeout.
func MustWaitFor(f func() bool) {
	if !WaitFor(f, 10*time.Second) {
		Fatal("timed out waiting")
	}
}
