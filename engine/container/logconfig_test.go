package container

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Log options are checked at create with dockerd's messages, their
// values included; what the engine does not do is refused, not dropped.
func TestLogLimits(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		opts map[string]string
		want logfile.Limits
		err  string
	}{
		{typ: "", want: logfile.Limits{MaxFiles: 1}},
		{typ: "json-file", want: logfile.Limits{MaxFiles: 1}},
		{typ: "json-file", opts: map[string]string{"max-size": "10m", "max-file": "3"}, want: logfile.Limits{MaxSize: 10_000_000, MaxFiles: 3}},
		{typ: "json-file", opts: map[string]string{"max-size": "1k"}, want: logfile.Limits{MaxSize: 1000, MaxFiles: 1}},
		{typ: "json-file", opts: map[string]string{"max-size": "2KiB", "compress": "false", "mode": "blocking"}, want: logfile.Limits{MaxSize: 2000, MaxFiles: 1}},
		{typ: "json-file", opts: map[string]string{"max-size": "abc"}, err: "invalid size: 'abc'"},
		{typ: "json-file", opts: map[string]string{"max-size": "0"}, err: "max-size must be a positive number"},
		{typ: "json-file", opts: map[string]string{"max-file": "0"}, err: "max-file cannot be less than 1"},
		{typ: "json-file", opts: map[string]string{"max-file": "x"}, err: `strconv.Atoi: parsing "x": invalid syntax`},
		{typ: "json-file", opts: map[string]string{"compress": "true"}, err: "compress cannot be true when max-file is less than 2 or max-size is not set"},
		{typ: "json-file", opts: map[string]string{"compress": "true", "max-size": "1m", "max-file": "2"}, err: "log opt 'compress' is not supported by this daemon"},
		{typ: "json-file", opts: map[string]string{"compress": "maybe"}, err: `strconv.ParseBool: parsing "maybe": invalid syntax`},
		{typ: "json-file", opts: map[string]string{"max-sise": "1m"}, err: "unknown log opt 'max-sise' for json-file log driver"},
		{typ: "json-file", opts: map[string]string{"tag": "{{.Name}}"}, err: "log opt 'tag' is not supported by this daemon"},
		{typ: "json-file", opts: map[string]string{"mode": "fast"}, err: "logger: logging mode not supported: fast"},
		{typ: "json-file", opts: map[string]string{"mode": "non-blocking"}, err: "logging mode non-blocking is not supported by this daemon"},
		{typ: "json-file", opts: map[string]string{"max-buffer-size": "4m"}, err: "logger: max-buffer-size option is only supported with 'mode=non-blocking'"},
		{typ: "local", want: logfile.Limits{MaxSize: 20 << 20, MaxFiles: 5}},
		{typ: "local", opts: map[string]string{"max-size": "1m"}, want: logfile.Limits{MaxSize: 1_000_000, MaxFiles: 5}},
		{typ: "local", opts: map[string]string{"max-file": "0", "max-size": "0"}, want: logfile.Limits{MaxSize: 1, MaxFiles: 1}},
		{typ: "local", opts: map[string]string{"max-size": "-1"}, err: "invalid value for max-size: -1"},
		{typ: "local", opts: map[string]string{"max-file": "-1"}, err: "max-file must not be negative"},
		{typ: "local", opts: map[string]string{"compress": "true"}, err: "log opt 'compress' is not supported by this daemon"},
		{typ: "local", opts: map[string]string{"compress": "true", "max-file": "1"}, err: "compression cannot be enabled when max file count is 1"},
		{typ: "local", opts: map[string]string{"compress": "false"}, want: logfile.Limits{MaxSize: 20 << 20, MaxFiles: 5}},
		{typ: "local", opts: map[string]string{"labels": "a"}, err: "log opt 'labels' is not supported"},
		{typ: "local", opts: map[string]string{"max-age": "1"}, err: "unknown log opt 'max-age' for log driver local"},
		{typ: "none", opts: map[string]string{"anything": "goes"}},
		{typ: "syslog", err: "logger: no log driver named 'syslog' is registered"},
		{typ: "journald", opts: map[string]string{"tag": "x"}, err: "logger: no log driver named 'journald' is registered"},
	} {
		lim, err := logLimits(LogConfig{Type: tc.typ, Config: tc.opts})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("%s %v: error %v, want %q (invalid argument)", tc.typ, tc.opts, err, tc.err)
			}
			continue
		}
		if err != nil || lim != tc.want {
			t.Errorf("%s %v: %+v %v, want %+v", tc.typ, tc.opts, lim, err, tc.want)
		}
	}
}

// The daemon's default fills in a driver and, for that driver only, the
// options a request lacks (dockerd's mergeAndVerifyLogConfig).
func TestMergeLogDefault(t *testing.T) {
	def := DefaultLogConfig()
	for _, tc := range []struct {
		in, want LogConfig
	}{
		{LogConfig{}, LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}}},
		{LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1k"}}, LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1k", "max-file": "3"}}},
		{LogConfig{Type: "local"}, LogConfig{Type: "local", Config: map[string]string{}}},
		{LogConfig{Type: "none"}, LogConfig{Type: "none", Config: map[string]string{}}},
	} {
		in := tc.in
		mergeLogDefault(&in, def)
		if in.Type != tc.want.Type || len(in.Config) != len(tc.want.Config) {
			t.Errorf("%+v → %+v, want %+v", tc.in, in, tc.want)
			continue
		}
		for k, v := range tc.want.Config {
			if in.Config[k] != v {
				t.Errorf("%+v → %+v, want %+v", tc.in, in, tc.want)
			}
		}
	}
	if len(def.Config) != 2 {
		t.Fatalf("merging changed the default: %v", def.Config)
	}
}

// Create refuses a log configuration it cannot honour before it records
// anything.
func TestCreateRefusesLogConfig(t *testing.T) {
	e := &Engine{root: t.TempDir(), byID: map[string]*entry{}, names: map[string]string{}, log: slog.New(slog.DiscardHandler), logDefault: DefaultLogConfig()}
	for _, lc := range []LogConfig{
		{Type: "syslog"},
		{Type: "json-file", Config: map[string]string{"max-size": "nope"}},
		{Type: "local", Config: map[string]string{"compress": "true"}},
	} {
		_, err := e.Create(context.Background(), CreateOptions{Config: Config{Image: "busybox"}, HostConfig: HostConfig{LogConfig: lc}})
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("create with %+v: %v, want invalid argument", lc, err)
		}
	}
	if entries, _ := os.ReadDir(e.root); len(entries) != 0 {
		t.Fatalf("a refused create left %d entries", len(entries))
	}
}

// Logs reads the file of the container's driver; none has nothing to
// read and says so before anything is sent.
func TestLogsByDriver(t *testing.T) {
	root := t.TempDir()
	e := &Engine{root: root, byID: map[string]*entry{}, names: map[string]string{}, log: slog.New(slog.DiscardHandler)}
	add := func(id string, lc LogConfig) {
		e.byID[id] = &entry{c: &Container{ID: id, HostConfig: HostConfig{LogConfig: lc}, State: State{Status: StatusExited}}, changed: make(chan struct{})}
	}
	add("none1", LogConfig{Type: "none"})
	add("local1", LogConfig{Type: "local"})
	add("json1", LogConfig{})
	for id, c := range map[string]*Container{"local1": e.byID["local1"].c, "json1": e.byID["json1"].c} {
		path, lim, err := e.prepareLog(c)
		if err != nil {
			t.Fatal(err)
		}
		w, err := logfile.Open(path, lim)
		if err != nil {
			t.Fatal(err)
		}
		_ = w.Write("stdout", []byte("from "+id+"\n"), time.Now())
		_ = w.Close()
	}
	if _, err := os.Stat(filepath.Join(root, "local1", "local-logs", "container.log")); err != nil {
		t.Fatalf("local driver's log: %v", err)
	}
	if got := e.LogPath("local1"); got != "" {
		t.Errorf("LogPath of a local container: %q", got)
	}
	if got := e.LogPath("json1"); got != filepath.Join(root, "json1", "json1-json.log") {
		t.Errorf("LogPath of a json-file container: %q", got)
	}
	for _, id := range []string{"local1", "json1"} {
		var got []string
		ready := false
		err := e.Logs(context.Background(), id, LogsOptions{Stdout: true, Tail: -1, Ready: func() { ready = true }}, func(en logfile.Entry) error {
			got = append(got, en.Log)
			return nil
		})
		if err != nil || !ready || len(got) != 1 || got[0] != "from "+id+"\n" {
			t.Errorf("logs of %s: %q ready %v err %v", id, got, ready, err)
		}
	}
	err := e.Logs(context.Background(), "none1", LogsOptions{Stdout: true, Tail: -1, Ready: func() { t.Error("ready called for none") }}, func(logfile.Entry) error { return nil })
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "configured logging driver does not support reading") {
		t.Errorf("logs of a none container: %v", err)
	}
}
