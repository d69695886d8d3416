package fake

import (
	"errors"
	"fmt"
)

// The shell's syntax (shell.go): words, quoting, separators, redirections.

// seg is a piece of a word with its quoting: 0 (none), a single or a
// double quote.
type seg struct {
	text  string
	quote byte
}

// word is a word as written, before expansion.
type word []seg

// redir is one redirection: fd (1 or 2) to a file, or to fd dup.
type redir struct {
	fd     int
	dup    int
	file   word
	append bool
}

// token is a word, an operator (";", "\n", "&", "&&", "||") or a
// redirection ("redir", followed by its file's word unless it dups).
type token struct {
	op string
	w  word
	r  redir
}

// command is one simple command of a list, with how it is joined to the
// one before it ("&&", "||" or "") and whether it runs in the background.
type command struct {
	words      []word
	redirs     []redir
	cond       string
	background bool
}

var errSyntax = errors.New("syntax error")

func lex(src string) ([]token, error) {
	var toks []token
	var cur word
	var text []byte
	var quote byte
	inWord := false
	flushSeg := func() {
		if len(text) > 0 || quote != 0 {
			cur = append(cur, seg{text: string(text), quote: quote})
		}
		text = text[:0]
	}
	endWord := func() {
		flushSeg()
		if inWord {
			toks = append(toks, token{w: cur})
		}
		cur, inWord = nil, false
	}
	for i := 0; i < len(src); i++ {
		ch := src[i]
		switch {
		case ch == '\'':
			flushSeg()
			end := indexFrom(src, i+1, '\'')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated quoted string", errSyntax)
			}
			cur = append(cur, seg{text: src[i+1 : end], quote: '\''})
			inWord = true
			i = end
		case ch == '"':
			flushSeg()
			var b []byte
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' && j+1 < len(src) && (src[j+1] == '"' || src[j+1] == '\\' || src[j+1] == '$') {
					j++
				}
				b = append(b, src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("%w: unterminated quoted string", errSyntax)
			}
			cur = append(cur, seg{text: string(b), quote: '"'})
			inWord = true
			i = j
		case ch == '\\' && i+1 < len(src):
			i++
			if src[i] != '\n' {
				flushSeg()
				cur = append(cur, seg{text: src[i : i+1], quote: '\''})
				inWord = true
			}
		case ch == ' ' || ch == '\t':
			endWord()
		case ch == '#' && !inWord:
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case ch == '\n' || ch == ';':
			endWord()
			toks = append(toks, token{op: string(ch)})
		case ch == '&' || ch == '|':
			endWord()
			if i+1 < len(src) && src[i+1] == ch {
				toks = append(toks, token{op: string([]byte{ch, ch})})
				i++
			} else if ch == '&' {
				toks = append(toks, token{op: "&"})
			} else {
				return nil, fmt.Errorf("%w: pipes are not supported by the fake shell", errSyntax)
			}
		case ch == '>':
			r := redir{fd: 1}
			if inWord && len(cur) == 0 && len(text) == 1 && (text[0] == '1' || text[0] == '2') {
				r.fd = int(text[0] - '0')
				text, inWord = text[:0], false
			}
			endWord()
			if i+1 < len(src) && src[i+1] == '>' {
				r.append = true
				i++
			}
			if i+2 < len(src) && src[i+1] == '&' && (src[i+2] == '1' || src[i+2] == '2') {
				r.dup = int(src[i+2] - '0')
				i += 2
			}
			toks = append(toks, token{op: "redir", r: r})
		case ch == '<':
			return nil, fmt.Errorf("%w: input redirection is not supported by the fake shell", errSyntax)
		default:
			text = append(text, ch)
			inWord = true
		}
	}
	endWord()
	return toks, nil
}

func indexFrom(s string, from int, c byte) int {
	for i := from; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func parse(toks []token) ([]command, error) {
	var out []command
	var cur command
	nextCond := ""
	finish := func() error {
		if len(cur.words) == 0 && len(cur.redirs) == 0 {
			if cur.background || nextCond != "" {
				return fmt.Errorf("%w: unexpected operator", errSyntax)
			}
			return nil
		}
		cur.cond = nextCond
		out = append(out, cur)
		cur = command{}
		nextCond = ""
		return nil
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.op {
		case "":
			cur.words = append(cur.words, t.w)
		case "redir":
			r := t.r
			if r.dup == 0 {
				if i+1 >= len(toks) || toks[i+1].op != "" {
					return nil, fmt.Errorf("%w: redirection without a file", errSyntax)
				}
				i++
				r.file = toks[i].w
			}
			cur.redirs = append(cur.redirs, r)
		case ";", "\n":
			if err := finish(); err != nil {
				return nil, err
			}
		case "&":
			cur.background = true
			if err := finish(); err != nil {
				return nil, err
			}
		case "&&", "||":
			if len(cur.words) == 0 {
				return nil, fmt.Errorf("%w: unexpected %s", errSyntax, t.op)
			}
			if err := finish(); err != nil {
				return nil, err
			}
			nextCond = t.op
		}
	}
	if nextCond != "" && len(cur.words) == 0 {
		return nil, fmt.Errorf("%w: unexpected end after %s", errSyntax, nextCond)
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}
