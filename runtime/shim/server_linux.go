package shim

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/internal/atomicfile"
	"github.com/wharf-dev/wharf/runtime/logfile"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/stream"
)

// shim is the state of the running shim process.
type shim struct {
	o   Options
	rt  *oci.Runtime
	log *slog.Logger

	logw *logfile.Writer // nil without a log

	stdin  io.WriteCloser // container stdin (pipe or pty master); nil without -i
	master *os.File       // pty master with a TTY

	mu       sync.Mutex
	clients  map[*client]struct{}
	waiters  []net.Conn
	exit     *Exit
	released chan struct{}
	relOnce  sync.Once
	stdinOne sync.Once

	l        *net.UnixListener
	outs     []*output
	serving  sync.WaitGroup // the accept loop and the requests it runs
	copiers  sync.WaitGroup
	active   atomic.Int64 // unix nanoseconds of the last output or request
	pidfd    int          // the init's pidfd, -1 without one
	parkMu   sync.Mutex   // held by a park, and by the exit once it began
	exiting  bool         // under parkMu
	stdinEOF bool         // under mu: StdinOnce closed the container's stdin
	backoff  int          // doublings of DormantAfter (dormant_linux.go)
	// stopping is set while park stops the copiers with read deadlines;
	// a deadline at any other time is a flush waking a copier.
	stopping atomic.Bool
}

// client is one attached stream.
type client struct {
	conn           net.Conn
	stdout, stderr bool
	marks          bool // takes Mark frames (Request.Marks)
}

// Main runs the shim until its container has exited and returns the shim's
// own exit status. ready receives one Ready line and is closed.
func Main(o Options, ready *os.File) int {
	_ = os.Unsetenv("GOMAXPROCS") // set by the Spawner for the shim alone
	s := newShim(o)
	report := func(r Ready) {
		_ = json.NewEncoder(ready).Encode(r)
		_ = ready.Close()
	}
	// The container's init is reparented to the shim when the runtime
	// exits, so the shim can wait for it and read its exit status.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		report(Ready{Error: "shim: subreaper: " + err.Error(), ExitCode: 125})
		return 1
	}
	_ = os.WriteFile(filepath.Join(o.Dir, PidFile), []byte(strconv.Itoa(os.Getpid())), 0o600)

	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(o.Dir, SocketFile), Net: "unix"})
	if err != nil {
		report(Ready{Error: "shim: listen: " + err.Error(), ExitCode: 125})
		return 1
	}
	if s.logw, err = openLog(o); err != nil {
		report(Ready{Error: "shim: log file: " + err.Error(), ExitCode: 125})
		return 1
	}

	tStart := time.Now()
	pid, outputs, err := s.startContainer()
	s.log.Debug("runtime run", "took", time.Since(tStart))
	if err != nil {
		msg := err.Error()
		report(Ready{Error: msg, ExitCode: oci.StartExitCode(msg)})
		_ = s.rt.Delete(context.Background(), o.ID, true)
		_ = l.Close()
		return 1
	}
	report(Ready{Pid: pid})
	if !o.Hold {
		s.release()
	}
	return s.run(pid, l, outputs)
}

// run supervises a started container until it exits, for a shim that
// started it or one resumed from dormancy, and returns the shim's status.
func (s *shim) run(pid int, l *net.UnixListener, outputs []*output) int {
	s.l, s.outs = l, outputs
	s.touch()
	s.startServing()
	s.startCopiers()
	// The shim idles for the container's lifetime: give back what start-up
	// allocated and keep the heap tight from here on. Not at once: a GC on
	// the shim's one processor would hold up the daemon's attach and the
	// exit of a container that ends at once, as `run --rm` ones do.
	trim := time.AfterFunc(250*time.Millisecond, func() {
		debug.SetGCPercent(20)
		debug.FreeOSMemory()
		dropFilePages()
	})
	defer trim.Stop()
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		s.pidfd = fd
	}
	if s.o.DormantAfter > 0 && s.pidfd >= 0 {
		go s.idle(pid)
	}

	stopOthers := make(chan struct{})
	go reapOthers(pid, stopOthers)
	status := s.reap(pid)
	close(stopOthers)
	// Output normally ends with the container; a process that escaped
	// with the pipe open must not keep the exit from being recorded.
	done := make(chan struct{})
	go func() { s.copiers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		s.log.Warn("output still open after exit")
	}
	if s.logw != nil {
		s.logw.Close()
	}

	exit := &Exit{Pid: pid, ExitCode: exitCode(status), OOMKilled: s.oomKilled(), ExitedAt: time.Now().UTC()}
	if err := writeExit(s.o.Dir, exit); err != nil {
		s.log.Error("record exit", "err", err)
	}
	s.mu.Lock()
	s.exit = exit
	for c := range s.clients {
		c.conn.Close()
	}
	waiters := s.waiters
	s.waiters = nil
	s.mu.Unlock()
	line, _ := json.Marshal(exit)
	for _, w := range waiters {
		_ = w.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = w.Write(append(line, '\n'))
		w.Close()
	}
	// The runtime's record goes after the waiters heard of the exit: it
	// costs a runtime invocation that nobody needs to wait for. The socket
	// stays open until then, so a daemon restarting the container waits
	// for this shim to be gone (see WaitGone).
	if err := s.rt.DeleteIdle(context.Background(), s.o.ID); err != nil {
		s.log.Warn("runtime delete", "err", err)
	}
	_ = l.Close()
	return 0
}

// newShim returns the state of a shim for o, with its diagnostics log.
func newShim(o Options) *shim {
	logf, _ := os.OpenFile(filepath.Join(o.Dir, "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	var lw io.Writer = io.Discard
	if logf != nil {
		lw = logf
	}
	return &shim{
		o:        o,
		rt:       &oci.Runtime{Name: o.RuntimeName, Path: o.RuntimePath, Root: o.RuntimeRoot, Hide: o.RuntimeHide},
		log:      slog.New(slog.NewTextHandler(lw, nil)).With("container", o.ID),
		clients:  map[*client]struct{}{},
		released: make(chan struct{}),
		pidfd:    -1,
	}
}

// touch records activity, which keeps the shim from going dormant.
func (s *shim) touch() { s.active.Store(time.Now().UnixNano()) }

// openLog opens the container's log within its limits; nil without one.
func openLog(o Options) (*logfile.Writer, error) {
	if o.LogPath == "" {
		return nil, nil
	}
	return logfile.Open(o.LogPath, logfile.Limits{MaxSize: o.LogMaxSize, MaxFiles: o.LogMaxFiles})
}

// output is one output stream of the container: a pipe, or the pty master
// with a TTY. Its line splitter lives as long as the stream, across the
// copier's stops for dormancy; without a log there is none.
type output struct {
	stream string
	f      *os.File
	split  *logfile.LineSplitter
	done   bool // the stream ended (under shim.mu)
	// flushes are the flushes waiting for this stream's copier to drain
	// the pipe (under shim.mu); the copier closes each once it has
	// forwarded everything the pipe held when it took them.
	flushes []chan struct{}
}

func newOutput(stream string, f *os.File, w *logfile.Writer) *output {
	out := &output{stream: stream, f: f}
	if w != nil {
		out.split = &logfile.LineSplitter{Stream: stream, Out: w}
	}
	return out
}

// held is the partial line the stream's splitter holds back, if any.
func (o *output) held() []byte {
	if o.split == nil {
		return nil
	}
	return o.split.Held()
}

// startContainer runs `runtime run --detach` with the shim's pipes (or a
// console socket) as the container's stdio, and returns the init pid.
func (s *shim) startContainer() (int, []*output, error) {
	o := s.o
	logPath := filepath.Join(o.Dir, "runtime.log")
	// The runtime's errors go to a log file of their own: its stderr is the
	// container's stderr and must carry only the container's output.
	args := []string{"--root", o.RuntimeRoot, "--log-format", "json"}
	if strings.Contains(filepath.Base(o.RuntimePath), "crun") {
		args = append(args, "--log=file:"+logPath)
	} else {
		args = append(args, "--log", logPath)
	}
	args = append(args, "run", "--detach", "--pid-file", filepath.Join(o.Dir, InitPidFile), "--bundle", o.Bundle)

	cmd := exec.Command(o.RuntimePath)
	var outputs []*output
	var closeAfter []io.Closer
	var console *oci.ConsoleSocket
	if o.Tty {
		var err error
		console, err = oci.NewConsoleSocket(filepath.Join(o.Dir, "console.sock"))
		if err != nil {
			return 0, nil, err
		}
		defer console.Close()
		args = append(args, "--console-socket", console.Path())
	} else {
		outR, outW, err := os.Pipe()
		if err != nil {
			return 0, nil, err
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			return 0, nil, err
		}
		cmd.Stdout, cmd.Stderr = outW, errW
		closeAfter = append(closeAfter, outW, errW)
		outputs = append(outputs, newOutput("stdout", outR, s.logw), newOutput("stderr", errR, s.logw))
		if o.Stdin {
			inR, inW, err := os.Pipe()
			if err != nil {
				return 0, nil, err
			}
			cmd.Stdin = inR
			closeAfter = append(closeAfter, inR)
			s.stdin = inW
		}
	}
	type recv struct {
		f   *os.File
		err error
	}
	got := make(chan recv, 1)
	if console != nil {
		go func() {
			f, err := console.ReceiveMaster(10 * time.Second)
			got <- recv{f, err}
		}()
	}
	cmd.Args = append(append(cmd.Args, args...), o.ID)
	err := s.rt.Run(cmd)
	for _, c := range closeAfter {
		c.Close()
	}
	if err != nil {
		data, _ := os.ReadFile(logPath)
		msg := oci.CleanMessage(string(data))
		if msg == "" {
			msg = err.Error()
		}
		return 0, nil, fmt.Errorf("%s", msg)
	}
	if console != nil {
		r := <-got
		if r.err != nil {
			return 0, nil, r.err
		}
		s.master = r.f
		outputs = append(outputs, newOutput("stdout", r.f, s.logw))
		if o.Stdin {
			s.stdin = r.f
		}
	}
	data, err := os.ReadFile(filepath.Join(o.Dir, InitPidFile))
	if err != nil {
		return 0, nil, fmt.Errorf("reading init pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, nil, fmt.Errorf("bad init pid %q", data)
	}
	return pid, outputs, nil
}

// reap waits for the container's init to exit, reaping any other process
// reparented to the shim on the way.
func (s *shim) reap(pid int) unix.WaitStatus {
	// Wait without reaping first: a shim going dormant must not lose the
	// status, and a dormant one wakes on the zombie's pidfd.
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	s.parkMu.Lock()
	s.exiting = true
	s.parkMu.Unlock()
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// No child at all: the init is not ours (it died before
			// runc exited and was reaped with it). Poll for it.
			if unix.Kill(pid, 0) == unix.ESRCH {
				return ws
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if got == pid {
			return ws
		}
	}
}

func exitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 255
}

// oomKilled reads the memory cgroup's OOM-kill counter (v1 oom_control or
// v2 memory.events).
func (s *shim) oomKilled() bool {
	if s.o.CgroupsPath == "" {
		return false
	}
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup/memory", s.o.CgroupsPath, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", s.o.CgroupsPath, "memory.events"),
	} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
				return true
			}
		}
	}
	return false
}

func (s *shim) release() { s.relOnce.Do(func() { close(s.released) }) }

// startCopiers starts a copier for every output stream not yet ended.
func (s *shim) startCopiers() {
	for _, out := range s.outs {
		s.mu.Lock()
		done := out.done
		s.mu.Unlock()
		if done {
			continue
		}
		_ = out.f.SetReadDeadline(time.Time{})
		s.copiers.Add(1)
		go func() {
			defer s.copiers.Done()
			s.copyOutput(out)
		}()
	}
}

// copyOutput reads one output stream of the container into the log and to
// every attached client, until the stream ends or a read deadline (set to
// go dormant) stops it; a stop leaves the stream open. A deadline set by a
// flush instead makes it drain the pipe for the flush (drain) and go on.
func (s *shim) copyOutput(out *output) {
	select {
	case <-s.released:
	case <-time.After(10 * time.Second):
		// The daemon that asked to hold output is gone.
	}
	var id byte = 1
	if out.stream == "stderr" {
		id = 2
	}
	buf := make([]byte, 32*1024)
	forward := func(p []byte) {
		s.touch()
		if d := s.o.ForwardDelay; d > 0 {
			time.Sleep(d)
		}
		// The log and the streams take p under one lock, which an
		// attach's cut takes too: p is before the cut or after it.
		s.mu.Lock()
		if out.split != nil {
			_, _ = out.split.Write(p)
		}
		s.broadcastLocked(id, p)
		s.mu.Unlock()
	}
	for {
		n, err := out.f.Read(buf)
		if n > 0 {
			forward(buf[:n])
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			ended, stop := s.drain(out, buf, forward)
			if stop {
				return
			}
			if ended {
				break
			}
			continue
		}
		if err != nil {
			break
		}
	}
	out.f.Close()
	s.mu.Lock()
	if out.split != nil {
		_ = out.split.Flush()
	}
	out.done = true
	flushes := out.flushes
	out.flushes = nil
	s.mu.Unlock()
	// Everything the stream carried has been forwarded.
	for _, ch := range flushes {
		close(ch)
	}
}

// drain serves the flushes that woke a copier: it clears the deadline
// first (a flush that comes later sets it again), takes the waiting
// flushes, reads the pipe without blocking until it is empty, forwarding
// what it reads, and then releases them. It reports whether the stream
// ended, or whether the deadline was park's and the copier must stop
// (checked after the deadline is cleared, since park sets stopping
// before its deadlines: one of the two is seen).
func (s *shim) drain(out *output, buf []byte, forward func([]byte)) (ended, stop bool) {
	_ = out.f.SetReadDeadline(time.Time{})
	if s.stopping.Load() {
		return false, true
	}
	s.mu.Lock()
	flushes := out.flushes
	out.flushes = nil
	s.mu.Unlock()
	defer func() {
		for _, ch := range flushes {
			close(ch)
		}
	}()
	rc, err := out.f.SyscallConn()
	if err != nil {
		return false, false
	}
	for {
		var n int
		var rerr error
		// One read attempt: the callback never asks to wait.
		err := rc.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), buf)
			return true
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// A flush's wake again (or park's): clear it and go on.
			_ = out.f.SetReadDeadline(time.Time{})
			if s.stopping.Load() {
				return false, true
			}
			continue
		}
		if err != nil {
			return false, false
		}
		switch {
		case rerr == unix.EINTR:
			continue
		case n > 0:
			forward(buf[:n])
		case rerr == nil:
			// n == 0: the writers are gone; what the pipe held is
			// forwarded, and the stream's end is the copier's.
			return true, false
		default:
			// EAGAIN: empty.
			return false, false
		}
	}
}

func (s *shim) broadcast(id byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broadcastLocked(id, p)
}

// broadcastLocked sends p to the attached streams that take id; called
// with s.mu held.
func (s *shim) broadcastLocked(id byte, p []byte) {
	var hdr [8]byte
	hdr[0] = id
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	for c := range s.clients {
		if id == 1 && !c.stdout || id == 2 && !c.stderr || id == stream.Mark && !c.marks {
			continue
		}
		_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		var err error
		if !s.o.Tty {
			_, err = c.conn.Write(hdr[:])
		}
		if err == nil {
			_, err = c.conn.Write(p)
		}
		if err != nil {
			c.conn.Close()
			delete(s.clients, c)
		}
	}
}

// startServing accepts requests until the listener closes or a deadline
// (set to go dormant) stops it.
func (s *shim) startServing() {
	_ = s.l.SetDeadline(time.Time{})
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		for {
			conn, err := s.l.Accept()
			if err != nil {
				return
			}
			s.touch()
			s.serving.Add(1)
			go func() {
				defer s.serving.Done()
				s.handle(conn)
			}()
		}
	}()
}

func (s *shim) handle(conn net.Conn) {
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		conn.Close()
		return
	}
	switch req.Op {
	case "wait":
		s.mu.Lock()
		if s.exit != nil {
			data, _ := json.Marshal(s.exit)
			s.mu.Unlock()
			_, _ = conn.Write(append(data, '\n'))
			conn.Close()
			return
		}
		s.waiters = append(s.waiters, conn)
		s.mu.Unlock()
	case "release":
		s.release()
		_, _ = conn.Write([]byte("{}\n"))
		conn.Close()
	case "flush":
		var rep FlushReply
		if err := s.flush(req.Token); err != nil {
			rep.Error = err.Error()
		}
		data, _ := json.Marshal(rep)
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = conn.Write(append(data, '\n'))
		conn.Close()
	case "resize":
		if s.master != nil {
			_ = oci.SetWinsize(s.master, req.Height, req.Width)
		}
		_, _ = conn.Write([]byte("{}\n"))
		conn.Close()
	case "attach":
		c := &client{conn: conn, stdout: req.Stdout, stderr: req.Stderr, marks: req.Marks && !s.o.Tty}
		s.mu.Lock()
		if s.exit != nil {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.clients[c] = struct{}{}
		var rep AttachReply
		if req.Cut {
			rep = s.cutLocked()
		}
		s.mu.Unlock()
		// Acknowledge before any output so the daemon knows the stream
		// is registered. Output the copiers forward meanwhile waits in
		// the connection behind the reply.
		data, _ := json.Marshal(rep)
		_, _ = conn.Write(append(data, '\n'))
		if req.Release {
			s.release()
		}
		if req.Stdin && s.stdin != nil {
			go s.copyStdin(br)
		}
	default:
		conn.Close()
	}
}

// cutLocked is where a stream registered now begins in the output (see
// AttachReply); called with s.mu held, under which the copiers write to
// the log and the streams. A log whose position cannot be read gives no
// cut: the client then knows none, as from an older shim.
func (s *shim) cutLocked() AttachReply {
	rep := AttachReply{Cut: true}
	if s.logw == nil {
		return rep
	}
	pos, err := s.logw.Position()
	if err != nil {
		s.log.Warn("log position for an attach", "err", err)
		return AttachReply{}
	}
	rep.Log = &pos
	for _, out := range s.outs {
		if h := out.held(); len(h) > 0 {
			rep.Held = append(rep.Held, logfile.Entry{Log: string(h), Stream: out.stream})
		}
	}
	return rep
}

// flushWait bounds how long a flush waits for the copiers, and
// flushRewake is how often it wakes a copier again meanwhile (a wake lost
// to park's checks of the deadlines, or one that came before the copier
// began to read).
const (
	flushWait   = 5 * time.Second
	flushRewake = 20 * time.Millisecond
)

// flush forwards everything the container wrote to its outputs before
// now, then sends a Mark frame with token down every stream that takes
// marks (see the protocol in proto.go). The copiers do the reading: each
// is woken from its read by a deadline in the past, drains its pipe
// without blocking and tells the flush (drain); a stream that already
// ended has forwarded everything.
func (s *shim) flush(token string) error {
	if len(token) > 1024 {
		return errors.New("flush token too long")
	}
	select {
	case <-s.released:
	default:
		return errors.New("output is held")
	}
	s.mu.Lock()
	if s.exit != nil {
		s.mu.Unlock()
		return errors.New("container exited")
	}
	marks := false
	for c := range s.clients {
		marks = marks || c.marks
	}
	if !marks {
		s.mu.Unlock()
		return errors.New("no attached stream takes marks")
	}
	type wait struct {
		out *output
		ch  chan struct{}
	}
	var waits []wait
	for _, out := range s.outs {
		if out.done {
			continue
		}
		ch := make(chan struct{})
		out.flushes = append(out.flushes, ch)
		waits = append(waits, wait{out, ch})
	}
	s.mu.Unlock()
	wake := func(out *output) error {
		if err := out.f.SetReadDeadline(time.Unix(1, 0)); err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("%s cannot be woken: %w", out.stream, err)
		}
		return nil
	}
	// Both copiers drain at once.
	for _, w := range waits {
		if err := wake(w.out); err != nil {
			return err
		}
	}
	give := time.NewTimer(flushWait)
	defer give.Stop()
	for _, w := range waits {
		for done := false; !done; {
			select {
			case <-w.ch:
				done = true
			case <-time.After(flushRewake):
				if err := wake(w.out); err != nil {
					return err
				}
			case <-give.C:
				return fmt.Errorf("%s not drained within %v", w.out.stream, flushWait)
			}
		}
	}
	s.broadcast(stream.Mark, []byte(token))
	return nil
}

// copyStdin feeds one client's input to the container. When the client
// ends its input and the container was created with StdinOnce (docker run
// -i without -t), the container's stdin is closed so it sees EOF.
func (s *shim) copyStdin(r io.Reader) {
	_, _ = io.Copy(s.stdin, r)
	if s.o.StdinOnce && !s.o.Tty {
		s.stdinOne.Do(func() {
			s.mu.Lock()
			s.stdinEOF = true
			s.mu.Unlock()
			_ = s.stdin.Close()
		})
	}
}

// writeExit records the exit status atomically. It needs to be whole, not
// durable: the shim's directory is run-time state under the exec-root
// (/run/wharf, a tmpfs on most hosts), which a host crash loses along with
// the container itself, and the fsyncs would delay every container's exit.
func writeExit(dir string, e *Exit) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ExitFile), data, 0o600, atomicfile.NoSync())
}

// ReadExit returns the exit status recorded in dir, or nil if none is.
func ReadExit(dir string) (*Exit, error) {
	data, err := os.ReadFile(filepath.Join(dir, ExitFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var e Exit
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	return &e, nil
}
