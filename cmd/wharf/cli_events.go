package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// newEventsCommand is `wharf events` (and `wharf system events`): the
// daemon's events as they happen, or those of a past range with --since
// and --until, printed as docker prints them.
func newEventsCommand() *cobra.Command {
	var since, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			s, err := parseTimestamp("since", since, now)
			if err != nil {
				return err
			}
			u, err := parseTimestamp("until", until, now)
			if err != nil {
				return err
			}
			fj, err := parseFilters(filters)
			if err != nil {
				return err
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			body, err := c.Stream(cmd.Context(), "GET", "/events", query("since", s, "until", u, "filters", fj), nil)
			if err != nil {
				return err
			}
			defer body.Close()
			return printEvents(cmd.OutOrStdout(), body, format)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	f.StringVar(&format, "format", "", "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	f.StringVar(&since, "since", "", "Show all events created since timestamp")
	f.StringVar(&until, "until", "", "Stream events until this timestamp")
	return cmd
}

// printEvents writes each event of the stream: with a --format template,
// or as docker's default line.
func printEvents(w io.Writer, body io.Reader, format string) error {
	dec := json.NewDecoder(body)
	for {
		var ev wharf.Event
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if format != "" {
			if err := renderFormatted(w, format, "", nil, []any{ev}); err != nil {
				return err
			}
			continue
		}
		if _, err := io.WriteString(w, eventLine(ev)); err != nil {
			return err
		}
	}
}

// eventLine is docker's default rendering of an event: its time (local,
// nanoseconds padded), type, action, actor and sorted attributes.
func eventLine(ev wharf.Event) string {
	var b bytes.Buffer
	switch {
	case ev.TimeNano != 0:
		b.WriteString(time.Unix(0, ev.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00") + " ")
	case ev.Time != 0:
		b.WriteString(time.Unix(ev.Time, 0).Format("2006-01-02T15:04:05.000000000Z07:00") + " ")
	}
	fmt.Fprintf(&b, "%s %s %s", ev.Type, ev.Action, ev.Actor.ID)
	if len(ev.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(ev.Actor.Attributes))
		for k := range ev.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]string, len(keys))
		for i, k := range keys {
			attrs[i] = k + "=" + ev.Actor.Attributes[k]
		}
		b.WriteString(" (" + strings.Join(attrs, ", ") + ")")
	}
	b.WriteByte('\n')
	return b.String()
}
