package fake

import (
	"strconv"
	"strings"
	"syscall"
)

// The shell's expansions (shell.go): variables and signal names.

var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "PIPE": syscall.SIGPIPE, "ALRM": syscall.SIGALRM,
	"TERM": syscall.SIGTERM, "CHLD": syscall.SIGCHLD, "CONT": syscall.SIGCONT, "WINCH": syscall.SIGWINCH,
}

func signalByName(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), true
	}
	sig, ok := signalNames[strings.TrimPrefix(strings.ToUpper(s), "SIG")]
	return sig, ok
}

func validName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// expand turns a word into fields: variables are substituted, and
// unquoted substitutions are split at blanks.
func (sh *shell) expand(w word) []string {
	var fields []string
	cur, has := "", false
	for _, s := range w {
		text := s.text
		if s.quote != '\'' {
			var split bool
			text, split = sh.substitute(text, s.quote == 0)
			if split {
				parts := strings.Fields(text)
				lead := len(text) > 0 && (text[0] == ' ' || text[0] == '\t' || text[0] == '\n')
				trail := len(text) > 0 && strings.ContainsRune(" \t\n", rune(text[len(text)-1]))
				for i, part := range parts {
					if i > 0 || lead {
						if has {
							fields = append(fields, cur)
						}
						cur, has = "", false
					}
					cur += part
					has = true
				}
				if trail && has {
					fields = append(fields, cur)
					cur, has = "", false
				}
				continue
			}
		}
		cur += text
		has = true
	}
	if has {
		fields = append(fields, cur)
	}
	return fields
}

// substitute replaces $NAME, ${NAME}, $? and $$ in s; split reports
// whether a substitution happened outside quotes.
func (sh *shell) substitute(s string, unquoted bool) (string, bool) {
	if !strings.Contains(s, "$") {
		return s, false
	}
	var b strings.Builder
	did := false
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		j := i + 1
		var name string
		switch {
		case s[j] == '?' || s[j] == '$':
			name = s[j : j+1]
			i = j
		case s[j] == '{':
			end := strings.IndexByte(s[j:], '}')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name = s[j+1 : j+end]
			i = j + end
		default:
			k := j
			for k < len(s) && (s[k] == '_' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z' || k > j && s[k] >= '0' && s[k] <= '9') {
				k++
			}
			if k == j {
				b.WriteByte(s[i])
				continue
			}
			name = s[j:k]
			i = k - 1
		}
		did = true
		switch name {
		case "?":
			b.WriteString(strconv.Itoa(sh.status))
		case "$":
			b.WriteString(strconv.Itoa(sh.p.pid))
		default:
			b.WriteString(sh.vars[name])
		}
	}
	return b.String(), did && unquoted
}
