package main

import (
	"fmt"
	"net/url"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// newRegistryCommand is `wharf registry`: the daemon's registry
// (--registry) from its socket.
func newRegistryCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "registry",
		Short: "Log in to, list and maintain the daemon's registry",
		Long: `Log in to, list and maintain the registry the daemon serves on --registry
(ECR's API on --http manages it too: aws ecr ...).

Logins use the access keys of 'wharf keys': a key's policy says which
repositories it may pull from (ecr:pull:<repository prefix>) and push to
(ecr:push:...); an admin key may do everything.

  wharf registry login-password | docker login -u AWS --password-stdin 127.0.0.1:5000`,
	}
	c.AddCommand(newRegistryLoginPasswordCommand(), newRegistryGCCommand(), newRegistryReposCommand(), newRegistryImagesCommand(),
		newRegistryRmCommand(), newRegistryPolicyCommand())
	return c
}

func newRegistryLoginPasswordCommand() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "login-password [--key ACCESS_KEY_ID]",
		Short: "Print a password for `docker login -u AWS` (valid 12 hours)",
		Long: `Print a password for 'docker login -u AWS' to the daemon's registry: a login
token of an access key, valid for 12 hours, as 'aws ecr get-login-password'
prints one. The key is --key, or the one of the credentials file.

` + credentialsHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				id, _, err := fnCredentials()
				if err != nil {
					return err
				}
				key = id
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var pw wharf.LoginPassword
			if err := c.Do(cmd.Context(), "POST", "/registry/login-password", nil, wharf.LoginPasswordRequest{AccessKeyID: key}, &pw); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), pw.Password)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "Access key id to log in with (default: the credentials file's)")
	return cmd
}

func newRegistryGCCommand() *cobra.Command {
	var dry, asJSON bool
	var grace string
	cmd := &cobra.Command{
		Use:   "gc [--dry-run]",
		Short: "Delete the blobs no manifest references, while the registry serves",
		Long: `Delete the blobs no manifest references, while the registry serves.

Blobs written or used within the grace period (--grace-period, 1h by
default) are kept: a push uploads its blobs before the manifest that
references them. Requests on the blobs being deleted wait for the
deletion; every other request goes on. Images the daemon pulled from its
registry keep their own copies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			if dry {
				q.Set("dry-run", "1")
			}
			if grace != "" {
				q.Set("grace", grace)
			}
			var rep wharf.RegistryGCReport
			if err := c.Do(cmd.Context(), "POST", "/registry/gc", q, nil, &rep); err != nil {
				return err
			}
			if asJSON {
				return printJSONIndented(cmd.OutOrStdout(), rep)
			}
			verb := "Deleted"
			if rep.DryRun {
				verb = "Would delete"
			}
			for _, d := range rep.Deleted {
				fmt.Fprintln(cmd.OutOrStdout(), d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %d of %d blobs (%s); %d manifests kept what they reference, %d recent blobs kept\n",
				verb, len(rep.Deleted), rep.Blobs, units.HumanSize(float64(rep.FreedBytes)), rep.Manifests, rep.Kept)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "Only list what would be deleted")
	cmd.Flags().BoolVar(&asJSON, "json", false, "Print the report as JSON")
	cmd.Flags().StringVar(&grace, "grace-period", "", "Keep unreferenced blobs written or used more recently than this (default 1h; 0 when nobody pushes)")
	return cmd
}
