package spec

import (
	"fmt"
	"strings"

	units "github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
)

// Ulimit is one resource limit for the container's processes, named as
// Docker's --ulimit names them ("nofile", "nproc", "core"...). A value of -1
// means unlimited.
type Ulimit struct {
	Name string
	Soft int64
	Hard int64
}

// String formats the limit the way ParseUlimit reads it.
func (u Ulimit) String() string { return fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard) }

// ParseUlimit parses Docker's --ulimit syntax: "name=soft[:hard]". A missing
// hard limit equals the soft one. Unknown names, non-numeric values and a
// soft limit above the hard one are errdefs.ErrInvalidArgument.
func ParseUlimit(s string) (Ulimit, error) {
	// go-units is the parser the docker CLI uses, so wharf accepts and
	// rejects exactly what docker does.
	u, err := units.ParseUlimit(s)
	if err != nil {
		return Ulimit{}, fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	}
	return Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard}, nil
}

// rlimits converts ulimits to the spec's rlimits. Limits that reach the
// engine through its API rather than ParseUlimit are validated here too.
func rlimits(ul []Ulimit) ([]specs.POSIXRlimit, error) {
	var out []specs.POSIXRlimit
	seen := map[string]int{}
	for _, u := range ul {
		uu := units.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard}
		if _, err := uu.GetRlimit(); err != nil {
			return nil, fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
		}
		if u.Hard != -1 && (u.Soft == -1 || u.Soft > u.Hard) {
			return nil, fmt.Errorf("%w: ulimit %s: soft limit must be less than or equal to hard limit", errdefs.ErrInvalidArgument, u)
		}
		// -1 converts to RLIM_INFINITY (all bits set), as in Docker.
		rl := specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Soft: uint64(u.Soft), Hard: uint64(u.Hard)}
		// A later value for the same limit wins, as a repeated flag does.
		if i, ok := seen[rl.Type]; ok {
			out[i] = rl
			continue
		}
		seen[rl.Type] = len(out)
		out = append(out, rl)
	}
	return out, nil
}
