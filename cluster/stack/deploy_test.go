package stack

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

func newDeployer(t *testing.T) (*Deployer, *tasks.Runtime) {
	t.Helper()
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	rt := tasks.New(st)
	// The ECS API's check is wired by the daemon; here, its defaults
	// that matter for comparisons.
	validate := func(td *state.TaskDefinition) error {
		if td.NetworkMode == "" {
			td.NetworkMode = "bridge"
		}
		return nil
	}
	return NewDeployer(st, rt, validate), rt
}

func input(yaml string) Input {
	return Input{Files: []File{{Filename: "compose.yml", Content: []byte(yaml)}}, WorkingDir: "/srv"}
}

func actions(r Result) map[string]string {
	out := map[string]string{}
	for _, c := range r.Changes {
		out[c.Service] = c.Action + " " + c.TaskDefinition
	}
	return out
}

// A deploy creates a service per compose service; a redeploy updates
// the changed one (a new revision), scales another, leaves a third and
// removes the dropped one; a service of the same name outside the
// stack is not taken over; rm removes the rest.
func TestDeployer(t *testing.T) {
	d, rt := newDeployer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v1 := `
services:
  web: {image: busybox, environment: [V=1], deploy: {replicas: 2}}
  worker: {image: busybox, command: [sleep, "1000"]}
  cron: {image: busybox}
  gone: {image: busybox}
`
	r, err := d.Deploy(ctx, "default", "app", input(v1))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"app_web": "created app_web:1", "app_worker": "created app_worker:1", "app_cron": "created app_cron:1", "app_gone": "created app_gone:1"}
	if fmt.Sprint(actions(r)) != fmt.Sprint(want) {
		t.Fatalf("first deploy: %v", actions(r))
	}
	s, err := rt.GetService(ctx, "default", "app_web")
	if err != nil || s.DesiredCount != 2 || stackOf(s.Tags) != "app" {
		t.Fatalf("service: %+v %v", s, err)
	}
	v2 := `
services:
  web: {image: busybox, environment: [V=2], deploy: {replicas: 2}}
  worker: {image: busybox, command: [sleep, "1000"], deploy: {replicas: 3}}
  cron: {image: busybox}
`
	r, err = d.Deploy(ctx, "default", "app", input(v2))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"app_web": "updated app_web:2", "app_worker": "scaled app_worker:1", "app_cron": "unchanged app_cron:1", "app_gone": "removed "}
	if fmt.Sprint(actions(r)) != fmt.Sprint(want) {
		t.Fatalf("redeploy: %v", actions(r))
	}
	s, _ = rt.GetService(ctx, "default", "app_web")
	if s.Revision != 2 || len(s.Deployments) != 2 {
		t.Fatalf("the update is no new deployment: %+v", s)
	}
	if g, _ := rt.GetService(ctx, "default", "app_gone"); g.Status == state.ServiceActive {
		t.Fatalf("a dropped service is still active: %+v", g)
	}
	ls, err := d.List(ctx, "default")
	if err != nil || len(ls) != 1 || ls[0].Name != "app" || len(ls[0].Services) != 3 {
		t.Fatalf("ls: %+v %v", ls, err)
	}
	// Another stack may not take app's services, nor a service made
	// outside any stack.
	if _, err := d.Deploy(ctx, "default", "app", input("services:\n  web: {image: busybox}\n")); err != nil {
		t.Fatal(err)
	}
	td, err := d.st.RegisterTaskDef(ctx, state.TaskDefinition{Family: "other_web", ContainerDefinitions: []state.ContainerDefinition{{Name: "web", Image: "busybox"}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.CreateService(ctx, tasks.ServiceSpec{Cluster: "default", Name: "other_web", TaskDef: td, DesiredCount: 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deploy(ctx, "default", "other", input("services:\n  web: {image: busybox}\n")); !errdefs.IsConflict(err) {
		t.Fatalf("taking over a service: %v", err)
	}
	removed, err := d.Remove(ctx, "default", "app")
	if err != nil || len(removed) != 1 || removed[0] != "app_web" {
		t.Fatalf("rm: %v %v", removed, err)
	}
	if _, err := d.Remove(ctx, "default", "app"); !errdefs.IsNotFound(err) {
		t.Fatalf("rm of a removed stack: %v", err)
	}
}
