package build

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/wharf-dev/wharf/errdefs"
)

// stepRun is one instruction of a stage being built.
type stepRun struct {
	j     *job
	stage *stage
	n     int
	name  string
	args  *argEnv // the stage's declared ARGs with their values
}

// scope is what words are expanded with: the stage's ARGs, overridden by
// the image's environment (ENV wins over ARG, as in Docker).
func (r *stepRun) scope(st *state) *argEnv {
	e := r.args.clone()
	for _, kv := range st.cfg.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		e.set(k, v)
	}
	return e
}

func (r *stepRun) expander(st *state) instructions.SingleWordExpander {
	env := r.scope(st)
	return func(word string) (string, error) {
		res, err := r.j.df.expand(word, env)
		if err != nil {
			return "", fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		return res.Result, nil
	}
}

// shell is the shell of shell-form instructions.
func shellOf(cfg *v1.ConfigFile) []string {
	if len(cfg.Config.Shell) > 0 {
		return append([]string(nil), cfg.Config.Shell...)
	}
	return []string{"/bin/sh", "-c"}
}

func cmdLine(cfg *v1.ConfigFile, c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append(shellOf(cfg), strings.Join(c.CmdLine, " "))
	}
	return append([]string(nil), c.CmdLine...)
}

// configStep records an instruction that changes only the image config.
func (r *stepRun) configStep(st *state, history string) {
	st.cfg.History = append(st.cfg.History, v1.History{Created: v1.Time{Time: r.j.created()}, CreatedBy: history, Comment: "buildkit.dockerfile.v0", EmptyLayer: true})
	st.key = chainKey(st.key, history)
	st.image = ""
}

// dispatch runs one instruction on st. cached says the step's result came
// from the cache.
func (r *stepRun) dispatch(ctx context.Context, st *state, c instructions.Command) (bool, error) {
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := e.Expand(r.expander(st)); err != nil {
			return false, err
		}
	}
	if e, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := e.ExpandRaw(r.expander(st)); err != nil {
			return false, err
		}
	}
	cfg := &st.cfg.Config
	switch c := c.(type) {
	case *instructions.ArgCommand:
		var parts []string
		for _, kv := range c.Args {
			val, ok := "", false
			if v, given := r.j.o.BuildArgs[kv.Key]; given && v != nil {
				val, ok = *v, true
			} else if kv.Value != nil {
				val, ok = *kv.Value, true
			} else if v, has := r.j.global.Get(kv.Key); has {
				val, ok = v, true
			}
			if ok {
				r.args.set(kv.Key, val)
				parts = append(parts, kv.Key+"="+val)
			} else {
				r.args.unset(kv.Key)
				parts = append(parts, kv.Key)
			}
		}
		r.configStep(st, "ARG "+strings.Join(parts, " "))
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		r.configStep(st, "ENV "+strings.Join(parts, " "))
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		var parts []string
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		r.configStep(st, "LABEL "+strings.Join(parts, " "))
	case *instructions.MaintainerCommand:
		st.cfg.Author = c.Maintainer
		r.configStep(st, "MAINTAINER "+c.Maintainer)
	case *instructions.WorkdirCommand:
		p := c.Path
		if !path.IsAbs(p) {
			base := cfg.WorkingDir
			if base == "" {
				base = "/"
			}
			p = path.Join(base, p)
		}
		cfg.WorkingDir = path.Clean(p)
		return r.workdir(ctx, st)
	case *instructions.UserCommand:
		cfg.User = c.User
		r.configStep(st, "USER "+c.User)
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		var ports []string
		for _, p := range c.Ports {
			exp, err := r.expander(st)(p)
			if err != nil {
				return false, err
			}
			for _, p := range strings.Fields(exp) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[p] = struct{}{}
				ports = append(ports, p)
			}
		}
		sort.Strings(ports)
		r.configStep(st, "EXPOSE "+strings.Join(ports, " "))
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return false, fmt.Errorf("VOLUME specified can not be an empty string: %w", errdefs.ErrInvalidArgument)
			}
			cfg.Volumes[v] = struct{}{}
		}
		r.configStep(st, "VOLUME "+jsonText(c.Volumes))
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
		r.configStep(st, "STOPSIGNAL "+c.Signal)
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		r.configStep(st, "HEALTHCHECK "+jsonText(h.Test))
	case *instructions.ShellCommand:
		cfg.Shell = append([]string(nil), c.Shell...)
		r.configStep(st, "SHELL "+jsonText(c.Shell))
	case *instructions.CmdCommand:
		cfg.Cmd = cmdLine(st.cfg, c.ShellDependantCmdLine)
		st.cmdSet = true
		r.configStep(st, "CMD "+jsonText(cfg.Cmd))
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = cmdLine(st.cfg, c.ShellDependantCmdLine)
		if !st.cmdSet {
			cfg.Cmd = nil // a CMD of the base image does not outlive a new ENTRYPOINT
		}
		r.configStep(st, "ENTRYPOINT "+jsonText(cfg.Entrypoint))
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		r.configStep(st, "ONBUILD "+c.Expression)
	case *instructions.RunCommand:
		return r.run(ctx, st, c)
	case *instructions.CopyCommand:
		return r.copy(ctx, st, copySpec{from: c.From, src: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns, name: "COPY"})
	case *instructions.AddCommand:
		unpack := true
		if c.Unpack != nil {
			unpack = *c.Unpack
		}
		if c.Checksum != "" {
			return false, fmt.Errorf("ADD --checksum is for remote sources, which this daemon does not fetch: %w", errdefs.ErrNotImplemented)
		}
		return r.copy(ctx, st, copySpec{src: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns, add: true, unpack: unpack, name: "ADD"})
	default:
		return false, fmt.Errorf("%s is not supported: %w", strings.ToUpper(c.Name()), errdefs.ErrNotImplemented)
	}
	return false, nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// workdir records WORKDIR and, as BuildKit does, creates the directory
// (owned by the current USER) when the image lacks it.
func (r *stepRun) workdir(ctx context.Context, st *state) (bool, error) {
	wd := st.cfg.Config.WorkingDir
	history := "WORKDIR " + wd
	img, err := r.j.openLayers(ctx, st.layers)
	if err != nil {
		return false, err
	}
	defer img.Close()
	resolved, err := img.Resolve(wd, true)
	if err != nil {
		return false, err
	}
	if n, err := img.Lookup(resolved, false); err == nil {
		isDir := n.IsDir()
		n.Close()
		if isDir {
			r.configStep(st, history)
			return false, nil
		}
	}
	uid, gid, canon, err := r.owner(img, st.cfg.Config.User)
	if err != nil {
		uid, gid, canon = 0, 0, ""
	}
	p := &planner{uid: uid, gid: gid, chown: canon, epoch: r.j.epoch}
	p.entries = append(p.entries, planEntry{Target: resolved, Type: 0o040000, Mode: 0o755, UID: uid, GID: gid, mtime: r.j.created()})
	key := chainKey(st.key, history, canon)
	return r.layerStep(ctx, st, key, history, func(w io.Writer) error {
		return p.write(ctx, w, img, r.j.created())
	})
}
