package integration

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestSecurity checks capabilities, --privileged, seccomp and
// no-new-privileges.
func TestSecurity(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)

	t.Run("DefaultCapsCannotMount", func(t *testing.T) {
		_, errOut, code := d.Wharf(t, "run", "--rm", busybox, "sh", "-c", "mkdir -p /m && mount -t tmpfs none /m")
		if code == 0 {
			t.Fatalf("mount -t tmpfs succeeded with the default capabilities")
		}
		if !strings.Contains(errOut, "permission denied") && !strings.Contains(errOut, "not permitted") {
			t.Errorf("mount with default caps: stderr %q, want a permission error", errOut)
		}
	})
	t.Run("PrivilegedCanMount", func(t *testing.T) {
		out, errOut, code := d.Wharf(t, "run", "--rm", "--privileged", busybox, "sh", "-c", "mkdir -p /m && mount -t tmpfs none /m && grep ' /m ' /proc/self/mountinfo")
		if code != 0 || !strings.Contains(out, "tmpfs") {
			t.Fatalf("--privileged mount: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("CapAddSysAdminCanMount", func(t *testing.T) {
		_, errOut, code := d.Wharf(t, "run", "--rm", "--cap-add", "SYS_ADMIN", busybox, "sh", "-c", "mkdir -p /m && mount -t tmpfs none /m")
		if code != 0 {
			t.Errorf("--cap-add SYS_ADMIN mount: exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("DefaultCanChown", func(t *testing.T) {
		if _, errOut, code := d.Wharf(t, "run", "--rm", busybox, "chown", "1", "/tmp"); code != 0 {
			t.Fatalf("chown as root with default caps: exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("CapDropAllCannotChown", func(t *testing.T) {
		_, errOut, code := d.Wharf(t, "run", "--rm", "--cap-drop", "ALL", busybox, "chown", "1", "/tmp")
		if code == 0 {
			t.Fatalf("chown succeeded with --cap-drop ALL")
		}
		if !strings.Contains(errOut, "not permitted") {
			t.Errorf("chown with --cap-drop ALL: stderr %q, want EPERM", errOut)
		}
	})
	t.Run("CapDropChownOnly", func(t *testing.T) {
		out := d.MustWharf(t, "run", "--rm", "--cap-drop", "CHOWN", busybox, "sh", "-c", "chown 1 /tmp; echo chown=$?; touch /tmp/f && echo write=$?")
		if !strings.Contains(out, "chown=1") || !strings.Contains(out, "write=0") {
			t.Errorf("--cap-drop CHOWN: %q, want chown to fail and other root work to succeed", out)
		}
	})
	t.Run("NoNewPrivileges", func(t *testing.T) {
		out := d.MustWharf(t, "run", "--rm", "--security-opt", "no-new-privileges", busybox, "grep", "NoNewPrivs", "/proc/self/status")
		if f := strings.Fields(out); len(f) != 2 || f[1] != "1" {
			t.Errorf("--security-opt no-new-privileges: %q, want NoNewPrivs 1", out)
		}
		out = d.MustWharf(t, "run", "--rm", busybox, "grep", "NoNewPrivs", "/proc/self/status")
		if f := strings.Fields(out); len(f) != 2 || f[1] != "0" {
			t.Errorf("default: %q, want NoNewPrivs 0", out)
		}
	})
	t.Run("Seccomp", func(t *testing.T) {
		probe := buildSeccompProbe(t)
		if out, err := exec.Command(probe).CombinedOutput(); err != nil {
			t.Skipf("keyctl is refused on the host itself (%s); the probe proves nothing here", out)
		}
		d.ImportTar(t, rootfsWith(t, map[string]string{"bin/seccompprobe": probe}), "local/seccompprobe:1")

		out, errOut, code := d.Wharf(t, "run", "--rm", "local/seccompprobe:1", "/bin/seccompprobe")
		if code != 1 || !strings.Contains(out, "refused") {
			t.Errorf("keyctl under the default seccomp profile: exit %d, stdout %q, stderr %q; want refused", code, out, errOut)
		}
		out, errOut, code = d.Wharf(t, "run", "--rm", "--security-opt", "seccomp=unconfined", "local/seccompprobe:1", "/bin/seccompprobe")
		if code != 0 || strings.TrimSpace(out) != "allowed" {
			t.Errorf("keyctl with seccomp=unconfined: exit %d, stdout %q, stderr %q; want allowed", code, out, errOut)
		}
		out, _, _ = d.Wharf(t, "run", "--rm", "local/seccompprobe:1", "grep", "Seccomp:", "/proc/self/status")
		if f := strings.Fields(out); len(f) != 2 || f[1] != "2" {
			t.Errorf("default container: %q, want Seccomp 2 (filter)", out)
		}
		out, _, _ = d.Wharf(t, "run", "--rm", "--security-opt", "seccomp=unconfined", "local/seccompprobe:1", "grep", "Seccomp:", "/proc/self/status")
		if f := strings.Fields(out); len(f) != 2 || f[1] != "0" {
			t.Errorf("seccomp=unconfined container: %q, want Seccomp 0", out)
		}
	})
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaks(t, d) })
}

// buildSeccompProbe builds testdata/seccompprobe as a static binary.
func buildSeccompProbe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "seccompprobe")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/seccompprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build seccompprobe: %v\n%s", err, out)
	}
	return bin
}

// rootfsWith returns the busybox root filesystem tar with extra executable
// files added: archive path to host file.
func rootfsWith(t *testing.T, extra map[string]string) []byte {
	t.Helper()
	base := testutil.BusyboxRootfsTar(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(base))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	for name, src := range extra {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
