package ocishim_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/testutil"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/ocishim"
	"github.com/wharf-dev/wharf/runtime/shim"
	"github.com/wharf-dev/wharf/runtime/task"
	"github.com/wharf-dev/wharf/runtime/testsuite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBuiltWharf()
	testutil.RemoveEmptyCgroupParents()
	os.Exit(code)
}

// The daemon's runtimes (runc, and crun with a hybrid layout's cgroup2
// mount hidden from it) under wharf's shim pass the runtime conformance
// suite that the fake passes, with busybox containers.
func TestConformance(t *testing.T) {
	testutil.RequiresRoot(t)
	busybox := testutil.BusyboxRootfsTar(t)
	self := testutil.BuildWharf(t)
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) {
			execRoot := t.TempDir()
			c := oci.Probe(context.Background(), name, t.TempDir())
			if !c.Usable {
				t.Skipf("%s is not usable here: %s", name, c.Reason)
			}
			rt := &oci.Runtime{Name: name, Path: c.Path, Root: filepath.Join(execRoot, "runtime", name), Hide: c.Hide}
			newRuntime := func(t *testing.T) task.Runtime {
				r, err := ocishim.New(rt, shim.NewSpawner(self), execRoot)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			testsuite.Run(t, testsuite.Config{
				New: newRuntime,
				Restart: func(t *testing.T, old task.Runtime) task.Runtime {
					old.Close()
					return newRuntime(t)
				},
				Rootfs:   func(t *testing.T) string { return testsuite.RootfsFromTar(t, busybox) },
				InitPath: self,
			})
		})
	}
}
