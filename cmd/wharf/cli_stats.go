package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// statsRow is one line of `wharf stats`, with docker's template names.
type statsRow struct {
	BlockIO   string
	CPUPerc   string
	Container string
	ID        string
	MemPerc   string
	MemUsage  string
	Name      string
	NetIO     string
	PIDs      string
}

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.PIDs}}"

// statsHeader names the columns of the table (built on use, not at every
// wharf process's init).
func statsHeader() map[string]string {
	return map[string]string{
		"BlockIO": "BLOCK I/O", "CPUPerc": "CPU %", "Container": "CONTAINER", "ID": "CONTAINER ID",
		"MemPerc": "MEM %", "MemUsage": "MEM USAGE / LIMIT", "Name": "NAME", "NetIO": "NET I/O", "PIDs": "PIDS",
	}
}

// cpuPercent computes CPU use between two samples the way docker does: the
// container's share of the host's CPU time, scaled by the number of CPUs,
// so one busy core reads 100%.
func cpuPercent(prev, cur wharf.Stats) float64 {
	if cur.CPUUsage < prev.CPUUsage || cur.SystemUsage <= prev.SystemUsage {
		return 0
	}
	cpuDelta := float64(cur.CPUUsage - prev.CPUUsage)
	sysDelta := float64(cur.SystemUsage - prev.SystemUsage)
	cpus := cur.OnlineCPUs
	if cpus <= 0 {
		cpus = 1
	}
	return cpuDelta / sysDelta * float64(cpus) * 100
}

// statsRowOf renders a sample, with prev (nil before the second sample)
// for the CPU percentage. Memory excludes the page cache, as docker's does.
func statsRowOf(container string, prev *wharf.Stats, cur wharf.Stats, noTrunc bool) statsRow {
	id := cur.ID
	if !noTrunc {
		id = shortID(id)
	}
	mem := cur.MemoryUsage
	if cur.MemoryCache < mem {
		mem -= cur.MemoryCache
	}
	cpu := 0.0
	if prev != nil {
		cpu = cpuPercent(*prev, cur)
	}
	memPerc := 0.0
	if cur.MemoryLimit > 0 {
		memPerc = float64(mem) / float64(cur.MemoryLimit) * 100
	}
	return statsRow{
		BlockIO:   "--",
		CPUPerc:   fmt.Sprintf("%.2f%%", cpu),
		Container: container,
		ID:        id,
		MemPerc:   fmt.Sprintf("%.2f%%", memPerc),
		MemUsage:  units.BytesSize(float64(mem)) + " / " + units.BytesSize(float64(cur.MemoryLimit)),
		Name:      strings.TrimPrefix(cur.Name, "/"),
		NetIO:     "--",
		PIDs:      fmt.Sprint(cur.PidsCurrent),
	}
}

// statsTracker keeps the last two samples of every watched container.
type statsTracker struct {
	mu      sync.Mutex
	order   []string
	prev    map[string]*wharf.Stats
	cur     map[string]*wharf.Stats
	samples map[string]int
}

func newStatsTracker(names []string) *statsTracker {
	return &statsTracker{order: names, prev: map[string]*wharf.Stats{}, cur: map[string]*wharf.Stats{}, samples: map[string]int{}}
}

func (t *statsTracker) add(name string, s wharf.Stats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prev[name] = t.cur[name]
	t.cur[name] = &s
	t.samples[name]++
}

// rows renders the latest sample of every container that has one.
func (t *statsTracker) rows(noTrunc bool) []any {
	t.mu.Lock()
	defer t.mu.Unlock()
	var rows []any
	for _, n := range t.order {
		if cur := t.cur[n]; cur != nil {
			rows = append(rows, statsRowOf(n, t.prev[n], *cur, noTrunc))
		}
	}
	return rows
}

// readStats decodes a stats stream into t until it ends, ctx is done, or
// (limit > 0) limit samples were read.
func readStats(ctx context.Context, c *wharf.Client, name string, t *statsTracker, limit int) error {
	body, err := c.Stream(ctx, "GET", containerPath(name, "stats"), query("stream", "1"), nil)
	if err != nil {
		return err
	}
	defer body.Close()
	dec := json.NewDecoder(bufio.NewReader(body))
	for n := 0; limit <= 0 || n < limit; n++ {
		var s wharf.Stats
		if err := dec.Decode(&s); err != nil {
			if err == io.EOF || ctx.Err() != nil {
				return nil
			}
			return err
		}
		t.add(name, s)
	}
	return nil
}

// newStatsCommand is `wharf stats`.
func newStatsCommand() *cobra.Command {
	var noStream, noTrunc, all bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			// Reject a bad template before opening any stream.
			if _, text := parseFormat(format, defaultStatsFormat); text != "" {
				if _, err := parseTemplate(text); err != nil {
					return err
				}
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			names := args
			if len(names) == 0 {
				var cts []wharf.Container
				if err := c.Do(ctx, "GET", "/containers/json", query("all", boolParam(all)), nil, &cts); err != nil {
					return err
				}
				for _, ct := range cts {
					names = append(names, ct.ID)
				}
			}
			t := newStatsTracker(names)
			limit := 0
			if noStream {
				limit = 2 // two samples, a second apart, give the CPU percentage
			}
			var wg sync.WaitGroup
			errs := make([]error, len(names))
			for i, n := range names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = readStats(ctx, c, n, t, limit)
				}()
			}
			out := cmd.OutOrStdout()
			if noStream {
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						return err
					}
				}
				return renderFormatted(out, format, defaultStatsFormat, statsHeader(), t.rows(noTrunc))
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			tty := isTerminal(out)
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-done:
					for _, err := range errs {
						if err != nil {
							return err
						}
					}
					return nil
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
				if tty {
					// Redraw in place: clear the screen, cursor home.
					fmt.Fprint(out, "\033[2J\033[H")
				}
				if err := renderFormatted(out, format, defaultStatsFormat, statsHeader(), t.rows(noTrunc)); err != nil {
					return err
				}
			}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVar(&noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	f.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	f.StringVar(&format, "format", "", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
	return cmd
}
