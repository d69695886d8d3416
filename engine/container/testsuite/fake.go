package testsuite

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/runtime/fake"
	"github.com/wharf-dev/wharf/runtime/task"
)

// FakeImage is the image of a Fake's store: runtime/fake's RootfsTar,
// with sh as its command.
const FakeImage = "fake/busybox:1"

// Fake is an engine that needs no privilege: runtime/fake's runtime and
// mounter, on one fake host, with a real image store (unprivileged)
// holding FakeImage and an event bus (in memory) its engines publish to.
// Start starts a daemon's engine over it; starting another after closing
// the first is a daemon restart.
type Fake struct {
	Root   string
	Images *store.Store
	Host   *fake.Host
	Events *events.Bus
	opts   []container.Option
}

// NewFake returns a Fake under a temporary root, with opts for its
// engines.
func NewFake(t testing.TB, opts ...container.Option) *Fake {
	t.Helper()
	root := t.TempDir()
	st, err := store.New(filepath.Join(root, "image"))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := fake.RootfsTar()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	if _, err := st.Import(context.Background(), bytes.NewReader(tb), FakeImage, cfg); err != nil {
		t.Fatal(err)
	}
	bus, err := events.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	return &Fake{Root: root, Images: st, Host: fake.NewHost(), Events: bus, opts: opts}
}

// Start starts a daemon's engine over the fake host and restores what the
// last one left. The test closes it.
func (f *Fake) Start(t testing.TB) *container.Engine {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]container.Option{container.WithRootFS(f.Host.RootFS()), container.WithLogger(slog.New(slog.DiscardHandler)), container.WithEvents(f.Events)}, f.opts...)
	e, err := container.New(f.Root, f.Images, map[string]task.Runtime{"fake": f.Host.Runtime()}, "fake", self, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// Engine starts a daemon's engine as Start does and, at the end of the
// test, removes every container through it (waiting for the engine's work
// on them) and closes it. A test that restarts the daemon calls Engine
// again after closing the first.
func (f *Fake) Engine(t testing.TB) *container.Engine {
	t.Helper()
	e := f.Start(t)
	t.Cleanup(func() {
		ctx := context.Background()
		for _, c := range e.List(ctx) {
			_ = e.Remove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
		e.Close()
		Settle(t, f.Root)
	})
	return e
}

// FakeEnv is an Env for Run on a new Fake.
func FakeEnv(t *testing.T) *Env {
	f := NewFake(t)
	env := &Env{Engine: f.Start(t), Image: FakeImage}
	env.Restart = func(t *testing.T) *container.Engine {
		env.Engine.Close()
		return f.Start(t)
	}
	t.Cleanup(func() {
		env.Engine.Close()
		// Removals left in flight (a --rm container's finishes after
		// its waiters are answered) end before the test's directories
		// go; Run removed everything else.
		Settle(t, f.Root)
	})
	return env
}

// Settle waits until no container is left on disk under the engine root
// root, and fails the test if one stays.
func Settle(t testing.TB, root string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ents, err := os.ReadDir(filepath.Join(root, "containers"))
		if err != nil || len(ents) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("containers still on disk after the test: %s", root)
}
