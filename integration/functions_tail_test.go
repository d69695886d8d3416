package integration

import (
	"fmt"
	"strings"
	"testing"
)

// A Tail invocation's log holds the line the function printed just before
// it answered, ahead of END and REPORT, however late the shim forwards it:
// the daemon asks the shim to flush the sandbox's output and waits for
// the mark behind it. The daemon's shims here hold every read of output
// for 60 ms before forwarding it (a hidden test flag), longer than any
// quiet window a guess would wait, as a loaded host may.
func TestFunctionTailKeepsLastLine(t *testing.T) {
	e := startFnEnv(t, "--test-shim-forward-delay", "60ms")
	e.deploy(t, "printer", 128, 5, nil)
	for i := 0; i < 20; i++ {
		line := fmt.Sprintf("last-line-%d", i)
		out, r := e.invoke(t, "printer", fmt.Sprintf(`{"key1":"k","print":%q}`, line))
		if out.FunctionError != nil || r.Echo != "k" {
			t.Fatalf("invocation %d: %s", i, out.Payload)
		}
		tail := logTail(t, out)
		at, end := strings.Index(tail, line+"\n"), strings.Index(tail, "END RequestId: "+r.RequestID)
		if at < 0 || end < 0 || at > end {
			t.Fatalf("invocation %d: the tail lacks %q before its END line:\n%s", i, line, tail)
		}
	}
}
