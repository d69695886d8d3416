package testsuite

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/stream"
)

// The suite's helpers: one test's engine and the calls it makes often.

type suite struct {
	*Env
	ctx context.Context
}

// removeAll removes what a test left.
func (s *suite) removeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range s.Engine.List(ctx) {
		_ = s.Engine.Remove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
}

func (s *suite) create(t *testing.T, o container.CreateOptions) string {
	t.Helper()
	if o.Config.Image == "" {
		o.Config.Image = s.Image
	}
	if o.HostConfig.NetworkMode == "" {
		o.HostConfig.NetworkMode = "none"
	}
	c, err := s.Engine.Create(s.ctx, o)
	if err != nil {
		t.Fatalf("create %v: %v", o.Config.Cmd, err)
	}
	return c.ID
}

// run creates and starts a container running cmd.
func (s *suite) run(t *testing.T, cmd ...string) string {
	t.Helper()
	id := s.create(t, container.CreateOptions{Config: container.Config{Cmd: cmd}})
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatalf("start %v: %v", cmd, err)
	}
	return id
}

func (s *suite) get(t *testing.T, id string) *container.Container {
	t.Helper()
	c, err := s.Engine.Get(s.ctx, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return c
}

func (s *suite) wait(t *testing.T, id string) int {
	t.Helper()
	code, err := s.Engine.Wait(s.ctx, id, container.WaitNotRunning, nil)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return code
}

// until polls the container until cond holds.
func (s *suite) until(t *testing.T, id, what string, cond func(*container.Container) bool) *container.Container {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := s.get(t, id)
		if cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container never %s: %+v", what, c.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *suite) logs(t *testing.T, id string) (string, string) {
	t.Helper()
	var out, errs strings.Builder
	err := s.Engine.Logs(s.ctx, id, container.LogsOptions{Stdout: true, Stderr: true, Tail: -1}, func(e logfile.Entry) error {
		if e.Stream == "stderr" {
			errs.WriteString(e.Log)
		} else {
			out.WriteString(e.Log)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	return out.String(), errs.String()
}

// waitLog waits until the container's stdout holds want: a script says
// so once it has set its traps.
func (s *suite) waitLog(t *testing.T, id, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, _ := s.logs(t, id); strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log never held %q", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isClass(err error, class error) bool { return errors.Is(err, class) }

// conn is a client's side of a stream: what the client sends, and what
// it receives.
type conn struct {
	in  io.Reader
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *conn) Read(p []byte) (int, error) {
	if c.in == nil {
		return 0, io.EOF
	}
	return c.in.Read(p)
}

func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *conn) demux(t *testing.T) (string, string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var o, e bytes.Buffer
	if err := stream.Demux(&o, &e, bytes.NewReader(c.out.Bytes())); err != nil {
		t.Fatalf("demux: %v", err)
	}
	return o.String(), e.String()
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
