package container

import (
	"net"
	"sync"

	"github.com/wharf-dev/wharf/runtime/task"
)

// attachBuffer bounds the live output an attach holds while it replays
// the container's log ahead of it.
const attachBuffer = 1 << 20

// bufferedStream reads a stream ahead into a buffer of at most max bytes,
// so that the supervisor's writes do not wait while the attach replays
// the log. Once the buffer is full it reads no more: the supervisor then
// waits for the stream as for any slow client (and drops it after its
// write timeout, 5 seconds). Writes go straight to the stream.
type bufferedStream struct {
	task.Stream
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	err    error // what ended the reading ahead
	closed bool
}

func newBufferedStream(st task.Stream, max int) *bufferedStream {
	b := &bufferedStream{Stream: st}
	b.cond = sync.NewCond(&b.mu)
	go b.fill(max)
	return b
}

// fill reads the stream ahead until it ends or the buffered stream is
// closed.
func (b *bufferedStream) fill(max int) {
	p := make([]byte, 32<<10)
	for {
		b.mu.Lock()
		for len(b.buf) >= max && !b.closed {
			b.cond.Wait()
		}
		closed := b.closed
		b.mu.Unlock()
		if closed {
			return
		}
		n, err := b.Stream.Read(p)
		b.mu.Lock()
		b.buf = append(b.buf, p[:n]...)
		if err != nil {
			b.err = err
		}
		b.cond.Broadcast()
		b.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Read returns what was read ahead, then the error that ended the stream.
func (b *bufferedStream) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) == 0 && b.err == nil && !b.closed {
		b.cond.Wait()
	}
	if b.closed {
		return 0, net.ErrClosed
	}
	if len(b.buf) > 0 {
		n := copy(p, b.buf)
		b.buf = b.buf[n:]
		if len(b.buf) == 0 {
			b.buf = nil
		}
		b.cond.Broadcast()
		return n, nil
	}
	return 0, b.err
}

// Close closes the stream and ends the reading ahead.
func (b *bufferedStream) Close() error {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
	return b.Stream.Close()
}
