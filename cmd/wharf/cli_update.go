package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// newUpdateCommand is `wharf update`: a container's limits and restart
// policy, changed live for a running container, as docker update.
func newUpdateCommand() *cobra.Command {
	var (
		memory, memoryReservation memBytes
		memorySwap                memBytes
		cpus                      nanoCPUs
		cpuShares, cpuPeriod      int64
		cpuQuota, pidsLimit       int64
		cpusetCpus, cpusetMems    string
		blkioWeight               uint16
		restart                   string
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().NFlag() == 0 {
				return errors.New("you must provide one or more flags when using this command")
			}
			u := wharf.UpdateConfig{
				Memory: int64(memory), MemorySwap: int64(memorySwap), MemoryReservation: int64(memoryReservation),
				NanoCPUs: int64(cpus), CPUShares: cpuShares, CPUPeriod: cpuPeriod, CPUQuota: cpuQuota,
				CpusetCpus: cpusetCpus, CpusetMems: cpusetMems, BlkioWeight: blkioWeight,
			}
			if cmd.Flags().Changed("pids-limit") {
				u.PidsLimit = &pidsLimit
			}
			if cmd.Flags().Changed("restart") {
				p, err := parseRestartPolicy(restart)
				if err != nil {
					return err
				}
				u.RestartPolicy = p
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var errs, warnings []string
			for _, ref := range args {
				var resp wharf.UpdateResponse
				if err := c.Do(cmd.Context(), "POST", containerPath(ref, "update"), nil, u, &resp); err != nil {
					errs = append(errs, err.Error())
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
				warnings = append(warnings, resp.Warnings...)
			}
			if len(warnings) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), strings.Join(warnings, "\n"))
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "\n"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint16Var(&blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	f.Int64Var(&cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Var(&cpus, "cpus", "Number of CPUs")
	f.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.VarP(&memory, "memory", "m", "Memory limit")
	f.Var(&memoryReservation, "memory-reservation", "Memory soft limit")
	f.Var(&memSwapBytes{&memorySwap}, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	f.Int64Var(&pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}
