package invoke_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Each line of a function's log carries the log stream of the sandbox that
// wrote it, named as Lambda names them, and when it arrived; `wharf fn
// logs` (CopyLog) still prints the plain lines.
func TestFunctionLogStreams(t *testing.T) {
	e := newEnv(t).Engine
	create(t, e, "hello", nil)
	before := time.Now().Add(-time.Second)
	invokeJSON(t, e, "hello", "", `{"print":"first-line"}`)
	invokeJSON(t, e, "hello", "", `{"print":"second-line"}`)

	var entries []logfile.Entry
	if err := e.ReadLog(context.Background(), "hello", func(en logfile.Entry) error {
		entries = append(entries, en)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`)
	streams := map[string]bool{}
	var text strings.Builder
	for _, en := range entries {
		if !name.MatchString(en.Stream) {
			t.Errorf("stream %q is not a Lambda log stream name", en.Stream)
		}
		if en.Time.Before(before) || en.Time.After(time.Now()) {
			t.Errorf("record time %v", en.Time)
		}
		if strings.Count(en.Log, "\n") > 1 {
			t.Errorf("a record holds several lines: %q", en.Log)
		}
		streams[en.Stream] = true
		text.WriteString(en.Log)
	}
	if len(streams) != 1 {
		t.Errorf("two invocations of one warm sandbox wrote to %d streams: %v", len(streams), streams)
	}
	for _, want := range []string{"START RequestId: ", "first-line", "second-line", "REPORT RequestId: "} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the records lack %q:\n%s", want, text.String())
		}
	}
	var plain bytes.Buffer
	if err := e.CopyLog(context.Background(), "hello", false, &plain); err != nil {
		t.Fatal(err)
	}
	if plain.String() != text.String() || strings.Contains(plain.String(), `"stream"`) {
		t.Errorf("CopyLog:\n%s\nwant the lines:\n%s", plain.String(), text.String())
	}
}
