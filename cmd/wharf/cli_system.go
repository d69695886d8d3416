package main

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// confirm asks a yes/no question on the terminal like docker's prompts;
// only "y" or "Y" agree.
func confirm(cmd *cobra.Command, warning string) bool {
	fmt.Fprintf(cmd.OutOrStdout(), "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	answer := strings.TrimSpace(line)
	return answer == "y" || answer == "Y"
}

// newInfoCommand is `wharf info`.
func newInfoCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var info wharf.Info
			if err := c.Do(cmd.Context(), "GET", "/info", nil, nil, &info); err != nil {
				return err
			}
			if format != "" {
				return renderFormatted(cmd.OutOrStdout(), format, "", nil, []any{info})
			}
			writeInfo(cmd.OutOrStdout(), &info)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// writeInfo prints Info as docker info's human text.
func writeInfo(w io.Writer, i *wharf.Info) {
	fmt.Fprintln(w, "Client:")
	fmt.Fprintln(w, " Version:    "+version)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Server:")
	fmt.Fprintf(w, " Containers: %d\n", i.Containers)
	fmt.Fprintf(w, "  Running: %d\n", i.ContainersRunning)
	fmt.Fprintf(w, "  Paused: %d\n", i.ContainersPaused)
	fmt.Fprintf(w, "  Stopped: %d\n", i.ContainersStopped)
	fmt.Fprintf(w, " Images: %d\n", i.Images)
	fmt.Fprintln(w, " Server Version: "+i.ServerVersion)
	fmt.Fprintln(w, " Cgroup Driver: "+i.CgroupDriver)
	fmt.Fprintln(w, " Cgroup Version: "+i.CgroupVersion)
	names := make([]string, 0, len(i.Runtimes))
	for n := range i.Runtimes {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, " Runtimes: "+strings.Join(names, " "))
	for _, n := range names {
		r := i.Runtimes[n]
		line := "  " + n + ": " + r.Path
		if r.Version != "" {
			line += " (" + r.Version + ")"
		}
		if r.Usable && len(r.Hides) > 0 {
			line += " [runs with " + strings.Join(r.Hides, ", ") + " hidden from it]"
		}
		if !r.Usable {
			line += " [unusable"
			if r.Reason != "" {
				line += ": " + r.Reason
			}
			line += "]"
		}
		fmt.Fprintln(w, line)
	}
	def := " Default Runtime: " + i.DefaultRuntime
	if i.RuntimeReason != "" {
		def += " (" + i.RuntimeReason + ")"
	}
	fmt.Fprintln(w, def)
	if i.FunctionRuntime != "" {
		fn := " Function Runtime: " + i.FunctionRuntime
		if i.FunctionRuntimeReason != "" {
			fn += " (" + i.FunctionRuntimeReason + ")"
		}
		fmt.Fprintln(w, fn)
	}
	if len(i.SecurityOptions) > 0 {
		fmt.Fprintln(w, " Security Options:")
		for _, o := range i.SecurityOptions {
			fmt.Fprintln(w, "  "+o)
		}
	}
	fmt.Fprintln(w, " Kernel Version: "+i.KernelVersion)
	fmt.Fprintln(w, " Operating System: "+i.OperatingSystem)
	fmt.Fprintf(w, " CPUs: %d\n", i.NCPU)
	fmt.Fprintln(w, " Total Memory: "+units.BytesSize(float64(i.MemTotal)))
	if i.ID != "" {
		fmt.Fprintln(w, " ID: "+i.ID)
	}
	fmt.Fprintln(w, " Root Dir: "+i.DockerRootDir)
	fmt.Fprintln(w, " Exec Root: "+i.ExecRoot)
	if len(i.InsecureRegistries) > 0 {
		fmt.Fprintln(w, " Insecure Registries:")
		for _, r := range i.InsecureRegistries {
			fmt.Fprintln(w, "  "+r)
		}
	}
}

// versionInfo is what `wharf version --format` templates see.
type versionInfo struct {
	Client wharf.Version
	Server *wharf.Version
}

// clientVersion describes this binary as a client.
func clientVersion() wharf.Version {
	return wharf.Version{
		Version:    version,
		APIVersion: wharf.APIVersion,
		GoVersion:  runtime.Version(),
		Os:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}
}

// writeVersion prints the human form of `wharf version`.
func writeVersion(w io.Writer, v versionInfo) {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "Client:")
	fmt.Fprintf(tw, " Version:\t%s\n", v.Client.Version)
	fmt.Fprintf(tw, " API version:\t%s\n", v.Client.APIVersion)
	fmt.Fprintf(tw, " Go version:\t%s\n", v.Client.GoVersion)
	fmt.Fprintf(tw, " OS/Arch:\t%s/%s\n", v.Client.Os, v.Client.Arch)
	if s := v.Server; s != nil {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "Server:")
		fmt.Fprintf(tw, " Version:\t%s\n", s.Version)
		fmt.Fprintf(tw, " API version:\t%s\n", s.APIVersion)
		fmt.Fprintf(tw, " Go version:\t%s\n", s.GoVersion)
		if s.GitCommit != "" {
			fmt.Fprintf(tw, " Git commit:\t%s\n", s.GitCommit)
		}
		fmt.Fprintf(tw, " OS/Arch:\t%s/%s\n", s.Os, s.Arch)
		fmt.Fprintf(tw, " Kernel Version:\t%s\n", s.KernelVersion)
	}
	_ = tw.Flush()
}

// newVersionCommand is `wharf version`. The client part prints even when
// the daemon is down; the failure to reach it then follows as the error.
func newVersionCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the wharf version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo{Client: clientVersion()}
			c, err := clientFor(cmd)
			if err == nil {
				var sv wharf.Version
				if err = c.Do(cmd.Context(), "GET", "/version", nil, nil, &sv); err == nil {
					v.Server = &sv
				}
			}
			out := cmd.OutOrStdout()
			if format != "" {
				if ferr := renderFormatted(out, format, "", nil, []any{v}); ferr != nil {
					return ferr
				}
			} else {
				writeVersion(out, v)
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// newSystemCommand is `wharf system` with its prune, info and version.
func newSystemCommand() *cobra.Command {
	c := &cobra.Command{Use: "system", Short: "Manage wharf"}
	c.AddCommand(newSystemPruneCommand(), newInfoCommand(), newVersionCommand(), newEventsCommand())
	return c
}

// pruneWarning is the confirmation text of system prune, docker's wording
// limited to what wharf prunes.
func pruneWarning(all bool) string {
	images := "  - all dangling images"
	if all {
		images = "  - all images without at least one container associated to them"
	}
	return "WARNING! This will remove:\n  - all stopped containers\n" + images + "\n"
}

// newSystemPruneCommand is `wharf system prune`.
func newSystemPruneCommand() *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force && !confirm(cmd, pruneWarning(all)) {
				return nil
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var rep wharf.SystemPruneReport
			if err := c.Do(cmd.Context(), "POST", "/system/prune", query("all", boolParam(all)), nil, &rep); err != nil {
				return err
			}
			writePruneReport(cmd.OutOrStdout(), &rep)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}

// writePruneReport prints what system prune removed, as docker does.
func writePruneReport(w io.Writer, rep *wharf.SystemPruneReport) {
	if ids := rep.Containers.ContainersDeleted; len(ids) > 0 {
		fmt.Fprintln(w, "Deleted Containers:")
		for _, id := range ids {
			fmt.Fprintln(w, id)
		}
		fmt.Fprintln(w)
	}
	if items := rep.Images.ImagesDeleted; len(items) > 0 {
		fmt.Fprintln(w, "Deleted Images:")
		for _, it := range items {
			if it.Untagged != "" {
				fmt.Fprintln(w, "untagged: "+it.Untagged)
			}
			if it.Deleted != "" {
				fmt.Fprintln(w, "deleted: "+it.Deleted)
			}
		}
		fmt.Fprintln(w)
	}
	total := rep.Containers.SpaceReclaimed + rep.Images.SpaceReclaimed
	fmt.Fprintln(w, "Total reclaimed space: "+humanSize(int64(total)))
}
