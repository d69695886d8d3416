package container

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// endless is a stream that has output for as long as it is read, and
// counts what was read of it.
type endless struct {
	mu     sync.Mutex
	read   int
	closed bool
}

func (s *endless) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, net.ErrClosed
	}
	for i := range p {
		p[i] = byte(s.read + i)
	}
	s.read += len(p)
	return len(p), nil
}

func (s *endless) Write(p []byte) (int, error) { return len(p), nil }
func (s *endless) CloseWrite() error           { return nil }
func (s *endless) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *endless) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read
}

// While nobody reads it, a buffered stream reads ahead no more than its
// bound (and one read); what it read comes out whole and in order, and
// it reads on as it is drained.
func TestBufferedStreamBound(t *testing.T) {
	const max = 256 << 10
	src := &endless{}
	b := newBufferedStream(src, max)
	deadline := time.Now().Add(10 * time.Second)
	for src.count() < max && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// Reading ahead stops at the bound: no more is read meanwhile.
	time.Sleep(50 * time.Millisecond)
	if n := src.count(); n < max || n > max+32<<10 {
		t.Fatalf("read ahead %d bytes, bound %d", n, max)
	}
	got := make([]byte, 3*max)
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	for i, c := range got {
		if c != byte(i) {
			t.Fatalf("byte %d is %d", i, c)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(got); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

// The end of the stream comes after what was read ahead of it.
func TestBufferedStreamEnd(t *testing.T) {
	r, w := net.Pipe()
	b := newBufferedStream(&pipeStream{r}, 1<<20)
	go func() {
		_, _ = w.Write([]byte("last words"))
		w.Close()
	}()
	got, err := io.ReadAll(b)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte("last words")) {
		t.Fatalf("got %q", got)
	}
}

type pipeStream struct{ net.Conn }

func (p *pipeStream) CloseWrite() error { return nil }
