package sched

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func webTaskDef(rev int, healthCheck bool) *TaskDef {
	return &TaskDef{Family: "web", Revision: rev, NetworkMode: NetworkBridge, Containers: []ContainerDef{
		{Name: "app", CPU: 256, Memory: 512, Essential: true, HealthCheck: healthCheck,
			PortMappings: []PortMapping{{ContainerPort: 80}}},
	}}
}

func simNodes(n int, zones ...string) []Node {
	var nodes []Node
	for i := 0; i < n; i++ {
		nodes = append(nodes, mkNode(fmt.Sprintf("node-%02d", i), zones[i%len(zones)], 4096, 8192))
	}
	return nodes
}

func webService(desired, minPct, maxPct int) *Service {
	return &Service{Name: "web", DesiredCount: desired, LaunchType: LaunchEC2,
		Config: DeploymentConfig{MinimumHealthyPercent: minPct, MaximumPercent: maxPct,
			CircuitBreaker: CircuitBreaker{Enable: true, Rollback: true}}}
}

func TestServiceBoundsRounding(t *testing.T) {
	cases := []struct{ d, min, max, wantMin, wantMax int }{
		{3, 50, 200, 2, 6},  // 1.5 rounds up
		{5, 75, 150, 4, 7},  // 3.75 up, 7.5 down
		{4, 100, 100, 4, 4}, // a deployment that cannot move
		{1, 0, 100, 0, 1},
		{0, 100, 200, 0, 0},
	}
	for _, c := range cases {
		b := ServiceBounds(c.d, DeploymentConfig{MinimumHealthyPercent: c.min, MaximumPercent: c.max})
		if b.MinHealthy != c.wantMin || b.MaxRunning != c.wantMax {
			t.Errorf("%d at %d/%d: %+v, want %d/%d", c.d, c.min, c.max, b, c.wantMin, c.wantMax)
		}
	}
	for d, want := range map[int]int{0: 3, 1: 3, 6: 3, 7: 4, 10: 5, 399: 200, 1000: 200} {
		if got := FailureThreshold(d); got != want {
			t.Errorf("FailureThreshold(%d) = %d, want %d", d, got, want)
		}
	}
}

func TestServiceRollingUpdateWithinBounds(t *testing.T) {
	w := newWorld(t, 1, simNodes(3, "a", "b"), webService(4, 50, 100))
	d1 := w.deploy(webTaskDef(1, true), false)
	w.runUntil(50, "first deployment steady", func() bool { return w.steadyOn(d1) })
	if !slices.Contains(w.events, "(service web) has reached a steady state.") ||
		!slices.Contains(w.events, fmt.Sprintf("(service web) (deployment %s) deployment completed.", d1)) {
		t.Fatalf("events %q", w.events)
	}

	d2 := w.deploy(webTaskDef(2, true), false)
	// 4 running at maximumPercent 100: no room to start, so the first
	// step stops 2 old tasks (minimumHealthyPercent 50 keeps 2).
	p := w.step()
	if len(p.Start) != 0 || len(p.Stop) != 2 {
		t.Fatalf("first update step: %d starts, %d stops", len(p.Start), len(p.Stop))
	}
	for _, s := range p.Stop {
		if s.Reason != fmt.Sprintf("Scaling activity initiated by (deployment %s)", d2) || s.Code != StopSchedulerInitiated {
			t.Fatalf("stop %+v", s)
		}
	}
	w.runUntil(100, "second deployment steady", func() bool { return w.steadyOn(d2) })
	if w.svc.LastCompleted == nil || w.svc.LastCompleted.ID != d2 {
		t.Fatalf("last completed %+v", w.svc.LastCompleted)
	}
}

func TestServiceStuckDeploymentSaysSo(t *testing.T) {
	w := newWorld(t, 2, simNodes(2, "a"), webService(2, 100, 100))
	d1 := w.deploy(webTaskDef(1, false), false)
	w.runUntil(50, "steady", func() bool { return w.steadyOn(d1) })
	w.deploy(webTaskDef(2, false), false)
	p := w.step()
	if len(p.Start)+len(p.Stop) != 0 || len(p.Events) != 1 ||
		p.Events[0] != "(service web) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again." {
		t.Fatalf("plan %+v", p)
	}
}

func TestServiceReplacesTasksOfALostNodeAtOnce(t *testing.T) {
	w := newWorld(t, 3, simNodes(3, "a", "b", "c"), webService(6, 100, 200))
	w.svc.Strategies = []Strategy{{Spread, "attribute:" + AttrAvailabilityZone}}
	d1 := w.deploy(webTaskDef(1, true), false)
	w.runUntil(50, "steady", func() bool { return w.steadyOn(d1) })
	victim := w.nodes[1].ID
	onVictim := 0
	for _, task := range w.tasks {
		if task.NodeID == victim {
			onVictim++
		}
	}
	if onVictim != 2 {
		t.Fatalf("spread put %d tasks on %s, want 2", onVictim, victim)
	}
	w.dead[victim] = w.now
	died := w.now
	for {
		p := w.step()
		if len(p.Stop) == 0 {
			if w.now.Sub(died) > 10*time.Second {
				t.Fatal("lost node's tasks not replaced within 10 s")
			}
			continue
		}
		// The node is lost once its heartbeat is older than the timeout:
		// its tasks are stopped and replaced in the same plan.
		if got := w.now.Add(-time.Second).Sub(died); got <= w.opts.HeartbeatTimeout || got > w.opts.HeartbeatTimeout+time.Second {
			t.Fatalf("replaced after %s with a %s timeout", got, w.opts.HeartbeatTimeout)
		}
		if len(p.Stop) != 2 || len(p.Start) != 2 {
			t.Fatalf("lost node plan: %d stops, %d starts", len(p.Stop), len(p.Start))
		}
		for _, s := range p.Start {
			if s.NodeID == victim {
				t.Fatal("replacement placed on the lost node")
			}
		}
		if !strings.Contains(p.Stop[0].Reason, "was lost") {
			t.Fatalf("reason %q", p.Stop[0].Reason)
		}
		break
	}
	w.runUntil(50, "steady again", func() bool { return w.steadyOn(d1) })
}

func TestServiceCircuitBreakerRollsBack(t *testing.T) {
	w := newWorld(t, 4, simNodes(3, "a"), webService(4, 100, 200))
	d1 := w.deploy(webTaskDef(1, true), false)
	w.runUntil(50, "steady", func() bool { return w.steadyOn(d1) })
	bad := webTaskDef(2, true)
	w.bad[bad] = true
	d2 := w.deploy(bad, false)
	w.runUntil(200, "rolled back", func() bool {
		return len(w.svc.Deployments) == 1 && w.svc.Deployments[0].Rollback && w.steadyOn(w.svc.Deployments[0].ID)
	})
	if !slices.Contains(w.events, fmt.Sprintf("(service web) (deployment %s) deployment failed: tasks failed to start.", d2)) ||
		!slices.Contains(w.events, fmt.Sprintf("(service web) rolling back to deployment %s.", d1)) {
		t.Fatalf("events %q", w.events)
	}
	if w.svc.Deployments[0].TaskDef.Revision != 1 {
		t.Fatalf("rolled back to revision %d", w.svc.Deployments[0].TaskDef.Revision)
	}
}

func TestServiceCircuitBreakerWithoutRollbackStopsLaunching(t *testing.T) {
	w := newWorld(t, 5, simNodes(3, "a"), webService(2, 50, 200))
	w.svc.Config.CircuitBreaker.Rollback = false
	d1 := w.deploy(webTaskDef(1, true), false)
	w.runUntil(50, "steady", func() bool { return w.steadyOn(d1) })
	// With health checks the bad revision never serves, so the old one
	// keeps the minimum healthy count.
	bad := webTaskDef(2, true)
	w.bad[bad] = true
	d2 := w.deploy(bad, false)
	w.runUntil(100, "failed", func() bool { return w.depByID(d2).RolloutState == RolloutFailed })
	for i := 0; i < 10; i++ {
		if p := w.step(); len(p.Start) != 0 {
			t.Fatalf("a FAILED deployment still launches tasks: %+v", p.Start)
		}
	}
	if h, _ := w.live(); h[d1] < ServiceBounds(2, w.svc.Config).MinHealthy {
		t.Fatalf("old revision fell below minimum healthy: %v", h)
	}
}

func TestServiceDrainMovesTasksWithinBounds(t *testing.T) {
	w := newWorld(t, 6, simNodes(3, "a"), webService(6, 50, 150))
	d1 := w.deploy(webTaskDef(1, true), false)
	w.runUntil(50, "steady", func() bool { return w.steadyOn(d1) })
	w.nodes[0].Status = NodeDraining
	w.runUntil(100, "drained", func() bool {
		for _, t := range w.tasks {
			if t.NodeID == w.nodes[0].ID {
				return false
			}
		}
		h, n := w.live()
		return h[d1] == 6 && n == 6
	})
}

func TestServiceUnplaceableTaskGetsECSEvent(t *testing.T) {
	w := newWorld(t, 7, simNodes(1, "a"), webService(1, 100, 200))
	td := webTaskDef(1, false)
	td.Containers[0].CPU = 8192
	w.deploy(td, false)
	p := w.step()
	if len(p.Failures) != 1 || p.Failures[0].Reason != ReasonCPU ||
		p.Events[0] != "(service web) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance node-00) has insufficient CPU units available. For more information, see the Troubleshooting section." {
		t.Fatalf("plan %+v", p)
	}
}

func TestServiceScaleDown(t *testing.T) {
	w := newWorld(t, 8, simNodes(2, "a"), webService(5, 100, 200))
	d1 := w.deploy(webTaskDef(1, true), false)
	w.runUntil(50, "steady", func() bool { return w.steadyOn(d1) })
	w.svc.DesiredCount = 2
	p := w.step()
	if len(p.Stop) != 3 {
		t.Fatalf("scale down stops %d", len(p.Stop))
	}
	w.runUntil(20, "steady at 2", func() bool { h, n := w.live(); return h[d1] == 2 && n == 2 })
}
