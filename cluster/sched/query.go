package sched

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// The cluster query language of memberOf constraints, as ECS defines it:
//
//	expr       = or
//	or         = and { ("or" | "||") and }
//	and        = unary { ("and" | "&&") unary }
//	unary      = ("not" | "!") unary | "(" expr ")" | comparison
//	comparison = subject operator [ argument ]
//	subject    = "agentConnected" | "agentVersion" | "attribute:" name
//	           | "ec2InstanceId" | "instanceId" | "registeredAt"
//	           | "runningTasksCount" | "task:group"
//	operator   = "==" | "equals" | "!=" | "not_equals" | ">" | "greater_than"
//	           | ">=" | "greater_than_equal" | "<" | "less_than"
//	           | "<=" | "less_than_equal" | "exists" | "!exists" | "not_exists"
//	           | "in" | "not_in" | "!in" | "=~" | "matches" | "!~" | "not_matches"
//	argument   = value | "[" value { "," value } "]" | "(" value { "," value } ")"
//	value      = word | '"' chars '"' | "'" chars "'"
//
// Words are runs of anything but blanks and ()[],!=<>~&|"'; a value with
// those characters (a regular expression with alternatives) is quoted.
// Keywords are case-insensitive. Regular expressions are Go's (RE2, linear
// in the input) and must match the whole value, as "t2.*" suggests.
// Comparisons with < and > are numeric when both sides are numbers,
// version-wise for agentVersion, by time for registeredAt, and otherwise
// by string.

// Bounds on an expression, so that a client cannot make parsing or
// evaluation costly: ECS caps memberOf expressions at 2000 characters.
const (
	maxQueryLen   = 2000
	maxQueryDepth = 64
	maxListLen    = 100
)

// QueryError is a syntax or semantic error in a query, at a byte offset.
// It is of class errdefs.ErrInvalidArgument.
type QueryError struct {
	Pos int
	Msg string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("invalid query expression at column %d: %s", e.Pos+1, e.Msg)
}

// Unwrap gives the error's class.
func (e *QueryError) Unwrap() error { return errdefs.ErrInvalidArgument }

// Query is a parsed cluster query expression.
type Query struct {
	src  string
	root qnode
}

// String returns the expression as written.
func (q *Query) String() string { return q.src }

// Match reports whether the node satisfies the expression.
func (q *Query) Match(n *Node) bool { return q.root.eval(n) }

// dependsOnTasks reports whether the expression reads the node's tasks
// (task:group, runningTasksCount), so that its value changes as tasks are
// placed; the others are fixed for a node during a placement.
func (q *Query) dependsOnTasks() bool { return q.root.dependsOnTasks() }

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tAnd
	tOr
	tNot
	tOp   // a symbolic comparison operator
	tWord // a bare word: subject, keyword, word operator or value
	tStr  // a quoted value
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func isWordByte(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '(', ')', '[', ']', ',', '!', '=', '<', '>', '~', '&', '|', '"', '\'':
		return false
	}
	return true
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == '[':
			toks = append(toks, token{tLBrack, "[", i})
			i++
		case c == ']':
			toks = append(toks, token{tRBrack, "]", i})
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", i})
			i++
		case c == '&':
			if i+1 < len(s) && s[i+1] == '&' {
				toks = append(toks, token{tAnd, "&&", i})
				i += 2
				continue
			}
			return nil, &QueryError{i, `"&" must be doubled: "&&"`}
		case c == '|':
			if i+1 < len(s) && s[i+1] == '|' {
				toks = append(toks, token{tOr, "||", i})
				i += 2
				continue
			}
			return nil, &QueryError{i, `"|" must be doubled: "||"`}
		case c == '!':
			if i+1 < len(s) && (s[i+1] == '=' || s[i+1] == '~') {
				toks = append(toks, token{tOp, s[i : i+2], i})
				i += 2
				continue
			}
			// "!exists" and "!in" are operators; any other "!" negates.
			j := i + 1
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			if w := strings.ToLower(s[i+1 : j]); w == "exists" || w == "in" {
				toks = append(toks, token{tOp, "!" + w, i})
				i = j
				continue
			}
			toks = append(toks, token{tNot, "!", i})
			i++
		case c == '=':
			if i+1 < len(s) && (s[i+1] == '=' || s[i+1] == '~') {
				toks = append(toks, token{tOp, s[i : i+2], i})
				i += 2
				continue
			}
			return nil, &QueryError{i, `unexpected "=": use "==" or "=~"`}
		case c == '<' || c == '>':
			if i+1 < len(s) && s[i+1] == '=' {
				toks = append(toks, token{tOp, s[i : i+2], i})
				i += 2
				continue
			}
			toks = append(toks, token{tOp, s[i : i+1], i})
			i++
		case c == '~':
			return nil, &QueryError{i, `unexpected "~": use "=~" or "!~"`}
		case c == '"' || c == '\'':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, &QueryError{i, "unterminated quoted value"}
			}
			toks = append(toks, token{tStr, s[i+1 : i+1+j], i})
			i += j + 2
		default:
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			w := s[i:j]
			switch strings.ToLower(w) {
			case "and":
				toks = append(toks, token{tAnd, w, i})
			case "or":
				toks = append(toks, token{tOr, w, i})
			default:
				toks = append(toks, token{tWord, w, i})
			}
			i = j
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}

// op is a comparison operator, normalised.
type op int

const (
	opEq op = iota
	opNe
	opGt
	opGe
	opLt
	opLe
	opExists
	opNotExists
	opIn
	opNotIn
	opMatch
	opNotMatch
)

var opNames = map[string]op{
	"==": opEq, "equals": opEq,
	"!=": opNe, "not_equals": opNe,
	">": opGt, "greater_than": opGt,
	">=": opGe, "greater_than_equal": opGe,
	"<": opLt, "less_than": opLt,
	"<=": opLe, "less_than_equal": opLe,
	"exists":  opExists,
	"!exists": opNotExists, "not_exists": opNotExists,
	"in":  opIn,
	"!in": opNotIn, "not_in": opNotIn,
	"=~": opMatch, "matches": opMatch,
	"!~": opNotMatch, "not_matches": opNotMatch,
}

var opText = [...]string{"==", "!=", ">", ">=", "<", "<=", "exists", "!exists", "in", "not_in", "=~", "!~"}

type subjectKind int

const (
	subjAgentConnected subjectKind = iota
	subjAgentVersion
	subjAttribute
	subjInstanceID
	subjRegisteredAt
	subjRunningTasks
	subjTaskGroup
)

// subjectOps lists the operators each subject accepts, as ECS documents
// them (attribute accepts all of them).
var subjectOps = map[subjectKind][]op{
	subjAgentConnected: {opEq, opNe, opIn, opNotIn, opMatch, opNotMatch},
	subjAgentVersion:   {opEq, opNe, opGt, opGe, opLt, opLe},
	subjInstanceID:     {opEq, opNe, opIn, opNotIn, opMatch, opNotMatch},
	subjRegisteredAt:   {opEq, opNe, opGt, opGe, opLt, opLe},
	subjRunningTasks:   {opEq, opNe, opGt, opGe, opLt, opLe},
	subjTaskGroup:      {opEq, opNe, opIn, opNotIn, opMatch, opNotMatch, opExists, opNotExists},
}

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

// ParseQuery parses a cluster query expression. Errors are *QueryError,
// of class errdefs.ErrInvalidArgument, with the column of the problem.
func ParseQuery(s string) (*Query, error) {
	if len(s) > maxQueryLen {
		return nil, &QueryError{maxQueryLen, fmt.Sprintf("expression longer than %d characters", maxQueryLen)}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, &QueryError{0, "empty expression"}
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &QueryError{t.pos, fmt.Sprintf("unexpected %q after a complete expression", t.text)}
	}
	return &Query{src: s, root: root}, nil
}

func (p *parser) parseOr() (qnode, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tOr {
		p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &orNode{l, r}
	}
	return l, nil
}

func (p *parser) parseAnd() (qnode, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tAnd {
		p.next()
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = &andNode{l, r}
	}
	return l, nil
}

func (p *parser) parseUnary() (qnode, error) {
	p.depth++
	defer func() { p.depth-- }()
	t := p.peek()
	if p.depth > maxQueryDepth {
		return nil, &QueryError{t.pos, fmt.Sprintf("expression nested deeper than %d", maxQueryDepth)}
	}
	switch {
	case t.kind == tNot || (t.kind == tWord && strings.EqualFold(t.text, "not")):
		p.next()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &notNode{x}, nil
	case t.kind == tLParen:
		p.next()
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, &QueryError{c.pos, fmt.Sprintf("expected \")\" to close the \"(\" at column %d, found %s", t.pos+1, describe(c))}
		}
		return x, nil
	case t.kind == tWord:
		return p.parseComparison()
	default:
		return nil, &QueryError{t.pos, fmt.Sprintf("expected a subject, \"not\" or \"(\", found %s", describe(t))}
	}
}

func describe(t token) string {
	if t.kind == tEOF {
		return "the end of the expression"
	}
	return strconv.Quote(t.text)
}

func (p *parser) parseComparison() (qnode, error) {
	st := p.next()
	c := &cmpNode{}
	switch name := st.text; {
	case strings.HasPrefix(name, "attribute:"):
		c.subj, c.attr = subjAttribute, name[len("attribute:"):]
		if c.attr == "" {
			return nil, &QueryError{st.pos, `"attribute:" needs an attribute name`}
		}
	case strings.EqualFold(name, "agentConnected"):
		c.subj = subjAgentConnected
	case strings.EqualFold(name, "agentVersion"):
		c.subj = subjAgentVersion
	case strings.EqualFold(name, "ec2InstanceId"), strings.EqualFold(name, "instanceId"):
		c.subj = subjInstanceID
	case strings.EqualFold(name, "registeredAt"):
		c.subj = subjRegisteredAt
	case strings.EqualFold(name, "runningTasksCount"):
		c.subj = subjRunningTasks
	case strings.EqualFold(name, "task:group"):
		c.subj = subjTaskGroup
	default:
		return nil, &QueryError{st.pos, fmt.Sprintf("unknown subject %q (want attribute:<name>, agentConnected, agentVersion, ec2InstanceId, instanceId, registeredAt, runningTasksCount or task:group)", name)}
	}
	ot := p.next()
	var ok bool
	if ot.kind == tOp || ot.kind == tWord {
		c.op, ok = opNames[strings.ToLower(ot.text)]
	}
	if !ok {
		return nil, &QueryError{ot.pos, fmt.Sprintf("expected an operator after %q, found %s", st.text, describe(ot))}
	}
	if allowed, limited := subjectOps[c.subj]; limited && !hasOp(allowed, c.op) {
		return nil, &QueryError{ot.pos, fmt.Sprintf("operator %q is not valid for %s", ot.text, st.text)}
	}
	switch c.op {
	case opExists, opNotExists:
		return c, nil
	case opIn, opNotIn:
		vals, err := p.parseList()
		if err != nil {
			return nil, err
		}
		c.vals = vals
	default:
		vt := p.next()
		if vt.kind != tWord && vt.kind != tStr {
			return nil, &QueryError{vt.pos, fmt.Sprintf("expected a value after %q, found %s", ot.text, describe(vt))}
		}
		c.vals = []string{vt.text}
		if err := c.prepare(vt.pos); err != nil {
			return nil, err
		}
	}
	if c.op == opIn || c.op == opNotIn {
		if c.subj == subjAgentConnected {
			for _, v := range c.vals {
				if _, err := strconv.ParseBool(v); err != nil {
					return nil, &QueryError{ot.pos, fmt.Sprintf("agentConnected takes true or false, not %q", v)}
				}
			}
		}
	}
	return c, nil
}

func (p *parser) parseList() ([]string, error) {
	open := p.next()
	var closeKind tokKind
	switch open.kind {
	case tLBrack:
		closeKind = tRBrack
	case tLParen:
		closeKind = tRParen
	default:
		return nil, &QueryError{open.pos, fmt.Sprintf("expected a list such as [a, b], found %s", describe(open))}
	}
	var vals []string
	for {
		vt := p.next()
		if vt.kind != tWord && vt.kind != tStr {
			return nil, &QueryError{vt.pos, fmt.Sprintf("expected a value in the list, found %s", describe(vt))}
		}
		if len(vals) == maxListLen {
			return nil, &QueryError{vt.pos, fmt.Sprintf("list longer than %d values", maxListLen)}
		}
		vals = append(vals, vt.text)
		sep := p.next()
		if sep.kind == closeKind {
			return vals, nil
		}
		if sep.kind != tComma {
			return nil, &QueryError{sep.pos, fmt.Sprintf("expected \",\" or the end of the list, found %s", describe(sep))}
		}
	}
}

func hasOp(ops []op, o op) bool {
	for _, x := range ops {
		if x == o {
			return true
		}
	}
	return false
}

// registeredAt's accepted formats, as ECS documents them.
var dateFormats = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"}

// prepare checks and pre-computes a single-valued comparison's argument.
func (c *cmpNode) prepare(pos int) error {
	v := c.vals[0]
	switch c.op {
	case opMatch, opNotMatch:
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return &QueryError{pos, fmt.Sprintf("invalid regular expression %q: %v", v, err)}
		}
		c.re = re
		return nil
	}
	switch c.subj {
	case subjAgentConnected:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &QueryError{pos, fmt.Sprintf("agentConnected takes true or false, not %q", v)}
		}
		c.b = b
	case subjRunningTasks:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return &QueryError{pos, fmt.Sprintf("runningTasksCount takes an integer, not %q", v)}
		}
		c.num = float64(n)
	case subjRegisteredAt:
		for _, f := range dateFormats {
			if t, err := time.Parse(f, v); err == nil {
				c.t = t
				return nil
			}
		}
		return &QueryError{pos, fmt.Sprintf("registeredAt takes a date such as 2018-06-18T22:28:28Z or 2018-06-18, not %q", v)}
	case subjAgentVersion:
		if _, ok := parseVersion(v); !ok {
			return &QueryError{pos, fmt.Sprintf("agentVersion takes a version such as 1.20.0, not %q", v)}
		}
	}
	return nil
}
