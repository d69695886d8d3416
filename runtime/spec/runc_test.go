package spec_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/testutil"
	"github.com/wharf-dev/wharf/runtime/spec"
)

// These tests check that the generated config.json really runs under runc
// and that its security settings take effect. They need root, runc and a
// static busybox, and leave no container, mount or cgroup behind.

func randHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// extract unpacks the busybox fixture; it only needs directories, regular
// files and symlinks, and the fixture is trusted.
func extract(t *testing.T, data []byte, dir string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm)
			if err == nil {
				// MkdirAll honours the umask; /tmp needs its sticky bit.
				err = os.Chmod(p, os.FileMode(h.Mode)&os.ModePerm|modeBits(h.Mode))
			}
		case tar.TypeReg:
			var f *os.File
			f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&os.ModePerm)
			if err == nil {
				_, err = io.Copy(f, tr)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func modeBits(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

type runResult struct {
	stdout, stderr string
	exit           int
}

// runContainer writes a bundle for o (Rootfs, ID and CgroupsPath are filled
// in), runs it in the foreground with runc, and checks afterwards that runc
// removed the container's cgroup in every hierarchy.
func runContainer(t *testing.T, o spec.Options) runResult {
	t.Helper()
	testutil.RequiresRoot(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("skipping: runc not installed")
	}
	rootfsTar := testutil.BusyboxRootfsTar(t)

	bundle := t.TempDir()
	state := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	extract(t, rootfsTar, rootfs)

	id := "wharf-spec-test-" + randHex(t)
	parent := "wharf-test-" + randHex(t)
	o.ID = id
	o.Rootfs = rootfs
	o.CgroupsPath = "/" + parent + "/" + id
	s, err := spec.Generate(context.Background(), &o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	raw, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}

	// Registered after the temp dirs, so it runs before they are removed.
	t.Cleanup(func() {
		if out, err := exec.Command(runc, "--root", state, "delete", "-f", id).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "does not exist") {
			t.Errorf("runc delete: %v: %s", err, out)
		}
		hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
		for _, h := range hierarchies {
			if _, err := os.Stat(filepath.Join(h, parent, id)); err == nil {
				t.Errorf("container cgroup %s left behind in %s", o.CgroupsPath, h)
				_ = os.Remove(filepath.Join(h, parent, id))
			}
			// runc creates the parent but never removes it. Finding it
			// also proves that runc used the spec's cgroupsPath.
			err := os.Remove(filepath.Join(h, parent))
			switch {
			case errors.Is(err, os.ErrNotExist) && filepath.Base(h) == "memory":
				t.Errorf("no cgroup %s in %s: cgroupsPath was not used", parent, h)
			case err != nil && !errors.Is(err, os.ErrNotExist):
				t.Errorf("remove cgroup %s: %v", filepath.Join(h, parent), err)
			}
		}
	})

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(runc, "--root", state, "run", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res := runResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("runc run: %v", err)
	}
	if strings.Contains(res.stderr, "level=error") {
		t.Fatalf("runc failed (exit %d): %s", res.exit, res.stderr)
	}
	return res
}

func TestRuncHello(t *testing.T) {
	r := runContainer(t, spec.Options{
		Cmd:  []string{"sh", "-c", "echo hello; hostname; id -u; id -g; ls /sys/class/net; echo $HOME"},
		User: "1000",
	})
	if r.exit != 0 {
		t.Fatalf("exit %d, stderr %s", r.exit, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	// The hostname is the first 12 characters of the ID.
	if len(lines) != 6 || lines[0] != "hello" || lines[1] != "wharf-spec-t" ||
		lines[2] != "1000" || lines[3] != "1000" || lines[4] != "lo" || lines[5] != "/home" {
		t.Fatalf("output %q (stderr %q)", r.stdout, r.stderr)
	}
}

// TestRuncConfined runs as root in the container and checks Docker's default
// confinement: the default capability set, no mount (CAP_SYS_ADMIN dropped,
// and seccomp), a read-only rootfs when asked, masked /proc/kcore.
func TestRuncConfined(t *testing.T) {
	script := `grep CapEff /proc/self/status
mkdir -p /tmp/m
mount -t tmpfs x /tmp/m && echo mount-ok || echo mount-failed
touch /newfile 2>/dev/null && echo rootfs-writable || echo rootfs-readonly
[ -s /proc/kcore ] && echo kcore-visible || echo kcore-masked
echo x > /proc/sys/kernel/hostname 2>/dev/null && echo procsys-writable || echo procsys-readonly`
	r := runContainer(t, spec.Options{Cmd: []string{"sh", "-c", script}, ReadOnly: true})
	want := "CapEff:\t00000000a80425fb\nmount-failed\nrootfs-readonly\nkcore-masked\nprocsys-readonly\n"
	if r.exit != 0 || r.stdout != want {
		t.Fatalf("exit %d\noutput %q\nwant   %q\nstderr %s", r.exit, r.stdout, want, r.stderr)
	}
}

// TestRuncLimits checks the memory and pids limits from inside the
// container, through its own cgroup namespace.
func TestRuncLimits(t *testing.T) {
	script := `cat /sys/fs/cgroup/memory/memory.limit_in_bytes
cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes
cat /sys/fs/cgroup/pids/pids.max
cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
(echo 1000 >/proc/self/oom_score_adj; exec tail -n 1 </dev/zero >/dev/null); echo tail-exit:$?
(i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done) 2>/dev/null
set -- /proc/[0-9]*
kill -9 -1 2>/dev/null
[ $# -ge 15 ] && [ $# -le 20 ] && echo pids-capped || echo pids-uncapped:$#`
	r := runContainer(t, spec.Options{Cmd: []string{"sh", "-c", script}, Memory: 8 << 20, PidsLimit: 20, NanoCPUs: 5e8})
	// tail buffers its one endless "line" and is OOM-killed (128+9); its
	// raised OOM score makes it, not the shell, the victim.
	want := "8388608\n16777216\n20\n50000\ntail-exit:137\npids-capped\n"
	if r.stdout != want {
		t.Fatalf("exit %d\noutput %q\nwant   %q\nstderr %s", r.exit, r.stdout, want, r.stderr)
	}
}

// TestRuncInit checks that with --init the container's pid 1 is wharf-init
// and the command runs as its child.
func TestRuncInit(t *testing.T) {
	testutil.RequiresRoot(t)
	bin := filepath.Join(t.TempDir(), "wharf-init")
	build := exec.Command("go", "build", "-o", bin, "../initproc/testdata/wharf-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build wharf-init: %v\n%s", err, out)
	}
	r := runContainer(t, spec.Options{
		Cmd:      []string{"sh", "-c", `tr '\0' ' ' </proc/1/cmdline; echo; echo $$; exit 7`},
		Init:     true,
		InitPath: bin,
	})
	lines := strings.Split(r.stdout, "\n")
	if r.exit != 7 || len(lines) < 2 || !strings.HasPrefix(lines[0], "/sbin/wharf-init -- sh -c") || lines[1] == "1" {
		t.Fatalf("exit %d output %q stderr %s", r.exit, r.stdout, r.stderr)
	}
}

// TestRuncInitForwardsSignals signals the container's pid 1 (as `docker
// stop` does) and checks that wharf-init passes the signal to the command.
func TestRuncInitForwardsSignals(t *testing.T) {
	testutil.RequiresRoot(t)
	bin := filepath.Join(t.TempDir(), "wharf-init")
	build := exec.Command("go", "build", "-o", bin, "../initproc/testdata/wharf-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build wharf-init: %v\n%s", err, out)
	}
	script := `trap 'echo got-term; exit 3' TERM; kill -TERM 1
i=0; while [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; echo no-signal`
	r := runContainer(t, spec.Options{Cmd: []string{"sh", "-c", script}, Init: true, InitPath: bin})
	if r.exit != 3 || r.stdout != "got-term\n" {
		t.Fatalf("exit %d output %q stderr %s", r.exit, r.stdout, r.stderr)
	}
}
