package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/wharf-dev/wharf/runtime/oci"
)

// sandboxRuntime is the gVisor runtime the daemon registers, never as the
// default: FARGATE tasks run under it when it works here.
const sandboxRuntime = "runsc"

// probeSandbox probes runsc (unless mode is "off") and, when it runs a
// container on this host, registers it in runtimes and returns its name
// for FARGATE tasks. Debian's runsc (2022) has the ptrace and kvm
// platforms (no systrap); its default, ptrace, runs a container in a VM
// without /dev/kvm, but only without networking: joining a prepared
// network namespace it fails with "cannot run with network enabled in
// root network namespace": that runsc takes the presence of
// /proc/sys/net/core/rmem_default for the root namespace, and kernel 6.18
// has the file in every network namespace. The probe runs its container the way a task's
// runs, in a network namespace of its own, so such a runsc is listed as
// unusable with that reason and FARGATE tasks run with their user
// namespace alone.
func probeSandbox(ctx context.Context, mode, scratch, execRoot string, runtimes map[string]*oci.Runtime, log *slog.Logger) (oci.Candidate, string, error) {
	switch mode {
	case "off":
		return oci.Candidate{Name: sandboxRuntime, Reason: "turned off with --sandbox-runtime off"}, "", nil
	case "auto", "":
	default:
		return oci.Candidate{}, "", fmt.Errorf("--sandbox-runtime %q: auto or off", mode)
	}
	// The probe's container joins a network namespace of its own, as a
	// task's container joins the one the engine prepared.
	holder := exec.Command("sleep", "60")
	holder.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		return oci.Candidate{Name: sandboxRuntime, Reason: "probe: " + err.Error()}, "", nil
	}
	c := oci.ProbeIn(ctx, sandboxRuntime, scratch, fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid))
	_ = holder.Process.Kill()
	_ = holder.Wait()
	log.Info("runtime probed", "runtime", sandboxRuntime, "usable", c.Usable, "reason", c.Reason)
	if !c.Usable {
		return c, "", nil
	}
	runtimes[sandboxRuntime] = &oci.Runtime{Name: sandboxRuntime, Path: c.Path, Root: filepath.Join(execRoot, "runtime", sandboxRuntime)}
	return c, sandboxRuntime, nil
}
