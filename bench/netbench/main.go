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
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
)

var (
	wharfBin = flag.String("wharf", "", "wharf binary (default: built from this checkout as make build does)")
	n        = flag.Int("n", 30, "starts per network mode")
	mib      = flag.Int("mib", 512, "MiB sent per throughput run")
	runs     = flag.Int("runs", 5, "throughput runs per path")
	subnet   = flag.String("subnet", "10.253.77.0/24", "subnet of the benchmark's bridge (must be free on this host)")
)

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		benchutil.Fatal("netbench needs root")
	}
	bin := benchutil.WharfBinary(*wharfBin)
	dir, err := os.MkdirTemp("/tmp", "wnb-")
	benchutil.Check(err)
	benchutil.OnExit(func() { _ = os.RemoveAll(dir) })
	defer benchutil.Cleanup()
	var b [3]byte
	_, _ = rand.Read(b[:])
	bridge := "wnb" + hex.EncodeToString(b[:])

	tarPath := filepath.Join(dir, "busybox.tar")
	benchutil.BuildRootfs(filepath.Join(dir, "rootfs"), tarPath)
	sock := benchutil.StartDaemon(bin, filepath.Join(dir, "w"), bridge, *subnet).Sock
	benchutil.MustWharf(bin, sock, "import", tarPath, "bench/busybox:1")

	// Start cost: create untimed, start timed, remove untimed; the two
	// modes alternate so that noise hits both alike.
	var none, bridged []time.Duration
	for i := 0; i < *n; i++ {
		for _, mode := range []string{"none", "bridge"} {
			id := strings.TrimSpace(benchutil.MustWharf(bin, sock, "create", "--network", mode, "bench/busybox:1", "sleep", "1000"))
			t0 := time.Now()
			benchutil.MustWharf(bin, sock, "start", id)
			d := time.Since(t0)
			benchutil.MustWharf(bin, sock, "rm", "-f", id)
			if mode == "none" {
				none = append(none, d)
			} else {
				bridged = append(bridged, d)
			}
		}
	}
	mn, mb := benchutil.Quantile(none, 0.5), benchutil.Quantile(bridged, 0.5)
	fmt.Printf("start (create untimed, `wharf start`), %d runs each:\n", *n)
	fmt.Printf("  --network none    median %7.2fms  p95 %7.2fms\n", ms(mn), ms(benchutil.Quantile(none, 0.95)))
	fmt.Printf("  --network bridge  median %7.2fms  p95 %7.2fms\n", ms(mb), ms(benchutil.Quantile(bridged, 0.95)))
	fmt.Printf("  bridge adds       %+.2fms at the median (target <= 5ms)\n\n", ms(mb-mn))

	// Throughput: a sink in the container (nc per connection into
	// /dev/null), fed from the host directly and through the published
	// port.
	hostPort := freePort()
	id := strings.TrimSpace(benchutil.MustWharf(bin, sock, "run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d:5001", hostPort), "bench/busybox:1",
		"nc", "-ll", "-p", "5001", "-e", "sh", "-c", "cat > /dev/null"))
	ip := strings.TrimSpace(benchutil.MustWharf(bin, sock, "inspect", "--format", "{{.NetworkSettings.Networks.bridge.IPAddress}}", id))
	direct := net.JoinHostPort(ip, "5001")
	proxied := fmt.Sprintf("127.0.0.1:%d", hostPort)
	benchutil.MustWaitFor(func() bool { return send(direct, 1<<10) == nil })
	var dRates, pRates []float64
	for i := 0; i < *runs; i++ {
		for _, p := range []struct {
			addr  string
			rates *[]float64
		}{{direct, &dRates}, {proxied, &pRates}} {
			t0 := time.Now()
			benchutil.Check(send(p.addr, int64(*mib)<<20))
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
	benchutil.Check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func medianF(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
