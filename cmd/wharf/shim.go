package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/runtime/shim"
)

// newShimCommand documents the per-container supervisor the daemon starts;
// main dispatches to shimMain before cobra so the long-lived shim carries
// no command tree.
func newShimCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "shim OPTIONS-JSON",
		Short:  "Per-container supervisor (started by the daemon)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			os.Exit(shimMain(args[0]))
			return nil
		},
	}
}

func shimMain(optsJSON string) int {
	var o shim.Options
	if err := json.Unmarshal([]byte(optsJSON), &o); err != nil {
		fmt.Fprintln(os.Stderr, "wharf shim: options:", err)
		return 2
	}
	if o.ID == "" || o.Dir == "" || o.Bundle == "" || o.RuntimePath == "" {
		fmt.Fprintln(os.Stderr, "wharf shim: started by the daemon only (options lack id, dir, bundle or runtime)")
		return 2
	}
	// fd 3 is the ready pipe the daemon reads.
	return shim.Main(o, os.NewFile(3, "ready"))
}
