package build

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
)

// buildStage builds one stage from its base to its last instruction.
func (j *job) buildStage(ctx context.Context, s *stage) (*state, error) {
	step := s.firstStep
	name := j.stepName(s, 0, "FROM "+s.from)
	j.report(Event{Step: step, Name: name, Status: StatusStart})
	st, err := j.base(ctx, s)
	if err != nil {
		j.report(Event{Step: step, Name: name, Status: StatusError, Error: err.Error()})
		return nil, fmt.Errorf("%s:%d: FROM %s: %w", j.df.name, s.line, s.from, err)
	}
	j.report(Event{Step: step, Name: name, Status: StatusDone})

	args := newArgEnv()
	cmds := s.cmds
	// The base image's ONBUILD triggers run first, then are cleared.
	if triggers := st.cfg.Config.OnBuild; len(triggers) > 0 {
		st.cfg.Config.OnBuild = nil
		var pre []instructions.Command
		for _, t := range triggers {
			c, err := parseTrigger(t)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: ONBUILD trigger %q of %s: %w", j.df.name, s.line, t, s.from, err)
			}
			pre = append(pre, c)
		}
		cmds = append(pre, cmds...)
	}
	npre := len(cmds) - len(s.cmds)
	for i, c := range cmds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Triggers count as part of FROM; the stage's own instructions
		// are numbered from FROM on.
		idx := i - npre + 1
		if idx < 1 {
			idx = 0
		}
		n := step + idx
		line := 0
		if loc := c.Location(); len(loc) > 0 {
			line = loc[0].Start.Line
		}
		text := instrText(c)
		name := j.stepName(s, idx, text)
		sr := &stepRun{j: j, stage: s, n: n, name: name, args: args}
		j.report(Event{Step: n, Name: name, Status: StatusStart})
		cached, err := sr.dispatch(ctx, st, c)
		if err != nil {
			j.report(Event{Step: n, Name: name, Status: StatusError, Error: err.Error()})
			if line > 0 {
				return nil, fmt.Errorf("%s:%d: %s: %w", j.df.name, line, text, err)
			}
			return nil, fmt.Errorf("%s: %w", text, err)
		}
		if cached {
			j.report(Event{Step: n, Name: name, Status: StatusCached})
		} else {
			j.report(Event{Step: n, Name: name, Status: StatusDone})
		}
	}
	return st, nil
}

// instrText is an instruction as progress lines show it.
func instrText(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		t := s.String()
		if i := strings.IndexByte(t, '\n'); i >= 0 {
			t = t[:i] + " ..."
		}
		return t
	}
	return strings.ToUpper(c.Name())
}

func parseTrigger(t string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(t))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(res.AST.Children) != 1 {
		return nil, fmt.Errorf("not one instruction: %w", errdefs.ErrInvalidArgument)
	}
	switch strings.ToUpper(res.AST.Children[0].Value) {
	case "ONBUILD", "FROM", "MAINTAINER":
		return nil, fmt.Errorf("%s isn't allowed as an ONBUILD trigger: %w", res.AST.Children[0].Value, errdefs.ErrInvalidArgument)
	}
	c, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// base returns the state a stage starts from: another stage's result, an
// empty image (scratch), or an image from the store (pulled if missing
// or with --pull).
func (j *job) base(ctx context.Context, s *stage) (*state, error) {
	if s.base >= 0 {
		st, err := j.wait(ctx, s.base)
		if err != nil {
			return nil, err
		}
		st.cmdSet = false
		return st, nil
	}
	if strings.EqualFold(s.from, "scratch") {
		cfg := &v1.ConfigFile{Architecture: runtime.GOARCH, OS: "linux", RootFS: v1.RootFS{Type: "layers"}}
		cfg.Config.Env = []string{defaultPath}
		return &state{cfg: cfg, key: chainKey("", "scratch")}, nil
	}
	img, err := j.image(ctx, s.from)
	if err != nil {
		return nil, err
	}
	cfg := img.Config.DeepCopy()
	if cfg.Architecture == "" {
		cfg.Architecture = runtime.GOARCH
	}
	if cfg.OS == "" {
		cfg.OS = "linux"
	}
	if !hasEnv(cfg.Config.Env, "PATH") {
		cfg.Config.Env = append([]string{defaultPath}, cfg.Config.Env...)
	}
	return &state{cfg: cfg, layers: append([]store.Layer(nil), img.Layers...), key: chainKey("", "from", img.ID), image: img.ID}, nil
}

// image finds an image by reference, pulling it when it is missing or
// the build asks for --pull.
func (j *job) image(ctx context.Context, ref string) (*store.Image, error) {
	if !j.o.Pull {
		img, err := j.b.images.Get(ctx, ref)
		if err == nil || !errdefs.IsNotFound(err) {
			return img, err
		}
	}
	return j.b.images.Pull(ctx, ref, nil)
}

func hasEnv(env []string, k string) bool {
	for _, e := range env {
		if n, _, _ := strings.Cut(e, "="); n == k {
			return true
		}
	}
	return false
}

// setEnv sets k=v in env, replacing an earlier k.
func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if n, _, _ := strings.Cut(e, "="); n == k {
			out := append([]string(nil), env...)
			out[i] = k + "=" + v
			return out
		}
	}
	return append(append([]string(nil), env...), k+"="+v)
}
