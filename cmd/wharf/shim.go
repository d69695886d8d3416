package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/runtime/shim"
)

// newShimCommand is the per-container supervisor the daemon starts; it is
// not meant to be run by hand.
func newShimCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "shim OPTIONS-JSON",
		Short:  "Per-container supervisor (started by the daemon)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var o shim.Options
			if err := json.Unmarshal([]byte(args[0]), &o); err != nil {
				return fmt.Errorf("shim options: %w", err)
			}
			// fd 3 is the ready pipe the daemon reads.
			ready := os.NewFile(3, "ready")
			os.Exit(shim.Main(o, ready))
			return nil
		},
	}
}
