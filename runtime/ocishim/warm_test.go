package ocishim

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

// A warm exec serves only the run it was started for: a new start of the
// container, or the end of its run, makes it unusable, and it is killed
// rather than handed an exec.
func TestWarmFitsOnlyItsRun(t *testing.T) {
	r := &Runtime{runs: map[string]*run{}}
	give := func(gen int) *warmExec {
		w := &warmExec{gen: gen, done: make(chan struct{}), timer: time.NewTimer(time.Hour)}
		r.mu.Lock()
		r.runOf("c").warm = w
		r.mu.Unlock()
		return w
	}
	r.newRun("c")
	w := give(1)
	if got := r.takeWarm("c"); got != w {
		t.Fatal("a warm exec of the current run was not taken")
	}
	if r.takeWarm("c") != nil {
		t.Fatal("a warm exec was taken twice")
	}
	w = give(1)
	r.newRun("c")
	if r.takeWarm("c") != nil || !killed(w) {
		t.Error("a start leaves the last run's warm exec in place")
	}
	// One that a rewarm registered late, for the last run.
	give(1)
	if r.takeWarm("c") != nil {
		t.Error("a warm exec of the last run serves a restarted container")
	}
	w = give(2)
	r.ended("c", 2)
	if r.takeWarm("c") != nil {
		t.Error("a warm exec serves a run that ended")
	}
	if !killed(w) {
		t.Error("the warm exec of an ended run was not killed")
	}
}

func killed(w *warmExec) bool {
	done := false
	w.killOnce.Do(func() { done = true })
	return !done
}
