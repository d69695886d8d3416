package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestCopyHostBoundary: docker cp and export never let a container reach
// the host through the daemon (root in the host's mount namespace). Each
// race subtest runs a container that swaps a path between a real file or
// directory and an absolute symlink to a host path, as fast as renameat2
// allows, while the test copies through the Docker API many times: before
// the engine resolved every step through handles, a daemon walking
// /proc/<pid>/root/... or <dir>/rootfs/... by path string followed such a
// symlink against the host's root.
func TestCopyHostBoundary(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	swap := filepath.Join(t.TempDir(), "symlinkswap")
	build := exec.Command("go", "build", "-o", swap, "./testdata/symlinkswap")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build symlinkswap: %v\n%s", err, out)
	}
	d.ImportTar(t, rootfsWith(t, map[string]string{"bin/symlinkswap": swap}), "local/swap:1")
	api := newDockerAPI(d.Socket)

	t.Run("IntoRacingSymlink", func(t *testing.T) {
		// The host directory the container's symlink names. The test's
		// temp dir is not a subdirectory of anything the container sees.
		host := t.TempDir()
		id := runSwapper(t, d, "dir", "/tmp/d", host)
		const n = 150
		ok := 0
		for i := range n {
			body := tarFiles(t, map[string]string{"d/pwned-" + strconv.Itoa(i): "written by docker cp\n"})
			if code, msg := api.send(t, "PUT", "/containers/"+id+"/archive?path=/tmp", body); code == http.StatusOK {
				ok++
			} else {
				t.Logf("copy %d: %d %s", i, code, msg)
			}
			if ents, _ := os.ReadDir(host); len(ents) > 0 {
				t.Fatalf("after %d copies into the container, the host directory %s holds %v: the daemon followed the container's symlink on the host", i+1, host, names(ents))
			}
		}
		if ok < n*9/10 {
			t.Errorf("only %d of %d copies succeeded", ok, n)
		}
		// The freeze for each copy was undone and never recorded.
		if st := inspect(t, d, "{{.State.Status}} {{.State.Paused}}", id); st != "running false" {
			t.Errorf("after the copies the container is %q, want running", st)
		}
		if out, _, _ := d.Wharf(t, "logs", id); strings.TrimSpace(out) != "swapping" {
			t.Errorf("the swapper stopped: %q", out)
		}
		// Every copy landed in the container's writable layer, wherever
		// the symlink pointed at the time (inside the container, the host
		// path is a directory the copy made).
		d.MustWharf(t, "stop", "-t", "0", id)
		copied := map[string]bool{}
		filepath.WalkDir(filepath.Join(d.Root, "containers", id, "upper"), func(p string, e os.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(e.Name(), "pwned-") {
				copied[e.Name()] = true
			}
			return nil
		})
		if len(copied) != ok {
			t.Errorf("%d files copied in found in the container's layer; want %d", len(copied), ok)
		}
		d.MustWharf(t, "rm", "-f", id)
	})

	t.Run("OutOfRacingSymlink", func(t *testing.T) {
		secret := "wharf-host-secret-" + randomHex(t)
		secretFile := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		id := runSwapper(t, d, "file", "/tmp/f", secretFile)
		benign := 0
		check := func(what string, body []byte) {
			t.Helper()
			if bytes.Contains(body, []byte(secret)) {
				t.Fatalf("%s: the archive holds the host file's secret: the daemon followed the container's symlink on the host", what)
			}
			if bytes.Contains(body, bytes.Repeat([]byte{'b'}, 4096)) {
				benign++
			}
		}
		// The old daemon leaked the secret in about one copy in a hundred
		// on a 2-core VM; this many make a miss all but impossible.
		for i := range 2000 {
			what := "/containers/" + id + "/archive?path=/tmp/f"
			switch {
			case i%100 == 99:
				what = "/containers/" + id + "/export"
			case i%2 == 1:
				what = "/containers/" + id + "/archive?path=/tmp"
			}
			code, body := api.get(t, what)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", what, code, body)
			}
			check("GET "+what+", try "+strconv.Itoa(i), body)
		}
		if benign == 0 {
			t.Error("no archive held the container's own file: the race was never run")
		}
		d.MustWharf(t, "rm", "-f", id)
	})

	t.Run("StoppedViewIsPrivate", func(t *testing.T) {
		id := strings.TrimSpace(d.MustWharf(t, "create", busybox, "sleep", "600"))
		// Enough data that an export blocks on a client that stops reading.
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
		if code, msg := api.send(t, "PUT", "/containers/"+id+"/archive?path=/", tarFiles(t, map[string]string{"big": string(big)})); code != http.StatusOK {
			t.Fatalf("PUT into a created container: %d %s", code, msg)
		}
		upper := filepath.Join(d.Root, "containers", id, "upper")
		for _, path := range []string{"/containers/" + id + "/export", "/containers/" + id + "/archive?path=/big"} {
			resp := api.open(t, "GET", path, nil)
			if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			mounts := overlayMountsOf(t, upper)
			if len(mounts) != 1 {
				t.Fatalf("GET %s: %d mounts of the container's layer while the stream is open, want 1: %+v", path, len(mounts), mounts)
			}
			m := mounts[0]
			if !strings.HasPrefix(m.point, d.Root+"/") {
				t.Errorf("GET %s: the container's filesystem is mounted at %s, outside the daemon's root %s", path, m.point, d.Root)
			}
			var st os.FileInfo
			for dir := filepath.Dir(m.point); strings.HasPrefix(dir, d.Root+"/"); dir = filepath.Dir(dir) {
				if st, _ = os.Stat(dir); st != nil && st.Mode().Perm() == 0o700 {
					break
				}
				st = nil
			}
			if st == nil {
				t.Errorf("GET %s: no directory between the daemon's root and the mount point %s is 0700", path, m.point)
			}
			for _, opt := range []string{"nosuid", "nodev", "noexec"} {
				if !m.opts[opt] {
					t.Errorf("GET %s: the mount at %s lacks %s (options %v)", path, m.point, opt, m.opts)
				}
			}
			// A client that goes away mid-stream: the mount goes too.
			resp.Body.Close()
			if !waitFor(10*time.Second, func() bool { return len(overlayMountsOf(t, upper)) == 0 }) {
				t.Errorf("GET %s: the mount stayed after the client went away: %+v", path, overlayMountsOf(t, upper))
			}
		}
		// Error paths take it down as well.
		if code, _ := api.get(t, "/containers/"+id+"/archive?path=/nonexistent"); code != http.StatusNotFound {
			t.Errorf("GET archive of a missing path: %d, want 404", code)
		}
		if code, _ := api.send(t, "PUT", "/containers/"+id+"/archive?path=/", bytes.Repeat([]byte{'x'}, 1024)); code != http.StatusBadRequest {
			t.Errorf("PUT of a corrupt tar: %d, want 400", code)
		}
		if code, _ := api.send(t, "PUT", "/containers/"+id+"/archive?path=/big", tarFiles(t, map[string]string{"x": "x"})); code != http.StatusBadRequest {
			t.Errorf("PUT into a file: %d, want 400", code)
		}
		if m := overlayMountsOf(t, upper); len(m) != 0 {
			t.Errorf("mounts left after failed copies: %+v", m)
		}
		if ents, _ := os.ReadDir(filepath.Join(d.Root, "fsviews")); len(ents) != 0 {
			t.Errorf("mount points left under %s: %v", filepath.Join(d.Root, "fsviews"), names(ents))
		}
		d.MustWharf(t, "rm", "-f", id)
	})
	t.Run("DaemonDiesMidCopy", func(t *testing.T) {
		// A daemon killed while it held a container frozen for a copy, and
		// with a stopped container's filesystem mounted for another,
		// thaws the one and takes the other down when it starts again.
		runc, err := exec.LookPath("runc")
		if err != nil {
			t.Skip("runc is not installed")
		}
		id := runD(t, d, busybox, "sleep", "600")
		d.Kill9()
		if out, err := exec.Command(runc, "--root", d.RuncRoot(), "pause", id).CombinedOutput(); err != nil {
			t.Fatalf("runc pause: %v %s", err, out)
		}
		if err := os.WriteFile(filepath.Join(d.Root, "containers", id, "frozen-for-copy"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		stale := filepath.Join(d.Root, "fsviews", "0123456789ab-1")
		if err := os.MkdirAll(stale, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", stale).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v %s", err, out)
		}
		d.Restart(t)
		out, err := exec.Command(runc, "--root", d.RuncRoot(), "state", id).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"status": "running"`) {
			t.Errorf("after the restart the runtime says %s (%v), want running", out, err)
		}
		if _, err := os.Stat(filepath.Join(d.Root, "containers", id, "frozen-for-copy")); err == nil {
			t.Error("the freeze marker stayed")
		}
		if m := testutil.MountsUnder(filepath.Join(d.Root, "fsviews")); len(m) != 0 {
			t.Errorf("stale views still mounted: %v", m)
		}
		if ents, _ := os.ReadDir(filepath.Join(d.Root, "fsviews")); len(ents) != 0 {
			t.Errorf("stale views left: %v", names(ents))
		}
		if out := d.MustWharf(t, "exec", id, "echo", "thawed"); out != "thawed\n" {
			t.Errorf("exec after the restart: %q", out)
		}
		d.MustWharf(t, "rm", "-f", id)
	})
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaks(t, d) })
}

// runSwapper starts a container running symlinkswap and waits until it
// swaps.
func runSwapper(t *testing.T, d *testutil.Daemon, mode, path, target string) string {
	t.Helper()
	id := runD(t, d, "local/swap:1", "/bin/symlinkswap", mode, path, target)
	if !waitFor(10*time.Second, func() bool {
		out, _, _ := d.Wharf(t, "logs", id)
		return strings.Contains(out, "swapping")
	}) {
		out, errOut, _ := d.Wharf(t, "logs", id)
		t.Fatalf("symlinkswap did not start: %q %q", out, errOut)
	}
	return id
}

func randomHex(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// tarFiles builds an uncompressed tar of regular files.
func tarFiles(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point string
	opts  map[string]bool
}

// overlayMountsOf lists the overlay mounts whose writable layer is upper,
// except the container's own rootfs mount.
func overlayMountsOf(t *testing.T, upper string) []mountEntry {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, super := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 6 || len(super) < 3 || super[0] != "overlay" {
			continue
		}
		if !strings.Contains(","+super[2]+",", ",upperdir="+upper+",") {
			continue
		}
		point := unescapeOctal(fields[4])
		if point == filepath.Join(filepath.Dir(upper), "rootfs") {
			continue
		}
		opts := map[string]bool{}
		for _, o := range strings.Split(fields[5], ",") {
			opts[o] = true
		}
		out = append(out, mountEntry{point: point, opts: opts})
	}
	return out
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
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

// dockerAPI talks to a daemon's Docker API over its socket.
type dockerAPI struct{ c *http.Client }

func newDockerAPI(socket string) *dockerAPI {
	return &dockerAPI{c: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}}
}

// open starts a request and returns the response for the caller to read
// and close.
func (a *dockerAPI) open(t *testing.T, method, path string, body []byte) *http.Response {
	t.Helper()
	u := "http://docker/v1.44" + path
	if _, err := url.Parse(u); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-tar")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// send makes a request and returns its status and body.
func (a *dockerAPI) send(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	resp := a.open(t, method, path, body)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, data
}

func (a *dockerAPI) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	return a.send(t, "GET", path, nil)
}

// TestCopyCompat drives docker cp, export and the archive API as the
// docker CLI and Testcontainers use them, with dockerd's answers as the
// reference: directories with and without a trailing "/" or "/.", symlinks
// followed or not, hardlinks, ownership with and without -a, a stopped
// container's volumes, a read-only root filesystem, a paused container,
// compressed bodies and noOverwriteDirNonDir.
func TestCopyCompat(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)
	api := newDockerAPI(d.Socket)
	host := t.TempDir()
	hostFile := filepath.Join(host, "file.txt")
	if err := os.WriteFile(hostFile, []byte("from the host\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(hostFile, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Join(host, "hd")
	os.MkdirAll(filepath.Join(hostDir, "in"), 0o755)
	os.WriteFile(filepath.Join(hostDir, "in", "x"), []byte("x\n"), 0o644)
	readFile := func(t *testing.T, p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v", err)
		}
		return string(b)
	}
	sh := func(t *testing.T, ctr, script string) string {
		t.Helper()
		return dk.must(t, "exec", ctr, "sh", "-c", script)
	}

	dk.must(t, "run", "-d", "--name", "cpc", busybox, "sleep", "600")
	sh(t, "cpc", "mkdir -p /data/sub && echo deep > /data/sub/f && ln /data/sub/f /data/hl && ln -s /data/sub/f /data/link")

	t.Run("OutDirForms", func(t *testing.T) {
		out := t.TempDir()
		dk.must(t, "cp", "cpc:/data", filepath.Join(out, "new1"))
		dk.must(t, "cp", "cpc:/data/", filepath.Join(out, "new2"))
		dk.must(t, "cp", "cpc:/data/.", filepath.Join(out, "new3"))
		for _, n := range []string{"new1", "new2", "new3"} {
			if got := readFile(t, filepath.Join(out, n, "sub", "f")); got != "deep\n" {
				t.Errorf("cp c:/data... %s: sub/f = %q", n, got)
			}
		}
		os.Mkdir(filepath.Join(out, "into"), 0o755)
		dk.must(t, "cp", "cpc:/data", filepath.Join(out, "into"))
		if got := readFile(t, filepath.Join(out, "into", "data", "sub", "f")); got != "deep\n" {
			t.Errorf("cp c:/data existing-dir: data/sub/f = %q", got)
		}
		os.Mkdir(filepath.Join(out, "contents"), 0o755)
		dk.must(t, "cp", "cpc:/data/.", filepath.Join(out, "contents"))
		if got := readFile(t, filepath.Join(out, "contents", "sub", "f")); got != "deep\n" {
			t.Errorf("cp c:/data/. existing-dir: sub/f = %q", got)
		}
		if _, err := os.Stat(filepath.Join(out, "contents", "data")); err == nil {
			t.Errorf("cp c:/data/. existing-dir made existing-dir/data; want the contents only")
		}
		var a, b os.FileInfo
		a, _ = os.Stat(filepath.Join(out, "new1", "sub", "f"))
		b, _ = os.Stat(filepath.Join(out, "new1", "hl"))
		if a == nil || b == nil || !os.SameFile(a, b) {
			t.Errorf("hardlinked files were not copied out as hardlinks")
		}
	})
	t.Run("OutSymlink", func(t *testing.T) {
		out := t.TempDir()
		dk.must(t, "cp", "cpc:/data/link", filepath.Join(out, "l"))
		if target, err := os.Readlink(filepath.Join(out, "l")); err != nil || target != "/data/sub/f" {
			t.Errorf("cp of a symlink: %q %v, want the symlink itself", target, err)
		}
		dk.must(t, "cp", "-L", "cpc:/data/link", filepath.Join(out, "followed"))
		if got := readFile(t, filepath.Join(out, "followed")); got != "deep\n" {
			t.Errorf("cp -L of a symlink: %q", got)
		}
	})
	t.Run("InForms", func(t *testing.T) {
		dk.must(t, "cp", hostDir, "cpc:/newdir")
		dk.must(t, "cp", hostDir, "cpc:/data")
		dk.must(t, "cp", hostDir+"/.", "cpc:/data/sub")
		out := sh(t, "cpc", "cat /newdir/in/x /data/hd/in/x /data/sub/in/x")
		if out != "x\nx\nx\n" {
			t.Errorf("copies in: %q", out)
		}
		// Into a symlink to a file: the file it names is replaced.
		dk.must(t, "cp", hostFile, "cpc:/data/link")
		if out := sh(t, "cpc", "cat /data/sub/f; test -L /data/link && echo link"); out != "from the host\nlink\n" {
			t.Errorf("cp onto a symlink: %q", out)
		}
	})
	t.Run("Ownership", func(t *testing.T) {
		dk.must(t, "cp", hostFile, "cpc:/tmp/root-owned")
		dk.must(t, "cp", "-a", hostFile, "cpc:/tmp/kept")
		if out := sh(t, "cpc", "stat -c '%u:%g %a' /tmp/root-owned /tmp/kept"); out != "0:0 640\n1234:5678 640\n" {
			t.Errorf("owners and modes: %q, want 0:0 without -a and the host's with -a", out)
		}
	})
	t.Run("StoppedWithVolume", func(t *testing.T) {
		dk.must(t, "create", "--name", "cps", "-v", "cpvol:/vol", busybox, "cat", "/vol/file.txt")
		dk.must(t, "cp", hostFile, "cps:/vol/")
		if out := dk.must(t, "start", "-a", "cps"); out != "from the host\n" {
			t.Errorf("a file copied into a stopped container's volume: %q", out)
		}
		if out := dk.must(t, "run", "--rm", "-v", "cpvol:/v", busybox, "cat", "/v/file.txt"); out != "from the host\n" {
			t.Errorf("the volume itself holds %q", out)
		}
		out := t.TempDir()
		dk.must(t, "cp", "cps:/vol/file.txt", out)
		if got := readFile(t, filepath.Join(out, "file.txt")); got != "from the host\n" {
			t.Errorf("copied out of a stopped container's volume: %q", got)
		}
		if ents, _ := os.ReadDir(filepath.Join(d.Root, "fsviews")); len(ents) != 0 {
			t.Errorf("views left mounted: %v", names(ents))
		}
		dk.must(t, "rm", "cps")
	})
	t.Run("ReadOnlyRootfs", func(t *testing.T) {
		dk.must(t, "run", "-d", "--name", "ro", "--read-only", "-v", "rwvol:/w", busybox, "sleep", "600")
		if _, errOut, code := dk.run(t, nil, "cp", hostFile, "ro:/tmp/"); code == 0 || !strings.Contains(errOut, "read-only") {
			t.Errorf("cp into a read-only rootfs: exit %d, %q", code, errOut)
		}
		if code, _ := api.send(t, "PUT", "/containers/ro/archive?path=/tmp", tarFiles(t, map[string]string{"x": "x"})); code != http.StatusForbidden {
			t.Errorf("PUT into a read-only rootfs: %d, want 403", code)
		}
		dk.must(t, "cp", hostFile, "ro:/w/")
		if out := sh(t, "ro", "cat /w/file.txt"); out != "from the host\n" {
			t.Errorf("cp into a writable volume of a read-only container: %q", out)
		}
		dk.must(t, "rm", "-f", "ro")
	})
	t.Run("Paused", func(t *testing.T) {
		dk.must(t, "pause", "cpc")
		dk.must(t, "cp", hostFile, "cpc:/tmp/while-paused")
		if st := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.State.Status}}", "cpc")); st != "paused" {
			t.Errorf("after a copy into a paused container it is %q", st)
		}
		dk.must(t, "unpause", "cpc")
		if out := sh(t, "cpc", "cat /tmp/while-paused"); out != "from the host\n" {
			t.Errorf("copied into a paused container: %q", out)
		}
	})
	t.Run("ExportSkipsMounts", func(t *testing.T) {
		dk.must(t, "run", "-d", "--name", "ev", "-v", "evol:/vol", busybox, "sh", "-c", "echo v > /vol/inside; echo r > /root/f; sleep 600")
		waitFor(5*time.Second, func() bool { _, _, code := dk.run(t, nil, "exec", "ev", "test", "-e", "/root/f"); return code == 0 })
		code, body := api.get(t, "/containers/ev/export")
		if code != http.StatusOK {
			t.Fatalf("export: %d", code)
		}
		seen := map[string]bool{}
		tr := tar.NewReader(bytes.NewReader(body))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			seen[h.Name] = true
		}
		if !seen["vol/"] || seen["vol/inside"] || !seen["root/f"] || !seen["bin/busybox"] {
			t.Errorf("export: vol/ %v, vol/inside %v (want false), root/f %v, bin/busybox %v", seen["vol/"], seen["vol/inside"], seen["root/f"], seen["bin/busybox"])
		}
		dk.must(t, "rm", "-f", "ev")
	})
	t.Run("APIBodiesAndOptions", func(t *testing.T) {
		plain := tarFiles(t, map[string]string{"gz": "gzip body\n"})
		for _, z := range []string{"gzip", "bzip2"} {
			cmd := exec.Command(z, "-c")
			cmd.Stdin = bytes.NewReader(plain)
			packed, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", z, err)
			}
			if code, msg := api.send(t, "PUT", "/containers/cpc/archive?path=/tmp/"+z, packed); code != http.StatusNotFound {
				t.Errorf("PUT %s into a missing directory: %d %s, want 404", z, code, msg)
			}
			sh(t, "cpc", "mkdir /tmp/"+z)
			if code, msg := api.send(t, "PUT", "/containers/cpc/archive?path=/tmp/"+z, packed); code != http.StatusOK {
				t.Errorf("PUT %s: %d %s", z, code, msg)
			}
			if out := sh(t, "cpc", "cat /tmp/"+z+"/gz"); out != "gzip body\n" {
				t.Errorf("PUT %s: %q", z, out)
			}
		}
		// A file over a directory (and the reverse) is refused with
		// noOverwriteDirNonDir, as the docker CLI always asks.
		sh(t, "cpc", "mkdir -p /tmp/no/sub && touch /tmp/no/file")
		if code, msg := api.send(t, "PUT", "/containers/cpc/archive?path=/tmp/no&noOverwriteDirNonDir=true", tarFiles(t, map[string]string{"sub": "x"})); code != http.StatusBadRequest {
			t.Errorf("file over a directory with noOverwriteDirNonDir: %d %s, want 400", code, msg)
		}
		if code, msg := api.send(t, "PUT", "/containers/cpc/archive?path=/tmp/no", tarFiles(t, map[string]string{"sub": "now a file\n"})); code != http.StatusOK {
			t.Errorf("file over a directory: %d %s", code, msg)
		}
		if out := sh(t, "cpc", "cat /tmp/no/sub"); out != "now a file\n" {
			t.Errorf("file over a directory: %q", out)
		}
		code, _ := api.send(t, "HEAD", "/containers/cpc/archive?path=/nonexistent", nil)
		if code != http.StatusNotFound {
			t.Errorf("HEAD of a missing path: %d", code)
		}
		resp := api.open(t, "HEAD", "/containers/cpc/archive?path=/data/link", nil)
		resp.Body.Close()
		st, err := decodePathStat(resp.Header.Get("X-Docker-Container-Path-Stat"))
		if err != nil || st.Name != "link" || st.LinkTarget != "/data/sub/f" || st.Mode&os.ModeSymlink == 0 {
			t.Errorf("stat of a symlink: %+v %v", st, err)
		}
	})
	dk.must(t, "rm", "-f", "cpc")
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaks(t, d) })
}

// decodePathStat decodes the X-Docker-Container-Path-Stat header.
func decodePathStat(h string) (*mcontainer.PathStat, error) {
	data, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return nil, err
	}
	var st mcontainer.PathStat
	return &st, json.Unmarshal(data, &st)
}
