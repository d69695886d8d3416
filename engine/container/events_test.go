package container_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
)

// nullNetworks is a network driver that has only the host's predefined
// none network: enough for containers run with --network none, which
// dockerd connects to it all the same.
type nullNetworks struct{}

var noneNet = &network.Network{ID: "0123456789ab-none", Name: network.NameNone, Driver: network.DriverNull}

func (nullNetworks) Inspect(_ context.Context, ref string) (*network.Network, error) {
	if ref == noneNet.Name || ref == noneNet.ID {
		return noneNet, nil
	}
	return nil, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
}
func (nullNetworks) Setup(context.Context, network.SandboxConfig) (*network.Sandbox, error) {
	return nil, errdefs.ErrNotImplemented
}
func (nullNetworks) Teardown(context.Context, string) error { return nil }
func (nullNetworks) Connect(context.Context, string, network.EndpointConfig) (*network.Endpoint, error) {
	return nil, errdefs.ErrNotImplemented
}
func (nullNetworks) Disconnect(context.Context, string, string) error             { return nil }
func (nullNetworks) Restore(context.Context, func(containerID string) bool) error { return nil }

// recorder collects the bus's events as lines "type action id attrs…".
type recorder struct {
	t   *testing.T
	sub *events.Subscription
}

func record(t *testing.T, b *events.Bus) *recorder {
	s, err := b.Subscribe(events.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &recorder{t: t, sub: s}
}

// next reads n events and renders each with the attributes named.
func (r *recorder) next(n int, attrs ...string) []string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		ev, err := r.sub.Next(ctx)
		if err != nil {
			r.t.Fatalf("after %q: %v", out, err)
		}
		line := ev.Type + " " + ev.Action
		for _, a := range attrs {
			if v, ok := ev.Actor.Attributes[a]; ok {
				line += " " + a + "=" + v
			}
		}
		out = append(out, line)
	}
	return out
}

func (r *recorder) expect(what string, want []string, attrs ...string) {
	r.t.Helper()
	got := r.next(len(want), attrs...)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		r.t.Errorf("%s: events\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// eventEngine is an engine on the fake runtime with a bus, a volume store
// and the none network.
func eventEngine(t *testing.T) (*container.Engine, *events.Bus) {
	t.Helper()
	bus, err := events.New()
	if err != nil {
		t.Fatal(err)
	}
	vols, err := volume.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeEngine(t, container.WithEvents(bus), container.WithNetworks(nullNetworks{}), container.WithVolumes(events.PublishVolumes(vols, bus)))
	return f.Engine(t), bus
}

// The events of a container's life, in dockerd's order: the sequences
// below are what dockerd 20.10 publishes for the same calls
// (docker run --rm; run -d with a named and an anonymous volume, exec,
// pause, unpause, kill -s USR1, rename, stop, start, restart, rm -f).
func TestEventsOrderAsDockerd(t *testing.T) {
	e, bus := eventEngine(t)
	ctx := context.Background()
	r := record(t, bus)

	// docker run --rm --network none IMG true: the CLI attaches, then
	// starts; the daemon removes the container at its exit.
	o := cmd("true")
	o.HostConfig.AutoRemove = true
	o.Config.Image, o.HostConfig.NetworkMode = fakeImage, "none"
	c, err := e.Create(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	attached := make(chan struct{})
	go func() {
		_ = e.Attach(ctx, c.ID, container.AttachOptions{Stdout: true, Stderr: true, Stream: &rwConn{r: strings.NewReader("")}, Registered: func() { close(attached) }})
	}()
	<-attached
	if err := e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	r.expect("run --rm", []string{
		"container create",
		"container attach",
		"network connect type=null",
		"container start",
		"container die exitCode=0",
		"network disconnect type=null",
		"container destroy",
	}, "type", "exitCode")

	// docker run -d -v evvol:/data -v /data2 … sleep
	o = cmd("sleep", "100")
	o.Name = "ev1"
	o.HostConfig.Mounts = []volume.Mount{{Type: volume.TypeVolume, Source: "evvol", Target: "/data"}, {Type: volume.TypeVolume, Target: "/data2"}}
	id := mustRun(t, e, o)
	got := r.next(7, "name", "destination", "read/write")
	want := []string{
		"volume create",
		"volume create",
		"container create name=ev1",
		"network connect name=none",
		"volume mount destination=/data read/write=true",
		"volume mount destination=/data2 read/write=true",
		"container start name=ev1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("run -d: events\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	x, err := e.ExecCreate(ctx, id, container.ExecConfig{Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ExecStart(ctx, x, container.ExecStartOptions{}); err != nil {
		t.Fatal(err)
	}
	r.expect("exec", []string{
		"container exec_create: true  execID=" + x,
		"container exec_start: true  execID=" + x,
		"container exec_die execID=" + x + " exitCode=0",
	}, "execID", "exitCode")

	if err := e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.Unpause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.Kill(ctx, id, "USR1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Rename(ctx, id, "ev2"); err != nil {
		t.Fatal(err)
	}
	r.expect("pause…rename", []string{
		"container pause name=ev1",
		"container unpause name=ev1",
		"container kill name=ev1 signal=10",
		"container rename name=ev2 oldName=/ev1",
	}, "name", "signal", "oldName")

	one := 1
	if err := e.Stop(ctx, id, &one, ""); err != nil {
		t.Fatal(err)
	}
	stopped := []string{
		"container kill signal=15",
		"container kill signal=9",
		"container die exitCode=137",
		"network disconnect",
		"volume unmount",
		"volume unmount",
		"container stop",
	}
	r.expect("stop", stopped, "signal", "exitCode")
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	started := []string{"network connect", "volume mount", "volume mount", "container start"}
	r.expect("start", started, "signal", "exitCode")
	if err := e.Restart(ctx, id, &one); err != nil {
		t.Fatal(err)
	}
	r.expect("restart", append(append(append([]string{}, stopped...), started...), "container restart"), "signal", "exitCode")
	if err := e.Remove(ctx, id, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	r.expect("rm -f", []string{
		"container kill signal=9",
		"container die exitCode=137",
		"network disconnect",
		"volume unmount",
		"volume unmount",
		"container destroy",
	}, "signal", "exitCode")
}

// The unmounts of a stop name the volumes in the reverse order of the
// mounts, and every event of a container carries its labels.
func TestEventAttributes(t *testing.T) {
	e, bus := eventEngine(t)
	ctx := context.Background()
	o := cmd("sleep", "100")
	o.Config.Labels = map[string]string{"tier": "front", "name": "not-the-name"}
	o.HostConfig.Mounts = []volume.Mount{{Type: volume.TypeVolume, Source: "va", Target: "/a", ReadOnly: true}, {Type: volume.TypeVolume, Source: "vb", Target: "/b"}}
	r := record(t, bus)
	id := mustRun(t, e, o)
	got := r.next(7, "tier", "container", "read/write")
	want := []string{
		"volume create",
		"volume create",
		"container create tier=front",
		"network connect container=" + id,
		"volume mount container=" + id + " read/write=false",
		"volume mount container=" + id + " read/write=true",
		"container start tier=front",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if err := e.Kill(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	var unmounted []string
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for len(unmounted) < 2 {
		ev, err := r.sub.Next(ctx2)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == events.TypeContainer && ev.Actor.Attributes["name"] == "not-the-name" {
			t.Errorf("a label named name overrode the container's name: %+v", ev)
		}
		if ev.Action == "unmount" {
			unmounted = append(unmounted, ev.Actor.ID)
		}
	}
	if strings.Join(unmounted, ",") != "vb,va" {
		t.Errorf("unmounted %v, want vb,va", unmounted)
	}
}

// An OOM kill is told before the die, and a start that fails tells the
// disconnect of what it connected, and no die, as dockerd.
func TestEventsFailedStart(t *testing.T) {
	e, bus := eventEngine(t)
	ctx := context.Background()
	r := record(t, bus)
	id := mustCreate(t, e, cmd("no-such-command"))
	if err := e.Start(ctx, id); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("start: %v", err)
	}
	r.expect("failed start", []string{
		"container create",
		"network connect",
		"network disconnect",
	})
	// Nothing else was told.
	ctx2, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if ev, err := r.sub.Next(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after a failed start: %+v, %v", ev, err)
	}
}

// A bus with a log keeps the engine's events for a replay after the
// daemon restarts.
func TestEventsReplayedAfterRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "events")
	bus, err := events.New(events.WithLog(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	f := newFakeEngine(t, container.WithEvents(bus))
	e := f.Engine(t)
	id := mustRun(t, e, cmd("true"))
	if code, _ := e.Wait(context.Background(), id, "", nil); code != 0 {
		t.Fatal(code)
	}
	bus.Close()
	bus, err = events.New(events.WithLog(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	s, err := bus.Subscribe(events.SubscribeOptions{Since: since, Until: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{t: t, sub: s}
	r.expect("replay", []string{"container create", "container start", "container die exitCode=0"}, "exitCode")
}
