package main

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// newCommitCommand is `wharf commit`: an image of a container's changes,
// as docker commit.
func newCommitCommand() *cobra.Command {
	var (
		author, message string
		changes         []string
		pause           bool
	)
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"author": {author}, "comment": {message}, "pause": {fmt.Sprint(pause)}, "change": changes}
			if len(args) == 2 {
				repo, tag := splitRepoTag(args[1])
				if tag == "<none>" {
					tag = ""
				}
				q.Set("repo", repo)
				q.Set("tag", tag)
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var resp wharf.ImportResponse
			if err := c.Do(cmd.Context(), "POST", containerPath(args[0], "commit"), q, nil, &resp); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	f.StringVarP(&message, "message", "m", "", "Commit message")
	f.StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	f.BoolVarP(&pause, "pause", "p", true, "Pause container during commit")
	return cmd
}
