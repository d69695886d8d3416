package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// outStream is a function sandbox's output stream as the daemon reads it:
// the flushes waiting for their marks, and whether the stream has ended.
type outStream struct {
	mu    sync.Mutex
	marks map[string]chan struct{}
	ended chan struct{}
	once  sync.Once
}

func newOutStream() *outStream {
	return &outStream{marks: map[string]chan struct{}{}, ended: make(chan struct{})}
}

// mark is called by the stream's reader with the token of each mark, once
// the output ahead of it is written to the sandbox's output.
func (s *outStream) mark(token []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.marks[string(token)]; ok {
		close(ch)
		delete(s.marks, string(token))
	}
}

// end records that the stream ended: the container's output is over and
// all of it was read.
func (s *outStream) end() { s.once.Do(func() { close(s.ended) }) }

func (s *outStream) expect(token string) chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	s.marks[token] = ch
	s.mu.Unlock()
	return ch
}

func (s *outStream) forget(token string) {
	s.mu.Lock()
	delete(s.marks, token)
	s.mu.Unlock()
}

func (a *engineContainers) forgetStream(id string) {
	a.mu.Lock()
	delete(a.streams, id)
	a.mu.Unlock()
}

// exitedGrace is how long a flush that the container cannot answer (it
// exited) waits for its stream's end, which comes once its last output is
// read.
const exitedGrace = 500 * time.Millisecond

// FlushOutput implements sandbox.ContainerRuntime: it asks the container's
// shim for a mark behind everything the container wrote until now, and
// waits for the mark to come out of the stream's reader, which has then
// written all that output to the sandbox's log. A container that exited
// has flushed once its stream has ended.
func (a *engineContainers) FlushOutput(ctx context.Context, id string) error {
	a.mu.Lock()
	st := a.streams[id]
	a.mu.Unlock()
	if st == nil {
		return fmt.Errorf("sandbox %s has no output stream: %w", id, errdefs.ErrNotFound)
	}
	token := strconv.FormatUint(a.tokens.Add(1), 10)
	marked := st.expect(token)
	defer st.forget(token)
	if err := a.e.FlushOutput(ctx, id, token); err != nil {
		if errdefs.IsNotImplemented(err) {
			return err
		}
		// Most likely the container exited meanwhile: its stream ends
		// once everything it wrote has been read.
		t := time.NewTimer(exitedGrace)
		defer t.Stop()
		select {
		case <-st.ended:
			return nil
		case <-t.C:
			return err
		case <-ctx.Done():
			return err
		}
	}
	select {
	case <-marked:
		return nil
	case <-st.ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the mark of flush %s did not come: %w", token, ctx.Err())
	}
}
