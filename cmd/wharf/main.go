// Command wharf is the single binary of the wharf platform: the daemon, the
// CLI that talks to it, the per-container shim and the minimal init used by
// `run --init` are all subcommands of it.
//
// This package is the lean entry: it links only what the CLI, the shim,
// wharf-init and the spare sandbox process need (a test keeps the daemon's
// libraries out), because those start often and pay for every package
// initialisation of the binary. The daemon is cmd/wharfd, embedded here by
// `make build` and executed by `wharf daemon` (launcher.go).
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions/spareproc"
	"github.com/wharf-dev/wharf/runtime/initproc"
	"github.com/wharf-dev/wharf/runtime/shim"
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
	case shim.DormantName:
		// A dormant shim, in a binary built without the assembly entry
		// that otherwise handles it before the Go runtime starts.
		os.Exit(shim.DormantMain())
	}
	// The shim lives as long as its container: it skips building the CLI's
	// command tree to keep its heap small.
	if len(os.Args) == 3 && os.Args[1] == "shim" {
		os.Exit(shimMain(os.Args[2]))
	}
	root := newRootCommand(os.Args[1:])
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

// newRootCommand builds the command tree for a process run with args. A
// CLI process runs one command, and building all of them (with their flags)
// is a noticeable part of its start-up, so when args name a command only
// that one is built; help, completion and anything unusual get all of them.
func newRootCommand(args []string) *cobra.Command {
	root := &cobra.Command{
		Use:           "wharf",
		Short:         "A self-hosted compute platform: containers, images, functions",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("host", "H", "", "daemon socket to connect to (unix:///path); default $WHARF_HOST or "+wharf.DefaultHost)
	if c := lookupCommand(commandWord(args)); c != nil {
		root.AddCommand(c.build())
		return root
	}
	root.AddCommand(newDaemonCommand(), newShimCommand())
	addCLICommands(root)
	return root
}

// rootCommands are the root's commands that are not client commands.
var rootCommands = []namedCommand{{"daemon", newDaemonCommand}, {"shim", newShimCommand}}

// lookupCommand returns the root command called name, or nil.
func lookupCommand(name string) *namedCommand {
	for _, list := range [][]namedCommand{rootCommands, cliCommands} {
		for i := range list {
			if list[i].name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// commandWord returns the command args run: the first argument after the
// root's own --host flag. It returns "" when another flag comes first, so
// that cobra sees, and reports on, the whole tree.
func commandWord(args []string) string {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-H" || a == "--host":
			i++
		case strings.HasPrefix(a, "--host=") || (strings.HasPrefix(a, "-H") && len(a) > 2 && a[2] != '-'):
		case strings.HasPrefix(a, "-"):
			return ""
		default:
			return a
		}
	}
	return ""
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
