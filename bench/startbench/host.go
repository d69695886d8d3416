package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"

	"golang.org/x/sys/unix"
)

var peerExec []*measure

// peerMeasures adds docker and podman start measures when installed,
// each with a private daemon or storage under dir.
func peerMeasures(dir, tarPath string, cleanup func(func())) []*measure {
	var ms []*measure
	if dockerd, err := exec.LookPath("dockerd"); err == nil {
		docker := "/usr/bin/docker"
		if _, err := os.Stat(docker); err != nil {
			docker, _ = exec.LookPath("docker")
		}
		e := filepath.Join(dir, "de")
		benchutil.Check(os.MkdirAll(e, 0o755))
		sock := filepath.Join(e, "docker.sock")
		d := exec.Command(dockerd, "--data-root", filepath.Join(dir, "dd"), "--exec-root", e, "-H", "unix://"+sock,
			"--pidfile", filepath.Join(e, "docker.pid"), "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--bridge=none")
		logf, _ := os.Create(filepath.Join(dir, "dockerd.log"))
		d.Stdout, d.Stderr = logf, logf
		if d.Start() == nil {
			cleanup(func() {
				_ = exec.Command(docker, "-H", "unix://"+sock, "rm", "-f", "ex").Run()
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
				return exec.Command(docker, append([]string{"-H", "unix://" + sock}, args...)...)
			}
			ok := false
			for i := 0; i < 100 && !ok; i++ {
				ok = dk("version").Run() == nil
				time.Sleep(100 * time.Millisecond)
			}
			if ok && dk("import", tarPath, "bench/busybox:1").Run() == nil {
				ms = append(ms, &measure{name: "docker run --rm --network none", cmd: func(int) *exec.Cmd {
					return dk("run", "--rm", "--network", "none", "bench/busybox:1", "true")
				}})
				if dk("run", "-d", "--network", "none", "--name", "ex", "bench/busybox:1", "sleep", "100000").Run() == nil {
					peerExec = append(peerExec, &measure{name: "docker exec C true", cmd: func(int) *exec.Cmd { return dk("exec", "ex", "true") }})
				}
			}
		}
	}
	if podman, err := exec.LookPath("podman"); err == nil {
		base := []string{"--root", filepath.Join(dir, "pr"), "--runroot", filepath.Join(dir, "prr"), "--tmpdir", filepath.Join(dir, "pt"),
			"--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime", "runc"}
		pm := func(args ...string) *exec.Cmd {
			return exec.Command(podman, append(append([]string{}, base...), args...)...)
		}
		if pm("import", tarPath, "bench/busybox:1").Run() == nil {
			ulim := []string{"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"}
			ms = append(ms, &measure{name: "podman run --rm --network none", cmd: func(int) *exec.Cmd {
				return pm(append(append([]string{"run", "--rm", "--network", "none"}, ulim...), "bench/busybox:1", "true")...)
			}})
			if pm(append(append([]string{"run", "-d", "--network", "none", "--name", "ex"}, ulim...), "bench/busybox:1", "sleep", "100000")...).Run() == nil {
				peerExec = append(peerExec, &measure{name: "podman exec C true", cmd: func(int) *exec.Cmd { return pm("exec", "ex", "true") }})
			}
			cleanup(func() {
				_ = pm("rm", "-f", "-a").Run()
				_ = pm("system", "reset", "-f").Run()
				benchutil.UnmountUnder(dir)
			})
		}
	}
	return ms
}

func peerExecMeasures() []*measure { return peerExec }
