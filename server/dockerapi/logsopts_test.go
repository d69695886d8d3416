package dockerapi

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/runtime/logfile"
	wstream "github.com/wharf-dev/wharf/stream"
)

// tailContainers serves a fixed log, keeping the tail as the engine's
// reader does.
type tailContainers struct {
	fakeContainers
	log []logfile.Entry
}

func (f *tailContainers) Logs(_ context.Context, _ string, o container.LogsOptions, emit func(logfile.Entry) error) error {
	o.Ready()
	sel := f.log
	if o.Tail >= 0 && o.Tail < len(sel) {
		sel = sel[len(sel)-o.Tail:]
	}
	for _, e := range sel {
		if err := emit(e); err != nil {
			return err
		}
	}
	return nil
}

// The Docker API's logs are dockerd's: a tail that is not a number is
// every line, timestamps have nine digits of nanoseconds, and clients
// older than API 1.42 are told the stream is raw even when multiplexed.
func TestDockerAPILogsOptions(t *testing.T) {
	id := strings.Repeat("a", 64)
	at := time.Date(2024, 5, 6, 7, 8, 9, 5e8, time.UTC)
	cs := &tailContainers{fakeContainers: fakeContainers{byID: map[string]*container.Container{id: {ID: id, Name: "c"}}}}
	for i, l := range []string{"one\n", "two\n", "three\n"} {
		cs.log = append(cs.log, logfile.Entry{Log: l, Stream: "stdout", Time: at.Add(time.Duration(i) * time.Second)})
	}
	s := New(cs, presentImages{}, fakeSystem{})
	defer s.Close()

	frames := func(lines ...string) string {
		var b strings.Builder
		mo, _ := wstream.NewMuxWriters(&b)
		for _, l := range lines {
			_, _ = mo.Write([]byte(l))
		}
		return b.String()
	}
	get := func(path string) (int, string, string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()
	}
	for _, tc := range []struct{ query, want string }{
		{"tail=abc", frames("one\n", "two\n", "three\n")},
		{"tail=-5", frames("one\n", "two\n", "three\n")},
		{"tail=2", frames("two\n", "three\n")},
		{"tail=1&timestamps=1", frames("2024-05-06T07:08:11.500000000Z three\n")},
	} {
		code, ctype, body := get("/v1.44/containers/" + id + "/logs?stdout=1&" + tc.query)
		if code != 200 || ctype != "application/vnd.docker.multiplexed-stream" || body != tc.want {
			t.Errorf("logs?%s: %d %s %q, want %q", tc.query, code, ctype, body, tc.want)
		}
	}
	if code, ctype, body := get("/v1.41/containers/" + id + "/logs?stdout=1&tail=1"); code != 200 || ctype != "application/vnd.docker.raw-stream" || body != frames("three\n") {
		t.Errorf("logs at API 1.41: %d %s %q", code, ctype, body)
	}
}
