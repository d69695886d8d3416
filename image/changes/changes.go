// Package changes parses the Dockerfile-like instructions that `docker
// import --change` and `docker commit --change` apply to an image's
// configuration. Both API servers and the engine's commit use it.
package changes

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/errdefs"
)

// Parse applies docker import --change lines to an empty image config;
// nil when there are none.
func Parse(lines []string) (*v1.Config, error) {
	if len(lines) == 0 {
		return nil, nil
	}
	cfg := &v1.Config{}
	if err := Apply(cfg, lines); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Apply applies change lines to cfg as dockerd's BuildFromConfig does:
// CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL,
// USER, VOLUME and WORKDIR, in order, each as in a Dockerfile (an
// ENTRYPOINT drops the command unless a CMD came before it). Anything
// else is ErrInvalidArgument.
func Apply(cfg *v1.Config, lines []string) error {
	cmdSet := false
	for _, line := range lines {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest = strings.TrimSpace(rest)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s: "+format+": %w", append(append([]any{strings.ToUpper(instr)}, a...), errdefs.ErrInvalidArgument)...)
		}
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = commandForm(rest)
			cmdSet = true
		case "ENTRYPOINT":
			cfg.Entrypoint = commandForm(rest)
			if !cmdSet {
				cfg.Cmd = nil
			}
		case "ENV":
			pairs, err := keyValues(rest)
			if err != nil {
				return bad("%v", err)
			}
			for _, kv := range pairs {
				cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
			}
		case "LABEL":
			pairs, err := keyValues(rest)
			if err != nil {
				return bad("%v", err)
			}
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range pairs {
				cfg.Labels[kv[0]] = kv[1]
			}
		case "WORKDIR":
			if rest == "" {
				return bad("requires exactly one argument")
			}
			if !path.IsAbs(rest) {
				rest = path.Join("/", cfg.WorkingDir, rest)
			}
			cfg.WorkingDir = rest
		case "USER":
			if rest == "" {
				return bad("requires exactly one argument")
			}
			cfg.User = rest
		case "STOPSIGNAL":
			if rest == "" {
				return bad("requires exactly one argument")
			}
			cfg.StopSignal = rest
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(rest) {
				keys, err := portKeys(p)
				if err != nil {
					return bad("%v", err)
				}
				for _, k := range keys {
					cfg.ExposedPorts[k] = struct{}{}
				}
			}
		case "VOLUME":
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			var l []string
			if !strings.HasPrefix(rest, "[") || json.Unmarshal([]byte(rest), &l) != nil {
				l = strings.Fields(rest)
			}
			if len(l) == 0 {
				return bad("requires at least one argument")
			}
			for _, v := range l {
				cfg.Volumes[v] = struct{}{}
			}
		case "ONBUILD":
			if rest == "" {
				return bad("requires at least one argument")
			}
			cfg.OnBuild = append(cfg.OnBuild, rest)
		case "HEALTHCHECK":
			h, err := healthcheck(rest)
			if err != nil {
				return bad("%v", err)
			}
			cfg.Healthcheck = h
		default:
			return fmt.Errorf("%s is not a valid change command: %w", instr, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// commandForm is a CMD or ENTRYPOINT: a JSON array, or a shell command.
func commandForm(rest string) []string {
	var l []string
	if strings.HasPrefix(rest, "[") && json.Unmarshal([]byte(rest), &l) == nil {
		return l
	}
	return []string{"/bin/sh", "-c", rest}
}

// setEnv replaces or appends key in env.
func setEnv(env []string, key, value string) []string {
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// keyValues reads ENV and LABEL arguments: "k=v k2='v 2'", or the legacy
// "key value with spaces".
func keyValues(rest string) ([][2]string, error) {
	words, err := shellWords(rest)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("requires at least one argument")
	}
	if !strings.Contains(words[0], "=") {
		// The legacy form: the first word is the key, the rest of the
		// line its value.
		k, v, _ := strings.Cut(rest, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("key=value expected, got %q", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// shellWords splits s into words as a Dockerfile does: quotes group, and
// a backslash escapes the next character (in double quotes too).
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	quote, word := byte(0), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t'):
			if word {
				words = append(words, cur.String())
				cur.Reset()
				word = false
			}
			continue
		case c == '\\' && quote != '\'' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote != 0 && c == quote:
			quote = 0
		default:
			cur.WriteByte(c)
		}
		word = true
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if word {
		words = append(words, cur.String())
	}
	return words, nil
}

// portKeys reads an EXPOSE argument ("80", "80/udp", "8000-8002/tcp").
func portKeys(p string) ([]string, error) {
	port, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	lo, hi, isRange := strings.Cut(port, "-")
	a, err := strconv.Atoi(lo)
	b := a
	if err == nil && isRange {
		b, err = strconv.Atoi(hi)
	}
	if err != nil || a < 1 || b > 65535 || b < a {
		return nil, fmt.Errorf("invalid port %q", p)
	}
	var out []string
	for i := a; i <= b; i++ {
		out = append(out, strconv.Itoa(i)+"/"+strings.ToLower(proto))
	}
	return out, nil
}

// healthcheck reads HEALTHCHECK's arguments: NONE, or options then CMD.
func healthcheck(rest string) (*v1.HealthConfig, error) {
	if strings.EqualFold(strings.TrimSpace(rest), "NONE") {
		return &v1.HealthConfig{Test: []string{"NONE"}}, nil
	}
	h := &v1.HealthConfig{}
	for strings.HasPrefix(rest, "--") {
		opt, after, _ := strings.Cut(rest, " ")
		rest = strings.TrimSpace(after)
		k, v, ok := strings.Cut(strings.TrimPrefix(opt, "--"), "=")
		if !ok {
			return nil, fmt.Errorf("option %s needs a value", opt)
		}
		var d time.Duration
		var err error
		switch k {
		case "interval", "timeout", "start-period", "start-interval":
			d, err = time.ParseDuration(v)
		case "retries":
			h.Retries, err = strconv.Atoi(v)
		default:
			return nil, fmt.Errorf("unknown option %s", opt)
		}
		if err != nil {
			return nil, fmt.Errorf("option %s: %v", opt, err)
		}
		switch k {
		case "interval":
			h.Interval = d
		case "timeout":
			h.Timeout = d
		case "start-period":
			h.StartPeriod = d
		}
	}
	kind, cmd, _ := strings.Cut(rest, " ")
	if !strings.EqualFold(kind, "CMD") || strings.TrimSpace(cmd) == "" {
		return nil, fmt.Errorf("expected NONE or CMD command")
	}
	cmd = strings.TrimSpace(cmd)
	var l []string
	if strings.HasPrefix(cmd, "[") && json.Unmarshal([]byte(cmd), &l) == nil {
		h.Test = append([]string{"CMD"}, l...)
	} else {
		h.Test = []string{"CMD-SHELL", cmd}
	}
	return h, nil
}
