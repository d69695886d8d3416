package testsuite

import (
	"io"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/runtime/task"
)

// A stream attached with Cut tells where it begins in the output: the
// log up to the cut's position, then the partial line held back from the
// log, then the stream, give every byte once and in order.
func testAttachCut(t *testing.T, e *env) {
	c, _ := e.start(t, []string{"cat"}, options{stdin: true, log: true})
	feed := e.attach(t, c.id, task.AttachOptions{Stdin: true, Stdout: true})
	fed := collect(feed)
	if _, err := io.WriteString(feed, "one\ntw"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fed, "one\ntw")
	set, err := logfile.OpenSet(c.log)
	if err != nil {
		t.Fatal(err)
	}
	st := e.attach(t, c.id, task.AttachOptions{Stdout: true, Stderr: true, Cut: true})
	cs, ok := st.(task.CutStream)
	if !ok {
		t.Fatalf("a stream attached with Cut is a %T, not a task.CutStream", st)
	}
	cut := cs.Cut()
	if cut == nil || cut.Log == nil {
		t.Fatalf("cut %+v: no log position", cut)
	}
	if len(cut.Held) != 1 || cut.Held[0].Stream != "stdout" || cut.Held[0].Log != "tw" {
		t.Errorf("held back from the log at the cut: %+v, want stdout %q", cut.Held, "tw")
	}
	var logged []string
	if err := set.ReadTo(*cut.Log, logfile.ReadOptions{Stdout: true, Stderr: true}, func(l logfile.Entry) error {
		logged = append(logged, l.Log)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(logged, "") != "one\n" {
		t.Errorf("the log up to the cut: %q, want one line", logged)
	}
	live := collect(st)
	if _, err := io.WriteString(feed, "o\nthree\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, live, "three\n")
	if got := live.stdout(); got != "o\nthree\n" {
		t.Errorf("the stream after the cut: %q", got)
	}
}
