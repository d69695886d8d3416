package sched

import (
	"sort"
	"strings"
)

// Scale-in, as ECS does it: when a service has more tasks than it wants,
// the tasks it stops keep the rest balanced. ECS sorts the Availability
// Zones by the service's running tasks in each and stops a task in the
// fullest, favouring the instance with the most of the service's tasks;
// with spread strategies the same holds for each spread field in turn.
// A task that does not serve yet goes before one that serves, whatever
// the balance.

// scaleInFields are the node fields whose balance a scale-in keeps, most
// important first: the service's spread fields (a FARGATE service's are
// the zone, then the instance), else the zone; the instance always last.
func scaleInFields(launch LaunchType, strategies []Strategy) []string {
	var fields []string
	add := func(f string) {
		for _, g := range fields {
			if g == f {
				return
			}
		}
		fields = append(fields, f)
	}
	if launch == LaunchFargate {
		add("attribute:" + AttrAvailabilityZone)
	}
	for _, s := range strategies {
		if s.Type != Spread {
			continue
		}
		switch f := s.Field; {
		case strings.EqualFold(f, "instanceId"), strings.EqualFold(f, "host"):
			add("instanceId")
		case strings.HasPrefix(f, "attribute:"):
			add(f)
		}
	}
	if len(fields) == 0 {
		add("attribute:" + AttrAvailabilityZone)
	}
	add("instanceId")
	return fields
}

// fieldValue is a node's value of a scale-in field ("" when the node has
// no such attribute, or is unknown).
func fieldValue(nodes map[string]*Node, nodeID, field string) string {
	if field == "instanceId" {
		return nodeID
	}
	n := nodes[nodeID]
	if n == nil {
		return ""
	}
	return n.Attributes[strings.TrimPrefix(field, "attribute:")]
}

// scaleIn picks n of tasks to stop: tasks not serving first (serving
// says which serve), then, one at a time, a task whose value of the first
// field is the most common among the tasks left, ties broken by the next
// field, then by the highest task ID (a stable order). tasks is not
// changed.
func scaleIn(tasks []*Task, n int, nodes map[string]*Node, fields []string, serving func(*Task) bool) []*Task {
	left := append([]*Task(nil), tasks...)
	sort.SliceStable(left, func(i, j int) bool { return left[i].ID < left[j].ID })
	counts := make([]map[string]int, len(fields))
	for k, f := range fields {
		counts[k] = map[string]int{}
		for _, t := range left {
			counts[k][fieldValue(nodes, t.NodeID, f)]++
		}
	}
	var out []*Task
	for len(out) < n && len(left) > 0 {
		best := -1
		for i, t := range left {
			if best < 0 || scaleInBefore(t, left[best], nodes, fields, counts, serving) {
				best = i
			}
		}
		t := left[best]
		out = append(out, t)
		left = append(left[:best], left[best+1:]...)
		for k, f := range fields {
			counts[k][fieldValue(nodes, t.NodeID, f)]--
		}
	}
	return out
}

// scaleInBefore says whether a goes before b in scale-in order.
func scaleInBefore(a, b *Task, nodes map[string]*Node, fields []string, counts []map[string]int, serving func(*Task) bool) bool {
	if sa, sb := serving(a), serving(b); sa != sb {
		return !sa
	}
	for k, f := range fields {
		ca, cb := counts[k][fieldValue(nodes, a.NodeID, f)], counts[k][fieldValue(nodes, b.NodeID, f)]
		if ca != cb {
			return ca > cb
		}
	}
	return a.ID > b.ID
}
