package logstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
	wstream "github.com/wharf-dev/wharf/stream"
)

// The two servers' copies disagreed on a negative tail (the native one
// refused it); dockerd reads it, "all" and anything not a number as every
// line.
func TestParseTail(t *testing.T) {
	for v, want := range map[string]int{
		"": -1, "all": -1, "-1": -1, "-20": -1, "abc": -1, "1.5": -1, " 3": -1,
		"0": 0, "3": 3, "+3": 3, "100000": 100000,
	} {
		if got := ParseTail(v); got != want {
			t.Errorf("ParseTail(%q) = %d, want %d", v, got, want)
		}
	}
}

func TestBoolValue(t *testing.T) {
	for v, want := range map[string]bool{
		"": false, "0": false, "no": false, "false": false, "none": false, "False": false, " NO ": false,
		"1": true, "true": true, "True": true, "yes": true, "on": true, "x": true,
	} {
		if got := BoolValue(url.Values{"k": {v}}, "k"); got != want {
			t.Errorf("BoolValue(%q) = %v, want %v", v, got, want)
		}
	}
	if BoolValue(url.Values{}, "k") {
		t.Error("a missing parameter is true")
	}
}

func TestParseOptions(t *testing.T) {
	q, _ := url.ParseQuery("stdout=1&stderr=0&follow=true&tail=-1&timestamps=1&since=1700000000.5&until=0")
	o, err := ParseOptions(q)
	if err != nil {
		t.Fatal(err)
	}
	want := container.LogsOptions{Stdout: true, Follow: true, Tail: -1, Since: time.Unix(1700000000, 5e8)}
	if o.Stdout != want.Stdout || o.Stderr || o.Follow != want.Follow || o.Tail != want.Tail ||
		!o.Since.Equal(want.Since) || !o.Until.IsZero() || !o.Timestamps {
		t.Errorf("options %+v", o)
	}
	for _, bad := range []string{"stdout=0&stderr=no", "stdout=1&since=yesterday", "stderr=1&until=soon"} {
		q, _ := url.ParseQuery(bad)
		if _, err := ParseOptions(q); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// fakeLogs serves entries, or refuses to read as the engine does for a
// container whose driver keeps no log.
type fakeLogs struct {
	entries  []logfile.Entry
	refuse   bool
	failLate error
}

func (f *fakeLogs) Logs(_ context.Context, _ string, o container.LogsOptions, emit func(logfile.Entry) error) error {
	if f.refuse {
		return fmt.Errorf("configured logging driver does not support reading: %w", errdefs.ErrNotImplemented)
	}
	o.Ready()
	for _, e := range f.entries {
		if err := emit(e); err != nil {
			return err
		}
	}
	return f.failLate
}

func serve(t *testing.T, l *fakeLogs, query string, f Framing) (*httptest.ResponseRecorder, error) {
	t.Helper()
	q, _ := url.ParseQuery(query)
	o, err := ParseOptions(q)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/containers/c/logs?"+query, nil)
	return rec, Serve(rec, req, l, &container.Container{ID: "c"}, o, f)
}

func TestServeFraming(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 5e8, time.FixedZone("CEST", 2*3600))
	l := &fakeLogs{entries: []logfile.Entry{
		{Log: "out\n", Stream: "stdout", Time: at},
		{Log: "err\n", Stream: "stderr", Time: at.Add(time.Nanosecond)},
	}}

	rec, err := serve(t, l, "stdout=1&stderr=1&timestamps=1", Framing{ContentType: MultiplexedStream, Mux: true})
	if err != nil || rec.Code != 200 || rec.Header().Get("Content-Type") != MultiplexedStream {
		t.Fatalf("mux: %v %d %q", err, rec.Code, rec.Header().Get("Content-Type"))
	}
	var want bytes.Buffer
	mo, me := wstream.NewMuxWriters(&want)
	// UTC, nanoseconds always nine digits: dockerd's rfc3339NanoFixed.
	_, _ = mo.Write([]byte("2024-05-06T05:08:09.500000000Z out\n"))
	_, _ = me.Write([]byte("2024-05-06T05:08:09.500000001Z err\n"))
	if !bytes.Equal(rec.Body.Bytes(), want.Bytes()) {
		t.Errorf("mux body %q, want %q", rec.Body.Bytes(), want.Bytes())
	}

	rec, err = serve(t, l, "stdout=1&stderr=1", Framing{ContentType: RawStream})
	if err != nil || rec.Header().Get("Content-Type") != RawStream || rec.Body.String() != "out\nerr\n" {
		t.Errorf("raw: %v %q %q", err, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}

// An error before the log is found readable is the server's to answer;
// once the stream started, it only ends it.
func TestServeErrors(t *testing.T) {
	_, err := serve(t, &fakeLogs{refuse: true}, "stdout=1", Framing{ContentType: RawStream})
	if !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("unreadable log: %v", err)
	}
	rec, err := serve(t, &fakeLogs{entries: []logfile.Entry{{Log: "x\n", Stream: "stdout"}}, failLate: errors.New("client went away")},
		"stdout=1", Framing{ContentType: RawStream})
	if err != nil || rec.Code != 200 || rec.Body.String() != "x\n" {
		t.Errorf("late error: %v %d %q", err, rec.Code, rec.Body.String())
	}
}
