package sched

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func intp(i int) *int { return &i }

// sidecarDef: an init container that must succeed, a database that must be
// healthy, and the app that needs both, plus a log router started first.
func sidecarDef() *TaskDef {
	return &TaskDef{Family: "app", Revision: 1, NetworkMode: NetworkAwsvpc, Containers: []ContainerDef{
		{Name: "log", Essential: false},
		{Name: "migrate", DependsOn: []Dependency{{"db", CondHealthy}, {"log", CondStart}}},
		{Name: "db", Essential: true, HealthCheck: true, DependsOn: []Dependency{{"log", CondStart}}},
		{Name: "app", Essential: true, DependsOn: []Dependency{{"migrate", CondSuccess}, {"db", CondHealthy}}},
	}}
}

func TestReconcileTaskWalksTheLifecycle(t *testing.T) {
	td := sidecarDef()
	ti := TaskInstance{TaskDef: td, LastStatus: StatusProvisioning, DesiredStatus: StatusRunning}
	step := func() TaskStep {
		t.Helper()
		s, err := ReconcileTask(ti)
		if err != nil {
			t.Fatal(err)
		}
		ti.LastStatus, ti.DesiredStatus = s.LastStatus, s.DesiredStatus
		return s
	}
	set := func(name string, cs ContainerState) {
		cs.Name = name
		for i := range ti.Containers {
			if ti.Containers[i].Name == name {
				ti.Containers[i] = cs
				return
			}
		}
		ti.Containers = append(ti.Containers, cs)
	}
	if s := step(); !s.Provision || s.LastStatus != StatusProvisioning {
		t.Fatalf("first step %+v", s)
	}
	ti.Provisioned = true
	if s := step(); s.LastStatus != StatusPending {
		t.Fatalf("after provisioning %+v", s)
	}
	if s := step(); !reflect.DeepEqual(s.Start, []string{"log"}) {
		t.Fatalf("first starts %v, want only log", s.Start)
	}
	set("log", ContainerState{Status: ContainerRunning, Started: true})
	if s := step(); !reflect.DeepEqual(s.Start, []string{"db"}) {
		t.Fatalf("starts %v, want db (migrate waits for db HEALTHY)", s.Start)
	}
	set("db", ContainerState{Status: ContainerRunning, Started: true, Health: HealthUnknown})
	if s := step(); len(s.Start) != 0 || s.LastStatus != StatusPending {
		t.Fatalf("db not healthy yet: %+v", s)
	}
	set("db", ContainerState{Status: ContainerRunning, Started: true, Health: HealthHealthy})
	if s := step(); !reflect.DeepEqual(s.Start, []string{"migrate"}) || s.Health != HealthHealthy {
		t.Fatalf("starts %v health %s, want migrate, HEALTHY", s.Start, s.Health)
	}
	set("migrate", ContainerState{Status: ContainerRunning, Started: true})
	if s := step(); len(s.Start) != 0 {
		t.Fatalf("app started before migrate succeeded: %v", s.Start)
	}
	set("migrate", ContainerState{Status: ContainerStopped, Started: true, ExitCode: intp(0)})
	if s := step(); !reflect.DeepEqual(s.Start, []string{"app"}) {
		t.Fatalf("starts %v, want app", s.Start)
	}
	set("app", ContainerState{Status: ContainerRunning, Started: true})
	if s := step(); s.LastStatus != StatusActivating {
		t.Fatalf("want ACTIVATING: %+v", s)
	}
	if s := step(); !s.Activate || s.LastStatus != StatusActivating {
		t.Fatalf("want activation: %+v", s)
	}
	ti.Activated = true
	if s := step(); s.LastStatus != StatusRunning {
		t.Fatalf("want RUNNING: %+v", s)
	}
	// The app exits: it is essential, so the task stops.
	set("app", ContainerState{Status: ContainerStopped, Started: true, ExitCode: intp(1)})
	s := step()
	if s.DesiredStatus != StatusStopped || s.StopCode != StopEssentialExited || s.StoppedReason != "Essential container in task exited" || s.LastStatus != StatusDeactivating {
		t.Fatalf("after app exit %+v", s)
	}
	if s := step(); !s.Deactivate {
		t.Fatalf("want deactivation: %+v", s)
	}
	ti.Deactivated = true
	if s := step(); s.LastStatus != StatusStopping {
		t.Fatalf("want STOPPING: %+v", s)
	}
	// db is needed by nobody running now (app stopped, migrate done):
	// db and log... log is needed by db, so db goes first.
	if s := step(); !reflect.DeepEqual(s.Stop, []string{"db"}) {
		t.Fatalf("stops %v, want db first", s.Stop)
	}
	set("db", ContainerState{Status: ContainerStopped, Started: true, ExitCode: intp(137)})
	if s := step(); !reflect.DeepEqual(s.Stop, []string{"log"}) {
		t.Fatalf("stops %v, want log", s.Stop)
	}
	set("log", ContainerState{Status: ContainerStopped, Started: true, ExitCode: intp(0)})
	if s := step(); s.LastStatus != StatusDeprovisioning {
		t.Fatalf("want DEPROVISIONING: %+v", s)
	}
	if s := step(); !s.Deprovision {
		t.Fatalf("want deprovision: %+v", s)
	}
	ti.Deprovisioned = true
	if s := step(); s.LastStatus != StatusStopped {
		t.Fatalf("want STOPPED: %+v", s)
	}
}

func TestReconcileTaskFailedDependencyStopsTheTask(t *testing.T) {
	td := sidecarDef()
	ti := TaskInstance{TaskDef: td, LastStatus: StatusPending, DesiredStatus: StatusRunning, Provisioned: true, Containers: []ContainerState{
		{Name: "log", Status: ContainerRunning, Started: true},
		{Name: "db", Status: ContainerRunning, Started: true, Health: HealthHealthy},
		{Name: "migrate", Status: ContainerStopped, Started: true, ExitCode: intp(2)},
	}}
	s, err := ReconcileTask(ti)
	if err != nil {
		t.Fatal(err)
	}
	if s.DesiredStatus != StatusStopped || s.StopCode != StopTaskFailedToStart || !strings.Contains(s.StoppedReason, "SUCCESS on container migrate") || len(s.Start) != 0 {
		t.Fatalf("step %+v", s)
	}
}

func TestValidateTaskDef(t *testing.T) {
	if err := ValidateTaskDef(sidecarDef()); err != nil {
		t.Fatal(err)
	}
	bad := map[string]*TaskDef{
		"no essential":   {Containers: []ContainerDef{{Name: "a"}}},
		"unknown dep":    {Containers: []ContainerDef{{Name: "a", Essential: true, DependsOn: []Dependency{{"b", CondStart}}}}},
		"cycle":          {Containers: []ContainerDef{{Name: "a", Essential: true, DependsOn: []Dependency{{"b", CondStart}}}, {Name: "b", DependsOn: []Dependency{{"a", CondStart}}}}},
		"self":           {Containers: []ContainerDef{{Name: "a", Essential: true, DependsOn: []Dependency{{"a", CondStart}}}}},
		"success on ess": {Containers: []ContainerDef{{Name: "a", Essential: true}, {Name: "b", DependsOn: []Dependency{{"a", CondSuccess}}}}},
		"healthy no hc":  {Containers: []ContainerDef{{Name: "a", Essential: true}, {Name: "b", DependsOn: []Dependency{{"a", CondHealthy}}}}},
		"bad condition":  {Containers: []ContainerDef{{Name: "a", Essential: true}, {Name: "b", DependsOn: []Dependency{{"a", "READY"}}}}},
		"duplicate":      {Containers: []ContainerDef{{Name: "a", Essential: true}, {Name: "a"}}},
	}
	for name, td := range bad {
		if err := ValidateTaskDef(td); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// genTaskDef makes a random valid task definition: containers depend only
// on earlier ones, so there is no cycle.
func genTaskDef(rng *rand.Rand) *TaskDef {
	n := 1 + rng.Intn(6)
	td := &TaskDef{Family: "gen", NetworkMode: NetworkAwsvpc}
	for i := 0; i < n; i++ {
		c := ContainerDef{Name: fmt.Sprintf("c%d", i), Essential: rng.Intn(2) == 0, HealthCheck: rng.Intn(3) == 0}
		for j := 0; j < i; j++ {
			if rng.Intn(3) != 0 {
				continue
			}
			dep := td.Containers[j]
			conds := []DependencyCondition{CondStart}
			if dep.HealthCheck {
				conds = append(conds, CondHealthy)
			}
			if !dep.Essential {
				conds = append(conds, CondComplete, CondSuccess)
			}
			c.DependsOn = append(c.DependsOn, Dependency{dep.Name, conds[rng.Intn(len(conds))]})
		}
		td.Containers = append(td.Containers, c)
	}
	td.Containers[n-1].Essential = true
	return td
}

// TestReconcileTaskProperties runs random task definitions through a
// simulated agent whose containers exit, succeed, fail and turn healthy at
// random, and checks every step: statuses never go backward, a container
// starts only when all its dependencies hold, a container stops only when
// no running container depends on it, and a task asked to stop reaches
// STOPPED with every container stopped.
func TestReconcileTaskProperties(t *testing.T) {
	running := 0
	for seed := int64(1); seed <= 500; seed++ {
		rng := rand.New(rand.NewSource(seed))
		td := genTaskDef(rng)
		if err := ValidateTaskDef(td); err != nil {
			t.Fatalf("seed %d: generated an invalid definition: %v", seed, err)
		}
		ti := TaskInstance{TaskDef: td, LastStatus: StatusProvisioning, DesiredStatus: StatusRunning}
		st := map[string]*ContainerState{}
		for _, c := range td.Containers {
			st[c.Name] = &ContainerState{Name: c.Name, Status: ContainerPending}
		}
		stopAt := 5 + rng.Intn(60)
		reachedRunning := false
		for i := 0; ; i++ {
			if i == stopAt && ti.DesiredStatus == StatusRunning {
				ti.DesiredStatus = StatusStopped // StopTask
			}
			if i > 400 {
				t.Fatalf("seed %d: task stuck at %s (desired %s)", seed, ti.LastStatus, ti.DesiredStatus)
			}
			ti.Containers = ti.Containers[:0]
			snap := map[string]ContainerState{}
			for _, c := range td.Containers {
				ti.Containers = append(ti.Containers, *st[c.Name])
				snap[c.Name] = *st[c.Name]
			}
			s, err := ReconcileTask(ti)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if statusOrder[s.LastStatus] < statusOrder[ti.LastStatus] {
				t.Fatalf("seed %d: status went back from %s to %s", seed, ti.LastStatus, s.LastStatus)
			}
			if ti.DesiredStatus == StatusStopped && s.DesiredStatus != StatusStopped {
				t.Fatalf("seed %d: desired status went back to %s", seed, s.DesiredStatus)
			}
			if len(s.Start) > 0 && s.DesiredStatus != StatusRunning {
				t.Fatalf("seed %d: starts containers of a task that is stopping", seed)
			}
			for _, name := range s.Start {
				for _, d := range defOf(td, name).DependsOn {
					if !holds(d.Condition, snap[d.ContainerName]) {
						t.Fatalf("seed %d: starts %s while %s is not %s (%+v)", seed, name, d.ContainerName, d.Condition, snap[d.ContainerName])
					}
				}
			}
			for _, name := range s.Stop {
				for _, c := range td.Containers {
					if snap[c.Name].Status != ContainerRunning {
						continue
					}
					for _, d := range c.DependsOn {
						if d.ContainerName == name {
							t.Fatalf("seed %d: stops %s while %s, which depends on it, runs", seed, name, c.Name)
						}
					}
				}
			}
			ti.LastStatus, ti.DesiredStatus = s.LastStatus, s.DesiredStatus
			if s.LastStatus == StatusRunning {
				reachedRunning = true
			}
			if s.LastStatus == StatusStopped {
				for name, c := range st {
					if c.Status == ContainerRunning {
						t.Fatalf("seed %d: task STOPPED with %s running", seed, name)
					}
				}
				break
			}
			// The agent carries out the step, sometimes late.
			if rng.Intn(4) == 0 {
				continue
			}
			ti.Provisioned = ti.Provisioned || s.Provision
			ti.Activated = ti.Activated || s.Activate
			ti.Deactivated = ti.Deactivated || s.Deactivate
			ti.Deprovisioned = ti.Deprovisioned || s.Deprovision
			for _, name := range s.Start {
				st[name].Status, st[name].Started, st[name].Health = ContainerRunning, true, HealthUnknown
			}
			for _, name := range s.Stop {
				st[name].Status, st[name].ExitCode = ContainerStopped, intp(137)
			}
			// Containers live their own lives.
			for _, c := range td.Containers {
				cs := st[c.Name]
				if cs.Status != ContainerRunning {
					continue
				}
				if c.HealthCheck && cs.Health == HealthUnknown && rng.Intn(2) == 0 {
					cs.Health = []Health{HealthHealthy, HealthHealthy, HealthUnhealthy}[rng.Intn(3)]
				}
				exitChance := 25
				if !c.Essential {
					exitChance = 3
				}
				if rng.Intn(exitChance) == 0 {
					cs.Status, cs.ExitCode = ContainerStopped, intp([]int{0, 0, 1}[rng.Intn(3)])
				}
			}
		}
		if reachedRunning {
			running++
		}
	}
	// The generator must exercise the whole lifecycle, not only early
	// failures.
	if running < 100 {
		t.Fatalf("only %d of 500 tasks reached RUNNING", running)
	}
}

func defOf(td *TaskDef, name string) ContainerDef {
	for _, c := range td.Containers {
		if c.Name == name {
			return c
		}
	}
	return ContainerDef{}
}

// holds restates the dependsOn conditions independently of the code under
// test.
func holds(cond DependencyCondition, c ContainerState) bool {
	switch cond {
	case CondStart:
		return c.Started
	case CondComplete:
		return c.Started && c.Status == ContainerStopped
	case CondSuccess:
		return c.Started && c.Status == ContainerStopped && c.ExitCode != nil && *c.ExitCode == 0
	case CondHealthy:
		return c.Status == ContainerRunning && c.Health == HealthHealthy
	}
	return false
}
