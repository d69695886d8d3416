package testutil

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/internal/wharfbuild"
)

// The wharf binary is built once per test binary: every daemon, CLI call
// and shim of the package's tests runs the same file.
var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// BuildWharf builds the wharf artifact of the module that holds the
// working directory (found by walking up to go.mod), as `make build` does
// (internal/wharfbuild), and returns the binary's path. It builds once per
// test binary; RemoveBuiltWharf deletes the result.
func BuildWharf(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := wharfbuild.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "wharf-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(buildDir, "wharf")
		buildErr = wharfbuild.Build(context.Background(), root, buildBin)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// RemoveBuiltWharf deletes the binary BuildWharf made. A TestMain calls it
// after m.Run, once no daemon or shim runs it any more.
func RemoveBuiltWharf() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// DaemonOption changes how StartDaemon starts a daemon.
type DaemonOption func(*daemonConfig)

type daemonConfig struct {
	args                 []string
	bridge, bridgeSubnet string
	// netns is the network namespace the daemon runs in (netns.go).
	netns string
}

// WithBridge sets the Linux bridge name and subnet of the daemon's default
// "bridge" network. Without it every daemon gets its own random ones
// (wt<hex>, a free 10.2xx.y.0/24), so test daemons never share a bridge
// with each other or with a live daemon.
func WithBridge(name, subnet string) DaemonOption {
	return func(c *daemonConfig) { c.bridge, c.bridgeSubnet = name, subnet }
}

// WithDaemonArgs passes extra flags to `wharf daemon`
// (e.g. "--insecure-registry", "10.0.0.1:5000").
func WithDaemonArgs(args ...string) DaemonOption {
	return func(c *daemonConfig) { c.args = append(c.args, args...) }
}

// Daemon is a wharf daemon run by a test on its own root, exec-root and
// socket. Everything it leaves behind (containers, shims, runtime state,
// mounts, cgroups, directories) is removed in t.Cleanup.
type Daemon struct {
	Root, ExecRoot, Socket, Bin string
	// LogPath is the daemon's stderr and stdout, appended to across
	// restarts and printed when the test fails.
	LogPath string
	// Bridge and BridgeSubnet are the default network's bridge and subnet.
	Bridge, BridgeSubnet string

	args  []string
	netns string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	ids  map[string]bool
}

// StartDaemon starts a daemon on fresh directories under /tmp (short names:
// a unix socket path holds at most 108 bytes) and waits until it answers
// `wharf version`. It skips the test unless it runs as root.
func StartDaemon(t testing.TB, opts ...DaemonOption) *Daemon {
	t.Helper()
	RequiresRoot(t)
	var cfg daemonConfig
	for _, o := range opts {
		o(&cfg)
	}
	bin := BuildWharf(t)
	base, err := os.MkdirTemp("/tmp", "wi-")
	if err != nil {
		t.Fatal(err)
	}
	// Containers in user namespaces of their own (FARGATE tasks) reach
	// their bundles under the root as unprivileged host users.
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{
		Root:     filepath.Join(base, "r"),
		ExecRoot: filepath.Join(base, "e"),
		Bin:      bin,
		LogPath:  filepath.Join(base, "daemon.log"),
		ids:      map[string]bool{},
	}
	d.Socket = filepath.Join(d.ExecRoot, "wharf.sock")
	d.Bridge, d.BridgeSubnet = cfg.bridge, cfg.bridgeSubnet
	d.netns = cfg.netns
	if d.Bridge == "" {
		d.Bridge = RandomBridgeName()
	}
	if d.BridgeSubnet == "" {
		d.BridgeSubnet = FreeSubnet(t)
	}
	d.args = append([]string{"daemon", "--root", d.Root, "--exec-root", d.ExecRoot,
		"--bridge-name", d.Bridge, "--bridge-subnet", d.BridgeSubnet,
		// No functions API port unless a test asks for one (WithDaemonArgs
		// "--http", addr): daemons run side by side.
		"--http", ""}, cfg.args...)
	// WHARF_TEST_RUNTIME runs a suite's daemons with another default
	// runtime (`WHARF_TEST_RUNTIME=crun go test ./integration -run ...`),
	// unless a test picks one itself.
	if rt := os.Getenv("WHARF_TEST_RUNTIME"); rt != "" && !slices.Contains(cfg.args, "--default-runtime") {
		d.args = append(d.args, "--default-runtime", rt)
	}
	t.Cleanup(func() {
		if t.Failed() {
			d.diagnose(t)
		}
		d.cleanup(t)
		if t.Failed() {
			d.dumpLog(t)
		}
		if err := os.RemoveAll(base); err != nil {
			t.Errorf("remove %s: %v", base, err)
		}
	})
	d.start(t)
	return d
}

// Kill9 kills the daemon with SIGKILL and waits for it; its shims and
// containers go on running.
func (d *Daemon) Kill9() {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Stop stops the daemon as an init system would: SIGTERM, then SIGKILL
// after 10 seconds.
func (d *Daemon) Stop() {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the daemon again on the same directories, stopping it
// first (SIGTERM) if it still runs.
func (d *Daemon) Restart(t testing.TB) {
	t.Helper()
	d.Stop()
	d.start(t)
}

// Pid returns the daemon's pid, or 0 if it is not running.
func (d *Daemon) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return 0
	}
	select {
	case <-d.done:
		return 0
	default:
	}
	return d.cmd.Process.Pid
}

func (d *Daemon) start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== %s wharf %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(d.args, " "))
	name, args := netnsCommand(d.netns, d.Bin, d.args)
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a ^C to `go test` reaches the test binary,
	// whose cleanup stops the daemon in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start daemon: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			d.dumpLog(t)
			t.Fatalf("daemon exited before it answered: %v", cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := d.command(ctx, "version").Run()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			d.dumpLog(t)
			t.Fatalf("daemon did not answer `wharf version` within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Host is the value of WHARF_HOST that reaches this daemon.
func (d *Daemon) Host() string { return "unix://" + d.Socket }

// Command returns an unstarted CLI command talking to this daemon, for
// tests that stream (logs -f, attach) or feed stdin.
func (d *Daemon) Command(ctx context.Context, args ...string) *exec.Cmd {
	return d.command(ctx, args...)
}

func (d *Daemon) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.Bin, args...)
	cmd.Env = append(os.Environ(), "WHARF_HOST="+d.Host())
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

var fullID = regexp.MustCompile(`\b[0-9a-f]{64}\b`)

// Wharf runs the CLI against this daemon (60s timeout) and returns its
// stdout, stderr and exit code. A CLI that cannot be run, or times out,
// fails the test.
func (d *Daemon) Wharf(t testing.TB, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return d.WharfStdin(t, nil, args...)
}

// WharfStdin is Wharf with data on the CLI's stdin.
func (d *Daemon) WharfStdin(t testing.TB, stdin []byte, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := d.command(ctx, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	d.noteIDs(o.String())
	if ctx.Err() != nil {
		t.Fatalf("wharf %s: timed out after 60s\nstdout: %s\nstderr: %s", strings.Join(args, " "), o.String(), e.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return o.String(), e.String(), 0
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitCode()
	default:
		t.Fatalf("wharf %s: %v", strings.Join(args, " "), err)
		return "", "", -1
	}
}

// MustWharf runs the CLI and fails the test unless it exits 0; it returns
// stdout.
func (d *Daemon) MustWharf(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, code := d.Wharf(t, args...)
	if code != 0 {
		t.Fatalf("wharf %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// ImportBusybox imports BusyboxRootfsTar as image ref.
func (d *Daemon) ImportBusybox(t testing.TB, ref string) {
	t.Helper()
	d.ImportTar(t, BusyboxRootfsTar(t), ref)
}

// ImportTar imports a root filesystem tar as image ref.
func (d *Daemon) ImportTar(t testing.TB, data []byte, ref string) {
	t.Helper()
	f := filepath.Join(filepath.Dir(d.Root), "import-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".tar")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f)
	d.MustWharf(t, "import", f, ref)
}

// noteIDs remembers container IDs the CLI printed, so that cleanup can find
// the cgroups of containers that were removed already.
func (d *Daemon) noteIDs(s string) {
	ms := fullID.FindAllString(s, -1)
	if len(ms) == 0 {
		return
	}
	d.mu.Lock()
	for _, m := range ms {
		d.ids[m] = true
	}
	d.mu.Unlock()
}

// ContainerIDs returns every container ID this daemon is known to have
// had, removed ones included: printed by the CLI, named in the daemon's log,
// or with a directory under root or exec-root. (Image IDs may appear too;
// they name no cgroup or directory, so callers need not filter them.)
func (d *Daemon) ContainerIDs() []string {
	d.mu.Lock()
	set := map[string]bool{}
	for id := range d.ids {
		set[id] = true
	}
	d.mu.Unlock()
	if data, err := os.ReadFile(d.LogPath); err == nil {
		for _, m := range fullID.FindAllString(string(data), -1) {
			set[m] = true
		}
	}
	for _, dir := range []string{filepath.Join(d.Root, "containers"), filepath.Join(d.ExecRoot, "shims")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if fullID.MatchString(e.Name()) {
				set[e.Name()] = true
			}
		}
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Mounts returns the mount points under the daemon's root or exec-root, as
// /proc/self/mountinfo lists them, deepest first.
func (d *Daemon) Mounts() []string {
	return MountsUnder(d.Root, d.ExecRoot)
}

// MountsUnder returns the mount points at or under any of dirs, deepest
// first.
func MountsUnder(dirs ...string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		for _, dir := range dirs {
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(out[i], "/") > strings.Count(out[j], "/")
	})
	return out
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ShimPids returns the pids of `wharf shim` processes whose command line
// mentions this daemon's exec-root.
func (d *Daemon) ShimPids() []int {
	return processes(func(pid int, args []string) bool {
		if len(args) < 2 || filepath.Base(args[0]) != "wharf" || args[1] != "shim" {
			return false
		}
		// A shim that serves a container works in its directory under the
		// exec-root; one waiting for a container (cwd /) exits with its
		// daemon.
		cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd"))
		return err == nil && strings.HasPrefix(cwd, d.ExecRoot+"/")
	})
}

// RuntimePids returns the pids of OCI runtime processes (runc, crun) whose
// command line mentions this daemon's exec-root: runtime commands in
// flight, and warm execs waiting for the next exec.
func (d *Daemon) RuntimePids() []int {
	return processes(func(_ int, args []string) bool {
		if b := filepath.Base(args[0]); b != "runc" && b != "crun" {
			return false
		}
		return slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, d.ExecRoot+"/") })
	})
}

// ProcessesUnder returns the pids of the shims working in a directory
// under dir and of the OCI runtime processes (runc, crun) whose arguments
// name a path under it: what is still at work for an engine whose
// exec-root is dir after the engine was closed.
func ProcessesUnder(dir string) []int {
	return processes(func(pid int, args []string) bool {
		if b := filepath.Base(args[0]); b == "runc" || b == "crun" {
			return slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, dir+"/") })
		}
		if len(args) < 2 || args[1] != "shim" {
			return false
		}
		cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd"))
		return err == nil && strings.HasPrefix(cwd, dir+"/")
	})
}

// AwaitProcessesUnder waits (at most 20 s) until ProcessesUnder(dir) is
// empty, and fails the test if it does not become so: a test's engine
// closes before the shims' last runtime commands end, and those would
// write under the test's directories (and leave cgroups) after they go.
func AwaitProcessesUnder(t testing.TB, dir string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(ProcessesUnder(dir)) > 0 {
		if time.Now().After(deadline) {
			t.Errorf("processes still at work under %s: %v", dir, ProcessesUnder(dir))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processes returns the pids of the processes whose arguments match.
func processes(match func(pid int, args []string) bool) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		if match(pid, strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// CgroupDirs returns the cgroup directories of container id that exist, in
// every hierarchy (/sys/fs/cgroup/*/wharf/<id>, and the unified one), or
// below a cluster task's cgroup (wharf-tasks/<task>/<id>).
func CgroupDirs(id string) []string {
	var out []string
	cands, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "wharf", id))
	cands = append(cands, filepath.Join("/sys/fs/cgroup", "wharf", id))
	tasks, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "wharf-tasks", "*", id))
	cands = append(cands, tasks...)
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			out = append(out, c)
		}
	}
	return out
}

// RuncRoot is the state directory runc uses for this daemon's containers.
func (d *Daemon) RuncRoot() string { return filepath.Join(d.ExecRoot, "runtime", "runc") }

// cleanup removes everything the daemon made, in an order that does not
// let one step undo another: containers through the API, the daemon, stray
// shims, runtime state, mounts, cgroups.
func (d *Daemon) cleanup(t testing.TB) {
	t.Helper()
	if d.Pid() != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := d.command(ctx, "ps", "-aq", "--no-trunc").Output()
		cancel()
		if err == nil {
			d.noteIDs(string(out))
			if ids := strings.Fields(string(out)); len(ids) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				if out, err := d.command(ctx, append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
					t.Logf("cleanup: wharf rm -f: %v\n%s", err, out)
				}
				cancel()
			}
		}
	}
	ids := d.ContainerIDs()
	d.Stop()

	for _, pid := range d.ShimPids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if _, err := os.Stat(d.RuncRoot()); err == nil {
		if runc, err := exec.LookPath("runc"); err == nil {
			out, _ := exec.Command(runc, "--root", d.RuncRoot(), "list", "-q").Output()
			for _, id := range strings.Fields(string(out)) {
				_ = exec.Command(runc, "--root", d.RuncRoot(), "delete", "-f", id).Run()
			}
		}
	}
	for _, id := range ids {
		killCgroupProcs(id)
	}
	// Processes killed above may take a moment to leave their mounts and
	// cgroups.
	for _, mp := range d.Mounts() {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
			t.Logf("cleanup: unmount %s: %v", mp, err)
		}
	}
	for _, l := range d.Bridges() {
		if err := DeleteLink(l); err != nil {
			t.Logf("cleanup: delete bridge %s: %v", l, err)
		}
	}
	for _, id := range ids {
		for _, dir := range CgroupDirs(id) {
			var err error
			for i := 0; i < 50; i++ {
				if err = os.Remove(dir); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil && !os.IsNotExist(err) {
				t.Logf("cleanup: remove cgroup %s: %v", dir, err)
			}
		}
	}
}

// RemoveEmptyCgroupParents removes the /wharf parent cgroup the runtime
// created under each hierarchy, when no container of any daemon is left
// in it (rmdir refuses a cgroup with children). Call it once all of a
// package's daemons are gone (TestMain): during a test a parallel daemon's
// runtime could be between creating the parent and its child.
func RemoveEmptyCgroupParents() {
	// Cluster tasks' cgroups first (a task stopped by its daemon's end
	// keeps its own), then their parent.
	parents, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "wharf-tasks", "*"))
	more, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "wharf-tasks", "*"))
	parents = append(parents, more...)
	more, _ = filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "wharf-tasks"))
	parents = append(append(parents, more...), filepath.Join("/sys/fs/cgroup", "wharf-tasks"))
	more, _ = filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "wharf"))
	parents = append(append(parents, more...), filepath.Join("/sys/fs/cgroup", "wharf"))
	for _, p := range parents {
		_ = os.Remove(p)
	}
}

// killCgroupProcs SIGKILLs every process left in container id's cgroups,
// thawing a frozen one first so the signal is delivered.
func killCgroupProcs(id string) {
	for _, dir := range CgroupDirs(id) {
		killCgroupDir(dir)
	}
}

// killCgroupDir SIGKILLs every process in one cgroup directory (v1 or v2),
// thawing a frozen one first so the signal is delivered.
func killCgroupDir(dir string) {
	if _, err := os.Stat(filepath.Join(dir, "freezer.state")); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0o644)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.freeze")); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0o644)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(raw)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// dumpLog prints the daemon's log (its last 256 KiB) into the test output.
func (d *Daemon) dumpLog(t testing.TB) { logTail(t, "daemon", d.LogPath, 256<<10) }

// logTail prints the last max bytes of a log file into the test output.
func logTail(t testing.TB, what, path string, max int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("%s log %s: %v", what, path, err)
		return
	}
	if len(data) > max {
		data = append([]byte("...\n"), data[len(data)-max:]...)
	}
	t.Logf("%s log (%s):\n%s", what, path, data)
}
