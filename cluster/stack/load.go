// Package stack is `wharf stack deploy`: a compose file, loaded with
// compose-go, mapped onto the cluster's ECS model (one task definition
// family <stack>_<service> and one ECS service of that name per compose
// service) and applied: new services are created, changed ones get a
// new task definition revision (a rolling update), services dropped
// from the file are deleted.
//
// The daemon loads the file, not the CLI: compose-go and its
// dependencies stay out of the lean CLI. The CLI sends the files, its
// working directory (relative bind sources resolve against it), the
// .env file beside the compose file and those of its environment
// variables that the files name; the daemon's loader reads nothing
// from its own disk (no include, extends, env_file or label_file).
//
// A stack's services carry the tag com.docker.stack.namespace=<stack>
// (swarm's label), which is how ls and rm find them.
package stack

import (
	"bytes"
	"context"
	"fmt"
	"regexp"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/wharf-dev/wharf/errdefs"
)

// Bounds on what a deploy carries.
const (
	MaxFiles     = 8
	MaxFileBytes = 1 << 20
	MaxEnv       = 1000
	MaxServices  = 100
	// MaxPorts bounds a service's port mappings (compose expands ranges:
	// "8000-8099:80-179" is a hundred).
	MaxPorts = 100
)

// File is one compose file.
type File struct {
	Filename string `json:"filename"`
	Content  []byte `json:"content"`
}

// Input is what `wharf stack deploy` sends.
type Input struct {
	Files      []File            `json:"files"`
	WorkingDir string            `json:"workingDir"`
	DotEnv     []byte            `json:"dotEnv,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
}

var stackNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidName reports whether s may name a stack (compose's project
// names: lowercase letters, digits, '_' and '-').
func ValidName(s string) bool { return stackNameRE.MatchString(s) }

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
}

// Load loads a stack's compose files with compose-go, interpolating
// with the .env file's variables and the client's environment (which
// wins, as in compose).
func Load(ctx context.Context, name string, in Input) (*types.Project, error) {
	if !ValidName(name) {
		return nil, invalid("stack name %q: lowercase letters, digits, '_' and '-', at most 63", name)
	}
	if len(in.Files) == 0 || len(in.Files) > MaxFiles {
		return nil, invalid("a stack is 1 to %d compose files, not %d", MaxFiles, len(in.Files))
	}
	if len(in.Env) > MaxEnv {
		return nil, invalid("at most %d environment variables", MaxEnv)
	}
	env := map[string]string{}
	if len(in.DotEnv) > 0 {
		if len(in.DotEnv) > MaxFileBytes {
			return nil, invalid(".env: larger than %d bytes", MaxFileBytes)
		}
		vars, err := dotenv.ParseWithLookup(bytes.NewReader(in.DotEnv), func(k string) (string, bool) {
			v, ok := in.Env[k]
			return v, ok
		})
		if err != nil {
			return nil, invalid(".env: %v", err)
		}
		for k, v := range vars {
			env[k] = v
		}
	}
	for k, v := range in.Env {
		env[k] = v
	}
	details := types.ConfigDetails{WorkingDir: in.WorkingDir, Environment: env}
	for _, f := range in.Files {
		if len(f.Content) > MaxFileBytes {
			return nil, invalid("%s: larger than %d bytes", f.Filename, MaxFileBytes)
		}
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: f.Filename, Content: f.Content})
	}
	p, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName(name, true)
		// Nothing is read from the daemon's disk: the files came from the
		// client, and what would need another file is refused by Map.
		o.SkipInclude = true
		o.SkipExtends = true
		o.SkipResolveEnvironment = true
		o.ResolvePaths = in.WorkingDir != ""
		o.SkipConsistencyCheck = false
	})
	if err != nil {
		return nil, invalid("%v", err)
	}
	return p, nil
}
