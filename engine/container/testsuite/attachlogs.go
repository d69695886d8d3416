package testsuite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/stream"
)

// An attach with the log and the stream (logs=1&stream=1) gets every byte
// of the container's output exactly once and in order: the log up to the
// instant the stream was attached, then what came after. The container
// echoes numbered lines fed to it without a pause, so that output is
// always in flight while the streams attach; each of many attaches must
// see the numbers from the first on, none missing, none twice.
func testAttachLogsStream(t *testing.T, s *suite) {
	for _, tty := range []bool{false, true} {
		name := "pipes"
		cmd := []string{"cat"}
		if tty {
			// The terminal echoes what it is fed: that is the output.
			name, cmd = "tty", []string{"sh", "-c", "cat >/dev/null"}
		}
		t.Run(name, func(t *testing.T) {
			id := s.create(t, container.CreateOptions{Config: container.Config{Cmd: cmd, OpenStdin: true, Tty: tty}})
			if err := s.Engine.Start(s.ctx, id); err != nil {
				t.Fatal(err)
			}
			f := &feeder{stop: make(chan struct{})}
			fed := make(chan error, 1)
			feedCtx, stopFeed := context.WithCancel(s.ctx)
			go func() {
				fed <- s.Engine.Attach(feedCtx, id, container.AttachOptions{Stdin: true, Stream: f})
			}()
			defer func() {
				close(f.stop)
				stopFeed()
				if err := <-fed; err != nil && feedCtx.Err() == nil {
					t.Errorf("feeding attach: %v", err)
				}
			}()
			for i := 0; i < 50; i++ {
				if !s.attachLogsOnce(t, id, tty, f) {
					return
				}
			}
		})
	}
}

// attachLogsOnce attaches with the log and the stream, reads until lines
// fed after the attach arrived, and checks the numbers: 0, 1, 2, ...
func (s *suite) attachLogsOnce(t *testing.T, id string, tty bool, f *feeder) bool {
	t.Helper()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	c := &conn{}
	done := make(chan error, 1)
	go func() {
		done <- s.Engine.Attach(ctx, id, container.AttachOptions{Stdout: true, Stderr: true, Logs: true, Stream: c})
	}()
	// Numbers fed well after the attach began: they came live.
	want := f.n.Load() + 30
	deadline := time.Now().Add(30 * time.Second)
	var lines []string
	for {
		lines = completeLines(c.output(tty))
		if n := len(lines); n > 0 {
			if last, err := strconv.ParseInt(lines[n-1], 10, 64); err == nil && last >= want {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("attach never got line %d; it got %d lines, last %q", want, len(lines), lastOf(lines))
			cancel()
			<-done
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Errorf("attach: %v", err)
	}
	for i, l := range lines {
		if l != strconv.Itoa(i) {
			t.Errorf("line %d of the attach is %q (%d lines in all; around it: %q)", i, l, len(lines), lines[max(0, i-3):min(len(lines), i+4)])
			return false
		}
	}
	return true
}

// output is what the client received so far: raw from a terminal, else
// the payload of the whole stdout and stderr frames, in their order.
func (c *conn) output(tty bool) []byte {
	c.mu.Lock()
	raw := bytes.Clone(c.out.Bytes())
	c.mu.Unlock()
	if tty {
		return raw
	}
	var out []byte
	for len(raw) >= 8 {
		n := int(binary.BigEndian.Uint32(raw[4:8]))
		if len(raw) < 8+n {
			break
		}
		if raw[0] == stream.Stdout || raw[0] == stream.Stderr {
			out = append(out, raw[8:8+n]...)
		}
		raw = raw[8+n:]
	}
	return out
}

// completeLines splits out into its lines ending in a newline (without
// the terminal's carriage returns).
func completeLines(out []byte) []string {
	s := strings.ReplaceAll(string(out), "\r", "")
	i := strings.LastIndexByte(s, '\n')
	if i < 0 {
		return nil
	}
	return strings.Split(s[:i], "\n")
}

func lastOf(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// feeder is an attached client's input: numbered lines, one per read,
// without pause, until stop (or a bound that no test reaches).
type feeder struct {
	n    atomic.Int64
	stop chan struct{}
}

func (f *feeder) Read(p []byte) (int, error) {
	select {
	case <-f.stop:
		return 0, io.EOF
	default:
	}
	n := f.n.Load()
	if n >= 1_000_000 {
		return 0, io.EOF
	}
	// A short pause keeps the output flowing without flooding the log.
	time.Sleep(200 * time.Microsecond)
	f.n.Add(1)
	return copy(p, fmt.Sprintf("%d\n", n)), nil
}

func (f *feeder) Write(p []byte) (int, error) { return len(p), nil }

// A stream attached with the log right after the start gets what the
// container printed at once exactly once, whether it was still in flight
// or already in the log (the Python SDK's attach tests).
func testAttachLogsAtStart(t *testing.T, s *suite) {
	for _, tty := range []bool{false, true} {
		name := "pipes"
		if tty {
			name = "tty"
		}
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			defer wg.Wait()
			for i := 0; i < 10; i++ {
				id := s.create(t, container.CreateOptions{Config: container.Config{Cmd: []string{"sh", "-c", "echo ready; cat"}, OpenStdin: true, Tty: tty}})
				if err := s.Engine.Start(s.ctx, id); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(s.ctx)
				c := &conn{}
				done := make(chan error, 1)
				go func() {
					done <- s.Engine.Attach(ctx, id, container.AttachOptions{Stdout: true, Stderr: true, Logs: true, Stream: c})
				}()
				deadline := time.Now().Add(10 * time.Second)
				for !strings.Contains(string(c.output(tty)), "ready") && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				// Anything more (a second copy) would come at once.
				time.Sleep(20 * time.Millisecond)
				cancel()
				<-done
				if got := strings.ReplaceAll(string(c.output(tty)), "\r", ""); got != "ready\n" {
					t.Errorf("run %d: the attach got %q, want ready once", i, got)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = s.Engine.Remove(context.Background(), id, container.RemoveOptions{Force: true})
				}()
			}
		})
	}
}

// A stream attached with the log to a container that is not running gets
// the log of its past runs, then the output of its next start, each once.
func testAttachLogsBeforeStart(t *testing.T, s *suite) {
	id := s.run(t, "sh", "-c", "echo run; echo err >&2")
	s.wait(t, id)
	c := &conn{}
	registered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Engine.Attach(s.ctx, id, container.AttachOptions{Stdout: true, Stderr: true, Logs: true, Stream: c, Registered: func() { close(registered) }})
	}()
	<-registered
	if err := s.Engine.Start(s.ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("attach: %v", err)
	}
	if out, errs := c.demux(t); out != "run\nrun\n" || errs != "err\nerr\n" {
		t.Errorf("attached stdout %q stderr %q, want the two runs' output once each", out, errs)
	}
}
