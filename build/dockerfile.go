package build

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/wharf-dev/wharf/errdefs"
)

// maxDockerfile bounds the Dockerfile a build reads.
const maxDockerfile = 4 << 20

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	name     string
	stages   []*stage
	metaArgs []instructions.ArgCommand
	// escape is the escape token, for word expansion. A shell.Lex keeps
	// state while it expands, so stages building in parallel each make
	// their own (expand).
	escape rune
	steps  int // instructions in all stages, FROM included
}

// stage is one FROM and its instructions.
type stage struct {
	index    int
	name     string // lower case; "" when unnamed
	from     string // FROM's argument, expanded with the global args
	platform string
	cmds     []instructions.Command
	fromLine string
	line     int
	// base is the index of the stage FROM names, or -1 for an image.
	base int
	// deps are the stages this one reads (base, COPY --from, RUN
	// --mount from).
	deps []int
	// firstStep is the number of this stage's FROM among all steps.
	firstStep int
}

// locError turns an error of the parser into "file:line: problem".
func locError(file string, err error) error {
	var le *parser.LocationError
	msg := err.Error()
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Errorf("%s:%d: %s: %w", file, le.Locations[0][0].Start.Line, msg, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s: %s: %w", file, msg, errdefs.ErrInvalidArgument)
}

// parseDockerfile parses src and checks what can be checked before
// anything runs: syntax, instructions and their flags, stage references.
func parseDockerfile(name string, src []byte, buildArgs map[string]*string) (*dockerfile, error) {
	if len(src) > maxDockerfile {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", name, maxDockerfile, errdefs.ErrInvalidArgument)
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, locError(name, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, locError(name, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: file with no instructions: %w", name, errdefs.ErrInvalidArgument)
	}
	df := &dockerfile{name: name, metaArgs: metaArgs, escape: res.EscapeToken}
	global := df.globalArgs(buildArgs)
	names := map[string]int{}
	for i, s := range stages {
		st := &stage{index: i, name: strings.ToLower(s.Name), platform: s.Platform, cmds: s.Commands, fromLine: s.SourceCode, base: -1, firstStep: df.steps + 1}
		if len(s.Location) > 0 {
			st.line = s.Location[0].Start.Line
		}
		df.steps += 1 + len(s.Commands)
		from, err := df.expand(s.BaseName, global)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: FROM %s: %v: %w", name, st.line, s.BaseName, err, errdefs.ErrInvalidArgument)
		}
		st.from = from.Result
		if st.from == "" {
			return nil, fmt.Errorf("%s:%d: FROM %s: base name should not be blank: %w", name, st.line, s.BaseName, errdefs.ErrInvalidArgument)
		}
		if idx, ok := names[strings.ToLower(st.from)]; ok {
			st.base = idx
			st.deps = append(st.deps, idx)
		}
		if st.platform != "" {
			p, err := df.expand(st.platform, global)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: --platform: %v: %w", name, st.line, err, errdefs.ErrInvalidArgument)
			}
			if !hostPlatform(p.Result) {
				return nil, fmt.Errorf("%s:%d: --platform=%s: this daemon builds for %s only: %w", name, st.line, p.Result, hostPlatformString(), errdefs.ErrInvalidArgument)
			}
		}
		for _, c := range s.Commands {
			from := ""
			line := 0
			if loc := c.Location(); len(loc) > 0 {
				line = loc[0].Start.Line
			}
			switch c := c.(type) {
			case *instructions.CopyCommand:
				from = c.From
				if c.Parents {
					return nil, fmt.Errorf("%s:%d: COPY --parents is not supported: %w", name, line, errdefs.ErrNotImplemented)
				}
			case *instructions.RunCommand:
				// The parser reads a mount's from= only; the rest (its type
				// included) when the step expands it. Expanded here with the
				// global args, an unsupported type is refused before
				// anything runs; a mount that needs a stage's ARG to expand
				// is checked when its step does (dispatch expands again).
				if c.Expand(func(w string) (string, error) {
					r, err := df.expand(w, global)
					return r.Result, err
				}) == nil {
					for _, m := range instructions.GetMounts(c) {
						switch m.Type {
						case instructions.MountTypeCache, instructions.MountTypeSecret, instructions.MountTypeTmpfs, instructions.MountTypeBind:
						default:
							return nil, fmt.Errorf("%s:%d: RUN --mount=type=%s is not supported: %w", name, line, m.Type, errdefs.ErrNotImplemented)
						}
					}
				}
				for _, m := range instructions.GetMounts(c) {
					if m.From != "" {
						if idx, ok := stageRef(names, m.From); ok {
							st.deps = append(st.deps, idx)
						}
					}
				}
			}
			if from == "" {
				continue
			}
			exp, err := df.expand(from, global)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: --from=%s: %v: %w", name, line, from, err, errdefs.ErrInvalidArgument)
			}
			if idx, ok := stageRef(names, exp.Result); ok {
				st.deps = append(st.deps, idx)
			} else if _, err := strconv.Atoi(exp.Result); err == nil {
				return nil, fmt.Errorf("%s:%d: --from=%s: no such stage before this one: %w", name, line, exp.Result, errdefs.ErrInvalidArgument)
			}
		}
		names[strconv.Itoa(i)] = i
		if st.name != "" {
			if _, dup := names[st.name]; dup {
				return nil, fmt.Errorf("%s:%d: duplicate stage name %q: %w", name, st.line, s.Name, errdefs.ErrInvalidArgument)
			}
			names[st.name] = i
		}
		df.stages = append(df.stages, st)
	}
	return df, nil
}

// stageRef finds the stage a --from or FROM names.
func stageRef(names map[string]int, ref string) (int, bool) {
	i, ok := names[strings.ToLower(ref)]
	return i, ok
}

// target returns the index of the stage to build.
func (df *dockerfile) target(name string) (int, error) {
	if name == "" {
		return len(df.stages) - 1, nil
	}
	for _, s := range df.stages {
		if s.name == strings.ToLower(name) {
			return s.index, nil
		}
	}
	return 0, fmt.Errorf("target stage %q could not be found: %w", name, errdefs.ErrInvalidArgument)
}

// needed returns the stages the target depends on, itself included.
func (df *dockerfile) needed(target int) map[int]bool {
	out := map[int]bool{}
	var visit func(int)
	visit = func(i int) {
		if out[i] {
			return
		}
		out[i] = true
		for _, d := range df.stages[i].deps {
			visit(d)
		}
	}
	visit(target)
	return out
}

// proxyArgs are predefined: usable in RUN without an ARG, and kept out of
// the history and cache unless declared.
var proxyArgs = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

func isProxyArg(k string) bool {
	for _, p := range proxyArgs {
		if p == k {
			return true
		}
	}
	return false
}

// platformArgs are the automatic platform arguments BuildKit defines in
// the global scope.
func platformArgs() map[string]string {
	arch, variant := runtime.GOARCH, ""
	if arch == "arm" {
		variant = "v7"
	}
	p := "linux/" + arch
	if variant != "" {
		p += "/" + variant
	}
	return map[string]string{
		"BUILDPLATFORM": p, "BUILDOS": "linux", "BUILDARCH": arch, "BUILDVARIANT": variant,
		"TARGETPLATFORM": p, "TARGETOS": "linux", "TARGETARCH": arch, "TARGETVARIANT": variant,
	}
}

func hostPlatformString() string { return platformArgs()["TARGETPLATFORM"] }

func hostPlatform(p string) bool {
	p = strings.ToLower(p)
	return p == hostPlatformString() || p == "linux" || p == "linux/"+runtime.GOARCH
}

// globalArgs is the scope of FROM lines: the platform arguments and the
// ARGs before the first FROM, with their build-arg values.
func (df *dockerfile) globalArgs(buildArgs map[string]*string) *argEnv {
	env := newArgEnv()
	for k, v := range platformArgs() {
		env.set(k, v)
	}
	for _, a := range df.metaArgs {
		for _, kv := range a.Args {
			if v, ok := buildArgs[kv.Key]; ok && v != nil {
				env.set(kv.Key, *v)
				continue
			}
			if kv.Value != nil {
				r, err := df.expand(*kv.Value, env)
				if err == nil {
					env.set(kv.Key, r.Result)
					continue
				}
			}
			env.set(kv.Key, "")
			env.unset(kv.Key)
		}
	}
	return env
}

// argEnv is an ordered variable scope the shell lexer reads.
type argEnv struct {
	keys []string
	vals map[string]string
}

func newArgEnv() *argEnv { return &argEnv{vals: map[string]string{}} }

func (e *argEnv) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

func (e *argEnv) unset(k string) {
	if _, ok := e.vals[k]; !ok {
		return
	}
	delete(e.vals, k)
	for i, x := range e.keys {
		if x == k {
			e.keys = append(e.keys[:i], e.keys[i+1:]...)
			break
		}
	}
}

// Get implements shell.EnvGetter.
func (e *argEnv) Get(k string) (string, bool) {
	v, ok := e.vals[k]
	return v, ok
}

// Keys implements shell.EnvGetter.
func (e *argEnv) Keys() []string { return append([]string(nil), e.keys...) }

func (e *argEnv) clone() *argEnv {
	c := newArgEnv()
	for _, k := range e.keys {
		c.set(k, e.vals[k])
	}
	return c
}

// expand expands word with env, as the shell of a Dockerfile does.
func (df *dockerfile) expand(word string, env shell.EnvGetter) (shell.ProcessWordResult, error) {
	return shell.NewLex(df.escape).ProcessWordWithMatches(word, env)
}
