package main

import (
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// Function administration that the Lambda API has no operation for —
// logs, metrics, the async failure destination, HTTP routes and schedules —
// goes to the daemon's native API on its unix socket.
func fnAdminCommands() []*cobra.Command {
	return []*cobra.Command{newFnLogsCommand(), newFnMetricsCommand(), newFnFailuresCommand(), newFnRouteCommand(), newFnScheduleCommand()}
}

func newFnLogsCommand() *cobra.Command {
	var follow bool
	c := &cobra.Command{
		Use:   "logs [-f] NAME",
		Short: "Print a function's log (START, output, END and REPORT lines)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := clientFor(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			if follow {
				q.Set("follow", "1")
			}
			body, err := cl.Stream(cmd.Context(), "GET", "/functions/"+url.PathEscape(args[0])+"/logs", q, nil)
			if err != nil {
				return err
			}
			defer body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), body)
			return err
		},
	}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "Follow the log")
	return c
}

func newFnMetricsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "metrics NAME",
		Short: "Show a function's invocation metrics since the daemon started",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var m wharf.FunctionMetrics
			if err := cl.Do(cmd.Context(), "GET", "/functions/"+url.PathEscape(args[0])+"/metrics", nil, nil, &m); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			errRate := 0.0
			if m.Invocations > 0 {
				errRate = 100 * float64(m.Errors) / float64(m.Invocations)
			}
			fmt.Fprintf(tw, "FUNCTION\t%s\n", m.Function)
			fmt.Fprintf(tw, "INVOCATIONS\t%d\n", m.Invocations)
			fmt.Fprintf(tw, "ERRORS\t%d (%.1f%%)\n", m.Errors, errRate)
			fmt.Fprintf(tw, "THROTTLES\t%d\n", m.Throttles)
			fmt.Fprintf(tw, "COLD STARTS\t%d\n", m.ColdStarts)
			fmt.Fprintf(tw, "RUNNING NOW\t%d\n", m.Concurrent)
			fmt.Fprintf(tw, "SANDBOXES\t%d (%d warm)\n", m.SandboxesTotal, m.SandboxesWarm)
			fmt.Fprintf(tw, "DURATION p50/p90/p99/max\t%.2f / %.2f / %.2f / %.2f ms\n", m.P50Ms, m.P90Ms, m.P99Ms, m.MaxMs)
			return tw.Flush()
		},
	}
}

func newFnFailuresCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "failures NAME",
		Short: "List async invocations that failed every attempt (the on-failure destination)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var fs []wharf.FunctionFailure
			if err := cl.Do(cmd.Context(), "GET", "/functions/"+url.PathEscape(args[0])+"/failures", nil, nil, &fs); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REQUEST ID\tFAILED AT\tATTEMPTS\tPAYLOAD\tERROR")
			for _, f := range fs {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.RequestID, f.FailedAt.Format(time.RFC3339), f.Attempts, truncate(string(f.Payload), 40), truncate(f.Error, 80))
			}
			return tw.Flush()
		},
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func newFnRouteCommand() *cobra.Command {
	c := &cobra.Command{Use: "route", Short: "Manage HTTP routes to functions (API Gateway HTTP API events, format 2.0)"}
	var qualifier string
	add := &cobra.Command{
		Use:     "add METHOD PATH FUNCTION",
		Short:   "Route METHOD PATH (e.g. GET '/users/{id}', ANY '/files/{proxy+}') to FUNCTION on the daemon's --http address",
		Args:    cobra.ExactArgs(3),
		Example: "  wharf fn route add GET '/users/{id}' hello",
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var r wharf.FunctionRoute
			if err := cl.Do(cmd.Context(), "POST", "/functions/routes", nil, wharf.FunctionRoute{Method: args[0], Path: args[1], Function: args[2], Qualifier: qualifier}, &r); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s -> %s\n", r.Method, r.Path, r.Function)
			return nil
		},
	}
	add.Flags().StringVar(&qualifier, "qualifier", "", "Version or alias to invoke")
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List routes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var rs []wharf.FunctionRoute
			if err := cl.Do(cmd.Context(), "GET", "/functions/routes", nil, nil, &rs); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "METHOD\tPATH\tFUNCTION\tQUALIFIER")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Method, r.Path, r.Function, r.Qualifier)
			}
			return tw.Flush()
		},
	}
	rm := &cobra.Command{
		Use:   "rm METHOD PATH",
		Short: "Remove a route",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return cl.Do(cmd.Context(), "DELETE", "/functions/routes", url.Values{"method": {args[0]}, "path": {args[1]}}, nil, nil)
		},
	}
	c.AddCommand(add, ls, rm)
	return c
}

func newFnScheduleCommand() *cobra.Command {
	c := &cobra.Command{Use: "schedule", Short: "Manage schedules that invoke functions (rate(...) and cron(...) expressions)"}
	var qualifier string
	add := &cobra.Command{
		Use:     "add NAME EXPRESSION FUNCTION",
		Short:   "Invoke FUNCTION (asynchronously) on EXPRESSION: rate(5 minutes), cron(0 1 * * ? *)",
		Args:    cobra.ExactArgs(3),
		Example: "  wharf fn schedule add nightly 'cron(0 1 * * ? *)' hello",
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var s wharf.FunctionSchedule
			if err := cl.Do(cmd.Context(), "POST", "/functions/schedules", nil, wharf.FunctionSchedule{Name: args[0], Expression: args[1], Function: args[2], Qualifier: qualifier}, &s); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s -> %s\n", s.Name, s.Expression, s.Function)
			return nil
		},
	}
	add.Flags().StringVar(&qualifier, "qualifier", "", "Version or alias to invoke")
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List schedules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var ss []wharf.FunctionSchedule
			if err := cl.Do(cmd.Context(), "GET", "/functions/schedules", nil, nil, &ss); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tEXPRESSION\tFUNCTION\tQUALIFIER")
			for _, s := range ss {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Expression, s.Function, s.Qualifier)
			}
			return tw.Flush()
		},
	}
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a schedule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return cl.Do(cmd.Context(), "DELETE", "/functions/schedules/"+url.PathEscape(args[0]), nil, nil, nil)
		},
	}
	c.AddCommand(add, ls, rm)
	return c
}
