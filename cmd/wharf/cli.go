package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
)

// cliCommands are the docker-compatible client commands, by name, in the
// order help lists them. The commands talk to the daemon only through
// api/wharf.Client, so everything here is presentation: flags to requests,
// answers to text. The names let main build only the command a process runs.
var cliCommands = []namedCommand{
	{"run", newRunCommand}, {"create", newCreateCommand}, {"start", newStartCommand}, {"stop", newStopCommand},
	{"kill", newKillCommand}, {"restart", newRestartCommand}, {"rm", newRmCommand}, {"ps", newPsCommand},
	{"logs", newLogsCommand}, {"exec", newExecCommand}, {"attach", newAttachCommand}, {"inspect", newInspectCommand},
	{"wait", newWaitCommand}, {"pause", newPauseCommand}, {"unpause", newUnpauseCommand}, {"top", newTopCommand},
	{"stats", newStatsCommand}, {"rename", newRenameCommand}, {"update", newUpdateCommand},
	{"commit", newCommitCommand},
	{"images", newImagesCommand}, {"pull", newPullCommand}, {"push", newPushCommand}, {"tag", newTagCommand},
	{"rmi", newRmiCommand}, {"import", newImportCommand}, {"save", newSaveCommand}, {"load", newLoadCommand},
	{"info", newInfoCommand}, {"version", newVersionCommand}, {"system", newSystemCommand}, {"events", newEventsCommand},
	{"build", newBuildCommand}, {"builder", newBuilderCommand},
	{"container", newContainerCommand}, {"image", newImageCommand},
	{"network", newNetworkCommand}, {"volume", newVolumeCommand}, {"port", newPortCommand},
	{"fn", newFnCommand}, {"keys", newKeysCommand}, {"registry", newRegistryCommand},
	{"node", newNodeCommand}, {"cluster", newClusterCommand}, {"service", newServiceCommand}, {"secret", newSecretCommand}, {"stack", newStackCommand},
	{"batch", newBatchCommand}, {"console", newConsoleCommand},
}

// namedCommand is a subcommand of the root and the name it answers to.
type namedCommand struct {
	name  string
	build func() *cobra.Command
}

// addCLICommands adds every client command to root.
func addCLICommands(root *cobra.Command) {
	for _, c := range cliCommands {
		root.AddCommand(c.build())
	}
}

// newContainerCommand groups the container commands under `wharf container`
// as docker's management commands do, so scripts written either way work.
func newContainerCommand() *cobra.Command {
	c := &cobra.Command{Use: "container", Short: "Manage containers"}
	c.AddCommand(
		newRunCommand(), newCreateCommand(), newStartCommand(), newStopCommand(),
		newKillCommand(), newRestartCommand(), renamed(newRmCommand(), "rm"),
		renamed(newPsCommand(), "ls", "ps", "list"), newLogsCommand(), newExecCommand(),
		newAttachCommand(), renamed(newInspectCommand(), "inspect"), newWaitCommand(),
		newPauseCommand(), newUnpauseCommand(), newTopCommand(), newStatsCommand(),
		newRenameCommand(), newContainerPruneCommand(), newPortCommand(), newUpdateCommand(),
		newCommitCommand(),
	)
	return c
}

// newImageCommand groups the image commands under `wharf image`.
func newImageCommand() *cobra.Command {
	c := &cobra.Command{Use: "image", Short: "Manage images"}
	c.AddCommand(
		renamed(newImagesCommand(), "ls", "images", "list"), newPullCommand(),
		newPushCommand(), newTagCommand(), renamed(newRmiCommand(), "rm", "rmi"),
		newImportCommand(), newSaveCommand(), newLoadCommand(),
		renamed(newInspectCommand(), "inspect"), newHistoryCommand(), newImagePruneCommand(),
		newBuildCommand(),
	)
	return c
}

// renamed gives a top-level command the name it has under a management
// command (`images` is `image ls`), keeping the rest of its Use line.
func renamed(c *cobra.Command, name string, aliases ...string) *cobra.Command {
	if i := strings.IndexByte(c.Use, ' '); i >= 0 {
		c.Use = name + c.Use[i:]
	} else {
		c.Use = name
	}
	c.Aliases = nil
	for _, a := range aliases {
		if a != name {
			c.Aliases = append(c.Aliases, a)
		}
	}
	if name == "inspect" {
		// `image inspect` and `container inspect` are typed already.
		if t := c.Flags().Lookup("type"); t != nil {
			t.Hidden = true
		}
	}
	return c
}

// daemonErr gives an error from the daemon the exit status docker uses for
// run and create (125), keeping its class for errors.Is.
func daemonErr(err error) error {
	if err == nil {
		return nil
	}
	var ee exitError
	if errors.As(err, &ee) {
		return err
	}
	return exitError{code: 125, err: err}
}

// flagErr125 makes flag parsing errors of run/create exit 125 as docker's do.
func flagErr125(_ *cobra.Command, err error) error {
	return exitError{code: 125, err: err}
}

// isTerminal reports whether f is an interactive terminal.
func isTerminal(f any) bool {
	fd, ok := f.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(fd.Fd()))
}

// query builds url.Values from alternating keys and values, dropping pairs
// whose value is empty so optional parameters stay off the wire.
func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Add(kv[i], kv[i+1])
		}
	}
	return q
}

// boolParam renders a boolean query parameter the way the daemon reads it.
func boolParam(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// containerPath returns the API path of a container or of one of its
// sub-resources; ids and names never contain slashes but are escaped anyway.
func containerPath(id string, sub ...string) string {
	p := "/containers/" + url.PathEscape(id)
	for _, s := range sub {
		p += "/" + s
	}
	return p
}

// forEach runs fn on every argument, printing each failure on stderr the
// way docker does for multi-target commands, and reports exit status 1 if
// any failed. ok, when non-nil, prints the successful name.
func forEach(cmd *cobra.Command, args []string, fn func(string) error, ok func(string)) error {
	failed := false
	for _, a := range args {
		if err := fn(a); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+err.Error())
			failed = true
			continue
		}
		if ok != nil {
			ok(a)
		}
	}
	if failed {
		return exitError{code: 1}
	}
	return nil
}

// printName returns a callback that prints the given name on cmd's stdout.
func printName(cmd *cobra.Command) func(string) {
	return func(s string) { fmt.Fprintln(cmd.OutOrStdout(), s) }
}

// inspectContainer fetches a container's full record.
func inspectContainer(cmd *cobra.Command, c *wharf.Client, id string) (*wharf.ContainerJSON, error) {
	var cj wharf.ContainerJSON
	if err := c.Do(cmd.Context(), "GET", containerPath(id, "json"), nil, nil, &cj); err != nil {
		return nil, err
	}
	if cj.State == nil {
		cj.State = &wharf.State{}
	}
	if cj.Config == nil {
		cj.Config = &wharf.Config{}
	}
	return &cj, nil
}

// ignoreNotModified treats "already in that state" answers as success, as
// docker does for start/pause of a container that is already there.
func ignoreNotModified(err error) error {
	if errdefs.IsNotModified(err) {
		return nil
	}
	return err
}

// stdinFile returns the process's stdin as *os.File when cmd reads from it,
// for terminal handling; nil when a test substituted another reader.
func stdinFile(cmd *cobra.Command) *os.File {
	if f, ok := cmd.InOrStdin().(*os.File); ok {
		return f
	}
	return nil
}
