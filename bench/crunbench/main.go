// Command crunbench measures what it costs to run crun on a host whose
// hybrid cgroup layout it refuses as it is (runtime/oci/mountns_linux.go):
// the bare runtimes on one bundle (wharf's generated spec: Docker's default
// confinement, a busybox rootfs, `true`), crun on the same bundle given the
// seccomp program it compiled before (runtime/oci's SeccompCache, what the
// daemon does from the second container of a profile), and the ways of hiding the
// cgroup2 mount from crun, on `crun run` and on a plain /bin/true (the
// wrapper's own cost):
//
//   - in-process: a mount namespace made on a locked thread of this
//     process, the command forked from it (what wharf does);
//   - unshare(1) + sh: `unshare -m --propagation slave sh -c 'umount -l
//     MOUNT; exec CMD'`, the reference command of PEERS.md;
//   - Go wrapper floor: the start of the lean wharf binary (a static Go
//     program that exits at once), the least an exec'd Go wrapper
//     would add before its own unshare and exec.
//
// Every measure runs -n times after three warm-up rounds, in a new
// shuffled order each round; the load average is printed before and
// after. Needs root.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/spec"
)

var (
	n        = flag.Int("n", 40, "runs per measure")
	wharfBin = flag.String("wharf", "", "wharf binary for the Go wrapper floor (default: built from this checkout as make build does)")
)

type measure struct {
	name  string
	run   func(i int) error
	times []time.Duration
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		benchutil.Fatal("crunbench needs root")
	}
	defer benchutil.Cleanup()
	dir, err := os.MkdirTemp("/tmp", "wcb-")
	benchutil.Check(err)
	benchutil.OnExit(func() { _ = os.RemoveAll(dir) })
	hide, err := oci.HostHybridCgroup2Mounts()
	benchutil.Check(err)
	if len(hide) == 0 {
		benchutil.Fatal("this host has no hybrid cgroup layout: nothing to hide")
	}
	bin := benchutil.WharfBinary(*wharfBin)
	rootfs := filepath.Join(dir, "rootfs")
	benchutil.BuildRootfs(rootfs, filepath.Join(dir, "busybox.tar"))
	bundle := filepath.Join(dir, "bundle")
	benchutil.Check(os.MkdirAll(bundle, 0o755))
	s, err := spec.Generate(context.Background(), &spec.Options{ID: "crunbench", Rootfs: rootfs, Cmd: []string{"true"}, CgroupsPath: "/wharf-crunbench/x"})
	benchutil.Check(err)
	s.Version = oci.SpecVersion
	data, err := json.Marshal(s)
	benchutil.Check(err)
	benchutil.Check(os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644))
	benchutil.OnExit(func() { benchutil.RemoveCgroups("wharf-crunbench") })

	runcPath, err := exec.LookPath("runc")
	benchutil.Check(err)
	crunPath, err := exec.LookPath("crun")
	benchutil.Check(err)
	runc := &oci.Runtime{Name: "runc", Path: runcPath, Root: filepath.Join(dir, "runc")}
	crun := &oci.Runtime{Name: "crun", Path: crunPath, Root: filepath.Join(dir, "crun"), Hide: hide}
	// The same bundle with the seccomp program crun compiled for its
	// profile given, as the daemon's cache gives it (SeccompCache): the
	// program is learnt from a created container's state directory.
	cache, err := oci.NewSeccompCache(filepath.Join(dir, "seccomp"), crun)
	benchutil.Check(err)
	key := cache.Apply(s)
	benchutil.Check(crun.Run(crun.Command(context.Background(), "create", "--bundle", bundle, "cb-probe")))
	benchutil.Check(cache.Learn(key, filepath.Join(crun.Root, "cb-probe")))
	benchutil.Check(crun.Run(crun.Command(context.Background(), "delete", "-f", "cb-probe")))
	if cache.Apply(s) != "" || s.Annotations[oci.SeccompBPFAnnotation] == "" {
		benchutil.Fatal("the seccomp cache did not keep the program crun compiled")
	}
	data, err = json.Marshal(s)
	benchutil.Check(err)
	bundleBPF := filepath.Join(dir, "bundle-bpf")
	benchutil.Check(os.MkdirAll(bundleBPF, 0o755))
	benchutil.Check(os.WriteFile(filepath.Join(bundleBPF, "config.json"), data, 0o644))
	plain := &oci.Runtime{Name: "true", Path: "/bin/true"}
	hidden := &oci.Runtime{Name: "true", Path: "/bin/true", Hide: hide}
	umounts := ""
	for _, mp := range hide {
		umounts += "umount -l " + mp + "; "
	}
	runID := func(i int) string { return "cb-" + strconv.Itoa(i) }
	ms := []*measure{
		{name: "runc run (host as it is)", run: func(i int) error {
			return runc.Run(runc.Command(context.Background(), "run", "--bundle", bundle, runID(i)))
		}},
		{name: "crun run, in-process namespace", run: func(i int) error {
			return crun.Run(crun.Command(context.Background(), "run", "--bundle", bundle, runID(i)))
		}},
		{name: "crun run, seccomp program given", run: func(i int) error {
			return crun.Run(crun.Command(context.Background(), "run", "--bundle", bundleBPF, runID(i)))
		}},
		{name: "crun run, unshare(1) + sh", run: func(i int) error {
			c := exec.Command("unshare", "-m", "--propagation", "slave", "sh", "-c", umounts+`exec "$@"`, "sh",
				crunPath, "--root", filepath.Join(dir, "crun-sh"), "run", "--bundle", bundle, runID(i))
			return c.Run()
		}},
		{name: "/bin/true", run: func(int) error { return plain.Run(exec.Command("/bin/true")) }},
		{name: "/bin/true, in-process namespace", run: func(int) error { return hidden.Run(exec.Command("/bin/true")) }},
		{name: "/bin/true, unshare(1) + sh", run: func(int) error {
			return exec.Command("unshare", "-m", "--propagation", "slave", "sh", "-c", umounts+`exec /bin/true`).Run()
		}},
		{name: "Go wrapper floor: lean wharf start", run: func(int) error {
			// `wharf shim` refuses anything but the daemon's arguments at
			// once (exit 2): the start of the static Go program alone.
			err := exec.Command(bin, "shim", "x").Run()
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
				return nil
			}
			return fmt.Errorf("lean wharf: %v", err)
		}},
	}
	fmt.Printf("load average before: %s", loadavg())
	order := append([]*measure(nil), ms...)
	for i := -3; i < *n; i++ {
		rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, m := range order {
			t0 := time.Now()
			err := m.run(i + 1000)
			d := time.Since(t0)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", m.name, err)
				continue
			}
			if i >= 0 {
				m.times = append(m.times, d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	fmt.Printf("load average after:  %s", loadavg())
	fmt.Printf("%d runs each; hidden: %s\n", *n, strings.Join(hide, ", "))
	fmt.Printf("%-40s %10s %10s\n", "measure", "median", "p95")
	for _, m := range ms {
		fmt.Printf("%-40s %10s %10s\n", m.name, benchutil.Ms(benchutil.Quantile(m.times, 0.5)), benchutil.Ms(benchutil.Quantile(m.times, 0.95)))
	}
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(bytes.TrimSpace(data)))
	if len(f) < 3 {
		return "?\n"
	}
	return strings.Join(f[:3], " ") + "\n"
}
