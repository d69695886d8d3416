package container

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// psTable runs the host's ps with args and keeps the header and the rows
// whose PID column is one of pids.
func psTable(ctx context.Context, args string, pids []int) ([]string, [][]string, error) {
	if args == "" {
		args = "-ef"
	}
	out, err := exec.CommandContext(ctx, "ps", strings.Fields(args)...).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("ps %s: %v: %w", args, err, errdefs.ErrInvalidArgument)
	}
	return parsePS(string(out), pids)
}

// parsePS is the pure part of psTable.
func parsePS(out string, pids []int) ([]string, [][]string, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		return nil, nil, fmt.Errorf("ps printed nothing: %w", errdefs.ErrInvalidArgument)
	}
	titles := strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return nil, nil, fmt.Errorf("couldn't find PID field in ps output: %w", errdefs.ErrInvalidArgument)
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	var rows [][]string
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= pidCol {
			continue
		}
		pid, err := strconv.Atoi(f[pidCol])
		if err != nil || !want[pid] {
			continue
		}
		// The last column (the command) may contain spaces.
		if len(f) > len(titles) {
			f = append(f[:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		}
		rows = append(rows, f)
	}
	return titles, rows, nil
}
