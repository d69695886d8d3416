package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// newServiceCommand is `wharf service`: the cluster's ECS services, as
// `docker service` shows swarm's. Services are created and changed
// with ECS's API (the aws CLI); these commands read them through the
// daemon's native API.
func newServiceCommand() *cobra.Command {
	c := &cobra.Command{Use: "service", Short: "Show the cluster's services (create and change them with the ECS API)"}
	c.AddCommand(newServiceLsCommand(), newServicePsCommand())
	return c
}

type serviceRow struct {
	Name, TaskDefinition, Replicas, LaunchType, Status, Deployment string
}

func newServiceLsCommand() *cobra.Command {
	var format, cluster string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the services of a cluster",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var svcs []wharf.ClusterService
			if err := c.Do(cmd.Context(), "GET", "/cluster/services", url.Values{"cluster": {cluster}}, nil, &svcs); err != nil {
				return err
			}
			if format == "json" {
				return printJSONIndented(cmd.OutOrStdout(), svcs)
			}
			rows := make([]any, 0, len(svcs))
			for _, s := range svcs {
				dep := ""
				for _, d := range s.Deployments {
					if d.Status == "PRIMARY" {
						dep = d.RolloutState
					}
				}
				rows = append(rows, serviceRow{Name: s.Name, TaskDefinition: s.TaskDefinition, Replicas: fmt.Sprintf("%d/%d", s.RunningCount, s.DesiredCount),
					LaunchType: s.LaunchType, Status: s.Status, Deployment: dep})
			}
			if quiet {
				format = "{{.Name}}"
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.Name}}\t{{.TaskDefinition}}\t{{.Replicas}}\t{{.LaunchType}}\t{{.Status}}\t{{.Deployment}}",
				map[string]string{"Name": "NAME", "TaskDefinition": "TASK DEFINITION", "Replicas": "REPLICAS", "LaunchType": "LAUNCH TYPE",
					"Status": "STATUS", "Deployment": "DEPLOYMENT"}, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template, or json")
	cmd.Flags().StringVar(&cluster, "cluster", "default", "The ECS cluster")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display service names")
	return cmd
}

type taskRow struct {
	ID, TaskDefinition, Node, DesiredState, CurrentState, Health, Error string
}

func newServicePsCommand() *cobra.Command {
	var format, cluster string
	var all bool
	cmd := &cobra.Command{
		Use:   "ps SERVICE",
		Short: "List the tasks of a service: node, status, health",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var ts []wharf.ClusterTask
			if err := c.Do(cmd.Context(), "GET", "/cluster/services/"+url.PathEscape(args[0])+"/tasks", url.Values{"cluster": {cluster}}, nil, &ts); err != nil {
				return err
			}
			if !all {
				live := ts[:0]
				for _, t := range ts {
					if t.LastStatus != "STOPPED" {
						live = append(live, t)
					}
				}
				ts = live
			}
			if format == "json" {
				return printJSONIndented(cmd.OutOrStdout(), ts)
			}
			now := time.Now()
			rows := make([]any, 0, len(ts))
			for _, t := range ts {
				state := t.LastStatus
				if t.StartedAt != nil && t.LastStatus == "RUNNING" {
					state += " " + units.HumanDuration(now.Sub(*t.StartedAt)) + " ago"
				}
				node := t.Node
				if node == "" {
					node = t.NodeID
				}
				var errs []string
				for _, ct := range t.Containers {
					if ct.ExitCode != nil && *ct.ExitCode != 0 {
						errs = append(errs, fmt.Sprintf("%s exited %d", ct.Name, *ct.ExitCode))
					}
				}
				if t.StoppedReason != "" {
					errs = append(errs, t.StoppedReason)
				}
				rows = append(rows, taskRow{ID: t.ID, TaskDefinition: t.TaskDefinition, Node: node, DesiredState: t.DesiredStatus,
					CurrentState: state, Health: t.Health, Error: strings.Join(errs, "; ")})
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.ID}}\t{{.TaskDefinition}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Health}}\t{{.Error}}",
				map[string]string{"ID": "ID", "TaskDefinition": "TASK DEFINITION", "Node": "NODE", "DesiredState": "DESIRED STATE",
					"CurrentState": "CURRENT STATE", "Health": "HEALTH", "Error": "ERROR"}, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template, or json")
	cmd.Flags().StringVar(&cluster, "cluster", "default", "The ECS cluster")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show stopped tasks too")
	return cmd
}
