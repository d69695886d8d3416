package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
	"github.com/wharf-dev/wharf/runtime/oci"
)

// requireCrun skips unless crun can run containers here (on a hybrid
// cgroup layout: with its cgroup2 mount hidden from it).
func requireCrun(t *testing.T) oci.Candidate {
	t.Helper()
	testutil.RequiresRoot(t)
	if _, err := exec.LookPath("crun"); err != nil {
		t.Skip("crun is not installed")
	}
	c := oci.Probe(context.Background(), "crun", t.TempDir())
	if !c.Usable {
		t.Skipf("crun is not usable here: %s", c.Reason)
	}
	return c
}

// A container run by crun, on a host whose hybrid cgroup layout crun
// refuses as it is: its limits land in the v1 cgroups where runc puts
// them (and where docker update, stats and OOM detection look), exec and
// update work, and once killed and removed nothing is left: no cgroup, no
// mount, no process.
func TestCrunContainer(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("these checks read cgroup v1 files")
	}
	cand := requireCrun(t)
	d := newDaemon(t, testutil.WithDaemonArgs("--default-runtime", "crun", "--fn-runtime", "auto"))

	info := d.MustWharf(t, "info")
	if !strings.Contains(info, "Default Runtime: crun") || !strings.Contains(info, "Function Runtime: crun") {
		t.Errorf("wharf info does not say crun runs containers and functions:\n%s", info)
	}
	if len(cand.Hide) > 0 && !strings.Contains(info, cand.Hide[0]+" hidden") {
		t.Errorf("wharf info does not say what crun runs without:\n%s", info)
	}

	id := runD(t, d, "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "50", "--cpu-shares", "512", busybox, "sleep", "1000")
	if got := inspect(t, d, "{{.HostConfig.Runtime}}", id); got != "crun" {
		t.Errorf(".HostConfig.Runtime = %q, want crun", got)
	}
	for _, c := range []struct{ controller, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.memsw.limit_in_bytes", "134217728"},
		{"pids", "pids.max", "50"},
		{"cpu", "cpu.shares", "512"},
	} {
		if got := cgroupValue(id, c.controller, c.file); got != c.want {
			t.Errorf("%s/%s = %q, want %q", c.controller, c.file, got, c.want)
		}
	}
	pid := inspect(t, d, "{{.State.Pid}}", id)
	cg, err := os.ReadFile(filepath.Join("/proc", pid, "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	// "4:memory:/wharf/<id>", "3:cpu,cpuacct:/wharf/<id>"
	paths := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, ctl := range strings.Split(f[1], ",") {
			paths[ctl] = f[2]
		}
	}
	for _, ctl := range []string{"memory", "pids", "cpu", "freezer"} {
		if paths[ctl] != "/wharf/"+id {
			t.Errorf("the container's process is in %s cgroup %q, want /wharf/%s", ctl, paths[ctl], id)
		}
	}

	if out := strings.TrimSpace(d.MustWharf(t, "exec", id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")); out != "67108864" {
		t.Errorf("exec: the container sees memory.limit_in_bytes %q", out)
	}
	d.MustWharf(t, "update", "--memory", "96m", "--memory-swap", "192m", "--pids-limit", "60", id)
	if got := cgroupValue(id, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(96<<20) {
		t.Errorf("memory.limit_in_bytes after update = %q", got)
	}
	if got := cgroupValue(id, "pids", "pids.max"); got != "60" {
		t.Errorf("pids.max after update = %q", got)
	}
	d.MustWharf(t, "pause", id)
	if got := cgroupValue(id, "freezer", "freezer.state"); got != "FROZEN" {
		t.Errorf("freezer.state of a paused container = %q", got)
	}
	d.MustWharf(t, "unpause", id)

	checkSeccompCache(t, d, id)

	d.MustWharf(t, "kill", id)
	if got := strings.TrimSpace(d.MustWharf(t, "wait", id)); got != "137" {
		t.Errorf("exit code after kill = %s, want 137", got)
	}
	d.MustWharf(t, "rm", id)
	if !waitFor(20*time.Second, func() bool { return len(testutil.CgroupDirs(id)) == 0 }) {
		t.Errorf("cgroups left after rm: %v", testutil.CgroupDirs(id))
	}
	if !waitFor(20*time.Second, func() bool { return len(d.RuntimePids()) == 0 && len(d.ShimPids()) == 0 }) {
		t.Errorf("processes left after rm: runtime %v, shims %v", d.RuntimePids(), d.ShimPids())
	}
	for _, mp := range d.Mounts() {
		if strings.Contains(mp, id) {
			t.Errorf("mount left after rm: %s", mp)
		}
	}
	if _, err := os.Stat(filepath.Join(d.ExecRoot, "runtime", "crun", id)); !os.IsNotExist(err) {
		t.Errorf("crun's state of the container is left after rm (%v)", err)
	}
	for _, mp := range cand.Hide {
		if len(testutil.MountsUnder(mp)) == 0 {
			t.Errorf("the host lost its mount %s", mp)
		}
	}
}

// checkSeccompCache: crun compiled the first container's seccomp profile
// (first, running with crun) and the daemon kept the program, so the next
// container with the same profile starts from it (crun's
// run.oci.seccomp_bpf_data in its bundle) and is confined all the same:
// the filter is on its process, and a syscall the profile refuses fails.
// A label of that name (an image's labels are untrusted) never reaches the
// runtime.
func checkSeccompCache(t *testing.T, d *testutil.Daemon, first string) {
	t.Helper()
	if n := len(mustGlob(t, filepath.Join(d.ExecRoot, "seccomp", "crun", "*"))); n != 1 {
		t.Errorf("%d compiled seccomp programs kept after the first crun container, want 1", n)
	}
	id := runD(t, d, "--label", "run.oci.seccomp_bpf_data=AAAAAAAAAAA=", busybox, "sleep", "1000")
	defer d.MustWharf(t, "rm", "-f", id)
	data, err := os.ReadFile(filepath.Join(d.Root, "containers", id, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		t.Fatal(err)
	}
	prog, err := base64.StdEncoding.DecodeString(bundle.Annotations["run.oci.seccomp_bpf_data"])
	if err != nil || len(prog) < 64 || len(prog)%8 != 0 {
		t.Errorf("the second container does not start from the compiled program: %d bytes, %v", len(prog), err)
	}
	status := d.MustWharf(t, "exec", id, "cat", "/proc/self/status")
	if !strings.Contains(status, "Seccomp:\t2") || !strings.Contains(status, "Seccomp_filters:\t1") {
		t.Errorf("the second container's process is not under its seccomp filter:\n%s", status)
	}
	// Docker's profile refuses unshare(CLONE_NEWUSER) without CAP_SYS_ADMIN.
	if _, stderr, code := d.Wharf(t, "exec", id, "unshare", "-U", "true"); code == 0 || !strings.Contains(stderr, "not permitted") {
		t.Errorf("unshare -U passed the filter: exit %d, %s", code, stderr)
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Function sandboxes run with the runtime --fn-runtime picks (auto: crun
// where it works, also on a hybrid layout), containers keep the default:
// a cold start in a new sandbox, a warm invoke in it, a cold start in the
// spare, each sandbox's limits in its v1 cgroups, and the sandboxes' cgroups
// gone once they are reaped. The same with runc, the runtime auto falls
// back to.
func TestFunctionSandboxRuntimes(t *testing.T) {
	requireCrun(t)
	for _, rt := range []string{"auto", "runc"} {
		t.Run(rt, func(t *testing.T) {
			want := rt
			if rt == "auto" {
				want = "crun"
			}
			e := startFnEnv(t, "--fn-runtime", rt)
			if info := e.d.MustWharf(t, "info"); !strings.Contains(info, "Function Runtime: "+want) {
				t.Errorf("wharf info does not say %s runs functions:\n%s", want, info)
			}
			e.deploy(t, "hello", 128, 3, nil)
			out, r := e.invoke(t, "hello", `{"key1":"cold"}`)
			if out.FunctionError != nil || r.Echo != "cold" || r.Pid != 1 || !strings.Contains(logTail(t, out), "Init Duration") {
				t.Fatalf("cold invoke: %s\n%s", out.Payload, logTail(t, out))
			}
			out, r = e.invoke(t, "hello", `{"key1":"warm"}`)
			if out.FunctionError != nil || r.Echo != "warm" || strings.Contains(logTail(t, out), "Init Duration") {
				t.Fatalf("warm invoke: %s\n%s", out.Payload, logTail(t, out))
			}
			// Each sandbox is checked as soon as it is seen: an idle one is
			// reaped after 3 s, which a loaded host can reach.
			check := func(id, what string, memory int) {
				t.Helper()
				if got := inspect(t, e.d, "{{.HostConfig.Runtime}}", id); got != want {
					t.Errorf("%s runs with %q, want %s", what, got, want)
				}
				if max, err := cgroupFile(id, "pids", "pids.max"); err != nil || max != strconv.Itoa(sandboxPidsLimit) {
					t.Errorf("pids.max of %s: %q, %v", what, max, err)
				}
				if memory > 0 {
					if lim, err := cgroupFile(id, "memory", "memory.limit_in_bytes"); err != nil || lim != strconv.Itoa(memory<<20) {
						t.Errorf("memory.limit_in_bytes of %s: %q, %v", what, lim, err)
					}
				}
			}
			ids := strings.Fields(e.d.MustWharf(t, "ps", "-q", "--no-trunc", "--filter", "label=wharf.function=hello"))
			if len(ids) != 1 {
				t.Fatalf("sandboxes of hello: %v", ids)
			}
			check(ids[0], "hello's sandbox", 128)
			var spare string
			if !waitFor(60*time.Second, func() bool {
				s := spareIDs(t, e)
				if len(s) > 0 {
					spare = s[0]
				}
				return spare != ""
			}) {
				t.Fatalf("no spare sandbox started:\n%s", e.d.MustWharf(t, "ps", "-a"))
			}
			check(spare, "the spare", 0)
			e.deploy(t, "second", 256, 3, nil)
			if out, r := e.invoke(t, "second", `{"key1":"spare"}`); out.FunctionError != nil || r.Echo != "spare" || r.Memory != "256" {
				t.Fatalf("cold invoke in the spare: %s", out.Payload)
			}
			all := append(ids, spare)
			// Idle sandboxes are reaped after --fn-idle-timeout (3 s):
			// their cgroups go with them.
			if !waitFor(60*time.Second, func() bool {
				for _, id := range all {
					if len(testutil.CgroupDirs(id)) > 0 {
						return false
					}
				}
				return true
			}) {
				for _, id := range all {
					t.Errorf("cgroups of sandbox %.12s left after it was reaped: %v", id, testutil.CgroupDirs(id))
				}
			}
		})
	}
}

// Function sandboxes are frozen (cgroup v1 freezer) between invocations.
// A daemon killed with -9 leaves them frozen, and the next daemon removes
// the sandboxes it finds as it starts, with a SIGKILL: crun's kill does
// not thaw a frozen container as runc's does, so with crun sandboxes that
// daemon waited on each one's exit in vain (TestFunctions'
// AsyncSurvivesDaemonKill hung that way). The runtime now thaws a frozen
// container after a SIGKILL, whatever the OCI runtime.
func TestCrunFrozenSandboxRemovedAfterKill9(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/freezer"); err != nil {
		t.Skip("no cgroup v1 freezer: a frozen task dies of SIGKILL on cgroup v2")
	}
	requireCrun(t)
	e := startFnEnv(t, "--fn-runtime", "crun", "--fn-spare-sandboxes", "0", "--fn-idle-timeout", "5m")
	e.deploy(t, "hello", 128, 3, nil)
	if out, _ := e.invoke(t, "hello", `{"key1":"cold"}`); out.FunctionError != nil {
		t.Fatalf("invoke: %s", out.Payload)
	}
	ids := strings.Fields(e.d.MustWharf(t, "ps", "-q", "--no-trunc", "--filter", "label=wharf.function=hello"))
	if len(ids) != 1 {
		t.Fatalf("sandboxes of hello: %v", ids)
	}
	id := ids[0]
	if !waitFor(10*time.Second, func() bool {
		st, _ := cgroupFile(id, "freezer", "freezer.state")
		return st == "FROZEN"
	}) {
		st, err := cgroupFile(id, "freezer", "freezer.state")
		t.Fatalf("the idle sandbox is not frozen: %q, %v", st, err)
	}
	e.d.Kill9()
	e.d.Restart(t)
	var left string
	if !waitFor(25*time.Second, func() bool {
		left = strings.TrimSpace(e.d.MustWharf(t, "ps", "-a", "-q", "--no-trunc", "--filter", "label=wharf.function=hello"))
		return left == ""
	}) {
		st, _ := cgroupFile(id, "freezer", "freezer.state")
		t.Fatalf("the restarted daemon did not remove the frozen sandbox %s (left: %q, freezer %q)", id, left, st)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/freezer/wharf", id)); err == nil {
		t.Errorf("the sandbox's freezer cgroup is left")
	}
	// The function still runs, in a new sandbox.
	if out, _ := e.invoke(t, "hello", `{"key1":"again"}`); out.FunctionError != nil {
		t.Fatalf("invoke after the restart: %s", out.Payload)
	}
}

// An exec that crun cannot start (a missing command) leaves its process,
// already in the container's pid namespace, to the daemon: crun exec
// exits with the error before it reaps that process, and the daemon is
// the nearest child subreaper. Unreaped, the zombie kept the container's
// init from finishing its exit after SIGKILL (zap_pid_ns_processes waits
// for every process of the namespace): `rm -f` said "did not exit after
// SIGKILL" (TestLifecycle/Exec with WHARF_TEST_RUNTIME=crun). The daemon
// now reaps the orphans nobody waits for.
func TestCrunFailedExecLeavesNoOrphan(t *testing.T) {
	t.Parallel()
	requireCrun(t)
	d := newDaemon(t, testutil.WithDaemonArgs("--default-runtime", "crun"))
	id := runD(t, d, busybox, "sleep", "1000")
	for i := 0; i < 3; i++ {
		if _, _, code := d.Wharf(t, "exec", id, "nosuchcmd"); code != 127 {
			t.Fatalf("exec nosuchcmd: exit %d, want 127", code)
		}
	}
	var orphans []string
	if !waitFor(10*time.Second, func() bool {
		orphans = namespacedZombies(d.Pid())
		return len(orphans) == 0
	}) {
		t.Errorf("the daemon holds zombies of a container's pid namespace: %v", orphans)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.MustWharf(t, "rm", "-f", id)
	}()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		t.Fatal("rm -f did not return")
	}
}

// namespacedZombies lists the zombie children of pid that belong to a pid
// namespace below the host's ("pid NSpid...").
func namespacedZombies(pid int) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var state, ppid, nspid string
		for _, line := range strings.Split(string(data), "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch k {
			case "State":
				state = strings.TrimSpace(v)
			case "PPid":
				ppid = strings.TrimSpace(v)
			case "NSpid":
				nspid = strings.TrimSpace(v)
			}
		}
		if strings.HasPrefix(state, "Z") && ppid == strconv.Itoa(pid) && len(strings.Fields(nspid)) > 1 {
			out = append(out, e.Name()+" NSpid "+nspid)
		}
	}
	return out
}
