package sched

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// The property tests generate states from a seed, which every failure
// prints, so that a failure is reproduced by running that seed alone.

func genNodes(rng *rand.Rand, n int, zones []string) []Node {
	var nodes []Node
	for i := 0; i < n; i++ {
		cpu := int64(512 * (1 + rng.Intn(8)))
		mem := int64(1024 * (1 + rng.Intn(8)))
		nd := mkNode(fmt.Sprintf("n%02d", i), zones[rng.Intn(len(zones))], cpu, mem)
		nd.Remaining = Resources{cpu - int64(rng.Intn(int(cpu/2))), mem - int64(rng.Intn(int(mem/2)))}
		if rng.Intn(6) == 0 {
			nd.Status = NodeDraining
		}
		for p := 0; p < rng.Intn(3); p++ {
			nd.PortsInUse = append(nd.PortsInUse, HostPort{uint16(8000 + rng.Intn(4)), TCP})
		}
		for k := 0; k < rng.Intn(3); k++ {
			nd.Tasks = append(nd.Tasks, PlacedTask{ID: fmt.Sprintf("pre%d", k), Group: []string{"service:web", "service:db", "family:x"}[rng.Intn(3)]})
		}
		nodes = append(nodes, nd)
	}
	return nodes
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func genRequest(rng *rand.Rand) Request {
	r := Request{
		Group:        []string{"service:web", "service:db"}[rng.Intn(2)],
		Count:        1 + rng.Intn(40),
		Requirements: Requirements{Resources: Resources{int64(128 * rng.Intn(5)), int64(256 * (1 + rng.Intn(4)))}},
	}
	if rng.Intn(3) == 0 {
		r.Requirements.Ports = []HostPort{{uint16(8000 + rng.Intn(4)), TCP}}
	}
	if rng.Intn(3) == 0 {
		r.Constraints = append(r.Constraints, Constraint{Type: DistinctInstance})
	}
	if rng.Intn(3) == 0 {
		r.Constraints = append(r.Constraints, Constraint{Type: MemberOf, Expression: "attribute:ecs.availability-zone in [z1, z2]"})
	}
	if rng.Intn(4) == 0 {
		r.Constraints = append(r.Constraints, Constraint{Type: MemberOf, Expression: "runningTasksCount < 4"})
	}
	all := []Strategy{{Binpack, "cpu"}, {Binpack, "memory"}, {Spread, "attribute:ecs.availability-zone"}, {Spread, "instanceId"}, {Random, ""}}
	for _, i := range rng.Perm(len(all))[:rng.Intn(4)] {
		r.Strategies = append(r.Strategies, all[i])
	}
	return r
}

// fitsIndependently restates placement's feasibility rules without the
// placer's code.
func fitsIndependently(n *Node, rem Resources, ports map[HostPort]bool, groupOnNode, tasksOnNode int, r Request) bool {
	if n.Status != NodeActive || r.Requirements.CPU > rem.CPU || r.Requirements.Memory > rem.Memory {
		return false
	}
	for _, p := range r.Requirements.Ports {
		if ports[p] {
			return false
		}
	}
	for _, c := range r.Constraints {
		switch c.Type {
		case DistinctInstance:
			if groupOnNode > 0 {
				return false
			}
		case MemberOf:
			if c.Expression == "runningTasksCount < 4" {
				if tasksOnNode >= 4 {
					return false
				}
				continue
			}
			z := n.Attributes[AttrAvailabilityZone]
			if z != "z1" && z != "z2" {
				return false
			}
		}
	}
	return true
}

// TestPlacementProperties: over many generated clusters and batches of
// requests, no placement exceeds a node's remaining cpu, memory or ports,
// none lands on a DRAINING node, distinctInstance and memberOf hold, and a
// task is refused only when no node could take it.
func TestPlacementProperties(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		nodes := genNodes(rng, 1+rng.Intn(30), []string{"z1", "z2", "z3"})
		rem := map[string]Resources{}
		ports := map[string]map[HostPort]bool{}
		groups := map[string]map[string]int{}
		byID := map[string]*Node{}
		for i := range nodes {
			n := &nodes[i]
			byID[n.ID] = n
			rem[n.ID] = n.Remaining
			ports[n.ID] = map[HostPort]bool{}
			for _, p := range n.PortsInUse {
				ports[n.ID][p] = true
			}
			groups[n.ID] = map[string]int{}
			for _, pt := range n.Tasks {
				groups[n.ID][pt.Group]++
			}
		}
		p := NewPlacer(nodes, uint64(seed))
		for k := 0; k < 1+rng.Intn(4); k++ {
			req := genRequest(rng)
			res, err := p.Place(req)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if len(res.Placements)+len(res.Failures) != req.Count {
				t.Fatalf("seed %d: %d placements + %d failures for %d tasks", seed, len(res.Placements), len(res.Failures), req.Count)
			}
			for _, pl := range res.Placements {
				n := byID[pl.NodeID]
				if !fitsIndependently(n, rem[n.ID], ports[n.ID], groups[n.ID][req.Group], total(groups[n.ID]), req) {
					t.Fatalf("seed %d: task placed on %s which cannot take it (remaining %+v, request %+v)", seed, n.ID, rem[n.ID], req)
				}
				r := rem[n.ID]
				r.CPU -= req.Requirements.CPU
				r.Memory -= req.Requirements.Memory
				rem[n.ID] = r
				for _, hp := range req.Requirements.Ports {
					ports[n.ID][hp] = true
				}
				groups[n.ID][req.Group]++
			}
			for id, r := range rem {
				if got, _ := p.Remaining(id); got != r {
					t.Fatalf("seed %d: placer says %+v remain on %s, want %+v", seed, got, id, r)
				}
			}
			if len(res.Failures) > 0 {
				for i := range nodes {
					n := &nodes[i]
					if fitsIndependently(n, rem[n.ID], ports[n.ID], groups[n.ID][req.Group], total(groups[n.ID]), req) {
						t.Fatalf("seed %d: task refused (%+v) though %s could take it", seed, res.Failures[0], n.ID)
					}
				}
			}
		}
	}
}

// TestSpreadProperty: with room everywhere, spread keeps the group's
// tasks within one of each other across the attribute's values, also when
// a binpack strategy follows it, and spread on instanceId does the same
// across nodes.
func TestSpreadProperty(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		zones := []string{"z1", "z2", "z3", "z4", "z5"}[:1+rng.Intn(5)]
		var nodes []Node
		for i := 0; i < len(zones)+rng.Intn(10); i++ {
			nodes = append(nodes, mkNode(fmt.Sprintf("n%02d", i), zones[i%len(zones)], 1<<20, 1<<20))
		}
		count := rng.Intn(100)
		strats := []Strategy{{Spread, "attribute:" + AttrAvailabilityZone}}
		if rng.Intn(2) == 0 {
			strats = append(strats, Strategy{Binpack, "memory"})
		}
		res, err := Place(nodes, Request{Group: "g", Count: count, Requirements: Requirements{Resources: Resources{64, 64}}, Strategies: strats}, uint64(seed))
		if err != nil {
			t.Fatal(err)
		}
		perZone := map[string]int{}
		for _, z := range zones {
			perZone[z] = 0
		}
		zoneOf := map[string]string{}
		for _, n := range nodes {
			zoneOf[n.ID] = n.Attributes[AttrAvailabilityZone]
		}
		for _, p := range res.Placements {
			perZone[zoneOf[p.NodeID]]++
		}
		if lo, hi := minMax(perZone); hi-lo > 1 {
			t.Fatalf("seed %d: spread over zones %v", seed, perZone)
		}
		res, _ = Place(nodes, Request{Group: "g", Count: count, Strategies: []Strategy{{Spread, "instanceId"}}}, uint64(seed))
		perNode := map[string]int{}
		for _, n := range nodes {
			perNode[n.ID] = 0
		}
		for _, p := range res.Placements {
			perNode[p.NodeID]++
		}
		if lo, hi := minMax(perNode); hi-lo > 1 {
			t.Fatalf("seed %d: spread over nodes %v", seed, perNode)
		}
	}
}

func minMax(m map[string]int) (lo, hi int) {
	first := true
	for _, v := range m {
		if first || v < lo {
			lo = v
		}
		if first || v > hi {
			hi = v
		}
		first = false
	}
	return
}

// TestServiceConvergenceProperty: for generated services and clusters, a
// first deployment converges to the desired count of healthy tasks; a
// good update converges to the new revision; a revision that never gets
// healthy trips the circuit breaker and rolls back to the old one; a lost
// node's tasks are replaced as soon as its heartbeat expires (within 10 s)
// and a drained node is emptied. Every step of all of it is checked by
// checkPlan: healthy never below minimumHealthyPercent by the scheduler's
// own stops, never more than maximumPercent running, never beyond a
// node's capacity.
func TestServiceConvergenceProperty(t *testing.T) {
	for seed := int64(1); seed <= 150; seed++ {
		rng := rand.New(rand.NewSource(seed))
		D := rng.Intn(10)
		var minPct, maxPct int
		for {
			minPct = []int{0, 25, 50, 75, 100}[rng.Intn(5)]
			maxPct = []int{100, 125, 150, 200}[rng.Intn(4)]
			b := ServiceBounds(D, DeploymentConfig{MinimumHealthyPercent: minPct, MaximumPercent: maxPct})
			if D == 0 || b.MinHealthy < D || b.MaxRunning > D {
				break // a configuration that can move
			}
		}
		svc := webService(D, minPct, maxPct)
		switch rng.Intn(3) {
		case 0:
			svc.Strategies = []Strategy{{Spread, "attribute:" + AttrAvailabilityZone}, {Spread, "instanceId"}}
		case 1:
			svc.Strategies = []Strategy{{Binpack, "memory"}}
		}
		w := newWorld(t, seed, simNodes(4+rng.Intn(4), "a", "b", "c"), svc)
		hc := rng.Intn(2) == 0
		d1 := w.deploy(webTaskDef(1, hc), false)
		w.runUntil(200, "first deployment", func() bool { return w.steadyOn(d1) })

		good := webTaskDef(2, hc)
		d2 := w.deploy(good, false)
		w.runUntil(300, "good update", func() bool { return w.steadyOn(d2) })

		if D > 0 {
			bad := webTaskDef(3, rng.Intn(2) == 0)
			w.bad[bad] = true
			w.deploy(bad, false)
			w.runUntil(500, "rollback after a bad update", func() bool {
				return len(w.svc.Deployments) == 1 && w.svc.Deployments[0].Rollback && w.steadyOn(w.svc.Deployments[0].ID)
			})
			if rev := w.svc.Deployments[0].TaskDef.Revision; rev != 2 {
				t.Fatalf("seed %d: rolled back to revision %d, want 2", seed, rev)
			}
		}
		cur := w.svc.Deployments[0].ID

		// Lose the node with the most tasks.
		perNode := map[string]int{}
		for _, task := range w.tasks {
			perNode[task.NodeID]++
		}
		victim, most := "", -1
		for _, n := range w.nodes {
			if perNode[n.ID] > most {
				victim, most = n.ID, perNode[n.ID]
			}
		}
		w.dead[victim] = w.now
		died := w.now
		for {
			p := w.step()
			if len(p.Stop) > 0 || most == 0 {
				if took := w.now.Sub(died); took > 10*time.Second {
					t.Fatalf("seed %d: lost node's tasks replaced after %s", seed, took)
				}
				if len(p.Start) != most || len(p.Stop) != most {
					t.Fatalf("seed %d: lost node with %d tasks: %d stops, %d starts", seed, most, len(p.Stop), len(p.Start))
				}
				break
			}
			if w.now.Sub(died) > 10*time.Second {
				t.Fatalf("seed %d: lost node's %d tasks not replaced within 10 s", seed, most)
			}
		}
		w.runUntil(200, "steady after the node loss", func() bool { return w.steadyOn(cur) })

		// Drain another node.
		for i := range w.nodes {
			if w.nodes[i].ID != victim {
				w.nodes[i].Status = NodeDraining
				drained := w.nodes[i].ID
				w.runUntil(300, "drain", func() bool {
					for _, task := range w.tasks {
						if task.NodeID == drained {
							return false
						}
					}
					h, n := w.live()
					return h[cur] == D && n == D
				})
				break
			}
		}
	}
}
