package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
	wstream "github.com/wharf-dev/wharf/stream"
)

// createContainer creates the container described by run/create flags,
// pulling the image first when the daemon does not have it, and returns
// its id. Every failure exits 125 as docker's do.
func createContainer(cmd *cobra.Command, o *createOptions, args []string) (string, error) {
	req, err := buildCreateRequest(o, args, cmd.Flags().Changed, osEnv)
	if err != nil {
		return "", exitError{code: 125, err: err}
	}
	c, err := clientFor(cmd)
	if err != nil {
		return "", daemonErr(err)
	}
	var resp wharf.CreateResponse
	err = createOrPull(cmd, c, req.Image, func() error {
		return c.Do(cmd.Context(), "POST", "/containers/create", query("name", o.name), req, &resp)
	})
	if err != nil {
		return "", err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: "+w)
	}
	return resp.ID, nil
}

// createOrPull sends a request that creates a container from image; when
// the image is not there it pulls it, as docker run does, and sends the
// request again. Errors carry exit status 125.
func createOrPull(cmd *cobra.Command, c *wharf.Client, image string, send func() error) error {
	err := send()
	if errdefs.IsNotFound(err) {
		stderr := cmd.ErrOrStderr()
		fmt.Fprintf(stderr, "Unable to find image '%s' locally\n", displayRef(image))
		if perr := pullImage(cmd.Context(), c, image, stderr, isTerminal(stderr)); perr != nil {
			return daemonErr(perr)
		}
		err = send()
	}
	return daemonErr(err)
}

// runAttached is `run` without -d and without a TTY in one request
// (POST /containers/run): the daemon creates, attaches, starts and ends
// the stream with the exit status, saving three round trips.
func runAttached(cmd *cobra.Command, o *createOptions, args []string) error {
	req, err := buildCreateRequest(o, args, cmd.Flags().Changed, osEnv)
	if err != nil {
		return exitError{code: 125, err: err}
	}
	c, err := clientFor(cmd)
	if err != nil {
		return daemonErr(err)
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	var conn net.Conn
	var br *bufio.Reader
	var hdr http.Header
	err = createOrPull(cmd, c, req.Image, func() (err error) {
		conn, br, hdr, err = c.HijackHeader(ctx, "POST", "/containers/run", query("name", o.name, "stdin", boolParam(o.interactive)), req)
		return err
	})
	if wharf.IsMissingRoute(err) {
		// A daemon older than the one-request run (native API 1.0)
		// answers it 404 from its router: run it in the steps every
		// daemon serves.
		return runSteps(cmd, o, args)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := proxySignals(ctx, c, hdr.Get("X-Wharf-Container-Id"))
	defer stop()
	code, exited, _, err := pumpStreams(cmd, conn, br, o.interactive, false, nil)
	switch {
	case exited && (err != nil || code != 0):
		return exitError{code: code, err: err}
	case exited:
		return nil
	case err != nil:
		return daemonErr(err)
	}
	return exitError{code: 125, err: errors.New("the daemon ended the stream without the container's exit status")}
}

// runContainer implements docker run's sequence: create; unless detached,
// attach and register the wait before start so that no output and no exit
// is missed; start; copy the streams; exit with the container's status.
func runContainer(cmd *cobra.Command, o *createOptions, args []string) error {
	if !o.detach && o.tty && o.interactive && !isTerminal(cmd.InOrStdin()) {
		return exitError{code: 1, err: errors.New("the input device is not a TTY")}
	}
	if !o.detach && !o.tty {
		return runAttached(cmd, o, args)
	}
	return runSteps(cmd, o, args)
}

// runSteps runs a container in docker's steps: create, then start (with
// -d) or attach, wait, start and copy the streams.
func runSteps(cmd *cobra.Command, o *createOptions, args []string) error {
	id, err := createContainer(cmd, o, args)
	if err != nil {
		return err
	}
	c, err := clientFor(cmd)
	if err != nil {
		return daemonErr(err)
	}
	if o.detach {
		if err := startContainer(cmd, c, id); err != nil {
			removeUnstarted(cmd, c, id, o.autoRemove)
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), id)
		return nil
	}
	cond := "next-exit"
	if o.autoRemove {
		cond = "removed"
	}
	return attachStartWait(cmd, c, id, attachOptions{stdin: o.interactive, tty: o.tty, waitCondition: cond, start: true, autoRemove: o.autoRemove, detachKeys: o.detachKeys})
}

// removeUnstarted removes a container run with --rm whose start failed,
// as docker does; it would otherwise stay, created and never run.
func removeUnstarted(cmd *cobra.Command, c *wharf.Client, id string, autoRemove bool) {
	if autoRemove {
		_ = c.Do(cmd.Context(), "DELETE", containerPath(id), query("force", "1", "v", "1"), nil, nil)
	}
}

// startContainer starts id, mapping a failure to docker's exit status:
// 126/127 when the command could not be invoked or found (the daemon
// records that as the exit code), 125 otherwise.
func startContainer(cmd *cobra.Command, c *wharf.Client, id string) error {
	err := ignoreNotModified(c.Do(cmd.Context(), "POST", containerPath(id, "start"), nil, nil, nil))
	if err == nil {
		return nil
	}
	code := 125
	var se *wharf.StartError
	if errors.As(err, &se) {
		// The daemon tells the code: an auto-remove container is gone
		// by now.
		if se.Code == 126 || se.Code == 127 {
			code = se.Code
		}
	} else if cj, ierr := inspectContainer(cmd, c, id); ierr == nil {
		// An older daemon: the record has it.
		if ec := cj.State.ExitCode; ec == 126 || ec == 127 {
			code = ec
		}
	}
	return exitError{code: code, err: err}
}

// attachOptions says how attachStartWait connects to a container.
type attachOptions struct {
	stdin bool // forward local stdin
	tty   bool // the container has a terminal: raw stream, raw mode, resize
	// waitCondition, when set, registers a wait before start whose status
	// becomes the exit status; otherwise the exit code comes from inspect.
	waitCondition string
	start         bool // start the container after attaching
	autoRemove    bool // run --rm: remove the container if it does not start
	// detachKeys leave the container's terminal running ("" is
	// ctrl-p,ctrl-q).
	detachKeys string
}

// attachStartWait attaches to a container (optionally starting it), copies
// its streams until they end and returns the container's exit status as an
// exitError (nil for status 0).
func attachStartWait(cmd *cobra.Command, c *wharf.Client, id string, o attachOptions) error {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	q := query("stdin", boolParam(o.stdin), "stdout", "1", "stderr", "1", "stream", "1")
	var keys []byte
	if o.tty && o.stdin {
		var err error
		if keys, err = wstream.ParseDetachKeys(o.detachKeys); err != nil {
			return exitError{code: 125, err: err}
		}
		if o.detachKeys != "" {
			q.Set("detachKeys", o.detachKeys)
		}
	}
	conn, br, err := c.Hijack(ctx, "POST", containerPath(id, "attach"), q, nil)
	if err != nil {
		return daemonErr(err)
	}
	defer conn.Close()

	var wait io.ReadCloser
	if o.waitCondition != "" {
		wait, err = c.Stream(ctx, "POST", containerPath(id, "wait"), query("condition", o.waitCondition), nil)
		if err != nil {
			return daemonErr(err)
		}
		defer wait.Close()
	}

	restore := func() {}
	if o.tty {
		if in := stdinFile(cmd); in != nil && o.stdin && term.IsTerminal(int(in.Fd())) {
			if st, err := term.MakeRaw(int(in.Fd())); err == nil {
				restore = func() { _ = term.Restore(int(in.Fd()), st) }
			}
		}
	}
	defer restore()

	if o.start {
		if err := startContainer(cmd, c, id); err != nil {
			restore()
			removeUnstarted(cmd, c, id, o.autoRemove)
			return err
		}
	}
	if o.tty {
		stop := monitorTTYSize(ctx, c, containerPath(id, "resize"))
		defer stop()
	} else {
		stop := proxySignals(ctx, c, id)
		defer stop()
	}

	_, _, detached, err := pumpStreams(cmd, conn, br, o.stdin, o.tty, keys)
	restore()
	if err != nil {
		return err
	}
	if detached {
		// The daemon let the client go; the container runs on. As the
		// docker CLI's, a run ends well, an attach with the escape.
		if o.start {
			return nil
		}
		return errEscape
	}

	if wait != nil {
		return waitStatus(wait)
	}
	// Attached to a running container: its output ends when it exits,
	// and not-running answers at once then, with the status.
	body, err := c.Stream(ctx, "POST", containerPath(id, "wait"), query("condition", "not-running"), nil)
	if err != nil {
		return nil
	}
	defer body.Close()
	return waitStatus(body)
}

// errEscape is how the docker CLI ends an attach or exec the user
// detached from (exit status 1).
var errEscape = errors.New("read escape sequence")

// waitStatus decodes the body of a wait request into the exit status.
func waitStatus(body io.Reader) error {
	var wr wharf.WaitResponse
	if err := json.NewDecoder(body).Decode(&wr); err != nil {
		return exitError{code: 125, err: fmt.Errorf("waiting for the container: %v", err)}
	}
	if wr.Error != nil && wr.Error.Message != "" {
		return exitError{code: 125, err: errors.New(wr.Error.Message)}
	}
	if wr.StatusCode != 0 {
		return exitError{code: wr.StatusCode}
	}
	return nil
}

// pumpStreams copies local stdin to a hijacked connection (when wanted)
// and its output to stdout/stderr until the output ends. Local stdin
// reaching EOF half-closes the connection so the process sees EOF too. A
// multiplexed stream that ends with an exit code (an exec run) returns it.
func pumpStreams(cmd *cobra.Command, conn net.Conn, br *bufio.Reader, stdin, tty bool, keys []byte) (code int, exited, detached bool, err error) {
	var seen atomic.Bool
	if stdin {
		in := cmd.InOrStdin()
		if keys != nil {
			// The keys go to the daemon, which lets the client go;
			// watching for them tells this end of the stream that it
			// was let go rather than that the process ended.
			in = wstream.WatchKeys(in, keys, func() { seen.Store(true) })
		}
		go func() {
			_, _ = io.Copy(conn, in)
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}()
	}
	if tty {
		_, err = io.Copy(cmd.OutOrStdout(), br)
	} else {
		code, exited, err = wharf.DemuxExit(cmd.OutOrStdout(), cmd.ErrOrStderr(), br)
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return code, exited, seen.Load(), err
}

// monitorTTYSize sends the local terminal's size to resizePath now and on
// every SIGWINCH, until the returned function is called.
func monitorTTYSize(ctx context.Context, c *wharf.Client, resizePath string) func() {
	fd := int(os.Stdout.Fd())
	if !term.IsTerminal(fd) {
		return func() {}
	}
	send := func() {
		w, h, err := term.GetSize(fd)
		if err != nil || w == 0 || h == 0 {
			return
		}
		q := url.Values{"h": {strconv.Itoa(h)}, "w": {strconv.Itoa(w)}}
		_ = c.Do(ctx, "POST", resizePath, q, nil, nil)
	}
	send()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				send()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// proxiedSignals are forwarded to the container while attached without a
// terminal (docker's --sig-proxy), so Ctrl-C stops the container's process
// rather than just the CLI.
var proxiedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// proxySignals forwards proxiedSignals to container id via kill until the
// returned function is called.
func proxySignals(ctx context.Context, c *wharf.Client, id string) func() {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, proxiedSignals...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				name := unix.SignalName(s.(syscall.Signal))
				if name == "" {
					name = strconv.Itoa(int(s.(syscall.Signal)))
				}
				_ = c.Do(ctx, "POST", containerPath(id, "kill"), query("signal", name), nil, nil)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// newStartCommand is `wharf start`.
func newStartCommand() *cobra.Command {
	var attach, interactive bool
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			if attach || interactive {
				if len(args) > 1 {
					return errors.New("you cannot start and attach multiple containers at once")
				}
				cj, err := inspectContainer(cmd, c, args[0])
				if err != nil {
					return err
				}
				if interactive && cj.Config.Tty && !isTerminal(cmd.InOrStdin()) {
					return errors.New("the input device is not a TTY")
				}
				err = attachStartWait(cmd, c, cj.ID, attachOptions{
					stdin: interactive && cj.Config.OpenStdin, tty: cj.Config.Tty,
					waitCondition: "next-exit", start: true,
				})
				return startExit(err)
			}
			return forEach(cmd, args, func(id string) error {
				return ignoreNotModified(c.Do(cmd.Context(), "POST", containerPath(id, "start"), nil, nil, nil))
			}, printName(cmd))
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	return cmd
}

// startExit keeps the container's status from `start -a` but gives daemon
// errors the ordinary status 1 (only run and create use 125).
func startExit(err error) error {
	var ee exitError
	if errors.As(err, &ee) && ee.err != nil && ee.code == 125 {
		return ee.err
	}
	return err
}

// newAttachCommand is `wharf attach`.
func newAttachCommand() *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			cj, err := inspectContainer(cmd, c, args[0])
			if err != nil {
				return err
			}
			if !cj.State.Running {
				return errors.New("You cannot attach to a stopped container, start it first")
			}
			if cj.State.Paused {
				return errors.New("You cannot attach to a paused container, unpause it first")
			}
			stdin := !noStdin && cj.Config.OpenStdin
			if stdin && cj.Config.Tty && !isTerminal(cmd.InOrStdin()) {
				return errors.New("the input device is not a TTY")
			}
			return startExit(attachStartWait(cmd, c, cj.ID, attachOptions{stdin: stdin, tty: cj.Config.Tty, detachKeys: detachKeys}))
		},
	}
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	return cmd
}
