package dockerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// logContainers creates containers through the engine's own log
// validation and reads logs as the engine does: nothing for driver none.
type logContainers struct {
	fakeContainers
	created container.CreateOptions
}

func (f *logContainers) Create(_ context.Context, o container.CreateOptions) (*container.Container, error) {
	if err := container.ValidateLogConfig(o.HostConfig.LogConfig); err != nil {
		return nil, err
	}
	f.created = o
	c := &container.Container{ID: strings.Repeat("a", 64), Name: "c", HostConfig: o.HostConfig, Config: o.Config}
	f.byID[c.ID] = c
	return c, nil
}

func (f *logContainers) LogPath(string) string    { return "" }
func (f *logContainers) RootfsPath(string) string { return "/r/rootfs" }

func (f *logContainers) Logs(_ context.Context, ref string, o container.LogsOptions, emit func(logfile.Entry) error) error {
	c, err := f.Get(context.Background(), ref)
	if err != nil {
		return err
	}
	if c.HostConfig.LogConfig.Type == container.LogDriverNone {
		return fmt.Errorf("configured logging driver does not support reading: %w", errdefs.ErrNotImplemented)
	}
	o.Ready()
	return emit(logfile.Entry{Log: "hello\n", Stream: "stdout", Time: time.Now()})
}

type presentImages struct{ Images }

func (presentImages) Get(_ context.Context, ref string) (*store.Image, error) {
	return &store.Image{ID: "sha256:" + strings.Repeat("b", 64)}, nil
}

// A create request's LogConfig reaches the engine as sent, invalid ones
// are answered 400 with dockerd's message, inspect shows the recorded
// configuration, and reading the log of a container that keeps none is
// answered 501 before any stream starts.
func TestDockerAPILogConfig(t *testing.T) {
	cs := &logContainers{fakeContainers: fakeContainers{byID: map[string]*container.Container{}}}
	s := New(cs, presentImages{}, fakeSystem{})
	defer s.Close()

	for _, tc := range []struct{ logConfig, msg string }{
		{`{"Type":"syslog"}`, "logger: no log driver named 'syslog' is registered"},
		{`{"Type":"json-file","Config":{"max-size":"ten"}}`, "invalid size: 'ten'"},
		{`{"Type":"json-file","Config":{"max-file":"3","rotate":"yes"}}`, "unknown log opt 'rotate' for json-file log driver"},
		{`{"Type":"json-file","Config":{"compress":"true","max-size":"1m","max-file":"3"}}`, "log opt 'compress' is not supported by this daemon: rotated log files are kept uncompressed"},
	} {
		code, body := do(t, s, "POST", "/v1.44/containers/create", `{"Image":"busybox","HostConfig":{"LogConfig":`+tc.logConfig+`}}`)
		var e struct{ Message string }
		_ = json.Unmarshal([]byte(body), &e)
		if code != 400 || e.Message != tc.msg {
			t.Errorf("create with LogConfig %s: %d %s, want 400 %q", tc.logConfig, code, body, tc.msg)
		}
	}

	code, body := do(t, s, "POST", "/v1.44/containers/create", `{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"local","Config":{"max-size":"1m","max-file":"2"}}}}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if lc := cs.created.HostConfig.LogConfig; lc.Type != "local" || lc.Config["max-size"] != "1m" || lc.Config["max-file"] != "2" || len(lc.Config) != 2 {
		t.Errorf("the engine got LogConfig %+v", lc)
	}
	id := strings.Repeat("a", 64)
	code, body = do(t, s, "GET", "/v1.44/containers/"+id+"/json", "")
	var j mcontainer.InspectResponse
	if err := json.Unmarshal([]byte(body), &j); code != 200 || err != nil {
		t.Fatalf("inspect: %d %v", code, err)
	}
	if lc := j.HostConfig.LogConfig; lc.Type != "local" || lc.Config["max-size"] != "1m" || lc.Config["max-file"] != "2" || j.LogPath != "" {
		t.Errorf("inspect LogConfig %+v LogPath %q", lc, j.LogPath)
	}
	if code, body = do(t, s, "GET", "/v1.44/containers/"+id+"/logs?stdout=1", ""); code != 200 || !strings.Contains(body, "hello") {
		t.Errorf("logs of a local container: %d %q", code, body)
	}

	cs.byID[id].HostConfig.LogConfig = container.LogConfig{Type: "none"}
	code, body = do(t, s, "GET", "/v1.44/containers/"+id+"/logs?stdout=1&follow=1", "")
	var e struct{ Message string }
	_ = json.Unmarshal([]byte(body), &e)
	if code != 501 || e.Message != "configured logging driver does not support reading" {
		t.Errorf("logs of a none container: %d %s", code, body)
	}
	// A record from before log drivers reads as json-file.
	cs.byID[id].HostConfig.LogConfig = container.LogConfig{}
	_, body = do(t, s, "GET", "/v1.44/containers/"+id+"/json", "")
	_ = json.Unmarshal([]byte(body), &j)
	if j.HostConfig.LogConfig.Type != "json-file" || j.HostConfig.LogConfig.Config == nil {
		t.Errorf("inspect of an old record: %+v", j.HostConfig.LogConfig)
	}
}
