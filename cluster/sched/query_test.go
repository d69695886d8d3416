package sched

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

func queryNode() *Node {
	return &Node{
		ID:     "i-0abc",
		Status: NodeActive,
		Attributes: map[string]string{
			AttrAvailabilityZone: "us-east-1a",
			AttrInstanceType:     "t2.micro",
			AttrOSType:           "linux",
			"cores":              "16",
			"zone":               "b",
		},
		Tasks:          []PlacedTask{{ID: "t1", Group: "service:web"}, {ID: "t2", Group: "family:batch"}},
		AgentConnected: true,
		AgentVersion:   "1.20.3",
		RegisteredAt:   time.Date(2018, 6, 18, 22, 28, 28, 0, time.UTC),
	}
}

func TestQueryMatch(t *testing.T) {
	n := queryNode()
	cases := []struct {
		q    string
		want bool
	}{
		{"attribute:ecs.instance-type == t2.micro", true},
		{"attribute:ecs.instance-type equals t2.small", false},
		{"attribute:ecs.instance-type =~ t2.*", true},
		{"attribute:ecs.instance-type =~ t2", false}, // whole value
		{"attribute:ecs.instance-type !~ g2.*", true},
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", true},
		{"attribute:ecs.availability-zone not_in [us-east-1a, us-east-1b]", false},
		{"attribute:ecs.availability-zone !in (us-east-1c)", true},
		{"attribute:gpu exists", false},
		{"attribute:gpu !exists", true},
		{"attribute:gpu not_exists && attribute:zone exists", true},
		{"attribute:gpu == x", false},
		{"attribute:gpu != x", true},
		{"attribute:cores > 8", true}, // numeric, not "16" < "8"
		{"attribute:cores <= 16", true},
		{"attribute:cores < 16", false},
		{"attribute:zone >= a", true},
		{"ec2InstanceId == i-0abc", true},
		{"instanceId in [i-1, i-0abc]", true},
		{"ec2InstanceId =~ 'i-0.*'", true},
		{"task:group == service:web", true},
		{"task:group != service:web", false},
		{"not(task:group == service:db)", true},
		{"task:group =~ family:.*", true},
		{"task:group in [service:db, family:batch]", true},
		{"runningTasksCount == 2", true},
		{"runningTasksCount < 1", false},
		{"agentConnected == true", true},
		{"agentConnected != true", false},
		{"agentVersion >= 1.9.0", true},  // version order, not string order
		{"agentVersion < 1.20.10", true}, // 3 < 10
		{"agentVersion == 1.20.3", true},
		{"registeredAt < 2019-01-01", true},
		{"registeredAt >= 2018-06-18T22:28:28Z", true},
		{"registeredAt > 2018-06-18T22:28:28+00:00", false},
		{"attribute:zone == a or attribute:zone == b", true},
		{"attribute:zone == a || attribute:zone == c", false},
		{"attribute:zone == b and attribute:ecs.os-type == linux", true},
		{"attribute:zone == a or attribute:zone == b and attribute:cores == 1", false}, // and binds tighter
		{"(attribute:zone == a or attribute:zone == b) and attribute:cores == 16", true},
		{"! attribute:zone == b", false},
		{"NOT attribute:zone == a AND attribute:zone == b", true},
		{`attribute:ecs.instance-type =~ "t2\.(micro|small)"`, true},
	}
	for _, c := range cases {
		q, err := ParseQuery(c.q)
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", c.q, err)
			continue
		}
		if got := q.Match(n); got != c.want {
			t.Errorf("%q on node = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestQueryErrors(t *testing.T) {
	cases := []struct {
		q   string
		col int
		msg string
	}{
		{"", 1, "empty expression"},
		{"attribute:zone", 15, "expected an operator"},
		{"attribute:zone = a", 16, `unexpected "="`},
		{"attribute:zone == ", 19, "expected a value"},
		{"attribute: == a", 1, "needs an attribute name"},
		{"zone == a", 1, "unknown subject"},
		{"attribute:zone == a and", 24, "expected a subject"},
		{"(attribute:zone == a", 21, `expected ")"`},
		{"attribute:zone == a)", 20, "unexpected \")\""},
		{"attribute:zone in a", 19, "expected a list"},
		{"attribute:zone in [a b]", 22, `expected ","`},
		{"attribute:zone in [a,]", 22, "expected a value in the list"},
		{"attribute:zone =~ 'a(b'", 19, "invalid regular expression"},
		{"attribute:zone == 'a", 19, "unterminated"},
		{"attribute:zone == a & attribute:zone == b", 21, `"&" must be doubled`},
		{"attribute:zone == a | attribute:zone == b", 21, `"|" must be doubled`},
		{"runningTasksCount > many", 21, "takes an integer"},
		{"runningTasksCount exists", 19, "not valid for runningTasksCount"},
		{"ec2InstanceId > i-1", 15, "not valid for ec2InstanceId"},
		{"agentConnected == maybe", 19, "true or false"},
		{"agentVersion > latest", 16, "takes a version"},
		{"registeredAt > yesterday", 16, "takes a date"},
		{"attribute:zone ~ a", 16, `unexpected "~"`},
		{strings.Repeat("(", 100) + "attribute:a == b" + strings.Repeat(")", 100), 65, "nested deeper"},
		{strings.Repeat("not ", 200) + "attribute:a == b", 257, "nested deeper"},
		{"attribute:a == " + strings.Repeat("x", 2000), 2001, "longer than 2000"},
	}
	for _, c := range cases {
		_, err := ParseQuery(c.q)
		if err == nil {
			t.Errorf("ParseQuery(%.40q) succeeded, want an error", c.q)
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ParseQuery(%.40q): %v is not ErrInvalidArgument", c.q, err)
		}
		var qe *QueryError
		if !errors.As(err, &qe) {
			t.Errorf("ParseQuery(%.40q): %T is not *QueryError", c.q, err)
			continue
		}
		if qe.Pos+1 != c.col || !strings.Contains(qe.Msg, c.msg) {
			t.Errorf("ParseQuery(%.40q) = column %d %q, want column %d containing %q", c.q, qe.Pos+1, qe.Msg, c.col, c.msg)
		}
	}
}
