package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// maxSecretInput bounds what `wharf secret create` reads: the cluster
// keeps values of 64 KiB at most and says so, a larger input is cut
// just past that limit so that the daemon refuses it.
const maxSecretInput = 64<<10 + 1

// newSecretCommand is `wharf secret`: the cluster's secrets, as
// `docker secret` manages swarm's. Values go in once and never come
// back out: tasks receive them (ECS's containerDefinitions[].secrets).
func newSecretCommand() *cobra.Command {
	c := &cobra.Command{Use: "secret", Short: "Manage the cluster's secrets"}
	c.AddCommand(newSecretCreateCommand(), newSecretLsCommand(), newSecretInspectCommand(), newSecretRmCommand())
	return c
}

func newSecretCreateCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "create NAME [-f FILE|-]",
		Short: "Create a secret from a file or standard input",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader
			switch file {
			case "", "-":
				r = cmd.InOrStdin()
			default:
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			data, err := io.ReadAll(io.LimitReader(r, maxSecretInput))
			if err != nil {
				return err
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var out wharf.ClusterSecret
			if err := c.Do(cmd.Context(), "POST", "/cluster/secrets", nil, wharf.ClusterSecretCreate{Name: args[0], Data: data}, &out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "-", "Read the value from FILE (- for standard input)")
	return cmd
}

type secretRow struct{ Name, Size, Created, Updated string }

func newSecretLsCommand() *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the cluster's secrets (never their values)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var ss []wharf.ClusterSecret
			if err := c.Do(cmd.Context(), "GET", "/cluster/secrets", nil, nil, &ss); err != nil {
				return err
			}
			if format == "json" {
				return printJSONIndented(cmd.OutOrStdout(), ss)
			}
			now := time.Now()
			rows := make([]any, 0, len(ss))
			for _, s := range ss {
				rows = append(rows, secretRow{Name: s.Name, Size: units.BytesSize(float64(s.Size)),
					Created: units.HumanDuration(now.Sub(s.CreatedAt)) + " ago", Updated: units.HumanDuration(now.Sub(s.UpdatedAt)) + " ago"})
			}
			if quiet {
				format = "{{.Name}}"
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.Name}}\t{{.Size}}\t{{.Created}}\t{{.Updated}}",
				map[string]string{"Name": "NAME", "Size": "SIZE", "Created": "CREATED", "Updated": "UPDATED"}, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template, or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display secret names")
	return cmd
}

func newSecretInspectCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME [NAME...]",
		Short: "Show secrets' details (never their values)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			out := make([]wharf.ClusterSecret, 0, len(args))
			for _, name := range args {
				var s wharf.ClusterSecret
				if err := c.Do(cmd.Context(), "GET", "/cluster/secrets/"+url.PathEscape(name), nil, nil, &s); err != nil {
					return err
				}
				out = append(out, s)
			}
			return printJSONIndented(cmd.OutOrStdout(), out)
		},
	}
}

func newSecretRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME [NAME...]",
		Aliases: []string{"remove"},
		Short:   "Remove secrets",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var failed error
			for _, name := range args {
				if err := c.Do(cmd.Context(), "DELETE", "/cluster/secrets/"+url.PathEscape(name), nil, nil, nil); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+err.Error())
					failed = exitError{code: 1}
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), name)
			}
			return failed
		},
	}
}
