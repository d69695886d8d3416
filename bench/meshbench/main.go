// Command meshbench measures what the routing mesh adds to a request: a
// node's mesh (cluster/mesh, following an embedded NATS's state like an
// agent's) publishes a service whose two tasks are HTTP servers of this
// process, and the same load runs direct to a task and through the
// mesh's published port, one after the other, on loopback:
//
//   - keep-alive: -conns clients, each on one connection, as many
//     requests as they can for -duration (requests/s; latency p50, p99);
//   - new connection per request: the same with keep-alive off, where
//     the mesh's accept, backend choice and dial are paid every time.
//
// The tasks' containers and the engine's port proxy in front of them
// are the same on both paths on a real node, so they are left out: this
// is the mesh's own cost.
//
//	go run ./bench/meshbench [-conns 16] [-duration 5s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/cluster/mesh"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

var (
	conns    = flag.Int("conns", 16, "concurrent clients")
	duration = flag.Duration("duration", 5*time.Second, "length of each run")
)

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "meshbench:", err)
	os.Exit(1)
}

// backend serves a small page on a loopback port and returns the port.
func backend(name string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	body := []byte("hello from " + name + "\n")
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type result struct {
	n        int
	rps      float64
	p50, p99 time.Duration
	errs     int
}

func load(url string, keepAlive bool) result {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			defer tr.CloseIdleConnections()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := c.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := result{n: len(lat), rps: float64(len(lat)) / el.Seconds(), errs: errs}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
}

func main() {
	flag.Parse()
	dir, err := os.MkdirTemp("", "meshbench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := natsbox.Start(natsbox.Options{StoreDir: dir})
	if err != nil {
		fatal(err)
	}
	defer b.Close()
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p1, p2, port := backend("t1"), backend("t2"), freePort()
	td := state.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []state.ContainerDefinition{{Name: "web", Image: "busybox",
		PortMappings: []state.PortMapping{{ContainerPort: 80, Name: "http"}}}}}
	svc := state.Service{Name: "web", Cluster: "default", Status: state.ServiceActive, CreatedAt: time.Now(),
		ServiceConnect: &state.ServiceConnect{Enabled: true, Services: []state.ServiceConnectService{{PortName: "http",
			ClientAliases: []state.ServiceConnectClient{{Port: port}}}}}}
	try := func(_ uint64, err error) {
		if err != nil {
			fatal(err)
		}
	}
	try(st.Nodes().Create(ctx, "n1", state.Node{ID: "n1", Addr: "127.0.0.1"}))
	try(st.TaskDefs().Create(ctx, state.TaskDefKey("web", 1), td))
	try(st.Services().Create(ctx, state.ServiceKey("default", "web"), svc))
	for i, hp := range []int{p1, p2} {
		id := "t" + strconv.Itoa(i+1)
		try(st.Tasks().Create(ctx, state.TaskKey("n1", id), state.Task{ID: id, Cluster: "default", Service: "web", NodeID: "n1",
			Family: "web", Revision: 1, DesiredStatus: "RUNNING", LastStatus: "RUNNING",
			Containers: []state.TaskContainer{{Name: "web", Status: "RUNNING", NetworkBindings: []state.NetworkBinding{{ContainerPort: 80, HostPort: hp, Protocol: "tcp"}}}}}))
	}
	m := mesh.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), mesh.WithListenAddr("127.0.0.1"))
	go m.Run(ctx)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if t := m.Table(); t != nil && t.Routes[port] != nil && len(t.Routes[port].Backends) == 2 {
			break
		}
		if time.Now().After(deadline) {
			fatal(fmt.Errorf("the mesh did not publish the service within 30s"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	direct := fmt.Sprintf("http://127.0.0.1:%d/", p1)
	through := fmt.Sprintf("http://127.0.0.1:%d/", port)
	fmt.Printf("meshbench: %d clients, %v per run, loopback, GOMAXPROCS default\n", *conns, *duration)
	fmt.Printf("%-22s %-8s %10s %10s %10s %8s\n", "mode", "path", "req/s", "p50", "p99", "errors")
	for _, ka := range []bool{true, false} {
		mode := "keep-alive"
		if !ka {
			mode = "connection per request"
		}
		d := load(direct, ka)
		t := load(through, ka)
		for _, x := range []struct {
			path string
			r    result
		}{{"direct", d}, {"mesh", t}} {
			fmt.Printf("%-22s %-8s %10.0f %10v %10v %8d\n", mode, x.path, x.r.rps, x.r.p50.Round(time.Microsecond), x.r.p99.Round(time.Microsecond), x.r.errs)
		}
		fmt.Printf("%-22s mesh/direct throughput %.2f, added p50 %v\n", mode, t.rps/d.rps, (t.p50 - d.p50).Round(time.Microsecond))
	}
}
