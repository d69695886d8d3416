package main

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// newNodeCommand is `wharf node`: the cluster's nodes, as `docker node`.
func newNodeCommand() *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "Manage the cluster's nodes"}
	c.AddCommand(newNodeLsCommand(), newNodeAvailabilityCommand("drain", "DRAINING", "Drain nodes: they take no new tasks"),
		newNodeAvailabilityCommand("activate", "ACTIVE", "Make drained nodes take tasks again"),
		newNodeLabelCommand(), newNodeRmCommand())
	return c
}

type nodeRow struct {
	ID, Name, Addr, Status, Availability, ManagerStatus, CPU, Memory, Labels string
}

func newNodeLsCommand() *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the cluster's nodes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var nodes []wharf.ClusterNode
			if err := c.Do(cmd.Context(), "GET", "/cluster/nodes", nil, nil, &nodes); err != nil {
				return err
			}
			if format == "json" {
				return printJSONIndented(cmd.OutOrStdout(), nodes)
			}
			rows := make([]any, 0, len(nodes))
			for _, n := range nodes {
				id := n.ID
				if n.Self {
					id += " *"
				}
				ms := ""
				switch {
				case n.Leader:
					ms = "Leader"
				case n.Manager && n.Status == "READY":
					ms = "Reachable"
				case n.Manager:
					ms = "Unreachable"
				}
				var labels []string
				for k, v := range n.Labels {
					labels = append(labels, k+"="+v)
				}
				sort.Strings(labels)
				rows = append(rows, nodeRow{ID: id, Name: n.Name, Addr: n.Addr, Status: n.Status, Availability: n.Availability,
					ManagerStatus: ms, CPU: fmt.Sprint(n.CPU), Memory: fmt.Sprintf("%dMiB", n.MemoryMiB), Labels: strings.Join(labels, ",")})
			}
			if quiet {
				format = "{{.ID}}"
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.ID}}\t{{.Name}}\t{{.Addr}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.CPU}}\t{{.Memory}}\t{{.Labels}}",
				map[string]string{"ID": "ID", "Name": "NAME", "Addr": "ADDRESS", "Status": "STATUS", "Availability": "AVAILABILITY",
					"ManagerStatus": "MANAGER STATUS", "CPU": "CPU", "Memory": "MEMORY", "Labels": "LABELS"}, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template, or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display node ids")
	return cmd
}

func updateNodes(cmd *cobra.Command, refs []string, u wharf.ClusterNodeUpdate) error {
	c, err := clientFor(cmd)
	if err != nil {
		return err
	}
	var failed error
	for _, ref := range refs {
		var n wharf.ClusterNode
		if err := c.Do(cmd.Context(), "POST", "/cluster/nodes/"+url.PathEscape(ref)+"/update", nil, u, &n); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+err.Error())
			failed = exitError{code: 1}
			continue
		}
		fmt.Fprintln(cmd.OutOrStdout(), ref)
	}
	return failed
}

func newNodeAvailabilityCommand(use, availability, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NODE [NODE...]",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateNodes(cmd, args, wharf.ClusterNodeUpdate{Availability: availability})
		},
	}
}

func newNodeLabelCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "label NODE key=value|key- [...]",
		Short: "Set (key=value) or remove (key-) a node's labels",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			u := wharf.ClusterNodeUpdate{LabelAdd: map[string]string{}}
			for _, a := range args[1:] {
				if k, v, ok := strings.Cut(a, "="); ok && k != "" {
					u.LabelAdd[k] = v
				} else if k, ok := strings.CutSuffix(a, "-"); ok && k != "" {
					u.LabelRm = append(u.LabelRm, k)
				} else {
					return fmt.Errorf("%q: want key=value or key-", a)
				}
			}
			return updateNodes(cmd, args[:1], u)
		},
	}
}

func newNodeRmCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NODE [NODE...]",
		Aliases: []string{"remove"},
		Short:   "Remove nodes from the cluster's list (a READY one only with --force)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			if force {
				q.Set("force", "1")
			}
			var failed error
			for _, ref := range args {
				if err := c.Do(cmd.Context(), "DELETE", "/cluster/nodes/"+url.PathEscape(ref), q, nil, nil); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+err.Error())
					failed = exitError{code: 1}
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
			}
			return failed
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Remove a node that is still READY")
	return cmd
}

// newClusterCommand is `wharf cluster`.
func newClusterCommand() *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "Manage the cluster"}
	var manager, quiet bool
	tok := &cobra.Command{
		Use:   "token [--manager]",
		Short: "Print the command and token that join a node to this cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var t wharf.ClusterTokens
			if err := c.Do(cmd.Context(), "GET", "/cluster/tokens", nil, nil, &t); err != nil {
				return err
			}
			token, role := t.Worker, "a worker"
			if manager {
				token, role = t.Manager, "a manager"
			}
			if quiet {
				fmt.Fprintln(cmd.OutOrStdout(), token)
				return nil
			}
			extra := ""
			if manager {
				extra = " --manager --cluster-listen IP:PORT"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "To add %s to this cluster, run on it:\n\n    wharf daemon --join MANAGER-IP:PORT --cluster-token %s%s\n", role, token, extra)
			return nil
		},
	}
	tok.Flags().BoolVar(&manager, "manager", false, "the manager token")
	tok.Flags().BoolVarP(&quiet, "quiet", "q", false, "only the token")
	c.AddCommand(tok)
	return c
}
