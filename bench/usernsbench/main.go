// Command usernsbench measures what a user namespace of its own costs a
// container's start: the engine (engine/container on runc, as the daemon
// drives it) creates, starts and waits for `true` in busybox, with
// --network none, as an ordinary container and as one with
// HostConfig.PrivateUserns (an id range, idmapped layers, a new user
// namespace), round-robin in a new random order each round, and prints
// medians and p95. The user namespace is an engine option that no API
// exposes (the cluster agent sets it for FARGATE tasks), hence an
// engine-level benchmark rather than a `wharf run` loop.
//
// It needs root, works in a temporary directory, sends no network
// traffic and removes everything it created.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/runtime/oci"
	"github.com/wharf-dev/wharf/runtime/ocishim"
)

var (
	wharfBin = flag.String("wharf", "", "wharf binary for the shims (default: built from this checkout)")
	n        = flag.Int("n", 30, "runs per measure")
)

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		benchutil.Fatal("usernsbench needs root")
	}
	defer benchutil.Cleanup()
	ctx := context.Background()
	self := benchutil.WharfBinary(*wharfBin)
	dir, err := os.MkdirTemp("", "usernsbench-")
	benchutil.Check(err)
	// The container's root reaches its bundle as an unprivileged host user.
	benchutil.Check(os.Chmod(dir, 0o711))
	benchutil.OnExit(func() { benchutil.UnmountUnder(dir); _ = os.RemoveAll(dir) })
	root, execRoot := filepath.Join(dir, "root"), filepath.Join(dir, "exec")
	benchutil.BuildRootfs(filepath.Join(dir, "rootfs"), filepath.Join(dir, "rootfs.tar"))
	tarData, err := os.ReadFile(filepath.Join(dir, "rootfs.tar"))
	benchutil.Check(err)
	st, err := store.New(filepath.Join(root, "image"))
	benchutil.Check(err)
	_, err = st.Import(ctx, bytes.NewReader(tarData), "bench/busybox:1", &v1.Config{Cmd: []string{"true"}})
	benchutil.Check(err)

	probe := oci.Probe(ctx, "runc", dir)
	if !probe.Usable {
		benchutil.Fatal("runc is not usable: " + probe.Reason)
	}
	rt := &oci.Runtime{Name: "runc", Path: probe.Path, Root: filepath.Join(execRoot, "runtime", "runc")}
	rts, err := ocishim.NewSet(self, execRoot, map[string]*oci.Runtime{"runc": rt})
	benchutil.Check(err)
	e, err := container.New(root, st, rts, "runc", self, container.WithLogger(slog.New(slog.DiscardHandler)))
	benchutil.Check(err)
	benchutil.Check(e.Restore(ctx))
	defer e.Close()

	run := func(userns bool) time.Duration {
		t0 := time.Now()
		c, err := e.Create(ctx, container.CreateOptions{Config: container.Config{Image: "bench/busybox:1", Cmd: []string{"true"}},
			HostConfig: container.HostConfig{NetworkMode: "none", PrivateUserns: userns}})
		benchutil.Check(err)
		benchutil.Check(e.Start(ctx, c.ID))
		code, err := e.Wait(ctx, c.ID, container.WaitNotRunning, nil)
		benchutil.Check(err)
		d := time.Since(t0)
		if code != 0 {
			benchutil.Fatal(fmt.Sprintf("container exited %d", code))
		}
		benchutil.Check(e.Remove(ctx, c.ID, container.RemoveOptions{Force: true}))
		time.Sleep(100 * time.Millisecond)
		return d
	}
	names := []string{"plain", "userns"}
	times := map[string][]time.Duration{}
	// One of each to warm the caches.
	run(false)
	run(true)
	for i := 0; i < *n; i++ {
		order := []int{0, 1}
		rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, k := range order {
			times[names[k]] = append(times[names[k]], run(k == 1))
		}
	}
	fmt.Printf("create+start+wait of `true`, --network none, runc, %d runs each\n", *n)
	fmt.Printf("%-8s %10s %10s\n", "measure", "median", "p95")
	med := map[string]time.Duration{}
	for _, name := range names {
		ts := times[name]
		sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
		med[name] = benchutil.Quantile(ts, 0.5)
		fmt.Printf("%-8s %10s %10s\n", name, benchutil.Ms(med[name]), benchutil.Ms(benchutil.Quantile(ts, 0.95)))
	}
	fmt.Printf("userns/plain: %.2fx, +%s\n", float64(med["userns"])/float64(med["plain"]), benchutil.Ms(med["userns"]-med["plain"]))
}
