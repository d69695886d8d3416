package container_test

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
	"github.com/wharf-dev/wharf/engine/container/testsuite"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/internal/testutil"
	"github.com/wharf-dev/wharf/runtime/fake"
	"github.com/wharf-dev/wharf/runtime/task"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBuiltWharf()
	testutil.RemoveEmptyCgroupParents()
	os.Exit(code)
}

const fakeImage = "fake/busybox:1"

// fakeEngine is an engine on the fake runtime and mounter, with an image
// store (a real one, unprivileged) holding fakeImage.
type fakeEngine struct {
	root   string
	images *store.Store
	host   *fake.Host
	opts   []container.Option
}

func newFakeEngine(t *testing.T, opts ...container.Option) *fakeEngine {
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
	if _, err := st.Import(context.Background(), bytes.NewReader(tb), fakeImage, cfg); err != nil {
		t.Fatal(err)
	}
	return &fakeEngine{root: root, images: st, host: fake.NewHost(), opts: opts}
}

// start starts a daemon's engine over the fake host and restores what
// the last one left.
func (f *fakeEngine) start(t *testing.T) *container.Engine {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]container.Option{container.WithRootFS(f.host.RootFS()), container.WithLogger(slog.New(slog.DiscardHandler))}, f.opts...)
	e, err := container.New(f.root, f.images, map[string]task.Runtime{"fake": f.host.Runtime()}, "fake", self, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// The engine's container lifecycle conformance suite, on the fake
// runtime: no privilege needed.
func TestLifecycleOnFake(t *testing.T) {
	testsuite.Run(t, func(t *testing.T) *testsuite.Env {
		f := newFakeEngine(t)
		env := &testsuite.Env{Engine: f.start(t), Image: fakeImage}
		env.Restart = func(t *testing.T) *container.Engine {
			env.Engine.Close()
			return f.start(t)
		}
		t.Cleanup(func() {
			env.Engine.Close()
			settle(t, f.root)
		})
		return env
	})
}

// settle waits for the removals a test left in flight (a --rm
// container's, which finishes after its waiters are answered) before the
// test's directories go.
func settle(t *testing.T, root string) {
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
