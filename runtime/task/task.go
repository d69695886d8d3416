// Package task is the contract between the container engine and a
// container runtime: the Runtime interface the engine drives for every
// container, and the values it exchanges with it. A runtime runs the
// process of an OCI bundle (its config.json, with the root filesystem
// already mounted) under a supervisor that holds the process's stdio,
// writes its log and records its exit, and that outlives the daemon.
//
// Implementations: runtime/ocishim (an OCI runtime binary, runc or crun,
// under wharf's shim), runtime/fake (in memory, for tests without root).
// runtime/testsuite is the conformance suite both pass.
//
// Lifecycle of one container ID, as the engine drives it:
//
//	          Start                exit (by itself, or Kill)
//	(none) ─────────▶ running ────────────────────────────────▶ exited
//	                  │    ▲                                     │  │
//	            Pause │    │ Resume                        Start │  │ Delete
//	                  ▼    │                                     │  ▼
//	                  paused                        running ◀────┘ (none)
//
// Start returns once the process runs (or could not be started: a
// *StartError). Wait blocks until the run ends and answers its Exit; the
// runtime also records the exit, so that a daemon that was down when it
// happened reads it with ReadExit, and Alive tells a daemon starting up
// whether the container's supervisor is still there (its process still
// runs; Wait then works as for a container this daemon started). Attach,
// Release and Resize reach the supervisor's hold of the process's stdio
// while it runs. Exec runs one more process in a running container. Delete
// forgets an exited container: what the runtime kept of it, the recorded
// exit included. Start may be called again for the same ID after an exit,
// not after Delete: a deleted ID is not used again (the supervisor of its
// last run may still be finishing its cleanup).
//
// Every method is safe for concurrent use. State answers an error of class
// errdefs.ErrNotFound for an ID the runtime does not know; Delete has
// nothing to do then; the other methods fail.
package task

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Runtime runs containers. It is composed of the roles below; a consumer
// that needs fewer declares the roles it uses.
type Runtime interface {
	Lifecycle
	Stdio
	Executor
	Inspector
	// Close releases what the runtime holds that is not a container
	// (processes started ahead of need). Containers keep running.
	Close()
}

// SpecPreparer is implemented by runtimes that complete a container's
// spec before the engine writes its bundle (crun's compiled seccomp
// program, runtime/oci's SeccompCache). The engine calls the function
// PrepareSpec returns, if any, once the container has started.
type SpecPreparer interface {
	PrepareSpec(id string, s *specs.Spec) (started func())
}

// Lifecycle starts, signals, freezes, waits for and forgets containers.
type Lifecycle interface {
	// Start runs the process of the bundle o.Bundle as container o.ID
	// and returns its host pid once it runs. A process the runtime
	// could not start is a *StartError.
	Start(ctx context.Context, o StartOptions) (pid int, err error)
	// Wait blocks until the container's current run has ended and
	// returns its exit, at once if it already has. An error of class
	// errdefs.ErrUnavailable (ErrGone) means the run ended without a
	// recorded exit: the supervisor was killed or the host rebooted.
	Wait(ctx context.Context, id string) (*Exit, error)
	// Alive reports whether the container's supervisor is there, which
	// is the case while its process runs.
	Alive(ctx context.Context, id string) bool
	// ReadExit returns the exit the runtime recorded for the container's
	// last run; nil if none is recorded.
	ReadExit(ctx context.Context, id string) (*Exit, error)
	// Kill sends sig to the container's init process. What the process
	// does with it is the process's: an init ignores signals it has no
	// handler for, except SIGKILL.
	Kill(ctx context.Context, id string, sig syscall.Signal) error
	// Pause freezes every process of the container. Signals sent to a
	// frozen container take effect when it is resumed; SIGKILL may end
	// it at once (runc thaws a container to kill it), so whoever kills a
	// paused container resumes it too, ignoring the error.
	Pause(ctx context.Context, id string) error
	// Resume thaws a paused container.
	Resume(ctx context.Context, id string) error
	// Update changes the resource limits of a running or paused
	// container (its cgroup); what r leaves nil keeps its value. A limit
	// the kernel refuses (memory below what the container uses) is an
	// error, and what was already changed stays.
	Update(ctx context.Context, id string, r *specs.LinuxResources) error
	// Delete forgets an exited container: what the runtime kept of it,
	// its recorded exit included. A container whose process still runs
	// is an error of class errdefs.ErrConflict.
	Delete(ctx context.Context, id string) error
}

// Stdio reaches the stdio of a running container through its supervisor.
type Stdio interface {
	// Attach opens a stream to the container's stdio. The stream carries
	// the selected output from now on (earlier output is not repeated)
	// in Docker's multiplexed frames (package stream), or raw bytes when
	// the container has a terminal, and feeds what is written to it to
	// the container's stdin when o.Stdin. It ends when the container
	// exits. With o.Release it also releases held output (Release).
	Attach(ctx context.Context, id string, o AttachOptions) (Stream, error)
	// Release lets the output of a container started with Hold flow.
	Release(ctx context.Context, id string) error
	// Resize sets the size of the container's terminal.
	Resize(ctx context.Context, id string, height, width uint16) error
	// Flush sends a stream.Mark frame with token down every attached
	// stream that takes marks (AttachOptions.Marks), after everything the
	// container's process wrote to its stdout and stderr before the
	// call; it returns once the mark is sent. A supervisor that cannot
	// flush (one started by an older wharf) answers an error of class
	// errdefs.ErrNotImplemented; a container with a terminal, held
	// output or no stream taking marks is an error too.
	Flush(ctx context.Context, id, token string) error
}

// Executor runs more processes in running containers.
type Executor interface {
	// Exec starts o.Process in the running container id. A process the
	// runtime could not start is reported by the Process's Wait (exit
	// code 126, or 127 for a command that does not exist), as a
	// process that exits at once; an error means nothing was started.
	Exec(ctx context.Context, id string, o ExecOptions) (Process, error)
}

// Inspector reads what the runtime knows of a container.
type Inspector interface {
	// State is the runtime's view of the container.
	State(ctx context.Context, id string) (*State, error)
	// Pids lists the host pids of the container's processes.
	Pids(ctx context.Context, id string) ([]int, error)
}

// StartOptions describe one run of a container.
type StartOptions struct {
	// ID names the container. Runtimes may use a prefix of it in paths.
	ID string
	// Bundle is the OCI bundle directory: config.json, whose root path
	// is the container's mounted root filesystem.
	Bundle string
	// CgroupsPath is the spec's cgroupsPath, where the supervisor looks
	// for the container's OOM kills.
	CgroupsPath string
	// LogPath is the container's log, in the json-file format, which the
	// supervisor alone writes and rotates within LogMaxSize (0: no
	// bound) and LogMaxFiles; empty keeps no log.
	LogPath     string
	LogMaxSize  int64
	LogMaxFiles int
	// Tty gives the process a terminal; Stdin keeps its stdin open for
	// attached streams (otherwise it reads nothing); with StdinOnce the
	// process's stdin is closed when the first attached stream's input
	// ends.
	Tty, Stdin, StdinOnce bool
	// Hold keeps the process's output unread (the process blocks once
	// its pipes fill) until Release or an Attach with Release, so that
	// streams attached right after Start miss none of it.
	Hold bool
}

// Exit is how a container's run ended.
type Exit struct {
	Pid int
	// ExitCode is the process's exit status, or 128+n when signal n
	// killed it.
	ExitCode  int
	OOMKilled bool
	ExitedAt  time.Time
}

// StartError is a process the runtime could not start. ExitCode is the
// code docker reports: 127 for a command that does not exist, 126 for
// one that cannot be executed, 125 for anything else.
type StartError struct {
	Msg      string
	ExitCode int
}

func (e *StartError) Error() string { return e.Msg }

// ErrGone is Wait's answer for a run that ended without a recorded exit.
var ErrGone = fmt.Errorf("the container's supervisor is gone and recorded no exit: %w", errdefs.ErrUnavailable)

// AttachOptions select the streams of an Attach.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
	// Release also releases held output, once this stream is attached.
	Release bool
	// Marks asks for the Mark frames of Flush on this stream (never with
	// a terminal).
	Marks bool
	// Cut asks where the stream begins in the container's output: the
	// Stream is then a CutStream.
	Cut bool
}

// Cut is the instant a stream was attached, as the container's output
// sees it: the output read before went to the log (and to the streams
// attached then), all that is read after goes to the stream too. A
// client that replays the log up to Log, then Held, then copies the
// stream, gets every byte once and in order (logs=1&stream=1).
type Cut struct {
	// Log is the end of the container's log at that instant; nil when
	// the container keeps no log.
	Log *logfile.Position
	// Held is output read before the cut that is not in the log yet: a
	// line whose newline has not come (the log holds it back until
	// then, and writes it later, after Log). One entry per stream
	// (stdout, stderr), Time unset.
	Held []logfile.Entry
}

// CutStream is a Stream attached with AttachOptions.Cut.
type CutStream interface {
	Stream
	// Cut is the stream's cut; nil when the supervisor cannot tell it
	// (one started by an older wharf): the stream then begins at some
	// instant after the attach was asked for, as without Cut.
	Cut() *Cut
}

// Stream is an attached connection to a container's stdio.
type Stream interface {
	io.ReadWriteCloser
	// CloseWrite ends the container's input from this stream.
	CloseWrite() error
}

// ExecOptions describe one process run by Exec.
type ExecOptions struct {
	// ID names the exec, unique among the container's execs.
	ID string
	// Process is the process to run (spec.ExecProcess builds it);
	// Process.Terminal gives it a terminal.
	Process *specs.Process
	// Stdin, if set, is copied to the process's stdin (its terminal).
	Stdin io.Reader
	// Stdout and Stderr receive the process's output (nil: discarded).
	// With a terminal, Stdout receives the terminal's output and the
	// runtime's own message when it cannot start the process, and
	// Stderr is not used.
	Stdout, Stderr io.Writer
	// Background marks an exec the engine runs on its own schedule (a
	// healthcheck probe): a runtime keeps nothing started ahead of time
	// for it, and it does not count as a user's exec for that.
	Background bool
}

// Process is a process started by Exec.
type Process interface {
	// Pid is the process's host pid; 0 while the runtime has not
	// reported it yet.
	Pid() int
	// Resize sets the size of the process's terminal; without one it
	// does nothing.
	Resize(ctx context.Context, height, width uint16) error
	// Kill sends sig to the process while it runs (a healthcheck probe
	// past its timeout); once it has exited it does nothing.
	Kill(ctx context.Context, sig syscall.Signal) error
	// Wait blocks until the process has exited and its output has been
	// copied, and returns its exit code (128+n when signal n killed it;
	// 126 or 127 when the runtime could not start it). An error means
	// the exit is unknown.
	Wait(ctx context.Context) (int, error)
}

// Container states of State.Status, the runtime's view.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusPaused  = "paused"
	StatusStopped = "stopped"
)

// State is the runtime's view of a container.
type State struct {
	ID     string
	Pid    int
	Status string
}
