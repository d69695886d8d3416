package invoke

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Output the runtime wrote before it answered can reach the daemon after
// the answer; a Tail invocation waits for it even when nothing else was
// written during the invocation (the START line is held, not written).
func TestSettleWaitsForOutputAfterTheAnswer(t *testing.T) {
	l, err := openFuncLog(filepath.Join(t.TempDir(), "fn.log"), DefaultLogLimits)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o := &sandboxOutput{log: l, lastWrite: time.Now().Add(-time.Hour)}
	var tail bytes.Buffer
	o.capture(&tail)
	o.start("START RequestId: r1 Version: $LATEST")
	answered := time.Now()
	go func() {
		time.Sleep(time.Millisecond)
		_, _ = o.Write([]byte("late line\n"))
	}()
	o.settle(answered)
	o.capture(nil)
	if got := tail.String(); !strings.Contains(got, "START RequestId: r1") || !strings.Contains(got, "late line") {
		t.Fatalf("tail %q", got)
	}
	if waited := time.Since(answered); waited > 50*time.Millisecond {
		t.Fatalf("settle took %v", waited)
	}
}
