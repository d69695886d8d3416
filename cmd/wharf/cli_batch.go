package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// newBatchCommand is `wharf batch`: Batch's jobs from the daemon's socket
// (the aws CLI manages queues and submits jobs over --http).
func newBatchCommand() *cobra.Command {
	c := &cobra.Command{Use: "batch", Short: "Look at Batch jobs and their logs"}
	c.AddCommand(newBatchLsCommand(), newBatchLogsCommand())
	return c
}

type batchRow struct {
	ID, Name, Queue, Status, Progress, Attempts, Created, Reason string
}

func newBatchLsCommand() *cobra.Command {
	var format string
	var limit int
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List Batch jobs, newest first, with their queue, status and array progress",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var jobs []wharf.BatchJob
			if err := c.Do(cmd.Context(), "GET", "/batch/jobs", url.Values{"limit": {fmt.Sprint(limit)}}, nil, &jobs); err != nil {
				return err
			}
			if format == "json" {
				return printJSONIndented(cmd.OutOrStdout(), jobs)
			}
			rows := make([]any, 0, len(jobs))
			for _, j := range jobs {
				progress := ""
				if j.ArraySize > 0 {
					progress = fmt.Sprintf("%d/%d done", j.Summary["SUCCEEDED"]+j.Summary["FAILED"], j.ArraySize)
					if n := j.Summary["FAILED"]; n > 0 {
						progress += fmt.Sprintf(", %d failed", n)
					}
					if n := j.Summary["RUNNING"] + j.Summary["STARTING"]; n > 0 {
						progress += fmt.Sprintf(", %d running", n)
					}
				}
				rows = append(rows, batchRow{ID: j.ID, Name: j.Name, Queue: j.Queue, Status: j.Status, Progress: progress,
					Attempts: fmt.Sprint(j.Attempts), Created: humanAgo(j.Created, time.Now()), Reason: j.StatusReason})
			}
			if quiet {
				format = "{{.ID}}"
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.ID}}\t{{.Name}}\t{{.Queue}}\t{{.Status}}\t{{.Progress}}\t{{.Created}}\t{{.Reason}}",
				map[string]string{"ID": "JOB ID", "Name": "NAME", "Queue": "QUEUE", "Status": "STATUS", "Progress": "ARRAY",
					"Attempts": "ATTEMPTS", "Created": "CREATED", "Reason": "REASON"}, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template, or json")
	cmd.Flags().IntVarP(&limit, "last", "n", 100, "Show the n newest jobs")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display job ids")
	return cmd
}

func newBatchLogsCommand() *cobra.Command {
	var streams bool
	cmd := &cobra.Command{
		Use:   "logs JOB",
		Short: "Print the logs of a job's attempts (every started child's for an array), also after it ended",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			rc, err := c.Stream(cmd.Context(), "GET", "/batch/jobs/"+url.PathEscape(args[0])+"/logs", nil, nil)
			if err != nil {
				return err
			}
			defer rc.Close()
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			out := cmd.OutOrStdout()
			for sc.Scan() {
				var l wharf.BatchLogLine
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					return fmt.Errorf("reading the logs: %w", err)
				}
				if streams {
					fmt.Fprintf(out, "%s %s\n", l.Stream, strings.TrimRight(l.Message, "\n"))
				} else {
					fmt.Fprintln(out, strings.TrimRight(l.Message, "\n"))
				}
			}
			return sc.Err()
		},
	}
	cmd.Flags().BoolVar(&streams, "streams", false, "Prefix each line with its attempt's log stream")
	return cmd
}
