package sched

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// qnode is a node of a parsed query's tree.
type qnode interface {
	eval(n *Node) bool
	dependsOnTasks() bool
}

type orNode struct{ l, r qnode }
type andNode struct{ l, r qnode }
type notNode struct{ x qnode }

func (o *orNode) eval(n *Node) bool  { return o.l.eval(n) || o.r.eval(n) }
func (a *andNode) eval(n *Node) bool { return a.l.eval(n) && a.r.eval(n) }
func (x *notNode) eval(n *Node) bool { return !x.x.eval(n) }

func (o *orNode) dependsOnTasks() bool  { return o.l.dependsOnTasks() || o.r.dependsOnTasks() }
func (a *andNode) dependsOnTasks() bool { return a.l.dependsOnTasks() || a.r.dependsOnTasks() }
func (x *notNode) dependsOnTasks() bool { return x.x.dependsOnTasks() }
func (c *cmpNode) dependsOnTasks() bool {
	return c.subj == subjTaskGroup || c.subj == subjRunningTasks
}

// cmpNode is one "subject operator argument" comparison, with its argument
// parsed once at parse time.
type cmpNode struct {
	subj subjectKind
	attr string
	op   op
	vals []string
	re   *regexp.Regexp
	b    bool
	num  float64
	t    time.Time
}

func (c *cmpNode) eval(n *Node) bool {
	switch c.subj {
	case subjAttribute:
		v, ok := n.Attributes[c.attr]
		return c.evalString(v, ok, compareLoose)
	case subjInstanceID:
		return c.evalString(n.ID, true, strings.Compare)
	case subjAgentConnected:
		switch c.op {
		case opEq:
			return n.AgentConnected == c.b
		case opNe:
			return n.AgentConnected != c.b
		}
		return c.evalString(strconv.FormatBool(n.AgentConnected), true, strings.Compare)
	case subjAgentVersion:
		return c.ordered(compareVersions(n.AgentVersion, c.vals[0]))
	case subjRunningTasks:
		return c.ordered(compareFloat(float64(len(n.Tasks)), c.num))
	case subjRegisteredAt:
		return c.ordered(n.RegisteredAt.Compare(c.t))
	case subjTaskGroup:
		return c.evalGroups(n)
	}
	return false
}

// ordered applies an ordering operator to a comparison's result.
func (c *cmpNode) ordered(cmp int) bool {
	switch c.op {
	case opEq:
		return cmp == 0
	case opNe:
		return cmp != 0
	case opGt:
		return cmp > 0
	case opGe:
		return cmp >= 0
	case opLt:
		return cmp < 0
	case opLe:
		return cmp <= 0
	}
	return false
}

// evalString applies the operator to a string subject that may be absent.
// An absent attribute equals nothing, so "!=" and "not_in" hold for it.
func (c *cmpNode) evalString(v string, present bool, cmp func(a, b string) int) bool {
	switch c.op {
	case opExists:
		return present
	case opNotExists:
		return !present
	case opIn, opNotIn:
		in := false
		if present {
			for _, x := range c.vals {
				if v == x {
					in = true
					break
				}
			}
		}
		return in == (c.op == opIn)
	case opMatch:
		return present && c.re.MatchString(v)
	case opNotMatch:
		return !present || !c.re.MatchString(v)
	case opNe:
		return !present || v != c.vals[0]
	}
	if !present {
		return false
	}
	return c.ordered(cmp(v, c.vals[0]))
}

// evalGroups applies the operator to the groups of the tasks on the node:
// "task:group == g" holds when a task of g runs there, "!=" when none
// does, which is how constraints keep groups apart.
func (c *cmpNode) evalGroups(n *Node) bool {
	any := func(f func(g string) bool) bool {
		for i := range n.Tasks {
			if f(n.Tasks[i].Group) {
				return true
			}
		}
		return false
	}
	switch c.op {
	case opExists:
		return len(n.Tasks) > 0
	case opNotExists:
		return len(n.Tasks) == 0
	case opEq:
		return any(func(g string) bool { return g == c.vals[0] })
	case opNe:
		return !any(func(g string) bool { return g == c.vals[0] })
	case opIn, opNotIn:
		in := any(func(g string) bool {
			for _, x := range c.vals {
				if g == x {
					return true
				}
			}
			return false
		})
		return in == (c.op == opIn)
	case opMatch:
		return any(c.re.MatchString)
	case opNotMatch:
		return !any(c.re.MatchString)
	}
	return false
}

// compareLoose orders attribute values numerically when both are numbers
// (so that "attribute:cores > 8" means what it says), otherwise as strings.
func compareLoose(a, b string) int {
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		return compareFloat(fa, fb)
	}
	return strings.Compare(a, b)
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseVersion reads a dotted numeric version ("1.20.0", "v1.2").
func parseVersion(s string) ([]int, bool) {
	s = strings.TrimPrefix(s, "v")
	if s == "" {
		return nil, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 8 {
		return nil, false
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// compareVersions orders dotted versions part by part; a node with an
// unreadable version sorts before every version.
func compareVersions(a, b string) int {
	va, okA := parseVersion(a)
	vb, _ := parseVersion(b)
	if !okA {
		return -1
	}
	for i := 0; i < len(va) || i < len(vb); i++ {
		var x, y int
		if i < len(va) {
			x = va[i]
		}
		if i < len(vb) {
			y = vb[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
