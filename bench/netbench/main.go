// Command netbench measures what bridge networking costs in wharf: the
// start latency of a container on the default bridge against one with
// --network none, and the TCP throughput into a container through a
// published port (the in-daemon proxy) against straight to the
// container's address on the bridge. Both run in the same invocation,
// round-robin, and print medians and ratios.
//
// It needs root and starts its own daemon on temporary directories with
// its own bridge and subnet. Traffic goes only to 127.0.0.1 and to the
// container's address on that bridge; it removes everything it created.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

var (
	wharfBin = flag.String("wharf", "bin/wharf", "wharf binary")
	n        = flag.Int("n", 30, "starts per network mode")
	mib      = flag.Int("mib", 512, "MiB sent per throughput run")
	runs     = flag.Int("runs", 5, "throughput runs per path")
	subnet   = flag.String("subnet", "10.253.77.0/24", "subnet of the benchmark's bridge (must be free on this host)")
)

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal("netbench needs root")
	}
	bin, err := filepath.Abs(*wharfBin)
	check(err)
	dir, err := os.MkdirTemp("/tmp", "wnb-")
	check(err)
	defer os.RemoveAll(dir)
	var b [3]byte
	_, _ = rand.Read(b[:])
	bridge := "wnb" + hex.EncodeToString(b[:])

	tarPath := filepath.Join(dir, "busybox.tar")
	writeBusyboxTar(tarPath)
	sock := filepath.Join(dir, "e", "wharf.sock")
	daemon := exec.Command(bin, "daemon", "--root", filepath.Join(dir, "r"), "--exec-root", filepath.Join(dir, "e"),
		"--bridge-name", bridge, "--bridge-subnet", *subnet, "--log-level", "warn")
	logf, _ := os.Create(filepath.Join(dir, "daemon.log"))
	daemon.Stdout, daemon.Stderr = logf, logf
	check(daemon.Start())
	defer func() {
		out, _ := wharf(bin, sock, "ps", "-aq")
		for _, id := range strings.Fields(out) {
			_, _ = wharf(bin, sock, "rm", "-f", id)
		}
		_ = daemon.Process.Signal(os.Interrupt)
		_, _ = daemon.Process.Wait()
		_ = exec.Command("ip", "link", "del", bridge).Run()
	}()
	waitFor(func() bool { _, err := wharf(bin, sock, "version"); return err == nil })
	mustWharf(bin, sock, "import", tarPath, "bench/busybox:1")

	// Start cost: create untimed, start timed, remove untimed; the two
	// modes alternate so that noise hits both alike.
	var none, bridged []time.Duration
	for i := 0; i < *n; i++ {
		for _, mode := range []string{"none", "bridge"} {
			id := strings.TrimSpace(mustWharf(bin, sock, "create", "--network", mode, "bench/busybox:1", "sleep", "1000"))
			t0 := time.Now()
			mustWharf(bin, sock, "start", id)
			d := time.Since(t0)
			mustWharf(bin, sock, "rm", "-f", id)
			if mode == "none" {
				none = append(none, d)
			} else {
				bridged = append(bridged, d)
			}
		}
	}
	mn, mb := median(none), median(bridged)
	fmt.Printf("start (create untimed, `wharf start`), %d runs each:\n", *n)
	fmt.Printf("  --network none    median %7.2fms  p95 %7.2fms\n", ms(mn), ms(quantile(none, 0.95)))
	fmt.Printf("  --network bridge  median %7.2fms  p95 %7.2fms\n", ms(mb), ms(quantile(bridged, 0.95)))
	fmt.Printf("  bridge adds       %+.2fms at the median (target <= 5ms)\n\n", ms(mb-mn))

	// Throughput: a sink in the container (nc per connection into
	// /dev/null), fed from the host directly and through the published
	// port.
	hostPort := freePort()
	id := strings.TrimSpace(mustWharf(bin, sock, "run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d:5001", hostPort), "bench/busybox:1",
		"nc", "-ll", "-p", "5001", "-e", "sh", "-c", "cat > /dev/null"))
	ip := strings.TrimSpace(mustWharf(bin, sock, "inspect", "--format", "{{.NetworkSettings.Networks.bridge.IPAddress}}", id))
	direct := net.JoinHostPort(ip, "5001")
	proxied := fmt.Sprintf("127.0.0.1:%d", hostPort)
	waitFor(func() bool { return send(direct, 1<<10) == nil })
	var dRates, pRates []float64
	for i := 0; i < *runs; i++ {
		for _, p := range []struct {
			addr  string
			rates *[]float64
		}{{direct, &dRates}, {proxied, &pRates}} {
			t0 := time.Now()
			check(send(p.addr, int64(*mib)<<20))
			*p.rates = append(*p.rates, float64(*mib)/time.Since(t0).Seconds())
		}
	}
	md, mp := medianF(dRates), medianF(pRates)
	fmt.Printf("TCP throughput, %d MiB per run, %d runs each (median):\n", *mib, *runs)
	fmt.Printf("  host -> container IP      %8.0f MiB/s\n", md)
	fmt.Printf("  host -> published port    %8.0f MiB/s (in-daemon proxy)\n", mp)
	fmt.Printf("  ratio published/direct    %8.2f (target >= 0.8)\n", mp/md)
}

// send writes size bytes to addr and waits for the peer to close.
func send(addr string, size int64) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	for size > 0 {
		k := int64(len(buf))
		if size < k {
			k = size
		}
		w, err := c.Write(buf[:k])
		if err != nil {
			return err
		}
		size -= int64(w)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err = io.Copy(io.Discard, c)
	return err
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeBusyboxTar writes a root filesystem of the host's static busybox.
func writeBusyboxTar(path string) {
	data, err := os.ReadFile("/bin/busybox")
	check(err)
	out, err := exec.Command("/bin/busybox", "--list").Output()
	check(err)
	f, err := os.Create(path)
	check(err)
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, d := range []string{"bin/", "etc/", "tmp/", "proc/", "sys/", "dev/", "root/"} {
		check(tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}))
	}
	check(tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(data))}))
	_, err = tw.Write(data)
	check(err)
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			check(tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}))
		}
	}
	check(tw.Close())
}

func median(d []time.Duration) time.Duration { return quantile(d, 0.5) }

func quantile(d []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1)+0.5)]
}

func medianF(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func wharf(bin, sock string, args ...string) (string, error) {
	cmd := exec.Command(bin, append([]string{"--host", "unix://" + sock}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("wharf %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func mustWharf(bin, sock string, args ...string) string {
	out, err := wharf(bin, sock, args...)
	check(err)
	return out
}

func waitFor(f func() bool) {
	for i := 0; i < 200; i++ {
		if f() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fatal("timed out waiting")
}

func check(err error) {
	if err != nil {
		fatal(err.Error())
	}
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "netbench: "+msg)
	os.Exit(1)
}
