package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// eventLines renders a `docker events --format '{{json .}}'` output as
// "type action" lines with the attributes named in keep.
func eventLines(t *testing.T, out string, keep ...string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m struct {
			Type, Action string
			Actor        struct {
				ID         string
				Attributes map[string]string
			}
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("event %q: %v", l, err)
		}
		line := m.Type + " " + m.Action
		for _, k := range keep {
			if v, ok := m.Actor.Attributes[k]; ok {
				line += " " + k + "=" + v
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// The events of everyday docker commands are those dockerd 20.10
// publishes for the same commands, in the same order (recorded from a
// dockerd with the same busybox image), and they are still there for a
// replay after the daemon restarted.
func TestEventsAsDockerd(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)
	imageID := strings.TrimSpace(dk.must(t, "image", "inspect", "--format", "{{.Id}}", busybox))
	t0 := time.Now()
	since := fmt.Sprintf("%d.%09d", t0.Unix(), t0.Nanosecond())

	dk.must(t, "network", "create", "evnet")
	dk.must(t, "volume", "create", "evvol")
	dk.must(t, "run", "--rm", "--network", "none", busybox, "true")
	dk.must(t, "run", "-d", "--name", "ev1", "--network", "evnet", "-v", "evvol:/data", "-v", "/data2", busybox, "sleep", "100")
	dk.must(t, "exec", "ev1", "true")
	dk.must(t, "pause", "ev1")
	dk.must(t, "unpause", "ev1")
	dk.must(t, "kill", "-s", "USR1", "ev1")
	dk.must(t, "rename", "ev1", "ev2")
	dk.must(t, "stop", "-t", "1", "ev2")
	dk.must(t, "start", "ev2")
	dk.must(t, "restart", "-t", "1", "ev2")
	dk.must(t, "rm", "-f", "ev2")
	dk.must(t, "tag", busybox, "local/bb:2")
	dk.must(t, "rmi", "local/bb:2")
	dk.must(t, "network", "rm", "evnet")
	dk.must(t, "volume", "rm", "evvol")
	until := fmt.Sprint(time.Now().Add(time.Second).Unix())

	stopped := []string{
		"container kill signal=15", "container kill signal=9", "container die exitCode=137",
		"network disconnect name=evnet", "volume unmount", "volume unmount", "container stop",
	}
	started := []string{"network connect name=evnet", "volume mount destination=/data", "volume mount destination=/data2", "container start"}
	var want []string
	want = append(want,
		"network create name=evnet",
		"volume create",
		"container create", "container attach", "network connect name=none", "container start",
		"container die exitCode=0", "network disconnect name=none", "container destroy",
		"volume create", "volume create", "container create name=ev1")
	want = append(want, started...)
	want = append(want,
		"container exec_create: true ", "container exec_start: true ", "container exec_die exitCode=0",
		"container pause", "container unpause", "container kill signal=10", "container rename oldName=/ev1")
	want = append(want, stopped...)
	want = append(want, started...)
	want = append(want, stopped...)
	want = append(want, started...)
	want = append(want, "container restart",
		"container kill signal=9", "container die exitCode=137", "network disconnect name=evnet",
		"volume unmount", "volume unmount", "container destroy",
		// dockerd names an untag by the image ID.
		"image tag name=local/bb:2", "image untag name="+imageID,
		"network destroy name=evnet", "volume destroy")

	check := func(what, out string) {
		t.Helper()
		got := eventLines(t, out, "signal", "exitCode", "oldName", "destination", "name")
		// Container names vary; keep them only where the wanted line has one.
		for i := range got {
			if i < len(want) && strings.HasPrefix(got[i], "container ") && !strings.Contains(want[i], "name=") {
				if j := strings.Index(got[i], " name="); j >= 0 {
					got[i] = got[i][:j]
				}
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: events\n  %s\nwant (dockerd's)\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	check("docker events", dk.must(t, "events", "--since", since, "--until", until, "--format", "{{json .}}"))

	// The log outlives the daemon.
	d.Restart(t)
	check("after a daemon restart", d.MustWharf(t, "events", "--since", since, "--until", until, "--format", "json"))
}

// A live `wharf events` stream shows a run's events as they happen, with
// filters.
func TestEventsLiveCLI(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	cmd := d.Command(t.Context(), "events", "--filter", "type=container", "--filter", "event=start", "--filter", "event=die", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}")
	out := &lockedBuffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// The stream is open once the daemon counts its subscriber.
	dk := newDockerCLI(t, d)
	if !waitFor(10*time.Second, func() bool { return strings.TrimSpace(dk.must(t, "info", "--format", "{{.NEventsListener}}")) == "1" }) {
		t.Fatal("the events stream never subscribed")
	}
	if _, _, code := d.Wharf(t, "run", "--rm", busybox, "sh", "-c", "exit 4"); code != 4 {
		t.Fatalf("run: exit %d", code)
	}
	if !waitFor(10*time.Second, func() bool { return out.String() == "start <no value>\ndie 4\n" }) {
		t.Fatalf("live events %q", out.String())
	}
}
