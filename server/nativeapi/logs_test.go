package nativeapi

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/runtime/logfile"
	wstream "github.com/wharf-dev/wharf/stream"
)

// The native API's logs share the Docker API's core: a negative tail is
// every line (it was refused), and timestamps are UTC with nine digits of
// nanoseconds (they were in the entry's zone).
func TestNativeAPILogsOptions(t *testing.T) {
	id := strings.Repeat("a", 64)
	cs := newRecContainers()
	cs.byID[id] = &container.Container{ID: id, Name: "c"}
	at := time.Date(2024, 5, 6, 7, 8, 9, 5e8, time.FixedZone("CEST", 2*3600))
	for i, l := range []string{"one\n", "two\n", "three\n"} {
		cs.log = append(cs.log, logfile.Entry{Log: l, Stream: "stdout", Time: at.Add(time.Duration(i) * time.Second)})
	}
	s := newRecServer(cs)

	frames := func(lines ...string) string {
		var b strings.Builder
		mo, _ := wstream.NewMuxWriters(&b)
		for _, l := range lines {
			_, _ = mo.Write([]byte(l))
		}
		return b.String()
	}
	for _, tc := range []struct{ query, want string }{
		{"tail=-1", frames("one\n", "two\n", "three\n")},
		{"tail=all", frames("one\n", "two\n", "three\n")},
		{"tail=1", frames("three\n")},
		{"tail=1&timestamps=1", frames("2024-05-06T05:08:11.500000000Z three\n")},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/wharf/v1/containers/"+id+"/logs?stdout=1&"+tc.query, nil))
		if rec.Code != 200 || rec.Body.String() != tc.want {
			t.Errorf("logs?%s: %d %q, want %q", tc.query, rec.Code, rec.Body.String(), tc.want)
		}
	}
}
