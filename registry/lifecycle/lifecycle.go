// Package lifecycle is ECR's lifecycle policy language: parsing and
// validating a policy as ECR does, and deciding which images it expires.
// Deciding is a pure function of the policy, the images and the time, so
// that the registry's background job and the policy's preview give the
// same answer for the same state (the preview is exactly what the job
// would expire).
//
// A policy is {"rules": [...]}, each rule:
//
//	{"rulePriority": 1, "description": "...",
//	 "selection": {"tagStatus": "tagged"|"untagged"|"any",
//	               "tagPrefixList": ["v"], "tagPatternList": ["prod-*"],
//	               "countType": "imageCountMoreThan"|"sinceImagePushed",
//	               "countUnit": "days", "countNumber": 10},
//	 "action": {"type": "expire"}}
//
// Evaluation, as ECR's: rules apply from the lowest rulePriority up. A
// rule selects the images its tag criteria match that no earlier rule
// selected (an image matched by a higher priority rule is never
// considered by a lower one, whether or not the higher one expired it).
// Of its selection, imageCountMoreThan keeps the countNumber most
// recently pushed and expires the rest; sinceImagePushed expires those
// pushed more than countNumber days ago.
package lifecycle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// Tag statuses, count types and the one action.
const (
	Tagged   = "tagged"
	Untagged = "untagged"
	Any      = "any"

	CountMoreThan   = "imageCountMoreThan"
	SincePushed     = "sinceImagePushed"
	ActionExpire    = "expire"
	CountUnitDays   = "days"
	maxPolicyLength = 30720 // ECR's limit on lifecyclePolicyText
	maxRules        = 50
	maxTagList      = 100
	maxWildcards    = 4
	// maxDays is the most days a time.Duration holds (about 292 years).
	maxDays = 106751
	// maxCount is ECR's bound on countNumber (an Integer).
	maxCount = 1<<31 - 1
)

// Policy is a parsed lifecycle policy.
type Policy struct {
	Rules []Rule `json:"rules"`
}

// Rule is one rule of a policy.
type Rule struct {
	RulePriority int       `json:"rulePriority"`
	Description  string    `json:"description,omitempty"`
	Selection    Selection `json:"selection"`
	Action       Action    `json:"action"`
}

// Selection is what a rule selects and how many it keeps.
type Selection struct {
	TagStatus      string   `json:"tagStatus"`
	TagPrefixList  []string `json:"tagPrefixList,omitempty"`
	TagPatternList []string `json:"tagPatternList,omitempty"`
	CountType      string   `json:"countType"`
	CountUnit      string   `json:"countUnit,omitempty"`
	CountNumber    int      `json:"countNumber"`
}

// Action is what a rule does to what it selects beyond its count.
type Action struct {
	Type string `json:"type"`
}

// Parse parses and validates a policy's text. Errors are
// ErrInvalidArgument with ECR's wording.
func Parse(text string) (Policy, error) {
	if len(text) > maxPolicyLength {
		return Policy{}, invalid("the policy is longer than %d characters", maxPolicyLength)
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return Policy{}, invalid("the policy is not valid JSON of the lifecycle policy schema: %v", err)
	}
	if dec.More() {
		return Policy{}, invalid("trailing data after the policy")
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: "+format+"': %w", append(a, errdefs.ErrInvalidArgument)...)
}

// Validate checks a policy as ECR does.
func (p Policy) Validate() error {
	if len(p.Rules) == 0 {
		return invalid("a policy has at least one rule")
	}
	if len(p.Rules) > maxRules {
		return invalid("a policy has at most %d rules", maxRules)
	}
	seen := map[int]bool{}
	maxPrio, anyPrio := 0, 0
	for _, r := range p.Rules {
		if r.RulePriority < 1 || r.RulePriority > 999 {
			return invalid("rulePriority %d is not between 1 and 999", r.RulePriority)
		}
		if seen[r.RulePriority] {
			return invalid("rulePriority %d is used by more than one rule", r.RulePriority)
		}
		seen[r.RulePriority] = true
		maxPrio = max(maxPrio, r.RulePriority)
		if err := r.validate(); err != nil {
			return err
		}
		if r.Selection.TagStatus == Any {
			anyPrio = r.RulePriority
		}
	}
	if anyPrio != 0 && anyPrio != maxPrio {
		return invalid("the rule with tagStatus any (rulePriority %d) must have the highest rulePriority", anyPrio)
	}
	return nil
}

func (r Rule) validate() error {
	s := r.Selection
	switch s.TagStatus {
	case Tagged:
		if len(s.TagPrefixList) == 0 && len(s.TagPatternList) == 0 {
			return invalid("rule %d: tagStatus tagged needs a tagPrefixList or a tagPatternList", r.RulePriority)
		}
		if len(s.TagPrefixList) > 0 && len(s.TagPatternList) > 0 {
			return invalid("rule %d: tagPrefixList and tagPatternList cannot both be given", r.RulePriority)
		}
	case Untagged, Any:
		if len(s.TagPrefixList) > 0 || len(s.TagPatternList) > 0 {
			return invalid("rule %d: tagStatus %s takes no tagPrefixList or tagPatternList", r.RulePriority, s.TagStatus)
		}
	case "":
		return invalid("rule %d: tagStatus is required", r.RulePriority)
	default:
		return invalid("rule %d: tagStatus %q is not tagged, untagged or any", r.RulePriority, s.TagStatus)
	}
	if len(s.TagPrefixList) > maxTagList || len(s.TagPatternList) > maxTagList {
		return invalid("rule %d: at most %d tags in a list", r.RulePriority, maxTagList)
	}
	for _, t := range s.TagPrefixList {
		if t == "" || strings.Contains(t, "*") {
			return invalid("rule %d: tag prefix %q is empty or holds a wildcard (use tagPatternList)", r.RulePriority, t)
		}
	}
	for _, t := range s.TagPatternList {
		if t == "" || strings.Count(t, "*") > maxWildcards {
			return invalid("rule %d: tag pattern %q is empty or has more than %d wildcards", r.RulePriority, t, maxWildcards)
		}
	}
	switch s.CountType {
	case CountMoreThan:
		if s.CountUnit != "" {
			return invalid("rule %d: countUnit is not allowed with countType imageCountMoreThan", r.RulePriority)
		}
	case SincePushed:
		if s.CountUnit != CountUnitDays {
			return invalid("rule %d: countType sinceImagePushed needs countUnit days", r.RulePriority)
		}
	case "":
		return invalid("rule %d: countType is required", r.RulePriority)
	default:
		return invalid("rule %d: countType %q is not imageCountMoreThan or sinceImagePushed", r.RulePriority, s.CountType)
	}
	if s.CountNumber < 1 || s.CountNumber > maxCount {
		return invalid("rule %d: countNumber must be between 1 and %d", r.RulePriority, maxCount)
	}
	if r.Action.Type != ActionExpire {
		return invalid("rule %d: action type %q is not expire", r.RulePriority, r.Action.Type)
	}
	return nil
}

// Image is what evaluation knows of an image.
type Image struct {
	Digest string
	Tags   []string
	Pushed time.Time
}

// Expiry is an image a rule expires.
type Expiry struct {
	Image        Image
	RulePriority int
}

// Evaluate returns the images p expires among images at now, in rule
// order, and within a rule oldest push first.
func Evaluate(p Policy, images []Image, now time.Time) []Expiry {
	rules := append([]Rule(nil), p.Rules...)
	sort.Slice(rules, func(i, j int) bool { return rules[i].RulePriority < rules[j].RulePriority })
	claimed := make([]bool, len(images))
	var out []Expiry
	for _, r := range rules {
		var sel []int
		for i, im := range images {
			if !claimed[i] && r.Selection.matches(im.Tags) {
				sel = append(sel, i)
				claimed[i] = true
			}
		}
		// Newest first; equal times by digest, so that the answer never
		// depends on the order images were listed in.
		sort.Slice(sel, func(a, b int) bool {
			ia, ib := images[sel[a]], images[sel[b]]
			if !ia.Pushed.Equal(ib.Pushed) {
				return ia.Pushed.After(ib.Pushed)
			}
			return ia.Digest < ib.Digest
		})
		var exp []int
		switch r.Selection.CountType {
		case CountMoreThan:
			if len(sel) > r.Selection.CountNumber {
				exp = sel[r.Selection.CountNumber:]
			}
		case SincePushed:
			// More days than a Duration holds: no image is that old.
			if r.Selection.CountNumber > maxDays {
				break
			}
			cutoff := now.Add(-time.Duration(r.Selection.CountNumber) * 24 * time.Hour)
			for _, i := range sel {
				if images[i].Pushed.Before(cutoff) {
					exp = append(exp, i)
				}
			}
		}
		for k := len(exp) - 1; k >= 0; k-- {
			out = append(out, Expiry{Image: images[exp[k]], RulePriority: r.RulePriority})
		}
	}
	return out
}

// matches reports whether an image with tags is selected by s's tag
// criteria. With several prefixes or patterns, every one must be matched
// by some tag of the image, as ECR has it.
func (s Selection) matches(tags []string) bool {
	switch s.TagStatus {
	case Any:
		return true
	case Untagged:
		return len(tags) == 0
	case Tagged:
		if len(tags) == 0 {
			return false
		}
		for _, pre := range s.TagPrefixList {
			if !anyTag(tags, func(t string) bool { return strings.HasPrefix(t, pre) }) {
				return false
			}
		}
		for _, pat := range s.TagPatternList {
			if !anyTag(tags, func(t string) bool { return wildcard(pat, t) }) {
				return false
			}
		}
		return true
	}
	return false
}

func anyTag(tags []string, f func(string) bool) bool {
	for _, t := range tags {
		if f(t) {
			return true
		}
	}
	return false
}

// wildcard matches a tag against a pattern whose one special character
// is "*" (any run of characters): path.Match's others are escaped.
func wildcard(pat, tag string) bool {
	var b bytes.Buffer
	for _, c := range pat {
		switch c {
		case '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	ok, err := path.Match(b.String(), tag)
	return err == nil && ok
}

// Canonical is the policy's text as ECR echoes it back: the text given,
// compacted (ECR returns it without the whitespace a file had).
func Canonical(text string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return text
	}
	return b.String()
}
