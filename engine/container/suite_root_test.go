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
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/ocishim"
)

// The same lifecycle suite, as root, on the daemon's runtime (runc under
// wharf's shim) and overlayfs, with busybox: what the fake is checked
// against.
func TestLifecycleOnRunc(t *testing.T) {
	testutil.RequiresRoot(t)
	busybox := testutil.BusyboxRootfsTar(t)
	self := testutil.BuildWharf(t)
	probe := oci.Probe(context.Background(), "runc", t.TempDir())
	if !probe.Usable {
		t.Skipf("runc is not usable here: %s", probe.Reason)
	}
	testsuite.Run(t, func(t *testing.T) *testsuite.Env {
		root, execRoot := t.TempDir(), t.TempDir()
		st, err := store.New(filepath.Join(root, "image"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Import(context.Background(), bytes.NewReader(busybox), "test/busybox:1", &v1.Config{Cmd: []string{"sh"}}); err != nil {
			t.Fatal(err)
		}
		rt := &oci.Runtime{Name: "runc", Path: probe.Path, Root: filepath.Join(execRoot, "runtime", "runc")}
		start := func(t *testing.T) *container.Engine {
			rts, err := ocishim.NewSet(self, execRoot, map[string]*oci.Runtime{"runc": rt})
			if err != nil {
				t.Fatal(err)
			}
			e, err := container.New(root, st, rts, "runc", self, container.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Restore(context.Background()); err != nil {
				t.Fatal(err)
			}
			return e
		}
		env := &testsuite.Env{Engine: start(t), Image: "test/busybox:1"}
		env.Restart = func(t *testing.T) *container.Engine {
			env.Engine.Close()
			return start(t)
		}
		t.Cleanup(func() {
			env.Engine.Close()
			testsuite.Settle(t, root)
			// The shims of the last exits delete the runtime's records
			// after the engine is done with them (at the lowest CPU
			// priority); the test's directories go after them.
			// A shim's last `runc delete` (of an --rm container whose
			// start failed) may still run once the records are gone: it
			// would make the runtime's root again under the test's
			// directory as it goes, and leave its cgroup behind.
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				ents, err := os.ReadDir(rt.Root)
				if (err != nil || len(ents) == 0) && len(testutil.ProcessesUnder(execRoot)) == 0 {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Errorf("runtime records or processes left in %s: %v", execRoot, testutil.ProcessesUnder(execRoot))
		})
		return env
	})
}
