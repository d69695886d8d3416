// Package sandbox is where functions run: the contract of a sandbox (Spec,
// Sandbox), which every launcher implements and functions/invoke consumes,
// and the launchers of the daemon, which run sandboxes as engine
// containers (ContainerLauncher): zip functions in the empty base image
// (BaseImage) with their code mounted read-only, claimed spare sandboxes
// (spare_linux.go), and image functions in their own image
// (image_linux.go), each in a network namespace of its own holding only
// loopback and its Runtime API (netns_linux.go).
//
// Other launchers live beside it: functions/sandbox/inproc runs a Go
// handler in the daemon's process over the real Runtime API (tests, no
// root), functions/sandbox/process runs a bootstrap as a plain host
// process (the benchmarks' floor).
//
// On disk, under the daemon's --exec-root (both 0700, tightened if an
// older daemon made them 0755):
//
//	fnns/<sandbox name>      the sandbox's network namespace, pinned by a bind mount
//	fnspare/<sandbox name>/  a spare sandbox's staging mounts (spare_linux.go)
//
// Both are the daemon's alone: CleanupNamespaces and CleanupSpares remove
// what a previous daemon left.
package sandbox

import (
	"context"
	"io"

	"github.com/wharf-dev/wharf/functions/runtimeapi"
)

// Spec says what a sandbox runs.
type Spec struct {
	Function string
	Version  string
	// CodeDir is the unpacked zip package, mounted read-only at /var/task
	// (empty for an image function).
	CodeDir string
	// Image is the image of an image function (empty for a zip function):
	// the image ID the function is pinned to.
	Image string
	// Command and WorkingDir are an image function's full command line
	// (entrypoint and arguments) and working directory ("" for the
	// image's), resolved from ImageConfig and the image's config.
	Command    []string
	WorkingDir string
	// Env is the runtime's environment (the Lambda variables and the
	// function's own).
	Env         []string
	MemoryMB    int
	EphemeralMB int
	// Output receives the runtime's stdout and stderr.
	Output io.Writer
}

// Sandbox is one running instance of a function: a runtime polling its own
// Runtime API. It serves one invocation at a time.
//
// Lifecycle: a launcher returns it initialising; Runtime().Ready() closes
// when its init is done, or Runtime().Failed() when the runtime reported an
// init error; Runtime().InvokeUntil runs events; Freeze and Thaw park it
// between invocations; Exited closes when its runtime is gone (its process
// exited); Close tears it down and is idempotent.
type Sandbox interface {
	Runtime() *runtimeapi.Server
	Exited() <-chan struct{}
	Freeze() error
	Thaw() error
	// FlushOutput returns once everything the runtime wrote to its
	// stdout and stderr before the call has been written to the spec's
	// Output. Called when the runtime has answered an invocation, it
	// makes the lines the function printed before answering part of that
	// invocation's log, ahead of END and REPORT: the runtime's writes
	// returned before it sent the answer. An error means that could not
	// be ensured (some output may still be on its way); ctx bounds the
	// wait.
	FlushOutput(ctx context.Context) error
	// MaxMemory is the peak memory use of the sandbox in bytes.
	MaxMemory() uint64
	// OOMKilled reports whether the sandbox's process was killed for
	// exceeding its memory.
	OOMKilled() bool
	Close(ctx context.Context) error
}

// Phased is a Sandbox that can say how long the steps of its launch took
// (for the engine's debug log of a cold start), as slog attributes.
type Phased interface {
	LaunchPhases() []any
}
