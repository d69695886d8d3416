package container

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newFifoWarm(t *testing.T) *warmExec {
	t.Helper()
	w := &warmExec{fifo: filepath.Join(t.TempDir(), "process.json"), done: make(chan struct{})}
	if err := unix.Mkfifo(w.fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// The runtime may still be starting when the exec comes: deliver waits
// for it to open the FIFO, and the process arrives whole, larger than a
// pipe's atomic write.
func TestWarmDeliverWaitsForTheReader(t *testing.T) {
	w := newFifoWarm(t)
	process := make([]byte, 200<<10)
	for i := range process {
		process[i] = byte('a' + i%26)
	}
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		f, err := os.Open(w.fifo)
		if err != nil {
			got <- nil
			return
		}
		defer f.Close()
		data, _ := io.ReadAll(f)
		got <- data
	}()
	if err := w.deliver(process); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	if data := <-got; string(data) != string(process) {
		t.Errorf("the runtime read %d bytes, want the %d written", len(data), len(process))
	}
	if !w.delivered {
		t.Error("a delivered warm exec is not marked delivered")
	}
}

// A runtime that exited before opening the FIFO is reported gone rather
// than waited for.
func TestWarmDeliverToAnExitedRuntime(t *testing.T) {
	w := newFifoWarm(t)
	close(w.done)
	start := time.Now()
	if err := w.deliver([]byte("{}")); !errors.Is(err, errWarmGone) {
		t.Fatalf("deliver to an exited runtime: %v, want errWarmGone", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("deliver took %v to see the runtime gone", d)
	}
}

// A warm exec serves only the run it was started for.
func TestWarmFitsOnlyItsRun(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	w := &warmExec{pid: 42, startedAt: at}
	c := &Container{}
	c.State.Pid, c.State.StartedAt = 42, at
	if !w.fits(c) {
		t.Error("a warm exec does not fit the run it was started for")
	}
	c.State.StartedAt = at.Add(time.Second)
	if w.fits(c) {
		t.Error("a warm exec fits a restarted container")
	}
	c.State.Pid, c.State.StartedAt = 43, at
	if w.fits(c) {
		t.Error("a warm exec fits a container with another init")
	}
}
