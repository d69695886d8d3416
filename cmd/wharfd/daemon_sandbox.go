package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/wharf-dev/wharf/runtime/oci"
)

// sandboxRuntime is the gVisor runtime the daemon registers, never as the
// default: FARGATE tasks run under it when it works here.
const sandboxRuntime = "runsc"

// probeSandbox probes runsc (unless mode is "off") and, when it runs a
// container on this host, registers it in runtimes and returns its name
// for FARGATE tasks. Debian's runsc (2022) has the ptrace and kvm
// platforms; it runs with its default, ptrace, which works in a VM
// without /dev/kvm.
func probeSandbox(ctx context.Context, mode, scratch, execRoot string, runtimes map[string]*oci.Runtime, log *slog.Logger) (oci.Candidate, string, error) {
	switch mode {
	case "off":
		return oci.Candidate{Name: sandboxRuntime, Reason: "turned off with --sandbox-runtime off"}, "", nil
	case "auto", "":
	default:
		return oci.Candidate{}, "", fmt.Errorf("--sandbox-runtime %q: auto or off", mode)
	}
	c := oci.ProbeWith(ctx, sandboxRuntime, scratch, "--network=none")
	log.Info("runtime probed", "runtime", sandboxRuntime, "usable", c.Usable, "reason", c.Reason)
	if !c.Usable {
		return c, "", nil
	}
	runtimes[sandboxRuntime] = &oci.Runtime{Name: sandboxRuntime, Path: c.Path, Root: filepath.Join(execRoot, "runtime", sandboxRuntime)}
	return c, sandboxRuntime, nil
}
