package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// isUnixTimestamp matches "1700000000" and "1700000000.123456789"
// (^[0-9]+(\.[0-9]+)?$, by hand: a regexp would be compiled at every wharf
// process's init).
func isUnixTimestamp(s string) bool {
	sec, frac, dot := strings.Cut(s, ".")
	return allDigits(sec) && (!dot || allDigits(frac))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// timeLayouts are the absolute forms --since and --until accept besides
// unix timestamps, the same as docker's; layouts without a zone are read
// in local time.
var timeLayouts = []struct {
	layout string
	local  bool
}{
	{time.RFC3339Nano, false},
	{time.RFC3339, false},
	{"2006-01-02T15:04:05.999999999", true},
	{"2006-01-02T15:04:05", true},
	{"2006-01-02T15:04", true},
	{"2006-01-02T15", true},
	{"2006-01-02", true},
}

// parseTimestamp converts a --since/--until value into the API's
// "seconds.nanoseconds" form: RFC3339 (or a prefix of it), unix seconds
// with optional fraction, or a Go duration counted back from now ("10m").
func parseTimestamp(flag, value string, now time.Time) (string, error) {
	if value == "" {
		return "", nil
	}
	if value != "0" {
		if d, err := time.ParseDuration(value); err == nil {
			return formatUnix(now.Add(-d)), nil
		}
	}
	if isUnixTimestamp(value) {
		return value, nil
	}
	for _, l := range timeLayouts {
		var t time.Time
		var err error
		if l.local {
			t, err = time.ParseInLocation(l.layout, value, time.Local)
		} else {
			t, err = time.Parse(l.layout, value)
		}
		if err == nil {
			return formatUnix(t), nil
		}
	}
	return "", fmt.Errorf("invalid value for %q: failed to parse value as time or duration: %q", flag, value)
}

func formatUnix(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// newLogsCommand is `wharf logs`.
func newLogsCommand() *cobra.Command {
	var follow, timestamps bool
	var tail, since, until string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			s, err := parseTimestamp("since", since, now)
			if err != nil {
				return err
			}
			u, err := parseTimestamp("until", until, now)
			if err != nil {
				return err
			}
			if tail != "all" {
				if n, err := strconv.Atoi(tail); err != nil || n < 0 {
					tail = "all" // docker treats an unparsable --tail as all
				}
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			cj, err := inspectContainer(cmd, c, args[0])
			if err != nil {
				return err
			}
			q := query("follow", boolParam(follow), "tail", tail, "since", s, "until", u,
				"timestamps", boolParam(timestamps), "stdout", "1", "stderr", "1")
			body, err := c.Stream(cmd.Context(), "GET", containerPath(cj.ID, "logs"), q, nil)
			if err != nil {
				return err
			}
			defer body.Close()
			return copyLogs(cmd, body, cj.Config.Tty)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "Follow log output")
	f.StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	f.StringVar(&since, "since", "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	f.StringVar(&until, "until", "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	return cmd
}

// copyLogs writes a log stream out: raw for a TTY container (its output
// was one stream), demultiplexed onto stdout and stderr otherwise.
func copyLogs(cmd *cobra.Command, body io.Reader, tty bool) error {
	if tty {
		_, err := io.Copy(cmd.OutOrStdout(), body)
		return err
	}
	return wharf.Demux(cmd.OutOrStdout(), cmd.ErrOrStderr(), body)
}
