package container_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/container/testsuite"
	"github.com/wharf-dev/wharf/runtime/task"
)

// preparing is a runtime that completes specs (task.SpecPreparer), as
// crun's seccomp cache does, and records what it saw.
type preparing struct {
	task.Runtime
	mu      sync.Mutex
	seen    map[string]string // the annotations PrepareSpec got
	started []string
}

func (p *preparing) PrepareSpec(id string, s *specs.Spec) func() {
	p.mu.Lock()
	p.seen = maps.Clone(s.Annotations)
	p.mu.Unlock()
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations["test.prepared"] = "1"
	return func() {
		p.mu.Lock()
		p.started = append(p.started, id)
		p.mu.Unlock()
	}
}

// A runtime's spec preparation runs before the bundle is written and its
// follow-up once the container started; labels that are runtime
// directives (an image's labels are untrusted) never reach the runtime as
// annotations, while HostConfig's annotations, the caller's, do.
func TestSpecPreparerAndLabelDirectives(t *testing.T) {
	f := testsuite.NewFake(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rt := &preparing{Runtime: f.Host.Runtime()}
	e, err := container.New(f.Root, f.Images, map[string]task.Runtime{"fake": rt}, "fake", self,
		container.WithRootFS(f.Host.RootFS()), container.WithLogger(slog.New(slog.DiscardHandler)), container.WithEvents(f.Events))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range e.List(context.Background()) {
			_ = e.Remove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
		e.Close()
		testsuite.Settle(t, f.Root)
	})
	o := cmd("sleep", "100")
	o.Config.Labels = map[string]string{
		"com.example.team":              "a",
		"run.oci.seccomp_bpf_data":      "AAAA",
		"run.oci.hooks.stdout":          "/etc/passwd",
		"org.systemd.property.CPUQuota": "1%",
		"module.wasm.image/variant":     "compat",
		"org.criu.config":               "/tmp/x",
	}
	o.HostConfig.Annotations = map[string]string{"run.oci.keep_original_groups": "1"}
	id := mustRun(t, e, o)

	rt.mu.Lock()
	seen, started := rt.seen, rt.started
	rt.mu.Unlock()
	want := map[string]string{"com.example.team": "a", "run.oci.keep_original_groups": "1"}
	if !maps.Equal(seen, want) {
		t.Errorf("the runtime got annotations %v, want %v", seen, want)
	}
	if len(started) != 1 || started[0] != id {
		t.Errorf("started called for %v, want [%s]", started, id)
	}
	var bundle []string
	_ = filepath.WalkDir(f.Root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "config.json" && filepath.Base(filepath.Dir(p)) == id {
			bundle = append(bundle, p)
		}
		return nil
	})
	if len(bundle) != 1 {
		t.Fatalf("bundle config of %s: %v", id, bundle)
	}
	data, err := os.ReadFile(bundle[0])
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Annotations["test.prepared"] != "1" || s.Annotations["run.oci.seccomp_bpf_data"] != "" {
		t.Errorf("bundle annotations %v", s.Annotations)
	}
	c, err := e.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Config.Labels["run.oci.seccomp_bpf_data"] != "AAAA" {
		t.Errorf("the label itself is kept: %v", c.Config.Labels)
	}
}
