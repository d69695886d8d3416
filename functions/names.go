package functions

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// Name checks are written out rather than compiled from regular
// expressions: a bounded repetition such as {0,127} compiles into a large
// program at package init, which every process linking this package would
// pay for at start.

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

// ValidAliasName reports whether s can name an alias: a letter, _ or -
// first (so never a version number), then up to 127 of [a-zA-Z0-9_-].
func ValidAliasName(s string) bool {
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

// IsVersion reports whether a qualifier names a published version (a
// number) rather than $LATEST or an alias.
func IsVersion(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && s != "" && s[0] != '-' && s[0] != '+'
}

// FunctionArn is the ARN of function name, in wharf's region and account.
func FunctionArn(name string) string {
	return "arn:aws:lambda:" + DefaultRegion + ":" + DefaultAccount + ":function:" + name
}

// ParseName splits a function name given as a name, a full ARN or a
// partial ARN (account:function:name), optionally with ":qualifier".
func ParseName(s string) (name, qualifier string, err error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) == 1:
		name = parts[0]
	case len(parts) == 2:
		name, qualifier = parts[0], parts[1]
	case strings.HasPrefix(s, "arn:aws:lambda:") && (len(parts) == 7 || len(parts) == 8) && parts[5] == "function":
		name = parts[6]
		if len(parts) == 8 {
			qualifier = parts[7]
		}
	case len(parts) == 3 && parts[1] == "function", len(parts) == 4 && parts[1] == "function":
		name = parts[2]
		if len(parts) == 4 {
			qualifier = parts[3]
		}
	default:
		return "", "", fmt.Errorf("invalid function name %q: %w", s, errdefs.ErrInvalidArgument)
	}
	if !ValidName(name, "") {
		return "", "", fmt.Errorf("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?: %w", s, errdefs.ErrInvalidArgument)
	}
	return name, qualifier, nil
}
