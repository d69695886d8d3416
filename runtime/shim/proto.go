// Package shim is the per-container supervisor. One shim process runs per
// running container; it starts the container through the OCI runtime,
// becomes the parent of its init (child subreaper), holds its stdio, writes
// its log, serves attach and resize, and records its exit status. The
// daemon can stop, crash or restart at any time: the shim and its container
// go on, and a new daemon re-adopts them through the shim's socket.
//
// Files in the shim's directory (<exec-root>/shims/<first 24 hex digits of the id>/):
//
//	shim.sock   the shim's control socket (protocol below)
//	shim.pid    the shim's pid
//	init.pid    the container init's host pid (written by the runtime)
//	runtime.log the runtime's own log (errors of `run`)
//	exit.json   the exit status, written atomically once the container is gone
//	shim.log    the shim's own diagnostics
//	dormant.json what a dormant shim needs to resume: options and descriptors
//
// Protocol: a client connects to shim.sock and writes one JSON Request line.
// "attach" turns the connection into a stream: container output (Docker's
// multiplexed frames unless the container has a TTY, then raw bytes) flows to
// the client, bytes from the client go to the container's stdin. The shim
// first answers one AttachReply line; with Cut, the reply tells where the
// stream begins in the output (the log's position and the partial lines
// held back from it at the instant the stream was registered, taken under
// the same lock as the copiers' writes to the log and the streams), so
// that the client can replay the log up to there and lose no byte in
// between, nor get one twice. A shim that predates Cut answers "{}". "wait"
// answers one Exit line when the container has exited (at once if it already
// has). "resize" sets the TTY size and answers "{}". "release" lets output
// flow when the shim was started with Hold (output is held back until the
// daemon has connected the attach streams of `run`, so none is lost).
//
// "flush" orders a stream's output with the client's own knowledge of the
// container: the shim reads both output pipes until they are empty,
// forwards what it read as any output, and then sends a Mark frame
// (package stream) with the request's Token down every attached stream
// that asked for marks (an attach with Marks); it answers "{}" once the
// mark is sent, or a FlushReply with the Error that kept it from sending
// one. Whatever the container wrote before the request was sent is thus
// in those streams before the mark: a function's daemon learns that the
// output its runtime printed before answering an invocation has all
// arrived. A shim that predates "flush" closes the connection without an
// answer. A container with a TTY has no framing and so no marks.
package shim

import (
	"time"

	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Options configure one shim. The daemon passes them as JSON on the
// command line of `wharf shim`.
type Options struct {
	ID          string
	Bundle      string
	RuntimeName string
	RuntimePath string
	RuntimeRoot string
	// RuntimeHide lists the mounts the runtime runs without (oci.Runtime's
	// Hide): the cgroup2 mounts of a hybrid layout, for crun.
	RuntimeHide []string `json:",omitempty"`
	// LogPath is the container's log, which the shim alone writes; empty
	// keeps no log (log driver none). The shim rotates it within
	// LogMaxSize (0: no bound) and LogMaxFiles, on its own, since it
	// goes on while the daemon is down.
	LogPath     string
	LogMaxSize  int64 `json:",omitempty"`
	LogMaxFiles int   `json:",omitempty"`
	Dir         string
	Tty         bool
	Stdin       bool
	StdinOnce   bool
	// Hold keeps output unread until a "release" or the first "attach".
	Hold bool
	// CgroupsPath is the container's cgroupsPath, for OOM detection.
	CgroupsPath string
	// DormantAfter is how long the shim waits without output, requests or
	// attached streams before it goes dormant (see dormant_linux.go); zero
	// keeps it awake.
	DormantAfter time.Duration `json:",omitempty"`
	// ForwardDelay makes the shim wait that long before it forwards
	// each read of output (tests only: it holds output in flight, as a
	// loaded host does).
	ForwardDelay time.Duration `json:",omitempty"`
}

// Request is the first line a client sends on the shim's socket.
type Request struct {
	Op     string // "attach", "wait", "resize", "release", "flush"
	Stdin  bool   `json:",omitempty"`
	Stdout bool   `json:",omitempty"`
	Stderr bool   `json:",omitempty"`
	Height uint16 `json:",omitempty"`
	Width  uint16 `json:",omitempty"`
	// Release, on an attach, also lets a shim started with Hold start
	// copying output once this stream is registered: one round trip
	// instead of an attach and a release.
	Release bool `json:",omitempty"`
	// Marks, on an attach, asks for the Mark frames of flushes on this
	// stream.
	Marks bool `json:",omitempty"`
	// Token is a flush's: the payload of the Mark frame it sends.
	Token string `json:",omitempty"`
	// Cut, on an attach, asks for the stream's cut in the AttachReply.
	Cut bool `json:",omitempty"`
}

// AttachReply acknowledges an attach, before any output. Cut says that
// the shim answered the request's Cut: Log is the log's end then (nil
// without a log) and Held the partial lines held back from it, by stream.
type AttachReply struct {
	Cut  bool              `json:",omitempty"`
	Log  *logfile.Position `json:",omitempty"`
	Held []logfile.Entry   `json:",omitempty"`
}

// FlushReply is the answer to a flush: empty once the mark is sent.
type FlushReply struct {
	Error string `json:",omitempty"`
}

// Exit is a container's exit status as the shim recorded it.
type Exit struct {
	Pid       int
	ExitCode  int
	OOMKilled bool
	ExitedAt  time.Time
}

// Ready is what the shim reports on its ready pipe once the container
// started (Pid) or failed to (Error, and the exit code docker would give).
type Ready struct {
	Pid      int    `json:",omitempty"`
	Error    string `json:",omitempty"`
	ExitCode int    `json:",omitempty"`
}

// File names inside the shim directory.
const (
	SocketFile  = "shim.sock"
	ExitFile    = "exit.json"
	PidFile     = "shim.pid"
	InitPidFile = "init.pid"
)
