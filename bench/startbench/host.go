package main

import (
	"archive/tar"
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// buildRootfs makes the test image from Debian's static busybox: a
// directory for the bare runtime and a tar of it for the engines.
func buildRootfs(dir, tarPath string) {
	bb := "/bin/busybox"
	data, err := os.ReadFile(bb)
	check(err)
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root"} {
		check(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	check(os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755))
	out, err := exec.Command(bb, "--list").Output()
	check(err)
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			_ = os.Symlink("busybox", filepath.Join(dir, "bin", a))
		}
	}
	check(os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	check(os.WriteFile(filepath.Join(dir, "etc", "group"), []byte("root:x:0:\n"), 0o644))
	writeTar(dir, tarPath)
}

// writeTar archives dir, keeping symlinks as links.
func writeTar(dir, tarPath string) {
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
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
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

// removeCgroups removes /sys/fs/cgroup/*/<name> trees left by bare runs.
func removeCgroups(name string) {
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

func smapsField(pid int, field string) float64 {
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

// pss returns a process's proportional set size in KiB.
func pss(pid int) float64 { return smapsField(pid, "Pss") }

// rss returns a process's resident set size in KiB.
func rss(pid int) float64 { return smapsField(pid, "Rss") }

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
		check(os.MkdirAll(e, 0o755))
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
				unmountUnder(dir)
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
				unmountUnder(dir)
			})
		}
	}
	return ms
}

func peerExecMeasures() []*measure { return peerExec }
