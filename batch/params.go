package batch

import "strings"

// refPrefix starts a parameter placeholder in a command.
const refPrefix = "Ref::"

// Substitute replaces the "Ref::name" placeholders in args with params'
// values, as Batch does in a container's command: a placeholder is
// "Ref::" followed by the longest run of letters, digits, '_' and '-',
// wherever it stands in an argument; a placeholder without a parameter
// stays as it is. Values are not scanned again, so a value that holds
// "Ref::" is passed on verbatim.
func Substitute(args []string, params map[string]string) []string {
	if len(params) == 0 || len(args) == 0 {
		return args
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = substituteOne(a, params)
	}
	return out
}

func substituteOne(a string, params map[string]string) string {
	if !strings.Contains(a, refPrefix) {
		return a
	}
	var b strings.Builder
	for {
		i := strings.Index(a, refPrefix)
		if i < 0 {
			b.WriteString(a)
			return b.String()
		}
		b.WriteString(a[:i])
		rest := a[i+len(refPrefix):]
		n := 0
		for n < len(rest) && isParamChar(rest[n]) {
			n++
		}
		if v, ok := params[rest[:n]]; ok && n > 0 {
			b.WriteString(v)
		} else {
			b.WriteString(refPrefix)
			b.WriteString(rest[:n])
		}
		a = rest[n:]
	}
}

func isParamChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// MergeParams returns the definition's parameters overridden by the
// submit's.
func MergeParams(def, submit map[string]string) map[string]string {
	if len(def) == 0 && len(submit) == 0 {
		return nil
	}
	out := make(map[string]string, len(def)+len(submit))
	for k, v := range def {
		out[k] = v
	}
	for k, v := range submit {
		out[k] = v
	}
	return out
}
