// Package process launches sandboxes that are plain host processes: a
// function's bootstrap run with a Runtime API on loopback, with no
// isolation at all. It is the floor the benchmarks compare container
// sandboxes with, and runs real bootstraps (aws-lambda-go programs) in
// tests without root; the daemon never uses it.
package process

import (
	"context"
	"fmt"
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
	cmd.Stdout, cmd.Stderr = spec.Output, spec.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = srv.Close()
		return nil, err
	}
	p := &processSandbox{rt: rt, srv: srv, cmd: cmd, exited: make(chan struct{})}
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
