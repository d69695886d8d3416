package main

import (
	"bufio"
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
		Use:    "shim --from-fd | --resume",
		Short:  "Per-container supervisor (started by the daemon)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			os.Exit(shimMain(args[0]))
			return nil
		},
	}
}

// shimMain reads the shim's options from fd 3, where the daemon writes
// them when it needs the shim (the process may wait there, started ahead
// of need), and reports on fd 4.
func shimMain(arg string) int {
	if arg == "--resume" {
		// A dormant shim woke up (runtime/shim/dormant_linux.go).
		return shim.Resume()
	}
	if arg != "--from-fd" {
		fmt.Fprintln(os.Stderr, "wharf shim: started by the daemon only")
		return 2
	}
	in := os.NewFile(3, "options")
	line, err := bufio.NewReader(in).ReadBytes('\n')
	in.Close()
	if err != nil {
		// The daemon went away before it needed this shim.
		return 0
	}
	var o shim.Options
	if err := json.Unmarshal(line, &o); err != nil {
		fmt.Fprintln(os.Stderr, "wharf shim: options:", err)
		return 2
	}
	if o.ID == "" || o.Dir == "" || o.Bundle == "" || o.RuntimePath == "" {
		fmt.Fprintln(os.Stderr, "wharf shim: options lack id, dir, bundle or runtime")
		return 2
	}
	if err := os.Chdir(o.Dir); err != nil {
		fmt.Fprintln(os.Stderr, "wharf shim:", err)
		return 2
	}
	return shim.Main(o, os.NewFile(4, "ready"))
}
