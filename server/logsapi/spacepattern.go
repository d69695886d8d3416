package logsapi

import (
	"fmt"
	"strings"
)

// A space-delimited pattern matches events made of fields separated by
// spaces (a quoted "..." or bracketed [...] run is one field, without its
// delimiters), as web server logs are:
//
//	[ip, user, username, timestamp, request = "*html*", status_code = 4*, bytes]
//	[..., status_code = 404 || status_code = 410, bytes > 1000]
//
// Each name binds one field, in order; "..." binds any number of fields
// (once per pattern). Without it an event matches only with exactly as
// many fields as the pattern names. A name may carry conditions on the
// bound fields, with the comparisons of JSON patterns (numbers with = !=
// < <= > >=, strings with = != and * wildcards) joined by && and ||; all
// the conditions of a pattern must hold.

// maxFields bounds the fields of a space-delimited pattern.
const maxFields = 100

type spacePattern struct {
	names    []string // "" for the ellipsis
	ellipsis int      // index of "...", -1 if none
	conds    []spaceExpr
}

// spaceExpr is a condition on named fields.
type spaceExpr interface {
	eval(fields map[string]string) bool
}

type spaceOr struct{ l, r spaceExpr }
type spaceAnd struct{ l, r spaceExpr }

func (e spaceOr) eval(f map[string]string) bool  { return e.l.eval(f) || e.r.eval(f) }
func (e spaceAnd) eval(f map[string]string) bool { return e.l.eval(f) && e.r.eval(f) }

type spaceCmp struct {
	name string
	cmp  cmpExpr // its selector is unused: the field's value is compared
}

func (e spaceCmp) eval(f map[string]string) bool {
	v, ok := f[e.name]
	if !ok {
		return false
	}
	return e.cmp.cmp(v)
}

// parseSpace parses "[ ... ]".
func parseSpace(s string) (*spacePattern, error) {
	p := &jsonParser{s: s}
	p.skip()
	if !p.eat("[") {
		return nil, fmt.Errorf("a space-delimited pattern starts with [")
	}
	sp := &spacePattern{ellipsis: -1}
	for {
		p.skip()
		if p.eat("...") {
			if sp.ellipsis >= 0 {
				return nil, fmt.Errorf("a pattern holds one ... at most")
			}
			sp.ellipsis = len(sp.names)
			sp.names = append(sp.names, "")
		} else {
			name := p.name()
			if name == "" {
				return nil, fmt.Errorf("expected a field name at offset %d", p.i)
			}
			for _, n := range sp.names {
				if n == name {
					return nil, fmt.Errorf("field %q named twice", name)
				}
			}
			sp.names = append(sp.names, name)
			p.skip()
			if p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != ']' {
				e, err := p.spaceOr(name)
				if err != nil {
					return nil, err
				}
				sp.conds = append(sp.conds, e)
			}
		}
		if len(sp.names) > maxFields {
			return nil, fmt.Errorf("more than %d fields", maxFields)
		}
		p.skip()
		if p.eat("]") {
			break
		}
		if !p.eat(",") {
			return nil, fmt.Errorf("expected , or ] at offset %d", p.i)
		}
	}
	p.skip()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q after ]", p.s[p.i:])
	}
	// Every condition names bound fields.
	bound := map[string]bool{}
	for _, n := range sp.names {
		bound[n] = true
	}
	var check func(e spaceExpr) error
	check = func(e spaceExpr) error {
		switch x := e.(type) {
		case spaceOr:
			return firstErr(check(x.l), check(x.r))
		case spaceAnd:
			return firstErr(check(x.l), check(x.r))
		case spaceCmp:
			if !bound[x.name] {
				return fmt.Errorf("condition on %q, which the pattern does not name", x.name)
			}
		}
		return nil
	}
	for _, c := range sp.conds {
		if err := check(c); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// name reads a field name.
func (p *jsonParser) name() string {
	j := p.i
	for j < len(p.s) && (p.s[j] == '_' || 'a' <= p.s[j] && p.s[j] <= 'z' || 'A' <= p.s[j] && p.s[j] <= 'Z' || j > p.i && '0' <= p.s[j] && p.s[j] <= '9') {
		j++
	}
	n := p.s[p.i:j]
	p.i = j
	return n
}

// spaceOr parses the conditions of the field first: its own comparison,
// then more joined by && and || (|| binds looser).
func (p *jsonParser) spaceOr(first string) (spaceExpr, error) {
	l, err := p.spaceAnd(first)
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !p.eat("||") {
			return l, nil
		}
		r, err := p.spaceAnd("")
		if err != nil {
			return nil, err
		}
		l = spaceOr{l, r}
	}
}

func (p *jsonParser) spaceAnd(first string) (spaceExpr, error) {
	l, err := p.spaceCmp(first)
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !p.eat("&&") {
			return l, nil
		}
		r, err := p.spaceCmp("")
		if err != nil {
			return nil, err
		}
		l = spaceAnd{l, r}
	}
}

// spaceCmp parses "name op value"; the first comparison's name was read
// already.
func (p *jsonParser) spaceCmp(name string) (spaceExpr, error) {
	p.skip()
	if name == "" {
		if name = p.name(); name == "" {
			return nil, fmt.Errorf("expected a field name at offset %d", p.i)
		}
	}
	p.skip()
	c, err := p.comparison()
	if err != nil {
		return nil, err
	}
	return spaceCmp{name: name, cmp: c}, nil
}

// fields splits an event into its space-delimited fields.
func fields(msg string) []string {
	var out []string
	for i := 0; i < len(msg) && len(out) <= 1<<12; {
		switch msg[i] {
		case ' ', '\t':
			i++
			continue
		case '"', '[':
			end := byte('"')
			if msg[i] == '[' {
				end = ']'
			}
			j := strings.IndexByte(msg[i+1:], end)
			if j >= 0 {
				out = append(out, msg[i+1:i+1+j])
				i += j + 2
				continue
			}
		}
		j := i
		for j < len(msg) && msg[j] != ' ' && msg[j] != '\t' {
			j++
		}
		out = append(out, msg[i:j])
		i = j
	}
	return out
}

func (sp *spacePattern) match(msg string) bool {
	fs := fields(msg)
	bound := make(map[string]string, len(sp.names))
	if sp.ellipsis < 0 {
		if len(fs) != len(sp.names) {
			return false
		}
		for i, n := range sp.names {
			bound[n] = fs[i]
		}
	} else {
		before, after := sp.names[:sp.ellipsis], sp.names[sp.ellipsis+1:]
		if len(fs) < len(before)+len(after) {
			return false
		}
		for i, n := range before {
			bound[n] = fs[i]
		}
		for i, n := range after {
			bound[n] = fs[len(fs)-len(after)+i]
		}
	}
	for _, c := range sp.conds {
		if !c.eval(bound) {
			return false
		}
	}
	return true
}
