package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// simpleContainerCommand builds a command that posts to one sub-resource
// of every named container and prints each name that succeeded, the shape
// shared by pause, unpause, stop, kill, restart and rm.
func simpleContainerCommand(use, short string, do func(cmd *cobra.Command, c *wharf.Client, id string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return forEach(cmd, args, func(id string) error { return do(cmd, c, id) }, printName(cmd))
		},
	}
}

// newStopCommand is `wharf stop`.
func newStopCommand() *cobra.Command {
	var timeout int
	var sig string
	cmd := simpleContainerCommand("stop [OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers",
		func(cmd *cobra.Command, c *wharf.Client, id string) error {
			q := query("signal", sig)
			if cmd.Flags().Changed("time") {
				q.Set("t", strconv.Itoa(timeout))
			}
			return ignoreNotModified(c.Do(cmd.Context(), "POST", containerPath(id, "stop"), q, nil, nil))
		})
	cmd.Flags().IntVarP(&timeout, "time", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container")
	return cmd
}

// newRestartCommand is `wharf restart`.
func newRestartCommand() *cobra.Command {
	var timeout int
	var sig string
	cmd := simpleContainerCommand("restart [OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers",
		func(cmd *cobra.Command, c *wharf.Client, id string) error {
			q := query("signal", sig)
			if cmd.Flags().Changed("time") {
				q.Set("t", strconv.Itoa(timeout))
			}
			return c.Do(cmd.Context(), "POST", containerPath(id, "restart"), q, nil, nil)
		})
	cmd.Flags().IntVarP(&timeout, "time", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container")
	return cmd
}

// newKillCommand is `wharf kill`.
func newKillCommand() *cobra.Command {
	var sig string
	cmd := simpleContainerCommand("kill [OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers",
		func(cmd *cobra.Command, c *wharf.Client, id string) error {
			return c.Do(cmd.Context(), "POST", containerPath(id, "kill"), query("signal", sig), nil, nil)
		})
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container (default KILL)")
	return cmd
}

// newRmCommand is `wharf rm`.
func newRmCommand() *cobra.Command {
	var force, volumes bool
	cmd := simpleContainerCommand("rm [OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers",
		func(cmd *cobra.Command, c *wharf.Client, id string) error {
			q := query("force", boolParam(force), "v", boolParam(volumes))
			return c.Do(cmd.Context(), "DELETE", containerPath(id), q, nil, nil)
		})
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}

// newPauseCommand is `wharf pause`.
func newPauseCommand() *cobra.Command {
	return simpleContainerCommand("pause CONTAINER [CONTAINER...]", "Pause all processes within one or more containers",
		func(cmd *cobra.Command, c *wharf.Client, id string) error {
			return c.Do(cmd.Context(), "POST", containerPath(id, "pause"), nil, nil, nil)
		})
}

// newUnpauseCommand is `wharf unpause`.
func newUnpauseCommand() *cobra.Command {
	return simpleContainerCommand("unpause CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers",
		func(cmd *cobra.Command, c *wharf.Client, id string) error {
			return c.Do(cmd.Context(), "POST", containerPath(id, "unpause"), nil, nil, nil)
		})
}

// newRenameCommand is `wharf rename`.
func newRenameCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			if strings.TrimSpace(args[1]) == "" {
				return errors.New("Error: Neither old nor new names may be empty")
			}
			return c.Do(cmd.Context(), "POST", containerPath(args[0], "rename"), url.Values{"name": {args[1]}}, nil, nil)
		},
	}
}

// newWaitCommand is `wharf wait`: print each container's exit code once it
// stops.
func newWaitCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return forEach(cmd, args, func(id string) error {
				var wr wharf.WaitResponse
				if err := c.Do(cmd.Context(), "POST", containerPath(id, "wait"), query("condition", "not-running"), nil, &wr); err != nil {
					return err
				}
				if wr.Error != nil && wr.Error.Message != "" {
					return errors.New(wr.Error.Message)
				}
				fmt.Fprintln(cmd.OutOrStdout(), wr.StatusCode)
				return nil
			}, nil)
		},
	}
}

// newTopCommand is `wharf top`.
func newTopCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var top wharf.TopResponse
			q := query("ps_args", strings.Join(args[1:], " "))
			if err := c.Do(cmd.Context(), "GET", containerPath(args[0], "top"), q, nil, &top); err != nil {
				return err
			}
			tw := newTabWriter(cmd.OutOrStdout())
			fmt.Fprintln(tw, strings.Join(top.Titles, "\t"))
			for _, p := range top.Processes {
				fmt.Fprintln(tw, strings.Join(p, "\t"))
			}
			return tw.Flush()
		},
	}
	// ps options such as -ef belong to ps, not to us.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// newContainerPruneCommand is `wharf container prune`.
func newContainerPruneCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force && !confirm(cmd, "WARNING! This will remove all stopped containers.") {
				return nil
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var rep wharf.ContainerPruneReport
			if err := c.Do(cmd.Context(), "POST", "/containers/prune", nil, nil, &rep); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(rep.ContainersDeleted) > 0 {
				fmt.Fprintln(out, "Deleted Containers:")
				for _, id := range rep.ContainersDeleted {
					fmt.Fprintln(out, id)
				}
				fmt.Fprintln(out)
			}
			fmt.Fprintln(out, "Total reclaimed space: "+humanSize(int64(rep.SpaceReclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}
