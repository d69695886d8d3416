// Command taskreadbench measures what one placement's read of the task
// records costs on a cluster that keeps many of them (a Batch array's
// STOPPED children, kept an hour for DescribeTasks): a fresh read of the
// tasks bucket (a watch of every record, STOPPED ones skipped before
// decoding: Table.FindWhere, what placement did before the cache) against
// the runtime's watch-fed cache (state.Cache: Sync, which asks the
// stream for its last sequence and waits for the cache to apply it, then
// Snapshot). Each read follows a write of one live record, as a
// placement follows the previous one's writes.
//
// It runs an embedded NATS server in a temporary directory, prints the
// median and 90th percentile of -n reads per case and the load average,
// since other work on the machine slows it down.
//
//	go run ./bench/taskreadbench [-records 10000] [-n 50]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

var (
	records = flag.Int("records", 10000, "STOPPED task records in the bucket")
	runs    = flag.Int("n", 50, "reads per case")
)

func main() {
	flag.Parse()
	dir, err := os.MkdirTemp("", "taskreadbench-")
	benchutil.Check(err)
	defer os.RemoveAll(dir)
	b, err := natsbox.Start(natsbox.Options{StoreDir: dir})
	benchutil.Check(err)
	defer b.Close()
	st, err := state.New(b.Conn(), 1)
	benchutil.Check(err)
	ctx := context.Background()
	now := time.Now().UTC()
	stopped := func(i int) state.Task {
		code := 0
		return state.Task{ID: fmt.Sprintf("%032d", i), Cluster: "default", NodeID: fmt.Sprintf("n%d", i%3), Family: "true", Revision: 1,
			LaunchType: "FARGATE", Group: "batch:bench", StartedBy: fmt.Sprintf("batch/job:%d", i), CPU: 1024, MemoryMiB: 16,
			DesiredStatus: "STOPPED", LastStatus: "STOPPED", StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited",
			Containers: []state.TaskContainer{{Name: "default", EngineID: fmt.Sprintf("%064d", i), Image: "local/busybox:1", Status: "STOPPED", ExitCode: &code}},
			CreatedAt:  now, StartedAt: &now, StoppedAt: &now}
	}
	start := time.Now()
	for i := 0; i < *records; i++ {
		t := stopped(i)
		_, err := st.Tasks().Create(ctx, state.TaskKey(t.NodeID, t.ID), t)
		benchutil.Check(err)
	}
	fmt.Printf("taskreadbench: %d STOPPED task records written in %v; load average %s\n", *records, time.Since(start).Round(time.Millisecond), loadavg())

	next := *records
	write := func() {
		t := stopped(next)
		next++
		t.LastStatus, t.DesiredStatus = "PROVISIONING", "RUNNING"
		_, err := st.Tasks().Create(ctx, state.TaskKey(t.NodeID, t.ID), t)
		benchutil.Check(err)
	}
	measure := func(name string, read func() int) {
		var ds []time.Duration
		n := 0
		for i := 0; i < *runs; i++ {
			write()
			s := time.Now()
			n = read()
			ds = append(ds, time.Since(s))
		}
		fmt.Printf("%-52s median %s, p90 %s (%d live records returned)\n", name, benchutil.Ms(benchutil.Quantile(ds, 0.5)),
			benchutil.Ms(benchutil.Quantile(ds, 0.9)), n)
	}
	measure("fresh read of the bucket (FindWhere, STOPPED skipped)", func() int {
		es, err := st.Tasks().FindWhere(ctx, ">", state.StoppedTaskRecord)
		benchutil.Check(err)
		return len(es)
	})
	c := state.NewCache(st.Tasks(), state.WithCacheLogger(slog.New(slog.DiscardHandler)))
	defer c.Close()
	s := time.Now()
	benchutil.Check(c.Sync(ctx))
	fmt.Printf("%-52s %s\n", "the cache's first Sync (its watch reads every record)", benchutil.Ms(time.Since(s)))
	measure("cache: Sync + Snapshot of the live records", func() int {
		benchutil.Check(c.Sync(ctx))
		es, err := c.Snapshot(func(t *state.Task) bool { return t.LastStatus != "STOPPED" })
		benchutil.Check(err)
		return len(es)
	})
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
