// Command schedbench measures the cluster scheduler alone: 10,000 tasks
// placed onto 1,000 simulated nodes (cluster/sched.Place, no I/O), in
// placements per second, for each placement strategy, as one batch and
// one task at a time. The target is at least 10,000/s with
// binpack; Nomad's published C1M run placed about 3,750/s.
//
// It prints the median of -n runs per case and the machine's load
// average, since other work on the machine slows it down.
//
//	go run ./bench/schedbench [-tasks 10000] [-nodes 1000] [-n 5]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/cluster/sched"
)

var (
	tasks  = flag.Int("tasks", 10000, "tasks to place")
	nodes  = flag.Int("nodes", 1000, "simulated nodes")
	runs   = flag.Int("n", 5, "runs per case (the median is printed)")
	target = flag.Float64("target", 10000, "placements/s the binpack cases should reach")
)

// cluster builds the simulated nodes: 16 vCPU and 64 GiB each, in five
// availability zones, a few instance types, a tenth of them already half
// full with other groups' tasks, so that binpack has something to choose.
func cluster(n int) []sched.Node {
	out := make([]sched.Node, n)
	for i := range out {
		reg := sched.Resources{CPU: 16 * 1024, Memory: 64 * 1024}
		nd := sched.Node{
			ID:         fmt.Sprintf("ci-%05d", i),
			Status:     sched.NodeActive,
			Registered: reg,
			Remaining:  reg,
			Attributes: map[string]string{
				sched.AttrAvailabilityZone: fmt.Sprintf("zone-%c", 'a'+i%5),
				sched.AttrInstanceType:     []string{"m5.4xlarge", "c5.4xlarge", "r5.4xlarge"}[i%3],
				sched.AttrOSType:           "linux",
			},
			AgentConnected: true,
			AgentVersion:   "1.80.0",
		}
		if i%10 == 0 {
			nd.Remaining = sched.Resources{CPU: reg.CPU / 2, Memory: reg.Memory / 2}
			for k := 0; k < 8; k++ {
				nd.Tasks = append(nd.Tasks, sched.PlacedTask{ID: fmt.Sprintf("other-%d-%d", i, k), Group: "service:other",
					Resources: sched.Resources{CPU: 1024, Memory: 4096}})
			}
		}
		out[i] = nd
	}
	return out
}

type benchCase struct {
	name        string
	strategies  []sched.Strategy
	constraints []sched.Constraint
	perTask     bool // one Place call per task instead of one batch
	binpack     bool
}

func main() {
	flag.Parse()
	cases := []benchCase{
		{name: "binpack memory, batch", strategies: []sched.Strategy{{Type: sched.Binpack, Field: "memory"}}, binpack: true},
		{name: "binpack cpu, batch", strategies: []sched.Strategy{{Type: sched.Binpack, Field: "cpu"}}, binpack: true},
		{name: "binpack memory, one task per call", strategies: []sched.Strategy{{Type: sched.Binpack, Field: "memory"}}, perTask: true, binpack: true},
		{name: "spread zone then instanceId, batch", strategies: []sched.Strategy{{Type: sched.Spread, Field: "attribute:ecs.availability-zone"}, {Type: sched.Spread, Field: "instanceId"}}},
		{name: "spread instanceId, batch", strategies: []sched.Strategy{{Type: sched.Spread, Field: "instanceId"}}},
		{name: "random, batch", strategies: []sched.Strategy{{Type: sched.Random}}},
		{name: "binpack memory + memberOf, batch", strategies: []sched.Strategy{{Type: sched.Binpack, Field: "memory"}},
			constraints: []sched.Constraint{{Type: sched.MemberOf, Expression: "attribute:ecs.instance-type =~ m5.* or attribute:ecs.availability-zone in [zone-a, zone-b]"}}, binpack: true},
	}
	fmt.Printf("schedbench: %d tasks (256 CPU units, 512 MiB) onto %d nodes, median of %d runs, GOMAXPROCS %d\n",
		*tasks, *nodes, *runs, runtime.GOMAXPROCS(0))
	fmt.Printf("load average at start: %s\n", loadavg())
	fmt.Println("Nomad C1M (published): ~3,750 placements/s")
	ok := true
	for _, c := range cases {
		var rates []float64
		for r := 0; r < *runs; r++ {
			rate, placed, err := run(c, uint64(r+1))
			if err != nil {
				fmt.Fprintln(os.Stderr, "schedbench:", err)
				os.Exit(1)
			}
			if placed != *tasks {
				fmt.Fprintf(os.Stderr, "schedbench: %s placed %d of %d tasks\n", c.name, placed, *tasks)
				os.Exit(1)
			}
			rates = append(rates, rate)
		}
		sort.Float64s(rates)
		med := rates[len(rates)/2]
		mark := ""
		if c.binpack {
			if med >= *target {
				mark = fmt.Sprintf("  (target %.0f/s met)", *target)
			} else {
				mark = fmt.Sprintf("  (BELOW target %.0f/s)", *target)
				ok = false
			}
		}
		fmt.Printf("%-40s %10.0f placements/s  %8.1f ms for all%s\n", c.name, med, float64(*tasks)/med*1000, mark)
	}
	fmt.Printf("load average at end:   %s\n", loadavg())
	if !ok {
		os.Exit(1)
	}
}

// run places the tasks once on a fresh cluster and returns placements/s.
func run(c benchCase, seed uint64) (float64, int, error) {
	ns := cluster(*nodes)
	req := sched.Request{
		Group: "service:bench", Family: "bench",
		Requirements: sched.Requirements{Resources: sched.Resources{CPU: 256, Memory: 512}},
		Strategies:   c.strategies, Constraints: c.constraints,
	}
	start := time.Now()
	p := sched.NewPlacer(ns, seed)
	placed := 0
	if c.perTask {
		req.Count = 1
		for i := 0; i < *tasks; i++ {
			res, err := p.Place(req)
			if err != nil {
				return 0, 0, err
			}
			placed += len(res.Placements)
		}
	} else {
		req.Count = *tasks
		res, err := p.Place(req)
		if err != nil {
			return 0, 0, err
		}
		placed = len(res.Placements)
	}
	el := time.Since(start)
	return float64(placed) / el.Seconds(), placed, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
