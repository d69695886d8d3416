package lifecycle

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

func mustParse(t *testing.T, text string) Policy {
	t.Helper()
	p, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestEvaluate(t *testing.T) {
	images := []Image{
		{Digest: "a", Tags: []string{"prod-1", "v1"}, Pushed: daysAgo(10)},
		{Digest: "b", Tags: []string{"prod-2"}, Pushed: daysAgo(9)},
		{Digest: "c", Tags: []string{"prod-3"}, Pushed: daysAgo(8)},
		{Digest: "d", Pushed: daysAgo(30)},
		{Digest: "e", Pushed: daysAgo(1)},
		{Digest: "f", Tags: []string{"dev-1"}, Pushed: daysAgo(40)},
		{Digest: "g", Tags: []string{"dev-2"}, Pushed: daysAgo(2)},
	}
	rule := func(prio int, sel string) string {
		return `{"rulePriority":` + itoa(prio) + `,"selection":` + sel + `,"action":{"type":"expire"}}`
	}
	policy := func(rules ...string) string { return `{"rules":[` + strings.Join(rules, ",") + `]}` }
	cases := []struct {
		name   string
		policy string
		want   []string // digest@priority
	}{
		{"keep newest two tagged prod", policy(rule(1, `{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":2}`)),
			[]string{"a@1"}},
		{"untagged older than 7 days", policy(rule(1, `{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7}`)),
			[]string{"d@1"}},
		{"untagged never selects tagged images", policy(rule(1, `{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1}`)),
			[]string{"d@1"}},
		{"any counts every image", policy(rule(1, `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5}`)),
			[]string{"f@1", "d@1"}},
		// Rule 1 selects every prod image and expires none; rule 2 (any,
		// keep 1) must not consider them: of d, e, f, g it keeps e.
		{"higher priority match shields from lower rules", policy(
			rule(1, `{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":10}`),
			rule(2, `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}`)),
			[]string{"f@2", "d@2", "g@2"}},
		{"priority order, not list order", policy(
			rule(5, `{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":5}`),
			rule(2, `{"tagStatus":"tagged","tagPatternList":["dev-*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":100}`)),
			[]string{"d@5", "a@5", "b@5", "c@5"}},
		{"several prefixes: all must match", policy(rule(1, `{"tagStatus":"tagged","tagPrefixList":["prod","v"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1}`)),
			[]string{"a@1"}},
		// 2e9 days overflow a Duration: nothing is that old.
		{"days beyond a Duration expire nothing", policy(rule(1, `{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":2000000000}`)),
			nil},
		{"pattern with wildcards", policy(rule(1, `{"tagStatus":"tagged","tagPatternList":["*-2"],"countType":"imageCountMoreThan","countNumber":1}`)),
			[]string{"b@1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, e := range Evaluate(mustParse(t, c.policy), images, now) {
				got = append(got, e.Image.Digest+"@"+itoa(e.RulePriority))
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("expired %v, want %v", got, c.want)
			}
		})
	}
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}

func TestParseRefuses(t *testing.T) {
	bad := map[string]string{
		"not json":           `{`,
		"no rules":           `{"rules":[]}`,
		"unknown field":      `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"},"extra":1}]}`,
		"duplicate prio":     `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		"any not last":       `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		"tagged no list":     `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		"untagged w/ list":   `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		"since no unit":      `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countNumber":1},"action":{"type":"expire"}}]}`,
		"count with unit":    `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`,
		"zero count":         `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0},"action":{"type":"expire"}}]}`,
		"bad action":         `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"delete"}}]}`,
		"five wildcards":     `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["*a*b*c*d*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		"prefix and pattern": `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["a"],"tagPatternList":["b*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
	}
	for name, text := range bad {
		_, err := Parse(text)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "Lifecycle policy validation failure") {
			t.Errorf("%s: %v, want a validation failure", name, err)
		}
	}
}
