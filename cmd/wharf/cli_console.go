package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"
)

// consoleLink is the daemon's answer to POST /wharf/v1/console/links
// (server/console.LinkResponse; its request is LinkRequest).
type consoleLink struct {
	URL     string
	Expires time.Time
}

// newConsoleCommand is `wharf console`: a one-time sign-in link to the
// web console, minted by the daemon over its unix socket (whose users are
// root already). The link is printed, never logged by the daemon.
func newConsoleCommand() *cobra.Command {
	var open bool
	var key string
	cmd := &cobra.Command{
		Use:   "console [--open] [--key ACCESS_KEY_ID]",
		Short: "Print a one-time sign-in link to the web console",
		Long: `Print a one-time sign-in link to the web console that the daemon serves
under /console/ on its --http address (http://127.0.0.1:9280/console/ by
default). The link works once, within 5 minutes. Without --key the session
acts as the local root (everything, as on the daemon's socket); with --key
it has that access key's policy. Signing in with an access key id and
secret on the console's page works too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var link consoleLink
			req := struct {
				AccessKeyID string `json:",omitempty"`
			}{key}
			if err := c.Do(cmd.Context(), "POST", "/console/links", nil, req, &link); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), link.URL)
			fmt.Fprintf(cmd.ErrOrStderr(), "The link works once, until %s.\n", link.Expires.Local().Format(time.Kitchen))
			if open {
				if err := openBrowser(link.URL); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "Open it in a browser (%v).\n", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&open, "open", false, "Also open the link in this machine's browser (xdg-open), where there is one")
	cmd.Flags().StringVar(&key, "key", "", "Sign in as this access key, with its policy (default: the local root)")
	return cmd
}

// openBrowser opens url with the desktop's opener, when there is a
// desktop.
func openBrowser(url string) error {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return fmt.Errorf("no desktop session here")
	}
	for _, opener := range []string{"xdg-open", "sensible-browser"} {
		if p, err := exec.LookPath(opener); err == nil {
			c := exec.Command(p, url)
			c.Stdout, c.Stderr = nil, nil
			return c.Start()
		}
	}
	return fmt.Errorf("no xdg-open or sensible-browser")
}
