package process

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// output copies one of the bootstrap's output pipes to the sandbox's
// Output, and flushes it on demand as wharf's shim does (runtime/shim): a
// read deadline in the past wakes the copier from its read, and the copier
// drains the pipe without blocking before it releases the flushes it took.
// Whatever the bootstrap wrote before a flush began is then in Output.
type output struct {
	r *os.File
	w io.Writer

	mu      sync.Mutex
	flushes []chan struct{}
	done    bool // the pipe ended; everything is copied
}

// flushRewake is how often a flush wakes the copier again, should a wake
// come before the copier began to read.
const flushRewake = 20 * time.Millisecond

func (o *output) copy() {
	buf := make([]byte, 32<<10)
	for {
		n, err := o.r.Read(buf)
		if n > 0 {
			_, _ = o.w.Write(buf[:n])
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if o.drain(buf) {
				break
			}
			continue
		}
		if err != nil {
			break
		}
	}
	o.r.Close()
	o.mu.Lock()
	o.done = true
	flushes := o.flushes
	o.flushes = nil
	o.mu.Unlock()
	for _, ch := range flushes {
		close(ch)
	}
}

// drain clears the deadline (a later flush sets it again), takes the
// waiting flushes, copies what the pipe holds without blocking and then
// releases them; it reports whether the pipe ended.
func (o *output) drain(buf []byte) (ended bool) {
	_ = o.r.SetReadDeadline(time.Time{})
	o.mu.Lock()
	flushes := o.flushes
	o.flushes = nil
	o.mu.Unlock()
	defer func() {
		for _, ch := range flushes {
			close(ch)
		}
	}()
	rc, err := o.r.SyscallConn()
	if err != nil {
		return false
	}
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), buf)
			return true
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_ = o.r.SetReadDeadline(time.Time{})
			continue
		}
		switch {
		case err != nil:
			return false
		case rerr == unix.EINTR:
		case n > 0:
			_, _ = o.w.Write(buf[:n])
		case rerr == nil:
			return true
		default:
			return false
		}
	}
}

// flush returns once what was in the pipe when it began is copied.
func (o *output) flush(ctx context.Context) error {
	o.mu.Lock()
	if o.done {
		o.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	o.flushes = append(o.flushes, ch)
	o.mu.Unlock()
	for {
		if err := o.r.SetReadDeadline(time.Unix(1, 0)); err != nil && !errors.Is(err, os.ErrClosed) {
			return err
		}
		select {
		case <-ch:
			return nil
		case <-time.After(flushRewake):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
