package logsapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/errdefs"
)

// A filter pattern is CloudWatch Logs' syntax for matching events
// (FilterLogEvents' filterPattern, metric and subscription filters):
//
//	""                          every event
//	ERROR                       events containing ERROR (case-sensitive)
//	ERROR Exception             containing both
//	"timed out"                 containing the phrase
//	ERROR -DEBUG                containing ERROR but not DEBUG
//	?ERROR ?WARN                containing either
//	{ $.level = "ERROR" }       JSON events whose field level is "ERROR"
//	{ $.latency > 100 && $.path = "/api*" }
//	{ ($.a = 1) || ($.b != "x") }
//	{ $.user.id IS NULL }, { $.x NOT EXISTS }, { $.ok IS TRUE }
//	[ip, user, ..., status = 4*, bytes > 1000]   space-delimited (spacepattern.go)
//
// A term pattern ANDs its plain and quoted terms, excludes its -terms, and
// needs one of its ?terms when it has any. A JSON pattern matches events
// that are JSON objects; selectors are $.a.b, $.a[0].b and $.*; string
// values may hold * wildcards; numbers compare as numbers with =, !=, <,
// <=, >, >=; && binds tighter than ||.

// maxPattern bounds a pattern's length, as CloudWatch's 1024 characters.
const maxPattern = 1024

// maxDepth bounds the nesting of parentheses in a JSON pattern.
const maxDepth = 32

// Pattern is a parsed filter pattern.
type Pattern struct {
	all    bool // the empty pattern
	must   []string
	not    []string
	any    []string
	json   jsonExpr
	isJSON bool
	space  *spacePattern
}

// ParsePattern parses a filter pattern. Errors are ErrInvalidArgument.
func ParsePattern(s string) (*Pattern, error) {
	if len(s) > maxPattern {
		return nil, fmt.Errorf("filter pattern longer than %d characters: %w", maxPattern, errdefs.ErrInvalidArgument)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("filter pattern is not UTF-8: %w", errdefs.ErrInvalidArgument)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return &Pattern{all: true}, nil
	}
	if t[0] == '{' {
		p := &jsonParser{s: t}
		e, err := p.parse()
		if err != nil {
			return nil, fmt.Errorf("invalid filter pattern %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
		}
		return &Pattern{json: e, isJSON: true}, nil
	}
	if t[0] == '[' {
		sp, err := parseSpace(t)
		if err != nil {
			return nil, fmt.Errorf("invalid filter pattern %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
		}
		return &Pattern{space: sp}, nil
	}
	return parseTerms(t)
}

func parseTerms(s string) (*Pattern, error) {
	p := &Pattern{}
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		kind := byte(0)
		if s[i] == '-' || s[i] == '?' {
			kind = s[i]
			i++
			if i == len(s) || s[i] == ' ' || s[i] == '\t' {
				return nil, fmt.Errorf("invalid filter pattern: %q has nothing after it: %w", string(kind), errdefs.ErrInvalidArgument)
			}
		}
		var term string
		if s[i] == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("invalid filter pattern: unterminated quoted term: %w", errdefs.ErrInvalidArgument)
			}
			term = s[i+1 : i+1+end]
			i += end + 2
		} else {
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			term = s[i:j]
			i = j
		}
		switch kind {
		case '-':
			p.not = append(p.not, term)
		case '?':
			p.any = append(p.any, term)
		default:
			p.must = append(p.must, term)
		}
	}
	return p, nil
}

// Match reports whether the event's message matches.
func (p *Pattern) Match(msg string) bool {
	switch {
	case p.all:
		return true
	case p.space != nil:
		return p.space.match(msg)
	case p.isJSON:
		t := strings.TrimSpace(msg)
		if len(t) == 0 || t[0] != '{' {
			return false
		}
		var v any
		if json.Unmarshal([]byte(t), &v) != nil {
			return false
		}
		return p.json.eval(v)
	}
	for _, t := range p.must {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	for _, t := range p.not {
		if strings.Contains(msg, t) {
			return false
		}
	}
	if len(p.any) > 0 {
		for _, t := range p.any {
			if strings.Contains(msg, t) {
				return true
			}
		}
		return false
	}
	return true
}

// jsonExpr is a node of a JSON pattern.
type jsonExpr interface{ eval(doc any) bool }

type orExpr struct{ l, r jsonExpr }
type andExpr struct{ l, r jsonExpr }

func (e orExpr) eval(d any) bool  { return e.l.eval(d) || e.r.eval(d) }
func (e andExpr) eval(d any) bool { return e.l.eval(d) && e.r.eval(d) }

// cmpExpr compares the value at sel with a literal.
type cmpExpr struct {
	sel []selStep
	op  string // = != < <= > >=, or "null", "notexists", "true", "false"
	str *string
	num *float64
}

// selStep is one step of a selector: a field name, an index, or * (any
// field or element).
type selStep struct {
	field string
	index int // -1: a field
	any   bool
}

func (e cmpExpr) eval(d any) bool {
	vals := selectAll(d, e.sel)
	switch e.op {
	case "notexists":
		return len(vals) == 0
	case "null":
		for _, v := range vals {
			if v == nil {
				return true
			}
		}
		return false
	case "true", "false":
		for _, v := range vals {
			if b, ok := v.(bool); ok && b == (e.op == "true") {
				return true
			}
		}
		return false
	}
	for _, v := range vals {
		if e.cmp(v) {
			return true
		}
	}
	return false
}

func (e cmpExpr) cmp(v any) bool {
	if e.num != nil {
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case string:
			n, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return e.op == "!="
			}
			f = n
		default:
			return e.op == "!="
		}
		switch e.op {
		case "=":
			return f == *e.num
		case "!=":
			return f != *e.num
		case "<":
			return f < *e.num
		case "<=":
			return f <= *e.num
		case ">":
			return f > *e.num
		case ">=":
			return f >= *e.num
		}
		return false
	}
	s, ok := v.(string)
	if !ok {
		return e.op == "!="
	}
	m := wildcard(*e.str, s)
	if e.op == "!=" {
		return !m
	}
	return m
}

// wildcard matches s against pat, where * stands for any run of
// characters. It runs in O(len(pat)*len(s)) at worst: no backtracking
// blow-up on hostile patterns.
func wildcard(pat, s string) bool {
	parts := strings.Split(pat, "*")
	if len(parts) == 1 {
		return pat == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// selectAll returns the values sel reaches in d.
func selectAll(d any, sel []selStep) []any {
	cur := []any{d}
	for _, st := range sel {
		var next []any
		for _, v := range cur {
			switch x := v.(type) {
			case map[string]any:
				if st.any {
					for _, c := range x {
						next = append(next, c)
					}
				} else if st.index < 0 {
					if c, ok := x[st.field]; ok {
						next = append(next, c)
					}
				}
			case []any:
				if st.any {
					next = append(next, x...)
				} else if st.index >= 0 && st.index < len(x) {
					next = append(next, x[st.index])
				}
			}
		}
		if len(next) > 1<<12 {
			next = next[:1<<12]
		}
		cur = next
	}
	return cur
}

// jsonParser parses "{ expr }" by recursive descent:
//
//	expr  = and { "||" and }
//	and   = unary { "&&" unary }
//	unary = "(" expr ")" | cmp
//	cmp   = selector ( op value | "IS" ("NULL"|"TRUE"|"FALSE") | "NOT" "EXISTS" )
type jsonParser struct {
	s     string
	i     int
	depth int
}

func (p *jsonParser) parse() (jsonExpr, error) {
	p.skip()
	if !p.eat("{") {
		return nil, fmt.Errorf("a JSON pattern starts with {")
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.skip()
	if !p.eat("}") {
		return nil, fmt.Errorf("expected } at offset %d", p.i)
	}
	p.skip()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q after }", p.s[p.i:])
	}
	return e, nil
}

func (p *jsonParser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonParser) eat(tok string) bool {
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *jsonParser) expr() (jsonExpr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !p.eat("||") {
			return l, nil
		}
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orExpr{l, r}
	}
}

func (p *jsonParser) and() (jsonExpr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !p.eat("&&") {
			return l, nil
		}
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andExpr{l, r}
	}
}

func (p *jsonParser) unary() (jsonExpr, error) {
	p.skip()
	if p.eat("(") {
		p.depth++
		if p.depth > maxDepth {
			return nil, fmt.Errorf("parentheses nested deeper than %d", maxDepth)
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.skip()
		if !p.eat(")") {
			return nil, fmt.Errorf("expected ) at offset %d", p.i)
		}
		p.depth--
		return e, nil
	}
	return p.cmp()
}

func (p *jsonParser) cmp() (jsonExpr, error) {
	sel, err := p.selector()
	if err != nil {
		return nil, err
	}
	p.skip()
	e := cmpExpr{sel: sel}
	if p.word("IS") {
		p.skip()
		switch {
		case p.word("NULL"):
			e.op = "null"
		case p.word("TRUE"):
			e.op = "true"
		case p.word("FALSE"):
			e.op = "false"
		default:
			return nil, fmt.Errorf("IS takes NULL, TRUE or FALSE at offset %d", p.i)
		}
		return e, nil
	}
	if p.word("NOT") {
		p.skip()
		if !p.word("EXISTS") {
			return nil, fmt.Errorf("NOT takes EXISTS at offset %d", p.i)
		}
		e.op = "notexists"
		return e, nil
	}
	c, err := p.comparison()
	if err != nil {
		return nil, err
	}
	c.sel = sel
	return c, nil
}

// comparison parses "op value": a number, a quoted string, or a word (a
// string, * wildcards allowed).
func (p *jsonParser) comparison() (cmpExpr, error) {
	var e cmpExpr
	for _, op := range []string{"!=", "<=", ">=", "=", "<", ">"} {
		if p.eat(op) {
			e.op = op
			break
		}
	}
	if e.op == "" {
		return e, fmt.Errorf("expected a comparison (=, !=, <, <=, >, >=) at offset %d", p.i)
	}
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		end := strings.IndexByte(p.s[p.i+1:], '"')
		if end < 0 {
			return e, fmt.Errorf("unterminated string at offset %d", p.i)
		}
		str := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		if e.op != "=" && e.op != "!=" {
			return e, fmt.Errorf("strings compare with = and != only")
		}
		e.str = &str
		return e, nil
	}
	j := p.i
	for j < len(p.s) && strings.IndexByte("0123456789+-.eE", p.s[j]) >= 0 {
		j++
	}
	n, err := strconv.ParseFloat(p.s[p.i:j], 64)
	// A number runs to the end of its word: 4* is a string pattern.
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || j < len(p.s) && isWordChar(p.s[j]) {
		// An unquoted word is a string, as CloudWatch allows ($.a = ERROR).
		k := p.i
		for k < len(p.s) && isWordChar(p.s[k]) {
			k++
		}
		if k == p.i {
			return e, fmt.Errorf("expected a value at offset %d", p.i)
		}
		if e.op != "=" && e.op != "!=" {
			return e, fmt.Errorf("strings compare with = and != only")
		}
		str := p.s[p.i:k]
		p.i = k
		e.str = &str
		return e, nil
	}
	p.i = j
	e.num = &n
	return e, nil
}

func isWordChar(c byte) bool {
	return c == '_' || c == '*' || c == '-' || c == '.' || c == '/' || c == ':' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// word eats a keyword followed by a non-word character.
func (p *jsonParser) word(w string) bool {
	if !strings.HasPrefix(p.s[p.i:], w) {
		return false
	}
	if end := p.i + len(w); end < len(p.s) && isWordChar(p.s[end]) {
		return false
	}
	p.i += len(w)
	return true
}

// selector parses $.a.b[0].*; $ alone is the whole event.
func (p *jsonParser) selector() ([]selStep, error) {
	p.skip()
	if !p.eat("$") {
		return nil, fmt.Errorf("expected a selector ($.field) at offset %d", p.i)
	}
	var sel []selStep
	for len(sel) < 64 {
		switch {
		case p.eat(".*"):
			sel = append(sel, selStep{any: true, index: -1})
		case p.eat("."):
			j := p.i
			for j < len(p.s) && (isWordChar(p.s[j]) && p.s[j] != '.' && p.s[j] != '*' || p.s[j] >= 0x80) {
				j++
			}
			if j == p.i {
				return nil, fmt.Errorf("expected a field name at offset %d", p.i)
			}
			sel = append(sel, selStep{field: p.s[p.i:j], index: -1})
			p.i = j
		case p.eat("[*]"):
			sel = append(sel, selStep{any: true, index: -1})
		case p.eat("["):
			j := p.i
			for j < len(p.s) && '0' <= p.s[j] && p.s[j] <= '9' {
				j++
			}
			n, err := strconv.Atoi(p.s[p.i:j])
			if err != nil || j >= len(p.s) || p.s[j] != ']' || n > 1<<20 {
				return nil, fmt.Errorf("expected [index] at offset %d", p.i)
			}
			sel = append(sel, selStep{index: n})
			p.i = j + 1
		default:
			return sel, nil
		}
	}
	return nil, fmt.Errorf("selector too long")
}
