package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// newVolumeCommand is `wharf volume`: docker's volume management.
func newVolumeCommand() *cobra.Command {
	c := &cobra.Command{Use: "volume", Short: "Manage volumes"}
	c.AddCommand(newVolumeCreateCommand(), newVolumeLsCommand(), newVolumeInspectCommand(), newVolumeRmCommand(), newVolumePruneCommand())
	return c
}

func volumePath(name string) string { return "/volumes/" + url.PathEscape(name) }

func newVolumeCreateCommand() *cobra.Command {
	var driver string
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			req := wharf.VolumeCreateRequest{Driver: driver}
			if len(args) == 1 {
				req.Name = args[0]
			}
			if req.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			if req.DriverOpts, err = parseLabels(opts); err != nil {
				return err
			}
			var v wharf.Volume
			if err := c.Do(cmd.Context(), "POST", "/volumes/create", nil, req, &v); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	cmd.Flags().StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	cmd.Flags().StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

// volumeRow is one line of `volume ls`.
type volumeRow struct{ v *wharf.Volume }

func (r volumeRow) Name() string       { return r.v.Name }
func (r volumeRow) Driver() string     { return r.v.Driver }
func (r volumeRow) Mountpoint() string { return r.v.Mountpoint }
func (r volumeRow) Scope() string      { return r.v.Scope }
func (r volumeRow) Labels() string {
	var parts []string
	for k, v := range r.v.Labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
func (r volumeRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"Name": r.Name(), "Driver": r.Driver(), "Mountpoint": r.Mountpoint(), "Scope": r.Scope(), "Labels": r.Labels()})
}

func newVolumeLsCommand() *cobra.Command {
	var quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var resp wharf.VolumeListResponse
			if err := c.Do(cmd.Context(), "GET", "/volumes", nil, nil, &resp); err != nil {
				return err
			}
			var rows []any
			for _, v := range resp.Volumes {
				if matchVolume(v, filters) {
					rows = append(rows, volumeRow{v})
				}
			}
			if quiet {
				format = "{{.Name}}"
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.Driver}}\t{{.Name}}",
				map[string]string{"Name": "VOLUME NAME", "Driver": "DRIVER", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE", "Labels": "LABELS"}, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Provide filter values (label=<key>[=<value>], name=<name>, dangling=true|false)")
	return cmd
}

// matchVolume applies `volume ls --filter` values (ANDed).
func matchVolume(v *wharf.Volume, filters []string) bool {
	for _, f := range filters {
		k, val, _ := strings.Cut(f, "=")
		switch k {
		case "label":
			lk, lv, hasV := strings.Cut(val, "=")
			got, ok := v.Labels[lk]
			if !ok || (hasV && got != lv) {
				return false
			}
		case "name":
			if !strings.Contains(v.Name, val) {
				return false
			}
		case "dangling":
			inUse := v.UsageData != nil && v.UsageData.RefCount > 0
			if (val == "true" || val == "1") == inUse {
				return false
			}
		}
	}
	return true
}

func newVolumeInspectCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return inspectEach(cmd, args, format, func(name string, out any) error {
				return c.Do(cmd.Context(), "GET", volumePath(name), nil, nil, out)
			}, func() any { return &wharf.Volume{} })
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newVolumeRmCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return forEach(cmd, args, func(n string) error {
				return c.Do(cmd.Context(), "DELETE", volumePath(n), query("force", boolParam(force)), nil, nil)
			}, printName(cmd))
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not fail when the volume does not exist")
	return cmd
}

func newVolumePruneCommand() *cobra.Command {
	var force, all bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force && !confirm(cmd, "WARNING! This will remove anonymous local volumes not used by at least one container.") {
				return nil
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var rep wharf.VolumePruneReport
			if err := c.Do(cmd.Context(), "POST", "/volumes/prune", query("all", boolParam(all)), nil, &rep); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(rep.VolumesDeleted) > 0 {
				fmt.Fprintln(out, "Deleted Volumes:")
				for _, n := range rep.VolumesDeleted {
					fmt.Fprintln(out, n)
				}
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "Total reclaimed space: %s\n", humanSize(int64(rep.SpaceReclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	return cmd
}
