package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
)

type fakeSecrets map[string]string

func (f fakeSecrets) Value(_ context.Context, name string) ([]byte, error) {
	v, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("secret %s not found: %w", name, errdefs.ErrNotFound)
	}
	return []byte(v), nil
}

type fakeVolumes struct {
	mu   sync.Mutex
	vols map[string]volume.CreateOptions
}

func (f *fakeVolumes) Create(_ context.Context, o volume.CreateOptions) (*volume.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vols[o.Name] = o
	return &volume.Volume{Name: o.Name}, nil
}

func (f *fakeVolumes) Get(_ context.Context, name string) (*volume.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vols[name]; !ok {
		return nil, errdefs.ErrNotFound
	}
	return &volume.Volume{Name: name}, nil
}

func (f *fakeVolumes) Remove(_ context.Context, name string, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vols[name]; !ok {
		return errdefs.ErrNotFound
	}
	delete(f.vols, name)
	return nil
}

func (f *fakeVolumes) has(name string) bool {
	_, err := f.Get(context.Background(), name)
	return err == nil
}

// A task's secrets and volumes: an environment secret (by name and by
// ARN) is in the container's environment; a secret file is on a tmpfs
// bound on /run/secrets (root only); a host volume is a bind mount, a
// task-scoped volume is made for the task and removed with it, a shared
// one is autoprovisioned and kept; an unknown secret, or a shared volume
// missing without autoprovision, fails the task with ECS's reason.
func TestRunnerTaskResources(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := st.Nodes().Create(ctx, "n1", state.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, Availability: state.AvailabilityActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Heartbeats().Put(ctx, "n1", state.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	mem := 64
	yes := true
	app := state.ContainerDefinition{Name: "app", Image: "busybox", Memory: &mem,
		Secrets: []state.Secret{{Name: "DB_PASS", ValueFrom: "db"}, {Name: "API", ValueFrom: "arn:aws:secretsmanager:us-east-1:000000000000:secret:api"}},
		MountPoints: []state.MountPoint{{SourceVolume: "host", ContainerPath: "/h", ReadOnly: true}, {SourceVolume: "scratch", ContainerPath: "/s"},
			{SourceVolume: "cache", ContainerPath: "/c"}}}
	if root {
		app.Secrets = append(app.Secrets, state.Secret{Name: "/run/secrets/db", ValueFrom: "db"})
	}
	hostDir := t.TempDir()
	td, err := st.RegisterTaskDef(ctx, state.TaskDefinition{Family: "res", ContainerDefinitions: []state.ContainerDefinition{app,
		{Name: "side", Image: "busybox", Memory: &mem, VolumesFrom: []state.VolumeFrom{{SourceContainer: "app", ReadOnly: true}}}},
		Volumes: []state.Volume{{Name: "host", Host: &state.VolumeHost{SourcePath: hostDir}},
			{Name: "scratch", DockerVolumeConfiguration: &state.DockerVolumeConfiguration{Scope: "task", Labels: map[string]string{"a": "b"}}},
			{Name: "cache", DockerVolumeConfiguration: &state.DockerVolumeConfiguration{Scope: "shared", Autoprovision: &yes}}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	eng := newFakeEngine(t)
	imgs := &fakeImages{have: map[string]bool{"busybox": true}}
	vols := &fakeVolumes{vols: map[string]volume.CreateOptions{}}
	secretsDir := filepath.Join(t.TempDir(), "secrets")
	go NewRunner(st, "n1", eng, imgs, eng.bus, slog.New(slog.DiscardHandler),
		WithSecrets(fakeSecrets{"db": "hunter2", "api": "k3y"}, secretsDir), WithVolumes(vols)).Run(ctx)
	rt := tasks.New(st)
	res, err := rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td})
	if err != nil {
		t.Fatal(err)
	}
	x := waitTask(t, ctx, rt, res.Tasks[0].ID, "RUNNING", func(x state.Task) bool { return x.LastStatus == "RUNNING" || x.LastStatus == "STOPPED" })
	if x.LastStatus != "RUNNING" {
		t.Fatalf("task: %+v", x)
	}
	scratch := TaskVolumeName(x, "scratch")
	var a, side *container.Container
	for _, c := range eng.List(ctx) {
		switch c.Config.Labels[LabelContainerName] {
		case "app":
			a = c
		case "side":
			side = c
		}
	}
	if !slices.Contains(a.Config.Env, "DB_PASS=hunter2") || !slices.Contains(a.Config.Env, "API=k3y") {
		t.Fatalf("env: %v", a.Config.Env)
	}
	want := map[string]volume.Mount{
		"/h": {Type: volume.TypeBind, Source: hostDir, Target: "/h", ReadOnly: true, CreateSource: true},
		"/s": {Type: volume.TypeVolume, Source: scratch, Target: "/s"},
		"/c": {Type: volume.TypeVolume, Source: "cache", Target: "/c"},
	}
	if root {
		want["/run/secrets"] = volume.Mount{Type: volume.TypeBind, Source: filepath.Join(secretsDir, x.ID, "app"), Target: "/run/secrets", ReadOnly: true}
	}
	if len(a.HostConfig.Mounts) != len(want) {
		t.Fatalf("mounts: %+v", a.HostConfig.Mounts)
	}
	for _, m := range a.HostConfig.Mounts {
		if w := want[m.Target]; fmt.Sprint(w) != fmt.Sprint(m) {
			t.Fatalf("mount %s: %+v, want %+v", m.Target, m, w)
		}
	}
	if !slices.Equal(side.HostConfig.VolumesFrom, []string{ContainerName(x, "app") + ":ro"}) {
		t.Fatalf("volumesFrom: %v", side.HostConfig.VolumesFrom)
	}
	if !vols.has(scratch) || vols.vols[scratch].Labels["a"] != "b" || vols.vols[scratch].Labels[LabelTaskID] != x.ID || !vols.has("cache") {
		t.Fatalf("volumes: %+v", vols.vols)
	}
	if root {
		f := filepath.Join(secretsDir, x.ID, "app", "db")
		data, err := os.ReadFile(f)
		if err != nil || string(data) != "hunter2" {
			t.Fatalf("secret file: %q %v", data, err)
		}
		if !isMountPoint(filepath.Join(secretsDir, x.ID)) {
			t.Fatal("the secrets are not on a tmpfs of their own")
		}
	}

	if _, err := rt.Stop(ctx, x.ID, "done"); err != nil {
		t.Fatal(err)
	}
	waitTask(t, ctx, rt, x.ID, "STOPPED", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if vols.has(scratch) || !vols.has("cache") {
		t.Fatalf("after the task: %+v", vols.vols)
	}
	if _, err := os.Stat(filepath.Join(secretsDir, x.ID)); !os.IsNotExist(err) {
		t.Fatalf("the task's secrets outlive it: %v", err)
	}

	// An unknown secret.
	td2, err := st.RegisterTaskDef(ctx, state.TaskDefinition{Family: "nosecret", ContainerDefinitions: []state.ContainerDefinition{
		{Name: "x", Image: "busybox", Memory: &mem, Secrets: []state.Secret{{Name: "P", ValueFrom: "arn:aws:secretsmanager:us-east-1:000000000000:secret:nope"}}}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err = rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td2})
	if err != nil {
		t.Fatal(err)
	}
	x = waitTask(t, ctx, rt, res.Tasks[0].ID, "secret failure", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if x.StopCode != "TaskFailedToStart" || !strings.HasPrefix(x.StoppedReason, "ResourceInitializationError: unable to pull secrets") ||
		!strings.Contains(x.StoppedReason, "secret:nope") {
		t.Fatalf("task with an unknown secret: %+v", x)
	}

	// A shared volume that is missing, without autoprovision.
	td3, err := st.RegisterTaskDef(ctx, state.TaskDefinition{Family: "novol", ContainerDefinitions: []state.ContainerDefinition{
		{Name: "x", Image: "busybox", Memory: &mem, MountPoints: []state.MountPoint{{SourceVolume: "data", ContainerPath: "/d"}}}},
		Volumes: []state.Volume{{Name: "data", DockerVolumeConfiguration: &state.DockerVolumeConfiguration{Scope: "shared"}}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err = rt.Run(ctx, tasks.Spec{Cluster: "default", TaskDef: td3})
	if err != nil {
		t.Fatal(err)
	}
	x = waitTask(t, ctx, rt, res.Tasks[0].ID, "volume failure", func(x state.Task) bool { return x.LastStatus == "STOPPED" })
	if x.StopCode != "TaskFailedToStart" || !strings.HasPrefix(x.StoppedReason, "ResourceInitializationError:") {
		t.Fatalf("task with a missing shared volume: %+v", x)
	}
}
