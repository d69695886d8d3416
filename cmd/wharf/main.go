// Command wharf is the single binary of the wharf platform: the daemon, the
// CLI that talks to it, the per-container shim and the minimal init used by
// `run --init` are all subcommands of it.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions/spareproc"
	"github.com/wharf-dev/wharf/runtime/initproc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// exitError carries a process exit status through cobra: the exit code of
// the container that `wharf run` ran (err nil, nothing printed), or a failure
// with the status docker would give it (125 for `run` failing daemon-side).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e exitError) Unwrap() error { return e.err }

func main() {
	// The same binary is bind-mounted into containers as their init for
	// --init; there it must do nothing but be an init.
	switch filepath.Base(os.Args[0]) {
	case "wharf-init":
		os.Exit(initproc.Main(os.Args[1:]))
	case "wharf-spare":
		// A spare function sandbox's waiting process (functions/spareproc).
		os.Exit(spareproc.Main())
	}
	// The shim lives as long as its container: it skips building the CLI's
	// command tree to keep its heap small.
	if len(os.Args) == 3 && os.Args[1] == "shim" {
		os.Exit(shimMain(os.Args[2]))
	}
	root := newRootCommand()
	err := root.Execute()
	if err == nil {
		return
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "wharf: "+ee.err.Error())
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "wharf: "+err.Error())
	os.Exit(1)
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "wharf",
		Short:         "A self-hosted compute platform: containers, images, functions",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("host", "H", "", "daemon socket to connect to (unix:///path); default $WHARF_HOST or "+wharf.DefaultHost)
	root.AddCommand(newDaemonCommand(), newShimCommand())
	addCLICommands(root)
	return root
}

// clientFor returns a client for the daemon chosen by --host, WHARF_HOST or
// the default socket, in that order.
func clientFor(cmd *cobra.Command) (*wharf.Client, error) {
	host, _ := cmd.Flags().GetString("host")
	if host == "" {
		host = os.Getenv("WHARF_HOST")
	}
	if host == "" {
		host = wharf.DefaultHost
	}
	c, err := wharf.NewClient(host)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return c, nil
}
