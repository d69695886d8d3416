package spec

import (
	"encoding/json"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
)

// ExecOptions are the settings of `docker exec`.
type ExecOptions struct {
	// Cmd is the command and its arguments; required.
	Cmd []string
	// Env overrides the container's environment by key.
	Env []string
	// User overrides the container's user; "" keeps it.
	User string
	// WorkingDir overrides the container's working directory; "" keeps it.
	WorkingDir string
	// Tty allocates a terminal for the process (and sets TERM=xterm).
	Tty bool
	// Privileged grants the process all the daemon's capabilities.
	Privileged bool
}

// ExecProcess builds the process for `runc exec --process`. It starts from
// the container's process in base, so the exec'd process inherits the
// environment, working directory, capabilities, no_new_privs, rlimits and
// security labels, and applies the exec options on top; a new user is
// resolved against rootfs. Missing Cmd or an unknown user are
// errdefs.ErrInvalidArgument.
func ExecProcess(base *specs.Spec, rootfs string, o ExecOptions) (*specs.Process, error) {
	if base == nil || base.Process == nil {
		return nil, fmt.Errorf("%w: container spec has no process", errdefs.ErrInvalidArgument)
	}
	if len(o.Cmd) == 0 || o.Cmd[0] == "" {
		return nil, fmt.Errorf("%w: no command specified", errdefs.ErrInvalidArgument)
	}
	// A deep copy, so that nothing the exec changes leaks into the
	// container's spec, which the engine keeps.
	raw, err := json.Marshal(base.Process)
	if err != nil {
		return nil, fmt.Errorf("copy process: %w", err)
	}
	var p specs.Process
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("copy process: %w", err)
	}
	p.Args = append([]string{}, o.Cmd...)
	p.Terminal = o.Tty
	p.ConsoleSize = nil
	if o.WorkingDir != "" {
		if !strings.HasPrefix(o.WorkingDir, "/") {
			return nil, fmt.Errorf("%w: the working directory %q is invalid, it needs to be an absolute path", errdefs.ErrInvalidArgument, o.WorkingDir)
		}
		p.Cwd = o.WorkingDir
	}
	env := p.Env
	if o.User != "" {
		u, err := ResolveUser(rootfs, o.User)
		if err != nil {
			return nil, err
		}
		p.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}
		// HOME in the container's environment is the container user's;
		// an exec as another user gets that user's home unless -e sets it.
		env = replaceOrAppendEnv(env, []string{"HOME=" + u.Home})
	}
	if o.Tty {
		env = replaceOrAppendEnv(env, []string{"TERM=xterm"})
	}
	p.Env = replaceOrAppendEnv(env, o.Env)
	if o.Privileged {
		caps, err := allCurrentCaps()
		if err != nil {
			return nil, err
		}
		p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	}
	return &p, nil
}

// containerEnv builds the container's environment in Docker's order: the
// daemon's defaults (PATH, HOSTNAME, TERM), then the image's, then the
// user's, each overriding earlier values by key; HOME comes last, and only
// if nobody set it.
func containerEnv(o *Options, hostname, home string) []string {
	env := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + hostname}
	if o.Tty {
		env = append(env, "TERM=xterm")
	}
	env = replaceOrAppendEnv(env, o.Image.Env)
	env = replaceOrAppendEnv(env, o.Env)
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+home)
	}
	return env
}

// replaceOrAppendEnv overrides the values in env with those in overrides by
// key, appending new keys. An override without "=" removes the key, as in
// Docker.
func replaceOrAppendEnv(env, overrides []string) []string {
	out := append([]string{}, env...)
	for _, kv := range overrides {
		key, _, hasValue := strings.Cut(kv, "=")
		idx := -1
		for i, e := range out {
			if k, _, _ := strings.Cut(e, "="); k == key {
				idx = i
				break
			}
		}
		switch {
		case idx >= 0 && hasValue:
			out[idx] = kv
		case idx >= 0:
			out = append(out[:idx], out[idx+1:]...)
		case hasValue:
			out = append(out, kv)
		}
	}
	return out
}

// hasEnv reports whether env sets key.
func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			return true
		}
	}
	return false
}
