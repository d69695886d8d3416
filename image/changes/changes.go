// Package changes parses the Dockerfile-like instructions that `docker
// import --change` and `docker commit --change` apply to an image's
// configuration. Both API servers use it.
package changes

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/errdefs"
)

// Parse applies docker import --change lines (CMD, ENTRYPOINT, ENV,
// WORKDIR, USER, EXPOSE, VOLUME, LABEL, STOPSIGNAL) to an image config.
func Parse(lines []string) (*v1.Config, error) {
	if len(lines) == 0 {
		return nil, nil
	}
	cfg := &v1.Config{}
	for _, line := range lines {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest = strings.TrimSpace(rest)
		list := func() []string {
			var l []string
			if strings.HasPrefix(rest, "[") && json.Unmarshal([]byte(rest), &l) == nil {
				return l
			}
			return []string{"/bin/sh", "-c", rest}
		}
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = list()
		case "ENTRYPOINT":
			cfg.Entrypoint = list()
		case "ENV":
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				k, v, _ = strings.Cut(rest, " ")
			}
			cfg.Env = append(cfg.Env, strings.TrimSpace(k)+"="+strings.Trim(strings.TrimSpace(v), `"`))
		case "WORKDIR":
			cfg.WorkingDir = rest
		case "USER":
			cfg.User = rest
		case "STOPSIGNAL":
			cfg.StopSignal = rest
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "VOLUME":
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			var l []string
			if !strings.HasPrefix(rest, "[") || json.Unmarshal([]byte(rest), &l) != nil {
				l = strings.Fields(rest)
			}
			for _, v := range l {
				cfg.Volumes[v] = struct{}{}
			}
		case "LABEL":
			k, v, _ := strings.Cut(rest, "=")
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[k] = strings.Trim(v, `"`)
		default:
			return nil, fmt.Errorf("%s is not a valid change command: %w", instr, errdefs.ErrInvalidArgument)
		}
	}
	return cfg, nil
}
