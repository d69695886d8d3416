package functions

import (
	"context"
	"io"

	"github.com/wharf-dev/wharf/functions/runtimeapi"
)

// SandboxSpec says what a sandbox runs.
type SandboxSpec struct {
	Function string
	Version  string
	// CodeDir is the unpacked zip package, mounted read-only at /var/task
	// (empty for an image function).
	CodeDir string
	// Image is the image of an image function (empty for a zip function).
	Image string
	// Command and WorkingDir are an image function's full command line
	// (entrypoint and arguments) and working directory ("" for the
	// image's), resolved from ImageConfig and the image's config.
	Command     []string
	WorkingDir  string
	Env         []string
	MemoryMB    int
	EphemeralMB int
	// Output receives the runtime's stdout and stderr.
	Output io.Writer
}

// Sandbox is one running instance of a function: a runtime polling its own
// Runtime API. It serves one invocation at a time.
//
// Lifecycle: Launch returns it initialising; Runtime().Ready() closes when
// its init is done; Invoke runs events; Freeze/Thaw park it between
// invocations; Exited closes when its runtime process is gone; Close
// tears it down (idempotent).
type Sandbox interface {
	Runtime() *runtimeapi.Server
	Exited() <-chan struct{}
	Freeze() error
	Thaw() error
	// MaxMemory is the peak memory use of the sandbox in bytes.
	MaxMemory() uint64
	// OOMKilled reports whether the sandbox's process was killed for
	// exceeding its memory.
	OOMKilled() bool
	Close(ctx context.Context) error
}

// Launcher starts sandboxes.
type Launcher interface {
	Launch(ctx context.Context, spec SandboxSpec) (Sandbox, error)
}
