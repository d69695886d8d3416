package sched

import (
	"errors"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

// FuzzParseQuery feeds memberOf expressions, which come from API clients,
// to the parser: it must never panic, must fail only with a located
// ErrInvalidArgument, and whatever it accepts must evaluate on a node.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"attribute:ecs.instance-type =~ t2.*",
		"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
		"task:group == service:web and not(ec2InstanceId in [i-1, i-2])",
		"registeredAt >= 2018-06-18T22:28:28+00:00 || runningTasksCount < 3",
		"agentVersion > 1.20.0 && agentConnected == true",
		"attribute:gpu !exists",
	} {
		f.Add(s)
	}
	n := queryNode()
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("ParseQuery(%q): %v is not a *QueryError of class ErrInvalidArgument", s, err)
			}
			if qe.Pos < 0 || qe.Pos > len(s) {
				t.Fatalf("ParseQuery(%q): error position %d outside the input", s, qe.Pos)
			}
			return
		}
		q.Match(n)
		q.Match(&Node{})
	})
}
