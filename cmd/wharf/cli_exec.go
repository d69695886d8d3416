package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wharf-dev/wharf/api/wharf"
	wstream "github.com/wharf-dev/wharf/stream"
)

// execOptions holds the flags of `wharf exec`.
type execOptions struct {
	interactive, tty, detach, privileged bool
	env, envFiles                        []string
	user, workdir, detachKeys            string
}

// buildExecConfig turns exec flags and COMMAND [ARG...] into the exec
// creation request; size is the local terminal's (height, width) or nil.
func buildExecConfig(o *execOptions, command []string, size *[2]uint, src envSource) (*wharf.ExecConfig, error) {
	if len(command) == 0 {
		return nil, errors.New(`"exec" requires at least 2 arguments: CONTAINER COMMAND [ARG...]`)
	}
	env, err := buildEnv(o.envFiles, o.env, src)
	if err != nil {
		return nil, err
	}
	cfg := &wharf.ExecConfig{
		User:         o.user,
		Privileged:   o.privileged,
		Tty:          o.tty,
		AttachStdin:  o.interactive && !o.detach,
		AttachStdout: !o.detach,
		AttachStderr: !o.detach,
		Detach:       o.detach,
		Env:          env,
		WorkingDir:   o.workdir,
		Cmd:          command,
		DetachKeys:   o.detachKeys,
	}
	if o.tty {
		cfg.ConsoleSize = size
	}
	return cfg, nil
}

// terminalSize returns the local terminal's (height, width), or nil.
func terminalSize() *[2]uint {
	w, h, err := term.GetSize(int(os.Stdout.Fd()))
	if err != nil || w <= 0 || h <= 0 {
		return nil
	}
	return &[2]uint{uint(h), uint(w)}
}

// newExecCommand is `wharf exec`: run a process in a running container and
// exit with its status.
func newExecCommand() *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.tty && o.interactive && !o.detach && !isTerminal(cmd.InOrStdin()) {
				return errors.New("the input device is not a TTY")
			}
			cfg, err := buildExecConfig(o, args[1:], terminalSize(), osEnv)
			if err != nil {
				return err
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if o.detach {
				var created wharf.IDResponse
				if err := c.Do(ctx, "POST", containerPath(args[0], "exec"), nil, cfg, &created); err != nil {
					return err
				}
				return c.Do(ctx, "POST", "/exec/"+url.PathEscape(created.ID)+"/start", nil, wharf.ExecStartRequest{Detach: true}, nil)
			}
			// One request creates and runs the exec; without a TTY the
			// stream ends with the exit code.
			conn, br, hdr, err := c.HijackHeader(ctx, "POST", containerPath(args[0], "exec/run"), nil, cfg)
			execID := hdr.Get("X-Wharf-Exec-Id")
			if wharf.IsMissingRoute(err) {
				// A daemon older than the one-request exec (native API
				// 1.0): create the exec, then start it attached; the
				// exit code then comes from its inspect.
				var created wharf.IDResponse
				if err := c.Do(ctx, "POST", containerPath(args[0], "exec"), nil, cfg, &created); err != nil {
					return err
				}
				execID = created.ID
				conn, br, err = c.Hijack(ctx, "POST", "/exec/"+url.PathEscape(execID)+"/start", nil, wharf.ExecStartRequest{ConsoleSize: cfg.ConsoleSize})
			}
			if err != nil {
				return err
			}
			defer conn.Close()
			execPath := "/exec/" + url.PathEscape(execID)
			restore := func() {}
			if o.tty && o.interactive {
				if in := stdinFile(cmd); in != nil && term.IsTerminal(int(in.Fd())) {
					if st, err := term.MakeRaw(int(in.Fd())); err == nil {
						restore = func() { _ = term.Restore(int(in.Fd()), st) }
					}
				}
			}
			if o.tty {
				stop := monitorTTYSize(ctx, c, execPath+"/resize")
				defer stop()
			}
			var keys []byte
			if o.tty && o.interactive {
				keys, _ = wstream.ParseDetachKeys(o.detachKeys) // the daemon refused bad ones
			}
			code, exited, detached, err := pumpStreams(cmd, conn, br, o.interactive, o.tty, keys)
			restore()
			if err != nil {
				return err
			}
			if detached {
				// The daemon let the client go; the process runs on.
				return errEscape
			}
			if !exited {
				// A TTY stream carries no exit code, and it can end a
				// moment before the daemon records the exit.
				var ei wharf.ExecInspect
				for i := 0; i < 50; i++ {
					if err := c.Do(ctx, "GET", execPath+"/json", nil, nil, &ei); err != nil {
						return err
					}
					if ei.ExitCode != nil || !ei.Running {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if ei.ExitCode == nil {
					return exitError{code: 126, err: fmt.Errorf("exec %s did not report an exit code", execID)}
				}
				code = *ei.ExitCode
			}
			if code != 0 {
				return exitError{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "Read in a file of environment variables")
	f.StringVarP(&o.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the command")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}
