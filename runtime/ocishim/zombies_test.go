package ocishim_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/ocishim"
	"github.com/wharf-dev/wharf/runtime/shim"
	"github.com/wharf-dev/wharf/runtime/spec"
	"github.com/wharf-dev/wharf/runtime/task"
	"github.com/wharf-dev/wharf/runtime/testsuite"
)

// A running container's shim holds no zombie: crun's `run --detach`
// leaves its second process to the shim (a child subreaper), which exits
// once the container has started; the shim reaps it then, not only at
// the container's exit.
func TestShimHoldsNoZombies(t *testing.T) {
	testutil.RequiresRoot(t)
	busybox := testutil.BusyboxRootfsTar(t)
	self := testutil.BuildWharf(t)
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) {
			execRoot := t.TempDir()
			// Registered after TempDir, so it runs before its removal:
			// a shim's last runtime delete makes the runtime's root again.
			t.Cleanup(func() { testutil.AwaitProcessesUnder(t, execRoot) })
			c := oci.Probe(context.Background(), name, t.TempDir())
			if !c.Usable {
				t.Skipf("%s is not usable here: %s", name, c.Reason)
			}
			rt, err := ocishim.New(&oci.Runtime{Name: name, Path: c.Path, Root: filepath.Join(execRoot, "runtime", name), Hide: c.Hide}, shim.NewSpawner(self), execRoot)
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var b [32]byte
			_, _ = rand.Read(b[:])
			id := hex.EncodeToString(b[:])
			bundle := t.TempDir()
			s, err := spec.Generate(ctx, &spec.Options{ID: id, Rootfs: testsuite.RootfsFromTar(t, busybox), Cmd: []string{"sleep", "100"}, CgroupsPath: "/wharf/" + id})
			if err != nil {
				t.Fatal(err)
			}
			s.Version = oci.SpecVersion
			data, _ := json.Marshal(s)
			if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := rt.Start(ctx, task.StartOptions{ID: id, Bundle: bundle, CgroupsPath: "/wharf/" + id}); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = rt.Kill(ctx, id, syscall.SIGKILL)
				_, _ = rt.Wait(ctx, id)
				_ = rt.Delete(ctx, id)
			}()
			pidData, err := os.ReadFile(filepath.Join(execRoot, "shims", id[:24], shim.PidFile))
			if err != nil {
				t.Fatal(err)
			}
			shimPid, _ := strconv.Atoi(strings.TrimSpace(string(pidData)))
			// The runtime's helpers have exited by now; a shim that
			// reaps them has had time to.
			time.Sleep(time.Second)
			var zombies []string
			deadline := time.Now().Add(10 * time.Second)
			for {
				zombies = zombieChildren(shimPid)
				if len(zombies) == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(zombies) > 0 {
				t.Errorf("the shim of a running container holds zombies: %v", zombies)
			}
		})
	}
}

// zombieChildren lists the zombie children of pid ("pid comm").
func zombieChildren(pid int) []string {
	var out []string
	for _, c := range testutil.Children(pid) {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) || s[i+2] != 'Z' {
			continue
		}
		out = append(out, strconv.Itoa(c)+" "+s[strings.IndexByte(s, '(')+1:i])
	}
	return out
}
