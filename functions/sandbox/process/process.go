// Package process launches sandboxes that are plain host processes: a
// function's bootstrap run with a Runtime API on loopback, with no
// isolation at all. It is the floor the benchmarks compare container
// sandboxes with, and runs real bootstraps (aws-lambda-go programs) in
// tests without root; the daemon never uses it.
package process

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions/runtimeapi"
	"github.com/wharf-dev/wharf/functions/sandbox"
)

// Launcher runs a zip function's bootstrap as a plain host process, in its
// own process group, with a Runtime API on loopback.
type Launcher struct{}

type processSandbox struct {
	rt     *runtimeapi.Server
	srv    *http.Server
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
	state  *os.ProcessState
	outs   []*output // stdout, stderr
}

// Launch starts the bootstrap of spec's package.
func (Launcher) Launch(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if spec.CodeDir == "" {
		return nil, fmt.Errorf("the process launcher runs zip functions only: %w", errdefs.ErrInvalidArgument)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rt := runtimeapi.New()
	srv := rt.Serve(l, nil)
	cmd := exec.Command(filepath.Join(spec.CodeDir, "bootstrap"))
	cmd.Dir = spec.CodeDir
	cmd.Env = append(append([]string{}, spec.Env...), "AWS_LAMBDA_RUNTIME_API="+l.Addr().String(), "LAMBDA_TASK_ROOT="+spec.CodeDir)
	w := spec.Output
	if w == nil {
		w = io.Discard
	}
	// Pipes of our own rather than os/exec's copying, so that the output
	// can be flushed (output.go).
	var outs []*output
	var theirs []*os.File
	for range 2 {
		r, wr, err := os.Pipe()
		if err != nil {
			for _, f := range theirs {
				f.Close()
			}
			for _, o := range outs {
				o.r.Close()
			}
			_ = srv.Close()
			return nil, err
		}
		outs, theirs = append(outs, &output{r: r, w: w}), append(theirs, wr)
	}
	cmd.Stdout, cmd.Stderr = theirs[0], theirs[1]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	for _, f := range theirs {
		f.Close()
	}
	if err != nil {
		for _, o := range outs {
			o.r.Close()
		}
		_ = srv.Close()
		return nil, err
	}
	for _, o := range outs {
		go o.copy()
	}
	p := &processSandbox{rt: rt, srv: srv, cmd: cmd, exited: make(chan struct{}), outs: outs}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	return p, nil
}

func (p *processSandbox) Runtime() *runtimeapi.Server { return p.rt }
func (p *processSandbox) Exited() <-chan struct{}     { return p.exited }
func (p *processSandbox) Freeze() error               { return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGSTOP) }
func (p *processSandbox) Thaw() error                 { return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT) }
func (p *processSandbox) OOMKilled() bool             { return false }

// FlushOutput implements sandbox.Sandbox: both pipes are drained.
func (p *processSandbox) FlushOutput(ctx context.Context) error {
	for _, o := range p.outs {
		if err := o.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// MaxMemory reads the process's peak resident size.
func (p *processSandbox) MaxMemory() uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func (p *processSandbox) Close(ctx context.Context) error {
	p.once.Do(func() {
		p.rt.Close()
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		_ = p.srv.Close()
	})
	return nil
}
