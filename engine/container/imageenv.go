package container

import (
	"strings"

	"github.com/wharf-dev/wharf/image/store"
)

// mergeImageEnv gives a new container's Config.Env the image's variables
// that the user did not set, as dockerd's merge (daemon/commit.go) does
// at create: the user's list as given, then every image variable whose
// key it lacks, in the image's order; no user variables at all means the
// image's list. The record then shows what the container runs with
// (inspect's Config.Env), and a later change of the image's tag does not
// change it. The daemon's own defaults (PATH, HOSTNAME, HOME) are not
// recorded: dockerd adds them when the process starts, as the runtime
// spec does here, so that an image without PATH still gets the default.
func mergeImageEnv(c *Config, img *store.Image) {
	if img.Config == nil {
		return
	}
	imageEnv := img.Config.Config.Env
	if len(c.Env) == 0 {
		c.Env = append([]string(nil), imageEnv...)
		if len(c.Env) == 0 {
			c.Env = nil
		}
		return
	}
	have := make(map[string]bool, len(c.Env))
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = true
	}
	for _, kv := range imageEnv {
		if k, _, _ := strings.Cut(kv, "="); !have[k] {
			c.Env = append(c.Env, kv)
		}
	}
}
