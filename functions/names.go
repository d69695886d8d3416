package functions

// Name checks are written out rather than compiled from regular
// expressions: a bounded repetition such as {0,127} compiles into a large
// program at package init, which every wharf process (CLI, shim) would pay
// for at start.

func nameChar(c byte, extra string) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' {
		return true
	}
	for i := 0; i < len(extra); i++ {
		if c == extra[i] {
			return true
		}
	}
	return false
}

// ValidName reports whether s is a function name: 1-64 of [a-zA-Z0-9_-],
// optionally allowing the characters in extra too.
func ValidName(s, extra string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameChar(s[i], extra) {
			return false
		}
	}
	return true
}

// validAliasName: a letter, _ or - first, then up to 127 of [a-zA-Z0-9_-].
func validAliasName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	c := s[0]
	if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '_' || c == '-') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !nameChar(s[i], "") {
			return false
		}
	}
	return true
}

// nameMatcher adapts the checks to the MatchString calls of the code that
// used regular expressions.
type nameMatcher func(string) bool

func (m nameMatcher) MatchString(s string) bool { return m(s) }
