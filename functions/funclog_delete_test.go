package functions

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Deleting a function removes its log with every rotated file, and leaves
// the logs of other functions alone; a function created again under the
// same name starts an empty log.
func TestDeleteRemovesRotatedLogs(t *testing.T) {
	// Small files, so that a few invocations rotate the log.
	e := newEngine(t, WithLogLimits(logfile.Limits{MaxSize: 300, MaxFiles: 3}))
	ctx := context.Background()
	create(t, e, "hello", nil)
	create(t, e, "hello-2", nil)
	for i := 0; i < 4; i++ {
		invokeJSON(t, e, "hello", "", `{"print":"old-life-line"}`)
	}
	invokeJSON(t, e, "hello-2", "", `{"print":"other"}`)
	logs := filepath.Dir(e.LogPath("hello"))
	if _, err := os.Stat(e.LogPath("hello") + ".1"); err != nil {
		t.Fatalf("the log did not rotate: %v", err)
	}
	if err := e.Delete(ctx, "hello", ""); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(logs)
	var left []string
	for _, de := range ents {
		left = append(left, de.Name())
	}
	for _, n := range left {
		if n == "hello.log" || strings.HasPrefix(n, "hello.log.") {
			t.Fatalf("a deleted function's log is left: %v", left)
		}
	}
	if _, err := os.Stat(e.LogPath("hello-2")); err != nil {
		t.Fatalf("another function's log went too: %v (%v)", err, left)
	}

	create(t, e, "hello", nil)
	invokeJSON(t, e, "hello", "", `{"print":"new-life-line"}`)
	data, err := os.ReadFile(e.LogPath("hello"))
	if err != nil || !strings.Contains(string(data), "new-life-line") || strings.Contains(string(data), "old-life-line") {
		t.Fatalf("the log of the function created again: %v\n%s", err, data)
	}
}
