package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// newNetworkCommand is `wharf network`: docker's network management.
func newNetworkCommand() *cobra.Command {
	c := &cobra.Command{Use: "network", Short: "Manage networks"}
	c.AddCommand(newNetworkCreateCommand(), newNetworkLsCommand(), newNetworkInspectCommand(), newNetworkRmCommand(),
		newNetworkConnectCommand(), newNetworkDisconnectCommand(), newNetworkPruneCommand())
	return c
}

func networkPath(id string, sub ...string) string {
	p := "/networks/" + url.PathEscape(id)
	for _, s := range sub {
		p += "/" + s
	}
	return p
}

func parseLabels(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, l := range list {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid label %q: empty name", l)
		}
		out[k] = v
	}
	return out, nil
}

func newNetworkCreateCommand() *cobra.Command {
	var driver, subnet, gateway, ipRange string
	var internal bool
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			req := wharf.NetworkCreateRequest{Name: args[0], Driver: driver, Internal: internal}
			if req.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			if req.Options, err = parseLabels(opts); err != nil {
				return err
			}
			if subnet != "" || gateway != "" || ipRange != "" {
				req.IPAM = &wharf.IPAM{Driver: "default", Config: []wharf.IPAMConfig{{Subnet: subnet, Gateway: gateway, IPRange: ipRange}}}
			}
			var resp wharf.NetworkCreateResponse
			if err := c.Do(cmd.Context(), "POST", "/networks/create", nil, req, &resp); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.StringVar(&subnet, "subnet", "", "Subnet in CIDR format that represents a network segment")
	f.StringVar(&gateway, "gateway", "", "IPv4 Gateway for the master subnet")
	f.StringVar(&ipRange, "ip-range", "", "Allocate container ip from a sub-range")
	f.BoolVar(&internal, "internal", false, "Restrict external access to the network")
	f.StringArrayVar(&labels, "label", nil, "Set metadata on a network")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

// networkRow is one line of `network ls`.
type networkRow struct{ n wharf.NetworkResource }

func (r networkRow) ID() string       { return shortID(r.n.ID) }
func (r networkRow) Name() string     { return r.n.Name }
func (r networkRow) Driver() string   { return r.n.Driver }
func (r networkRow) Scope() string    { return r.n.Scope }
func (r networkRow) Internal() string { return strconv.FormatBool(r.n.Internal) }
func (r networkRow) Labels() string {
	var parts []string
	for k, v := range r.n.Labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
func (r networkRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"ID": r.ID(), "Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(), "Internal": r.Internal(), "Labels": r.Labels()})
}

func newNetworkLsCommand() *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var list []wharf.NetworkResource
			if err := c.Do(cmd.Context(), "GET", "/networks", nil, nil, &list); err != nil {
				return err
			}
			rows := make([]any, len(list))
			for i, n := range list {
				rows[i] = networkRow{n}
			}
			if quiet {
				format = "{{.ID}}"
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
				map[string]string{"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Internal": "INTERNAL", "Labels": "LABELS"}, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template")
	return cmd
}

// inspectEach prints objects fetched by get as a JSON array, or through a
// --format template.
func inspectEach(cmd *cobra.Command, args []string, format string, get func(string, any) error, newObj func() any) error {
	var found []any
	failed := false
	for _, a := range args {
		obj := newObj()
		if err := get(a, obj); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+err.Error())
			failed = true
			continue
		}
		found = append(found, obj)
	}
	out := cmd.OutOrStdout()
	if format == "" {
		if found == nil {
			found = []any{}
		}
		if err := printJSONIndented(out, found); err != nil {
			return err
		}
	} else {
		tmpl, err := parseTemplate(format)
		if err != nil {
			return err
		}
		for _, f := range found {
			var b bytes.Buffer
			if err := tmpl.Execute(&b, f); err != nil {
				return fmt.Errorf("template: %v", err)
			}
			b.WriteByte('\n')
			if _, err := out.Write(b.Bytes()); err != nil {
				return err
			}
		}
	}
	if failed {
		return exitError{code: 1}
	}
	return nil
}

func newNetworkInspectCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return inspectEach(cmd, args, format, func(name string, out any) error {
				return c.Do(cmd.Context(), "GET", networkPath(name), nil, nil, out)
			}, func() any { return &wharf.NetworkResource{} })
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newNetworkRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return forEach(cmd, args, func(n string) error {
				return c.Do(cmd.Context(), "DELETE", networkPath(n), nil, nil, nil)
			}, printName(cmd))
		},
	}
}

func newNetworkConnectCommand() *cobra.Command {
	var ip string
	var aliases []string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			es := &wharf.EndpointSettings{Aliases: aliases}
			if ip != "" {
				es.IPAMConfig = &wharf.EndpointIPAMConfig{IPv4Address: ip}
			}
			return c.Do(cmd.Context(), "POST", networkPath(args[0], "connect"), nil,
				wharf.NetworkConnectRequest{Container: args[1], EndpointConfig: es}, nil)
		},
	}
	cmd.Flags().StringVar(&ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	return cmd
}

func newNetworkDisconnectCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return c.Do(cmd.Context(), "POST", networkPath(args[0], "disconnect"), nil,
				wharf.NetworkDisconnectRequest{Container: args[1], Force: force}, nil)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

func newNetworkPruneCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force && !confirm(cmd, "WARNING! This will remove all custom networks not used by at least one container.") {
				return nil
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var rep wharf.NetworkPruneReport
			if err := c.Do(cmd.Context(), "POST", "/networks/prune", nil, nil, &rep); err != nil {
				return err
			}
			if len(rep.NetworksDeleted) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "Deleted Networks:")
				for _, n := range rep.NetworksDeleted {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}

// newPortCommand is `wharf port CONTAINER [PRIVATE_PORT[/PROTO]]`.
func newPortCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			cj, err := inspectContainer(cmd, c, args[0])
			if err != nil {
				return err
			}
			var ports map[string][]wharf.PortBinding
			if cj.NetworkSettings != nil {
				ports = cj.NetworkSettings.Ports
			}
			out := cmd.OutOrStdout()
			if len(args) == 2 {
				key := args[1]
				if !strings.Contains(key, "/") {
					key += "/tcp"
				}
				bs := ports[key]
				if len(bs) == 0 {
					return fmt.Errorf("No public port '%s' published for %s", key, args[0])
				}
				for _, b := range bs {
					fmt.Fprintln(out, b.HostIP+":"+b.HostPort)
				}
				return nil
			}
			keys := make([]string, 0, len(ports))
			for k := range ports {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool {
				pi, _ := strconv.Atoi(strings.Split(keys[i], "/")[0])
				pj, _ := strconv.Atoi(strings.Split(keys[j], "/")[0])
				if pi != pj {
					return pi < pj
				}
				return keys[i] < keys[j]
			})
			for _, k := range keys {
				for _, b := range ports[k] {
					fmt.Fprintf(out, "%s -> %s:%s\n", k, b.HostIP, b.HostPort)
				}
			}
			return nil
		},
	}
}
