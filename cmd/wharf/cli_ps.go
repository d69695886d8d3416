package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// containerRow is one line of `wharf ps`; field names are docker's
// template names ({{.ID}}, {{.Names}}, {{.Status}}, ...).
type containerRow struct {
	Command      string
	CreatedAt    string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Names        string
	Networks     string
	Ports        string
	RunningFor   string
	Size         string
	State        string
	Status       string

	labels map[string]string
}

// Label returns the value of one label ({{.Label "com.example.x"}}).
func (r containerRow) Label(name string) string { return r.labels[name] }

const defaultPsFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

// psHeader names the columns of the table (built on use, not at every
// wharf process's init).
func psHeader() map[string]string {
	return map[string]string{
		"Command": "COMMAND", "CreatedAt": "CREATED AT", "ID": "CONTAINER ID", "Image": "IMAGE",
		"Labels": "LABELS", "LocalVolumes": "LOCAL VOLUMES", "Mounts": "MOUNTS", "Names": "NAMES",
		"Networks": "NETWORKS", "Ports": "PORTS", "RunningFor": "CREATED", "Size": "SIZE",
		"State": "STATE", "Status": "STATUS",
	}
}

// containerRowOf renders a container list entry as docker's ps does:
// truncated id and command unless noTrunc, names without their leading
// slash, label pairs sorted for stable output.
func containerRowOf(ct wharf.Container, noTrunc bool, now time.Time) containerRow {
	created := time.Unix(ct.Created, 0)
	r := containerRow{
		ID:         ct.ID,
		Image:      ct.Image,
		Command:    ct.Command,
		CreatedAt:  created.String(),
		RunningFor: humanAgo(created, now),
		State:      ct.State,
		Status:     ct.Status,
		labels:     ct.Labels,
	}
	names := make([]string, 0, len(ct.Names))
	for _, n := range ct.Names {
		names = append(names, strings.TrimPrefix(n, "/"))
	}
	r.Names = strings.Join(names, ",")
	if !noTrunc {
		r.ID = shortID(ct.ID)
		r.Command = ellipsis(ct.Command, 20)
		if strings.HasPrefix(r.Image, "sha256:") {
			r.Image = shortID(r.Image)
		}
	}
	r.Command = strconv.Quote(r.Command)
	keys := make([]string, 0, len(ct.Labels))
	for k := range ct.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + ct.Labels[k]
	}
	r.Labels = strings.Join(pairs, ",")
	ports := make([]string, 0, len(ct.Ports))
	for _, p := range ct.Ports {
		if p.PublicPort != 0 {
			ports = append(ports, fmt.Sprintf("%s:%d->%d/%s", p.IP, p.PublicPort, p.PrivatePort, p.Type))
		} else {
			ports = append(ports, fmt.Sprintf("%d/%s", p.PrivatePort, p.Type))
		}
	}
	r.Ports = strings.Join(ports, ", ")
	return r
}

// parseFilters turns repeated --filter key=value flags into the filters
// query value, a JSON object of key to list of values.
func parseFilters(args []string) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	f := map[string][]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return "", fmt.Errorf("bad format of filter (expected name=value): %s", a)
		}
		f[k] = append(f[k], strings.TrimSpace(v))
	}
	data, err := json.Marshal(f)
	return string(data), err
}

// lastN keeps the n most recently created containers (ps -n / -l).
func lastN(cts []wharf.Container, n int) []wharf.Container {
	sorted := append([]wharf.Container(nil), cts...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Created > sorted[j].Created })
	if n >= 0 && n < len(sorted) {
		sorted = sorted[:n]
	}
	return sorted
}

// newPsCommand is `wharf ps`.
func newPsCommand() *cobra.Command {
	var all, quiet, noTrunc, latest bool
	var last int
	var filters []string
	var format string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if latest && cmd.Flags().Changed("last") {
				return errors.New("conflicting options: --latest and --last")
			}
			if latest {
				last = 1
			}
			fj, err := parseFilters(filters)
			if err != nil {
				return err
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			q := query("all", boolParam(all || last >= 0), "filters", fj)
			var cts []wharf.Container
			if err := c.Do(cmd.Context(), "GET", "/containers/json", q, nil, &cts); err != nil {
				return err
			}
			cts = lastN(cts, last)
			now := time.Now()
			if quiet {
				for _, ct := range cts {
					id := ct.ID
					if !noTrunc {
						id = shortID(id)
					}
					fmt.Fprintln(cmd.OutOrStdout(), id)
				}
				return nil
			}
			rows := make([]any, len(cts))
			for i, ct := range cts {
				rows[i] = containerRowOf(ct, noTrunc, now)
			}
			return renderFormatted(cmd.OutOrStdout(), format, defaultPsFormat, psHeader(), rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display container IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVarP(&latest, "latest", "l", false, "Show the latest created container (includes all states)")
	f.IntVarP(&last, "last", "n", -1, "Show n last created containers (includes all states)")
	f.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	f.StringVar(&format, "format", "", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
	return cmd
}
