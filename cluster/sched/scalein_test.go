package sched

import (
	"fmt"
	"testing"
)

// A scale-in keeps the service spread: each stop comes from the zone
// with the most of its tasks, then from the node with the most.
func TestScaleInKeepsTheSpread(t *testing.T) {
	nodes := map[string]*Node{}
	for _, n := range []Node{mkNode("m1", "a", 4096, 8192), mkNode("w1", "b", 4096, 8192), mkNode("w2", "c", 4096, 8192), mkNode("w3", "c", 4096, 8192)} {
		nodes[n.ID] = &n
	}
	var tasks []*Task
	add := func(node string, k int) {
		for i := 0; i < k; i++ {
			tasks = append(tasks, &Task{ID: fmt.Sprintf("%s-%d", node, i), NodeID: node})
		}
	}
	// zone a: 3 on m1; zone b: 1 on w1; zone c: 2 on w2 and 1 on w3.
	add("m1", 3)
	add("w1", 1)
	add("w2", 2)
	add("w3", 1)
	serving := func(*Task) bool { return true }
	fields := scaleInFields(LaunchEC2, []Strategy{{Spread, "attribute:" + AttrAvailabilityZone}})
	got := scaleIn(tasks, 3, nodes, fields, serving)
	per := map[string]int{}
	for _, x := range got {
		per[x.NodeID]++
	}
	// Zones a and c hold 3 each: one from each (c's from w2, its fuller
	// node), then a third from whichever zone then holds the most.
	if per["m1"] < 1 || per["w2"] != 1 || per["w1"] != 0 || len(got) != 3 {
		t.Fatalf("scale-in stopped %v", per)
	}
	left := map[string]int{"a": 3, "b": 1, "c": 3}
	for _, x := range got {
		left[nodes[x.NodeID].Attributes[AttrAvailabilityZone]]--
	}
	if left["a"] > 2 || left["c"] > 2 || left["b"] != 1 {
		t.Fatalf("zones left %v", left)
	}

	// A task that does not serve goes first, wherever it is.
	notServing := tasks[3] // w1's only task
	got = scaleIn(tasks, 1, nodes, fields, func(x *Task) bool { return x != notServing })
	if len(got) != 1 || got[0] != notServing {
		t.Fatalf("scale-in stopped %v, not the task that does not serve", got[0].ID)
	}
}

func TestScaleInFields(t *testing.T) {
	zone := "attribute:" + AttrAvailabilityZone
	for _, c := range []struct {
		launch LaunchType
		strats []Strategy
		want   []string
	}{
		{LaunchEC2, nil, []string{zone, "instanceId"}},
		{LaunchEC2, []Strategy{{Binpack, "memory"}}, []string{zone, "instanceId"}},
		{LaunchEC2, []Strategy{{Spread, "attribute:rack"}, {Spread, "host"}}, []string{"attribute:rack", "instanceId"}},
		{LaunchFargate, nil, []string{zone, "instanceId"}},
	} {
		if got := scaleInFields(c.launch, c.strats); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s %v: %v, want %v", c.launch, c.strats, got, c.want)
		}
	}
}

// Through the service reconciliation: a service spread over three zones
// scaled from 7 to 3 ends with one task in each zone.
func TestServiceScaleDownKeepsZonesBalanced(t *testing.T) {
	svc := webService(7, 100, 200)
	svc.Strategies = []Strategy{{Spread, "attribute:" + AttrAvailabilityZone}}
	w := newWorld(t, 3, simNodes(3, "a", "b", "c"), svc)
	d1 := w.deploy(webTaskDef(1, false), false)
	w.runUntil(50, "steady", func() bool { return w.steadyOn(d1) })
	w.svc.DesiredCount = 3
	w.runUntil(20, "steady at 3", func() bool { h, n := w.live(); return h[d1] == 3 && n == 3 })
	zones := map[string]int{}
	for _, x := range w.tasks {
		if x.LastStatus != StatusStopped {
			for _, n := range w.nodes {
				if n.ID == x.NodeID {
					zones[n.Attributes[AttrAvailabilityZone]]++
				}
			}
		}
	}
	if zones["a"] != 1 || zones["b"] != 1 || zones["c"] != 1 {
		t.Fatalf("after the scale-in: %v", zones)
	}
}
