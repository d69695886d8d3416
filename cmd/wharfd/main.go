// Command wharfd is the wharf daemon: the container engine, the image
// store, networks, volumes and functions, with every library they need.
//
// It is not a second thing to install. `make build` embeds it in the lean
// `wharf` binary (cmd/wharf), whose `wharf daemon ARGS` writes it once
// under the daemon's --root and executes it in place, same pid, with
// --wharf-binary set to the lean binary's path. What the daemon starts and
// what must start small — per-container shims, wharf-init for --init, spare
// function sandboxes — runs that lean binary, so none of them pays for the
// daemon's package initialisation.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/wharf-dev/wharf/errdefs"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if err := newDaemonCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wharf: "+err.Error())
		os.Exit(1)
	}
}

// leanBinary checks the lean binary's path that `wharf daemon` passed. The
// daemon runs it for every shim, so a wrong path is refused at start rather
// than at the first container.
func leanBinary(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("wharfd is started by `wharf daemon`, which passes --wharf-binary (the lean wharf binary that runs shims): %w", errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("--wharf-binary %s: not an absolute path: %w", p, errdefs.ErrInvalidArgument)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("--wharf-binary: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("--wharf-binary %s: not an executable file: %w", p, errdefs.ErrInvalidArgument)
	}
	return p, nil
}
