package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpGet fetches url (only ever a loopback address) until it answers or
// 10s pass; the server in the container may still be starting.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	var lastErr error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(body)
			}
			lastErr = fmt.Errorf("status %s", resp.Status)
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}

// wgetIn runs wget inside a new container with args before the image and
// returns stdout and the exit code.
func wgetIn(t *testing.T, d *testutil.Daemon, url string, runArgs ...string) (string, int) {
	t.Helper()
	args := append([]string{"run", "--rm"}, runArgs...)
	// busybox's wget -T crashes; timeout(1) bounds the attempt instead,
	// under a shell that does not exec it: a SIGTERM to pid 1 without a
	// handler does nothing.
	args = append(args, busybox, "sh", "-c", "timeout 5 wget -qO- "+url+"; exit $?")
	out, _, code := d.Wharf(t, args...)
	return out, code
}

// waitHTTPIn waits until url answers from a container with runArgs.
func waitHTTPIn(t *testing.T, d *testutil.Daemon, url string, runArgs ...string) string {
	t.Helper()
	var out string
	var code int
	if !waitFor(15*time.Second, func() bool {
		out, code = wgetIn(t, d, url, runArgs...)
		return code == 0
	}) {
		t.Fatalf("wget %s from a container (%v): exit %d", url, runArgs, code)
	}
	return out
}

// TestNetworkUserBridge: containers on a user-defined bridge reach each
// other by name and alias through the embedded DNS, a static --ip is
// honoured, inspect shows the address, and /etc files are written.
func TestNetworkUserBridge(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	subnet := testutil.FreeSubnet(t)
	prefix := strings.TrimSuffix(subnet, "0/24")
	d.MustWharf(t, "network", "create", "--subnet", subnet, "--label", "team=a", "appnet")
	if out := d.MustWharf(t, "network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "appnet bridge") || !strings.Contains(out, "bridge bridge") || !strings.Contains(out, "host host") || !strings.Contains(out, "none null") {
		t.Fatalf("network ls:\n%s", out)
	}
	if got := strings.TrimSpace(d.MustWharf(t, "network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}} {{.Labels.team}}", "appnet")); got != subnet+" a" {
		t.Fatalf("network inspect: %q", got)
	}
	id := runD(t, d, "--name", "web", "--network", "appnet", "--network-alias", "www", "--ip", prefix+"77", "-w", "/etc", busybox, "httpd", "-f", "-p", "8080")
	if ip := inspect(t, d, "{{.NetworkSettings.Networks.appnet.IPAddress}}", id); ip != prefix+"77" {
		t.Fatalf("IPAddress %q, want %s77", ip, prefix)
	}
	for _, name := range []string{"web", "www", id[:12]} {
		out := waitHTTPIn(t, d, "http://"+name+":8080/hostname", "--network", "appnet")
		if strings.TrimSpace(out) != id[:12] {
			t.Errorf("wget %s: %q, want the server's hostname %s", name, out, id[:12])
		}
	}
	if out := d.MustWharf(t, "run", "--rm", "--network", "appnet", busybox, "cat", "/etc/resolv.conf"); !strings.Contains(out, "nameserver "+prefix+"1") {
		t.Errorf("resolv.conf on a user network:\n%s", out)
	}
	if out := d.MustWharf(t, "run", "--rm", "--network", "appnet", "--name", "peer", busybox, "cat", "/etc/hosts"); !strings.Contains(out, prefix) || !strings.Contains(out, "peer") {
		t.Errorf("hosts:\n%s", out)
	}
	// A name that is not on the network does not resolve.
	if _, code := wgetIn(t, d, "http://nosuch:8080/", "--network", "appnet"); code == 0 {
		t.Error("an unknown name resolved")
	}
	// The address is taken: a second container asking for it fails to start.
	if _, _, code := d.Wharf(t, "run", "--rm", "--network", "appnet", "--ip", prefix+"77", busybox, "true"); code == 0 {
		t.Error("an address in use was handed out twice")
	}
	if _, _, code := d.Wharf(t, "network", "rm", "appnet"); code == 0 {
		t.Error("a network with a running container was removed")
	}
	// The default bridge gives an address too, shown as docker does.
	id2 := runD(t, d, busybox, "sleep", "60")
	if ip := inspect(t, d, "{{.NetworkSettings.Networks.bridge.IPAddress}}", id2); !strings.HasPrefix(ip, strings.TrimSuffix(d.BridgeSubnet, "0/24")) {
		t.Errorf("default bridge address %q not in %s", ip, d.BridgeSubnet)
	}
	// connect / disconnect a running container.
	d.MustWharf(t, "network", "connect", "--alias", "late", "appnet", id2)
	if out := d.MustWharf(t, "exec", id2, "ip", "-o", "-4", "addr"); !strings.Contains(out, "eth1") || !strings.Contains(out, prefix) {
		t.Errorf("after connect:\n%s", out)
	}
	if out, _, code := d.Wharf(t, "run", "--rm", "--network", "appnet", busybox, "nslookup", "late", prefix+"1"); code != 0 || !strings.Contains(out, prefix) {
		t.Errorf("alias of a connected container: %d %s", code, out)
	}
	d.MustWharf(t, "network", "disconnect", "appnet", id2)
	if out := d.MustWharf(t, "exec", id2, "ip", "-o", "link"); strings.Contains(out, "eth1") {
		t.Errorf("after disconnect:\n%s", out)
	}
	d.MustWharf(t, "rm", "-f", id, id2)
	d.MustWharf(t, "network", "rm", "appnet")
	for _, br := range d.Bridges() {
		if strings.HasPrefix(br, "wb-") {
			t.Errorf("bridge %s of the removed network is still recorded", br)
		}
	}
	assertNoLeaks(t, d)
	assertNoNetLeaks(t, d)
}

// TestNetworkIsolation: no traffic between two bridges; an --internal
// network has no route out but its containers reach each other.
func TestNetworkIsolation(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	d.MustWharf(t, "network", "create", "--subnet", testutil.FreeSubnet(t), "neta")
	d.MustWharf(t, "network", "create", "--subnet", testutil.FreeSubnet(t), "netb")
	d.MustWharf(t, "network", "create", "--internal", "--subnet", testutil.FreeSubnet(t), "inner")
	b := runD(t, d, "--name", "srvb", "--network", "netb", "-w", "/etc", busybox, "httpd", "-f", "-p", "80")
	ipB := inspect(t, d, "{{.NetworkSettings.Networks.netb.IPAddress}}", b)
	// Reachable from its own network (this also waits for httpd)...
	waitHTTPIn(t, d, "http://"+ipB+"/hostname", "--network", "netb")
	// ...and not from another bridge, by address or by name.
	for _, net := range []string{"neta", "bridge", "inner"} {
		if out, code := wgetIn(t, d, "http://"+ipB+"/hostname", "--network", net); code == 0 {
			t.Errorf("container on %s reached %s on netb: %q", net, ipB, out)
		}
	}
	if _, code := wgetIn(t, d, "http://srvb/hostname", "--network", "neta"); code == 0 {
		t.Error("a name on netb resolved from neta")
	}
	// Internal: no default route, peers reachable by name.
	in := runD(t, d, "--name", "srvi", "--network", "inner", "-w", "/etc", busybox, "httpd", "-f", "-p", "80")
	if out := d.MustWharf(t, "exec", in, "ip", "route"); strings.Contains(out, "default") {
		t.Errorf("internal network container has a default route:\n%s", out)
	}
	waitHTTPIn(t, d, "http://srvi/hostname", "--network", "inner")
	assertNoLeaksKeepNets(t, d)
}

// TestPublishedPorts: TCP and UDP ports published on 127.0.0.1, a random
// port read back with `wharf port`, -P with EXPOSE, and a port in use
// failing the start with a clear error.
func TestPublishedPorts(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	hp := freePort(t)
	web := runD(t, d, "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:8080", hp), "-w", "/etc", busybox, "httpd", "-f", "-p", "8080")
	if got := strings.TrimSpace(httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", hp))); got != web[:12] {
		t.Errorf("published TCP port answered %q", got)
	}
	if out := strings.TrimSpace(d.MustWharf(t, "port", "web")); out != fmt.Sprintf("8080/tcp -> 127.0.0.1:%d", hp) {
		t.Errorf("wharf port: %q", out)
	}
	if out := strings.TrimSpace(d.MustWharf(t, "ps", "--filter", "name=web", "--format", "{{.Ports}}")); out != fmt.Sprintf("127.0.0.1:%d->8080/tcp", hp) {
		t.Errorf("ps PORTS: %q", out)
	}

	// Random host port.
	r := runD(t, d, "-p", "127.0.0.1::8080", "-w", "/etc", busybox, "httpd", "-f", "-p", "8080")
	addr := strings.TrimSpace(d.MustWharf(t, "port", r, "8080"))
	if !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:0" {
		t.Fatalf("random port: %q", addr)
	}
	if got := strings.TrimSpace(httpGet(t, "http://"+addr+"/hostname")); got != r[:12] {
		t.Errorf("random port answered %q", got)
	}

	// UDP: a datagram sent to the published port reaches a server in the
	// container and its answer comes back.
	echo := testutil.BuildProgram(t, "testdata/udpecho")
	up := freePort(t)
	runD(t, d, "-p", fmt.Sprintf("127.0.0.1:%d:9999/udp", up), "-v", echo+":/udpecho:ro", busybox, "/udpecho")
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", up))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var reply string
	if !waitFor(10*time.Second, func() bool {
		_, _ = conn.Write([]byte("ping-udp"))
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 100)
		n, err := conn.Read(buf)
		reply = string(buf[:n])
		return err == nil
	}) || reply != "echo:ping-udp" {
		t.Errorf("UDP through the published port: reply %q", reply)
	}

	// -P publishes the image's EXPOSE (here --expose) on random ports.
	p := runD(t, d, "-P", "--expose", "7070", busybox, "sleep", "60")
	if out := d.MustWharf(t, "port", p); !strings.HasPrefix(out, "7070/tcp -> 0.0.0.0:") {
		t.Errorf("-P: %q", out)
	}

	// Port in use: a clear error at start, exit 125, nothing left behind.
	_, errOut, code := d.Wharf(t, "run", "-d", "--name", "clash", "-p", fmt.Sprintf("127.0.0.1:%d:80", hp), busybox, "sleep", "60")
	if code != 125 || !strings.Contains(errOut, "port is already allocated") {
		t.Errorf("port conflict: exit %d, stderr %q", code, errOut)
	}
	if st := inspect(t, d, "{{.State.Status}}", "clash"); st == "running" {
		t.Error("container with a port conflict is running")
	}
	// Stopping frees the port.
	d.MustWharf(t, "stop", "-t", "0", "web")
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", hp))
	if err != nil {
		t.Errorf("port still taken after the container stopped: %v", err)
	} else {
		l.Close()
	}
	assertNoLeaksKeepNets(t, d)
}

// TestNetworkContainerMode: --network container:<name> shares localhost.
func TestNetworkContainerMode(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	srv := runD(t, d, "--name", "srv", "-w", "/etc", busybox, "httpd", "-f", "-p", "127.0.0.1:8080")
	out := waitHTTPIn(t, d, "http://127.0.0.1:8080/hostname", "--network", "container:srv")
	if strings.TrimSpace(out) != srv[:12] {
		t.Errorf("container: mode got %q", out)
	}
	// A plain container does not see srv's localhost.
	if _, code := wgetIn(t, d, "http://127.0.0.1:8080/hostname"); code == 0 {
		t.Error("a container of its own reached another's localhost")
	}
	assertNoLeaksKeepNets(t, d)
}

// TestNetworkNoLeaks: 100 create/start/rm -f cycles leave no veth,
// namespace, lease or mount; and after a daemon crash a re-adopted
// container keeps its address and published port while the resources of
// a container that died meanwhile are freed.
//
// It does not run in parallel: its burst of starts would load the machine
// under the timing-sensitive tests (restart back-off) that do.
func TestNetworkNoLeaks(t *testing.T) {
	d := newDaemon(t)
	before := d.NetResources(t)
	const total, batch = 100, 10
	var wg sync.WaitGroup
	errs := make(chan string, total)
	for b := 0; b < batch; b++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/batch; i++ {
				out, errOut, code := d.Wharf(t, "create", "-p", "127.0.0.1::80", busybox, "sleep", "30")
				if code != 0 {
					errs <- "create: " + errOut
					continue
				}
				id := strings.TrimSpace(out)
				if _, errOut, code := d.Wharf(t, "start", id); code != 0 {
					errs <- "start: " + errOut
				}
				if _, errOut, code := d.Wharf(t, "rm", "-f", id); code != 0 {
					errs <- "rm: " + errOut
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if after := d.WaitNetResources(t, before); after != before {
		t.Errorf("after %d cycles: %s, before: %s", total, after, before)
	}
	if m := d.Mounts(); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}

	// Crash: one container keeps running, one dies while the daemon is down.
	hp := freePort(t)
	keep := runD(t, d, "-p", fmt.Sprintf("127.0.0.1:%d:8080", hp), "-w", "/etc", busybox, "httpd", "-f", "-p", "8080")
	gone := runD(t, d, busybox, "sleep", "300")
	ip := inspect(t, d, "{{.NetworkSettings.Networks.bridge.IPAddress}}", keep)
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", hp))
	gonePid, _ := strconv.Atoi(inspect(t, d, "{{.State.Pid}}", gone))
	d.Kill9()
	killPid(t, gonePid)
	d.Restart(t)
	waitStatus(t, d, gone, "exited", 10*time.Second)
	if got := inspect(t, d, "{{.NetworkSettings.Networks.bridge.IPAddress}}", keep); got != ip {
		t.Errorf("re-adopted container's address %q, was %q", got, ip)
	}
	if got := strings.TrimSpace(httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", hp))); got != keep[:12] {
		t.Errorf("published port after the daemon restart answered %q", got)
	}
	want := before
	want.Veths, want.NetNS, want.Leases, want.Listeners = before.Veths+1, before.NetNS+1, before.Leases+1, before.Listeners+1
	if got := d.WaitNetResources(t, want); got != want {
		t.Errorf("after the crash: %s, want %s (only the re-adopted container's)", got, want)
	}
	// The dead container's address is free again and not handed out to
	// anyone else while keep holds its own.
	d.MustWharf(t, "rm", "-f", keep, gone)
	if got := d.WaitNetResources(t, before); got != before {
		t.Errorf("after removing everything: %s, want %s", got, before)
	}
}

func killPid(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("bad pid %d", pid)
	}
	p, err := findProcess(pid)
	if err == nil {
		_ = p.Kill()
	}
	waitFor(5*time.Second, func() bool { return !pidAlive(pid) })
}

// assertNoNetLeaks checks that nothing of the daemon's containers is left
// in the kernel: no veth on its bridges, no pinned namespace, no lease.
func assertNoNetLeaks(t *testing.T, d *testutil.Daemon) {
	t.Helper()
	var st testutil.NetState
	// A DNS server (UDP and TCP) per user-defined network stays.
	want := testutil.NetState{Listeners: 2 * (len(d.Bridges()) - 1)}
	waitFor(5*time.Second, func() bool {
		st = d.NetResources(t)
		return st == want
	})
	if st != want {
		t.Errorf("network resources left: %s, want %s", st, want)
	}
}

// assertNoLeaksKeepNets removes every container and checks that neither
// mounts, shims, cgroups nor network resources are left.
func assertNoLeaksKeepNets(t *testing.T, d *testutil.Daemon) {
	t.Helper()
	assertNoLeaks(t, d)
	assertNoNetLeaks(t, d)
}

func findProcess(pid int) (*os.Process, error) { return os.FindProcess(pid) }
