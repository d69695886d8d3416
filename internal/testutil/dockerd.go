package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Dockerd is a private dockerd (Debian's docker.io) that a test runs beside
// wharf, to prove that what a client test asserts is what Docker answers.
// It has its own data root, exec root (and so its own containerd), socket,
// pid file, config file and cgroup parent, and no default bridge: tests that
// need a network create one. It never touches iptables or the host's
// forwarding settings. Everything it leaves (containers, containerd and its
// shims, mounts, network namespaces, bridges, cgroups, directories) is removed
// in t.Cleanup.
type Dockerd struct {
	Dir, DataRoot, ExecRoot, Socket, LogPath string
	// CgroupParent is the cgroup (in every hierarchy) under which its
	// containers' cgroups are made.
	CgroupParent string

	cmd  *exec.Cmd
	done chan struct{}
}

// DockerdPath returns the path of dockerd, or "" when it is not installed
// or WHARF_DOCKERD=0 asks the tests to leave it out (a faster local run).
func DockerdPath() string {
	if os.Getenv("WHARF_DOCKERD") == "0" {
		return ""
	}
	p, err := exec.LookPath("dockerd")
	if err != nil {
		return ""
	}
	return p
}

// StartDockerd starts a private dockerd and waits until it answers /_ping.
// It skips the test unless it runs as root and dockerd is installed.
func StartDockerd(t testing.TB) *Dockerd {
	t.Helper()
	RequiresRoot(t)
	bin := DockerdPath()
	if bin == "" {
		t.Skip("skipping: dockerd is not installed (WHARF_DOCKERD=1 make test-deps installs docker.io) or WHARF_DOCKERD=0")
	}
	// Short paths: containerd's socket lives under the exec root and a unix
	// socket path holds at most 108 bytes.
	base, err := os.MkdirTemp("/tmp", "wdd-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Dockerd{
		Dir:          base,
		DataRoot:     filepath.Join(base, "r"),
		ExecRoot:     filepath.Join(base, "e"),
		Socket:       filepath.Join(base, "docker.sock"),
		LogPath:      filepath.Join(base, "dockerd.log"),
		CgroupParent: "/" + filepath.Base(base),
		done:         make(chan struct{}),
	}
	// An empty config file of its own, so that the host's
	// /etc/docker/daemon.json does not apply.
	config := filepath.Join(base, "daemon.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(d.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(bin,
		"--data-root", d.DataRoot, "--exec-root", d.ExecRoot,
		"-H", "unix://"+d.Socket, "--pidfile", filepath.Join(base, "dockerd.pid"),
		"--config-file", config, "--cgroup-parent", d.CgroupParent,
		"--iptables=false", "--ip-masq=false", "--ip-forward=false",
		"--bridge=none")
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start dockerd: %v", err)
	}
	go func() {
		_ = d.cmd.Wait()
		logf.Close()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.cleanup(t)
		if t.Failed() {
			d.dumpLog(t)
		}
		if err := os.RemoveAll(base); err != nil {
			t.Errorf("remove %s: %v", base, err)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-d.done:
			d.dumpLog(t)
			t.Fatalf("dockerd exited before it answered: %v", d.cmd.ProcessState)
		default:
		}
		if resp, err := d.request(context.Background(), http.MethodGet, "/_ping", nil); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			d.dumpLog(t)
			t.Fatal("dockerd did not answer /_ping within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Host is the value of DOCKER_HOST that reaches this dockerd.
func (d *Dockerd) Host() string { return "unix://" + d.Socket }

func (d *Dockerd) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.Socket)
		},
	}}
}

func (d *Dockerd) request(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-tar")
	}
	return d.client().Do(req)
}

// ImportTar imports a root filesystem tar as image ref, as `docker import`
// does (POST /images/create?fromSrc=-).
func (d *Dockerd) ImportTar(t testing.TB, data []byte, ref string) {
	t.Helper()
	repo, tag := ref, "latest"
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		repo, tag = ref[:i], ref[i+1:]
	}
	q := url.Values{"fromSrc": {"-"}, "repo": {repo}, "tag": {tag}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := d.request(ctx, http.MethodPost, "/images/create?"+q.Encode(), bytes.NewReader(data))
	if err != nil {
		t.Fatalf("dockerd import %s: %v", ref, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errorDetail"`)) {
		t.Fatalf("dockerd import %s: %d %s", ref, resp.StatusCode, out)
	}
}

// bridges returns the Linux bridges of its networks, as dockerd names them.
func (d *Dockerd) bridges(ctx context.Context) []string {
	resp, err := d.request(ctx, http.MethodGet, "/networks", nil)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var nets []struct {
		ID, Driver string
		Options    map[string]string
	}
	if json.NewDecoder(resp.Body).Decode(&nets) != nil {
		return nil
	}
	var out []string
	for _, n := range nets {
		if n.Driver != "bridge" {
			continue
		}
		if name := n.Options["com.docker.network.bridge.name"]; name != "" {
			out = append(out, name)
		} else if len(n.ID) >= 12 {
			out = append(out, "br-"+n.ID[:12])
		}
	}
	return out
}

// cleanup stops dockerd (which stops its containers and its containerd),
// then removes whatever a crash or a slow shutdown may have left.
func (d *Dockerd) cleanup(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	bridges := d.bridges(ctx)
	cancel()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Logf("cleanup: dockerd did not stop within 60s; killing it")
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
	// containerd, its shims and docker-proxy name the exec or data root on
	// their command lines; container processes are in our cgroup parent.
	for _, pid := range processes(func(_ int, args []string) bool {
		return strings.Contains(strings.Join(args, " "), d.Dir+"/")
	}) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	cgroups := d.cgroupDirs()
	for _, dir := range cgroups {
		killCgroupDir(dir)
	}
	for _, mp := range MountsUnder(d.Dir) {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
			t.Logf("cleanup: unmount %s: %v", mp, err)
		}
	}
	for _, br := range bridges {
		if err := DeleteLink(br); err != nil {
			t.Logf("cleanup: delete bridge %s: %v", br, err)
		}
	}
	for _, dir := range cgroups {
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

// cgroupDirs returns the cgroup directories under CgroupParent in every
// hierarchy, children before their parents.
func (d *Dockerd) cgroupDirs() []string {
	var out []string
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", strings.TrimPrefix(d.CgroupParent, "/")))
	roots = append(roots, filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(d.CgroupParent, "/")))
	for _, r := range roots {
		_ = filepath.WalkDir(r, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(out[i], "/") > strings.Count(out[j], "/")
	})
	return out
}

func (d *Dockerd) dumpLog(t testing.TB) { logTail(t, "dockerd", d.LogPath, 64<<10) }

// String names the daemon in test output.
func (d *Dockerd) String() string { return fmt.Sprintf("dockerd(%s)", d.Socket) }
