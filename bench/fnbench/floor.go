package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/functions/runtimeapi"
)

// The floor service: the least any client-server Lambda does. A process
// of its own (fnbench re-executed with -floor-serve) that takes an invoke
// as one plain HTTP request (POST /2015-03-31/functions/{name}/invocations,
// no authentication), hands it to a bootstrap running as a plain host
// process (no container, no namespaces, no cgroup) through a minimal
// Runtime API on loopback, and answers with the bootstrap's response.
// Each function name has its own pool of bootstraps, each serving one
// invocation at a time, grown on demand: the first invoke of a new name
// is a cold start (process start, runtime init, first next).

var floorServe = flag.String("floor-serve", "", "internal: serve the floor on this address with this bootstrap (addr,bootstrap)")

type floorProc struct {
	api *runtimeapi.Server
	srv *http.Server
	cmd *exec.Cmd
}

func startFloorProc(boot, name string) (*floorProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	api := runtimeapi.New()
	srv := &http.Server{Handler: api}
	go func() { _ = srv.Serve(l) }()
	cmd := exec.Command(boot)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + l.Addr().String(), "AWS_LAMBDA_FUNCTION_NAME=" + name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"}
	if err := cmd.Start(); err != nil {
		_ = srv.Close()
		return nil, err
	}
	return &floorProc{api, srv, cmd}, nil
}

func (p *floorProc) stop() {
	p.api.Close()
	_ = p.cmd.Process.Kill()
	_, _ = p.cmd.Process.Wait()
	_ = p.srv.Close()
}

type floorService struct {
	boot string
	mu   sync.Mutex
	idle map[string][]*floorProc
	all  []*floorProc
	n    int
}

func (f *floorService) get(name string) (*floorProc, error) {
	f.mu.Lock()
	if ps := f.idle[name]; len(ps) > 0 {
		p := ps[len(ps)-1]
		f.idle[name] = ps[:len(ps)-1]
		f.mu.Unlock()
		return p, nil
	}
	f.mu.Unlock()
	p, err := startFloorProc(f.boot, name)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.all = append(f.all, p)
	f.mu.Unlock()
	return p, nil
}

func (f *floorService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, err := f.get(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f.mu.Lock()
	f.n++
	id := fmt.Sprintf("req-%d", f.n)
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	res, err := p.api.Invoke(ctx, runtimeapi.Invocation{RequestID: id, Payload: payload, Deadline: time.Now().Add(10 * time.Second),
		FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:" + name})
	cancel()
	if err != nil {
		p.stop()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f.mu.Lock()
	f.idle[name] = append(f.idle[name], p)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(res.Payload)
}

// serveFloor runs the floor service until fnbench closes its stdin.
func serveFloor(addr, boot string) {
	f := &floorService{boot: boot, idle: map[string][]*floorProc{}}
	mux := http.NewServeMux()
	mux.Handle("POST /2015-03-31/functions/{name}/invocations", f)
	l, err := net.Listen("tcp", addr)
	check(err)
	go func() { _ = http.Serve(l, mux) }()
	_, _ = io.Copy(io.Discard, os.Stdin)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.all {
		p.stop()
	}
}

// floorServiceTarget starts the floor service as a process of its own and
// invokes it over HTTP, as the wharf and RIE columns are invoked.
func floorServiceTarget(boot string) (*target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	cmd := exec.Command(self, "-floor-serve", addr+","+boot)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	closeSvc := func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	if err := waitListen(addr); err != nil {
		closeSvc()
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	inv := func(name string, payload []byte) error {
		return postInvoke(client, "http://"+addr+"/2015-03-31/functions/"+name+"/invocations", payload)
	}
	gen := 0
	return &target{
		name:   "floor service (process + HTTP)",
		invoke: func(ctx context.Context, payload []byte) error { return inv("hello", payload) },
		cold: func(ctx context.Context) (func() error, error) {
			// A new name: the service starts a bootstrap for it.
			gen++
			name := fmt.Sprintf("cold%d", gen)
			return func() error { return inv(name, []byte(`{}`)) }, nil
		},
		close: closeSvc,
		pid:   cmd.Process.Pid,
	}, nil
}

func waitListen(addr string) error {
	for i := 0; i < 250; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen", addr)
}

// postInvoke POSTs payload and expects 200 with a body that is not an
// error document.
func postInvoke(client *http.Client, url string, payload []byte) error {
	resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, b)
	}
	if bytes.Contains(b, []byte(`"errorType"`)) {
		return fmt.Errorf("function error: %s", b)
	}
	return nil
}
